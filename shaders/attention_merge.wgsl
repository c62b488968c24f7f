// attention_merge.wgsl — combines the per-split partials of the attention kernels for each (query, head):
// with M = max m_s and w_s = e^(m_s - M): L = Σ w_s l_s, o = Σ w_s o_s / L,
// T = Σ w_s (t_s + (m_s - M) l_s), entropy H = ln L - T / L, lse = M + ln L.
// A split that saw no visible key has l_s = 0 and drops out.
// One workgroup per (query, head): thread s reads split s, the weights are reduced across the
// workgroup (the prelude's workgroup_max/workgroup_sum), then thread c (< d/4) sums quad c over
// the splits.

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
const NEG_BIG: f32 = -3.0e38;

var<workgroup> weight: array<f32, 64>;  // w_s (0 for empty splits)

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let slot = wg.y * nwg.x + wg.x;   // = r * heads + h
    if (slot >= p.n * p.heads) {
        return; // uniform per workgroup
    }
    let slots = p.n * p.heads;
    var st = vec4<f32>(NEG_BIG, 0.0, 0.0, 0.0);
    if (t < p.splits) {
        st = part_stats[t * slots + slot];
    }
    let live = st.y > 0.0;
    let big_m = workgroup_max(t, select(NEG_BIG, st.x, live), 64u);
    var w = 0.0;
    if (live) {
        w = exp(st.x - big_m);
    }
    weight[t] = w;
    let big_l = workgroup_sum(t, w * st.y, 64u);
    let big_t = workgroup_sum(t, select(0.0, w * (st.z + (st.x - big_m) * st.y), live), 64u);
    reduction_barrier(64u); // every weight[s] written (the sums may be subgroup butterflies)
    let inv = 1.0 / big_l;
    if (t < QUADS) {
        var o = vec4<f32>(0.0);
        for (var s = 0u; s < p.splits; s++) {
            if (weight[s] > 0.0) {
                o += weight[s] * part_o[(s * slots + slot) * QUADS + t];
            }
        }
        out[slot * QUADS + t] = o * inv;
    }
    if (t == 0u) {
        let r = slot / p.heads;
        let h = slot % p.heads;
        let at = (p.layer * p.heads + h) * p.n + r;
        entropy[at] = log(big_l) - big_t * inv;
        lse[at] = big_m + log(big_l);
    }
}
