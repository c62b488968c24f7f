// attention_merge.wgsl — combines the per-split partials of attention.wgsl for each (query, head):
// with M = max m_s and w_s = e^(m_s - M): L = Σ w_s l_s, o = Σ w_s o_s / L,
// T = Σ w_s (t_s + (m_s - M) l_s), entropy H = ln L - T / L, lse = M + ln L.
// A split that saw no visible key has l_s = 0 and drops out.

struct Params {
    n: u32,
    heads: u32,
    splits: u32,
    layer: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> part_o: array<vec4<f32>>;      // [splits, n, heads, d]
@group(0) @binding(2) var<storage, read> part_stats: array<vec4<f32>>;  // [splits, n, heads]
@group(0) @binding(3) var<storage, read_write> out: array<vec4<f32>>;   // [n, heads, d]
@group(0) @binding(4) var<storage, read_write> entropy: array<f32>;     // [layers, heads, n]
@group(0) @binding(5) var<storage, read_write> lse: array<f32>;         // [layers, heads, n]

const QUADS: u32 = HEAD_DIM / 4u;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.y * nwg.x * 64u + gid.x;   // = r * heads + h
    if (idx >= p.n * p.heads) {
        return;
    }
    let slots = p.n * p.heads;
    var big_m = -3.0e38;
    for (var s = 0u; s < p.splits; s++) {
        let st = part_stats[s * slots + idx];
        if (st.y > 0.0) {
            big_m = max(big_m, st.x);
        }
    }
    var big_l = 0.0;
    var big_t = 0.0;
    for (var s = 0u; s < p.splits; s++) {
        let st = part_stats[s * slots + idx];
        if (st.y > 0.0) {
            let w = exp(st.x - big_m);
            big_l += w * st.y;
            big_t += w * (st.z + (st.x - big_m) * st.y);
        }
    }
    let inv = 1.0 / big_l;
    for (var c = 0u; c < QUADS; c++) {
        var o = vec4<f32>(0.0);
        for (var s = 0u; s < p.splits; s++) {
            let st = part_stats[s * slots + idx];
            if (st.y > 0.0) {
                o += exp(st.x - big_m) * part_o[(s * slots + idx) * QUADS + c];
            }
        }
        out[idx * QUADS + c] = o * inv;
    }
    let r = idx / p.heads;
    let h = idx % p.heads;
    let at = (p.layer * p.heads + h) * p.n + r;
    entropy[at] = log(big_l) - big_t * inv;
    lse[at] = big_m + log(big_l);
}
