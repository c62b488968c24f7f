// attention_io.wgsl — the interface shared by attention.wgsl (tiled, prefill), attention_coop.wgsl
// (the same on the tensor cores) and attention_decode.wgsl (flash-decoding, a few queries): one
// launcher fills all three (ops/attention.rs), and the merge reads what any writes. Prepended by
// kernels.rs.

struct Params {
    n: u32,          // queries in this chunk
    start: u32,      // absolute position of query 0
    heads: u32,
    kv_heads: u32,
    capacity: u32,   // rows per KV head in the cache
    layer: u32,
    scale: f32,      // 1/sqrt(d)
    keys_per_split: u32, // a whole number of key tiles (attention.wgsl, attention_coop.wgsl) or chunks (decode)
    dmin: u32,       // this pass's region: dmin <= i - j < dmax
    dmax: u32,
    split_base: u32, // first partial slot of this pass
    q_offset: u32,   // this region's q, in vec4s
    k_offset: u32,   // this region's K, in vec4s
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<vec4<f32>>;        // [regions, n, heads, d]
@group(0) @binding(2) var<storage, read> k_cache: array<vec4<f32>>;  // [regions, kv_heads, capacity, d]
@group(0) @binding(3) var<storage, read> v_cache: array<vec4<f32>>;  // [kv_heads, capacity, d]
@group(0) @binding(4) var<storage, read> mask: array<vec2<u32>>;     // [layer * heads + h] = (window, sinks)
@group(0) @binding(5) var<storage, read_write> part_o: array<vec4<f32>>;     // [splits, n, heads, d] (unnormalised)
@group(0) @binding(6) var<storage, read_write> part_stats: array<vec4<f32>>; // [splits, n, heads] = (m, l, t, 0)
