// rope.wgsl — rotate adjacent pairs (x[2k], x[2k+1]) of every head by the angle table
// (GGUF llama layout, spec §1), and write the rotated keys and the values into the KV cache.
// q: [n, heads, d] rotated in place. k, v: [n, kv_heads, d] → cache [kv_heads, capacity, d]
// at rows start .. start + n. cos/sin: [n, d/2], already scaled (attention_scaling).

struct Params {
    n: u32,
    heads: u32,
    kv_heads: u32,
    head_dim: u32,
    start: u32,
    capacity: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> q: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read> k: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read> v: array<vec2<f32>>;
@group(0) @binding(4) var<storage, read> cos_t: array<f32>;
@group(0) @binding(5) var<storage, read> sin_t: array<f32>;
@group(0) @binding(6) var<storage, read_write> k_cache: array<vec2<f32>>;
@group(0) @binding(7) var<storage, read_write> v_cache: array<vec2<f32>>;

fn rotate(x: vec2<f32>, c: f32, s: f32) -> vec2<f32> {
    return vec2<f32>(x.x * c - x.y * s, x.x * s + x.y * c);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let pairs = p.head_dim / 2u;
    let idx = gid.y * nwg.x * 64u + gid.x;
    let per_token = (p.heads + p.kv_heads) * pairs;
    let i = idx / per_token;
    if (i >= p.n) {
        return;
    }
    let rest = idx % per_token;
    let h = rest / pairs;
    let k_pair = rest % pairs;
    let c = cos_t[i * pairs + k_pair];
    let s = sin_t[i * pairs + k_pair];
    if (h < p.heads) {
        let at = (i * p.heads + h) * pairs + k_pair;
        q[at] = rotate(q[at], c, s);
    } else {
        let kh = h - p.heads;
        let src = (i * p.kv_heads + kh) * pairs + k_pair;
        let dst = (kh * p.capacity + p.start + i) * pairs + k_pair;
        k_cache[dst] = rotate(k[src], c, s);
        v_cache[dst] = v[src];
    }
}
