// attention_row.wgsl — the full attention row of one (layer, head, query): p_j for every key
// j <= i, from the query's roped q, the cached keys and the log-sum-exp that attention.wgsl's
// merge stored (p_j = e^(s_j - lse)). Masked keys get exactly 0. One thread per key.
// With two key regions (docs/methods.md#key-regions-and-the-merge) key j contributes through each region whose Δ range holds it:
// region 0 is Δ < near_max, region 1 is Δ >= far_min (they overlap only in STRING's
// reference-quirk mode, where the key is counted twice, as in attention.wgsl).

struct Params {
    n: u32,          // queries in this chunk
    start: u32,      // absolute position of query 0
    heads: u32,
    kv_heads: u32,
    capacity: u32,
    layer: u32,
    head: u32,
    row: u32,        // the query's index in this chunk
    scale: f32,
    regions: u32,
    near_max: u32,
    far_min: u32,
    q_stride: u32,   // vec4s between the regions' q
    k_stride: u32,   // vec4s between the regions' K
    out_offset: u32, // where this row starts in `probs` (0 for one row; i · size for a map)
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<vec4<f32>>;        // [regions, n, heads, d]
@group(0) @binding(2) var<storage, read> k_cache: array<vec4<f32>>;  // [regions, kv_heads, capacity, d]
@group(0) @binding(3) var<storage, read> mask: array<vec2<u32>>;     // [layer * heads + h]
@group(0) @binding(4) var<storage, read> lse: array<f32>;            // [layers, heads, n]
@group(0) @binding(5) var<storage, read_write> probs: array<f32>;    // [out_offset + i + 1]

const QUADS: u32 = HEAD_DIM / 4u;

fn region_prob(r: u32, j: u32, kv_head: u32, lse_v: f32) -> f32 {
    var s = 0.0;
    for (var c = 0u; c < QUADS; c++) {
        s += dot(q[r * p.q_stride + (p.row * p.heads + p.head) * QUADS + c],
                 k_cache[r * p.k_stride + (kv_head * p.capacity + j) * QUADS + c]);
    }
    return exp(s * p.scale - lse_v);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let j = gid.y * nwg.x * 64u + gid.x;
    let i = p.start + p.row;
    if (j > i) {
        return;
    }
    let mp = mask[p.layer * p.heads + p.head];
    let window = mp.x;
    let sinks = mp.y;
    if (!mask_allows(i, j, window, sinks)) {
        probs[p.out_offset + j] = 0.0;
        return;
    }
    let kv_head = p.head / (p.heads / p.kv_heads);
    let lse_v = lse[(p.layer * p.heads + p.head) * p.n + p.row];
    var prob = 0.0;
    if (i - j < p.near_max) {
        prob += region_prob(0u, j, kv_head, lse_v);
    }
    if (p.regions > 1u && i - j >= p.far_min) {
        prob += region_prob(1u, j, kv_head, lse_v);
    }
    probs[p.out_offset + j] = prob;
}
