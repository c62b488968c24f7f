// rope.wgsl — rotate adjacent pairs (x[2k], x[2k+1]) of every head by host-built cos/sin tables
// (GGUF llama layout, docs/methods.md#rotation-layout), once per key region (docs/methods.md#key-regions-and-the-merge: a region has its own query and
// key positions and frequencies), and write the rotated keys and the values into the KV cache.
//
//   q [n, heads, d]        → q_out [regions, n, heads, d], times the query's logit scale
//   k [n, kv_heads, d]     → k_cache [regions, kv_heads, capacity, d] at rows start .. start + n
//   v [n, kv_heads, d]     → v_cache [kv_heads, capacity, d]            (if WRITE_V)
//   k, unrotated           → k_raw [capacity, kv_heads, d]              (if WRITE_RAW_K)
// q, k and v are read at row strides and offsets (in pairs), so they may be one buffer: the
// output of the stacked q/k/v projection, [n, heads + 2·kv_heads, d].
//   tables: (cos, sin) pairs: [regions, n, d/2] for queries at q_table, the same for keys at
//           k_table, and (scale, 0) per query at scale_at.
//
// Precision (docs/methods.md#rope-precision): with FORMAT_BF16 or FORMAT_F16 the inputs and the rotated values are
// rounded to that format, round-to-nearest-even; the tables arrive already rounded. Re-rotating
// cached keys (dynamic NTK, LongRoPE) runs this kernel with heads = 0 over pre-RoPE K.

struct Params {
    n: u32,
    heads: u32,
    kv_heads: u32,
    head_dim: u32,
    start: u32,
    capacity: u32,
    regions: u32,
    number_format: u32, // f32, FORMAT_BF16 or FORMAT_F16 (RopePrecision::kernel_code)
    q_table: u32,
    k_table: u32,
    scale_at: u32,
    flags: u32,      // SCALE_QUERIES | WRITE_V | WRITE_RAW_K
    q_stride: u32,   // pairs from one token's q to the next's
    kv_stride: u32,  // the same for k and v
    k_offset: u32,   // pairs before token 0's k
    v_offset: u32,   // pairs before token 0's v
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read> k: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read> v: array<vec2<f32>>;
@group(0) @binding(4) var<storage, read> tables: array<vec2<f32>>;
@group(0) @binding(5) var<storage, read_write> q_out: array<vec2<f32>>;
@group(0) @binding(6) var<storage, read_write> k_cache: array<vec2<f32>>;
@group(0) @binding(7) var<storage, read_write> v_cache: array<vec2<f32>>;
@group(0) @binding(8) var<storage, read_write> k_raw: array<vec2<f32>>;

// SCALE_QUERIES, WRITE_V, WRITE_RAW_K (flags) and FORMAT_BF16, FORMAT_F16 (number formats) are generated
// from Rust (kernels.rs).

fn round_bf16(x: f32) -> f32 {
    let u = bitcast<u32>(x);
    return bitcast<f32>((u + 0x7FFFu + ((u >> 16u) & 1u)) & 0xFFFF0000u);
}

fn round_f16(x: f32) -> f32 {
    return unpack2x16float(pack2x16float(vec2<f32>(x, 0.0))).x;
}

fn to_format(x: vec2<f32>) -> vec2<f32> {
    switch p.number_format {
        case FORMAT_BF16: { return vec2<f32>(round_bf16(x.x), round_bf16(x.y)); }
        case FORMAT_F16: { return vec2<f32>(round_f16(x.x), round_f16(x.y)); }
        default: { return x; }
    }
}

fn rotate(x: vec2<f32>, cs: vec2<f32>) -> vec2<f32> {
    let a = to_format(x);
    return to_format(vec2<f32>(a.x * cs.x - a.y * cs.y, a.x * cs.y + a.y * cs.x));
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
    if (h < p.heads) {
        let at = (i * p.heads + h) * pairs + k_pair;
        let src = i * p.q_stride + h * pairs + k_pair;
        var scale = 1.0;
        if ((p.flags & SCALE_QUERIES) != 0u) {
            scale = tables[p.scale_at + i].x;
        }
        let x = q[src];
        for (var r = 0u; r < p.regions; r++) {
            let cs = tables[p.q_table + (r * p.n + i) * pairs + k_pair];
            q_out[r * p.n * p.heads * pairs + at] = rotate(x, cs) * scale;
        }
    } else {
        let kh = h - p.heads;
        let src = i * p.kv_stride + kh * pairs + k_pair;
        let dst = (kh * p.capacity + p.start + i) * pairs + k_pair;
        let x = k[p.k_offset + src];
        for (var r = 0u; r < p.regions; r++) {
            let cs = tables[p.k_table + (r * p.n + i) * pairs + k_pair];
            k_cache[r * p.kv_heads * p.capacity * pairs + dst] = rotate(x, cs);
        }
        if ((p.flags & WRITE_V) != 0u) {
            v_cache[dst] = v[p.v_offset + src];
        }
        if ((p.flags & WRITE_RAW_K) != 0u) {
            k_raw[((p.start + i) * p.kv_heads + kh) * pairs + k_pair] = x;
        }
    }
}
