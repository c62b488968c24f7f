// attention.wgsl — causal grouped-query flash attention (online softmax; never an n×n buffer),
// with a logical mask per (layer, head) and the attention entropy of every query.
//
// Workgroup = 64 consecutive queries of one query head. Keys stream through workgroup memory in
// tiles of KEY_TILE; each visible key is folded into the running (max m, sum l, o) online.
// q and o live in a struct of 16 named vec4s (head_dim 64), not arrays: drivers put
// dynamically indexed private arrays in slow local memory (measured: 26× slower matmuls).
// Query at absolute position i sees key j iff j <= i and (window == 0 || i - j < window ||
// j < sinks), and Δ = i - j lies in this pass's key region [dmin, dmax) (docs/methods.md#key-regions-and-the-merge: a method
// with two regions runs one pass per region, each with its own rotated q and K, writing its own
// partials; the merge joins them exactly). Tiles that no query of the workgroup can see are never
// loaded: the loop visits the sink tiles, then only the tiles from the window's lower edge to the
// last query's last visible key.
//
// Keys can also be split across workgroups (grid z = split, flash-decoding): each split folds its
// own key range and writes partial (m, l, t, o); attention_merge.wgsl combines them. This gives
// decode (one query) and short chunks enough workgroups to fill the GPU.
//
// Entropy: alongside l = Σ e^(s-m) we track t = Σ e^(s-m)(s-m); then H = ln l - t / l. When the
// max moves from m to m', t' = e^(m-m')·(t + (m-m')·l). Masked keys are skipped, so they add
// exactly 0 to l, t and o. HEAD_DIM and KEY_TILE are generated constants (kernels.rs).

// Params and bindings: attention_io.wgsl (shared with attention_decode.wgsl).

const QUADS: u32 = HEAD_DIM / 4u;
const NEG_BIG: f32 = -3.0e38;

var<workgroup> k_tile: array<array<vec4<f32>, QUADS>, KEY_TILE>;
var<workgroup> v_tile: array<array<vec4<f32>, QUADS>, KEY_TILE>;

// 64 floats in registers.
struct Row64 {
    a0: vec4<f32>, a1: vec4<f32>, a2: vec4<f32>, a3: vec4<f32>,
    a4: vec4<f32>, a5: vec4<f32>, a6: vec4<f32>, a7: vec4<f32>,
    a8: vec4<f32>, a9: vec4<f32>, a10: vec4<f32>, a11: vec4<f32>,
    a12: vec4<f32>, a13: vec4<f32>, a14: vec4<f32>, a15: vec4<f32>,
}

var<private> qv: Row64;
var<private> acc: Row64;
var<private> m: f32;
var<private> l: f32;
var<private> t: f32;

fn score(jj: u32) -> f32 {
    let k = &k_tile[jj];
    return dot(qv.a0, (*k)[0]) + dot(qv.a1, (*k)[1]) + dot(qv.a2, (*k)[2]) + dot(qv.a3, (*k)[3])
        + dot(qv.a4, (*k)[4]) + dot(qv.a5, (*k)[5]) + dot(qv.a6, (*k)[6]) + dot(qv.a7, (*k)[7])
        + dot(qv.a8, (*k)[8]) + dot(qv.a9, (*k)[9]) + dot(qv.a10, (*k)[10]) + dot(qv.a11, (*k)[11])
        + dot(qv.a12, (*k)[12]) + dot(qv.a13, (*k)[13]) + dot(qv.a14, (*k)[14]) + dot(qv.a15, (*k)[15]);
}

// acc = acc * c, when the running max moves (c = e^(m_old − m_new) < 1).
fn rescale(c: f32) {
    let c4 = vec4<f32>(c);
    acc.a0 *= c4; acc.a1 *= c4; acc.a2 *= c4; acc.a3 *= c4;
    acc.a4 *= c4; acc.a5 *= c4; acc.a6 *= c4; acc.a7 *= c4;
    acc.a8 *= c4; acc.a9 *= c4; acc.a10 *= c4; acc.a11 *= c4;
    acc.a12 *= c4; acc.a13 *= c4; acc.a14 *= c4; acc.a15 *= c4;
}

// acc = acc + e * V[jj]. Split from the rescale, which most keys do not need (a third of the
// arithmetic per key), with bit-identical results: acc · 1 is acc.
fn accumulate(e: f32, jj: u32) {
    let v = &v_tile[jj];
    let e4 = vec4<f32>(e);
    acc.a0 = fma(e4, (*v)[0], acc.a0);
    acc.a1 = fma(e4, (*v)[1], acc.a1);
    acc.a2 = fma(e4, (*v)[2], acc.a2);
    acc.a3 = fma(e4, (*v)[3], acc.a3);
    acc.a4 = fma(e4, (*v)[4], acc.a4);
    acc.a5 = fma(e4, (*v)[5], acc.a5);
    acc.a6 = fma(e4, (*v)[6], acc.a6);
    acc.a7 = fma(e4, (*v)[7], acc.a7);
    acc.a8 = fma(e4, (*v)[8], acc.a8);
    acc.a9 = fma(e4, (*v)[9], acc.a9);
    acc.a10 = fma(e4, (*v)[10], acc.a10);
    acc.a11 = fma(e4, (*v)[11], acc.a11);
    acc.a12 = fma(e4, (*v)[12], acc.a12);
    acc.a13 = fma(e4, (*v)[13], acc.a13);
    acc.a14 = fma(e4, (*v)[14], acc.a14);
    acc.a15 = fma(e4, (*v)[15], acc.a15);
}

fn load_tile(kv_head: u32, key0: u32, lid: u32) {
    let total = p.start + p.n;
    for (var e = lid; e < KEY_TILE * QUADS; e += 64u) {
        let row = e / QUADS;
        let quad = e % QUADS;
        let j = key0 + row;
        var kq = vec4<f32>(0.0);
        var vq = vec4<f32>(0.0);
        if (j < total) {
            let at = (kv_head * p.capacity + j) * QUADS + quad;
            kq = k_cache[p.k_offset + at];
            vq = v_cache[at];
        }
        k_tile[row][quad] = kq;
        v_tile[row][quad] = vq;
    }
}

// Folds the visible keys of the loaded tile (keys key0..) into (m, l, t, acc) for query i.
fn fold_tile(i: u32, in_range: bool, key0: u32, lo: u32, window: u32, sinks: u32, sink_pass: bool) {
    for (var jj = 0u; jj < KEY_TILE; jj++) {
        let j = key0 + jj;
        var ok = in_range && j + p.dmin <= i && i - j < p.dmax;
        if (sink_pass) {
            ok = ok && j < sinks && j < lo;
        } else {
            ok = ok && j >= lo && mask_allows(i, j, window, sinks);
        }
        if (ok) {
            let s = score(jj);
            if (s > m) {
                // New maximum: rescale what has been summed so far.
                if (l > 0.0) {
                    let c = exp(m - s);
                    t = c * (t + (m - s) * l);
                    l *= c;
                    rescale(c);
                }
                m = s;
            }
            let z = s - m;
            let e = exp(z);
            l += e;
            t += e * z;
            accumulate(e, jj);
        }
    }
}

fn q_quad(r: u32, h: u32, c: u32) -> vec4<f32> {
    return q[p.q_offset + (r * p.heads + h) * QUADS + c] * p.scale;
}

fn store_partial(slot: u32) {
    let b = slot * QUADS;
    part_o[b] = acc.a0; part_o[b + 1u] = acc.a1; part_o[b + 2u] = acc.a2; part_o[b + 3u] = acc.a3;
    part_o[b + 4u] = acc.a4; part_o[b + 5u] = acc.a5; part_o[b + 6u] = acc.a6; part_o[b + 7u] = acc.a7;
    part_o[b + 8u] = acc.a8; part_o[b + 9u] = acc.a9; part_o[b + 10u] = acc.a10; part_o[b + 11u] = acc.a11;
    part_o[b + 12u] = acc.a12; part_o[b + 13u] = acc.a13; part_o[b + 14u] = acc.a14; part_o[b + 15u] = acc.a15;
    part_stats[slot] = vec4<f32>(m, l, t, 0.0);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let h = wg.y;
    let kv_head = h / (p.heads / p.kv_heads);
    let r0 = wg.x * 64u;                       // first query row of this workgroup
    let r = r0 + lid;
    let in_range = r < p.n;
    let i = p.start + r;                       // absolute position of this query
    let first = p.start + r0;
    let last = p.start + min(r0 + 64u, p.n) - 1u;
    let mp = mask[p.layer * p.heads + h];
    let window = mp.x;
    let sinks = mp.y;
    let range = key_range(first, last, window, p.dmin, p.dmax);
    let lo = range.x;
    let hi = range.y;

    m = NEG_BIG;
    l = 0.0;
    t = 0.0;
    let z4 = vec4<f32>(0.0);
    acc = Row64(z4, z4, z4, z4, z4, z4, z4, z4, z4, z4, z4, z4, z4, z4, z4, z4);
    qv = acc;
    if (in_range) {
        qv = Row64(q_quad(r, h, 0u), q_quad(r, h, 1u), q_quad(r, h, 2u), q_quad(r, h, 3u),
            q_quad(r, h, 4u), q_quad(r, h, 5u), q_quad(r, h, 6u), q_quad(r, h, 7u),
            q_quad(r, h, 8u), q_quad(r, h, 9u), q_quad(r, h, 10u), q_quad(r, h, 11u),
            q_quad(r, h, 12u), q_quad(r, h, 13u), q_quad(r, h, 14u), q_quad(r, h, 15u));
    }

    // This workgroup's share of the keys: [split_start, split_end).
    let split_start = wg.z * p.keys_per_split;
    let split_end = split_start + p.keys_per_split;
    let sink_end = min(min(min(sinks, lo), split_end), hi);
    for (var key0 = split_start; key0 < sink_end; key0 += KEY_TILE) {
        load_tile(kv_head, key0, lid);
        workgroupBarrier();
        fold_tile(i, in_range, key0, lo, window, sinks, true);
        workgroupBarrier();
    }
    let window_end = min(hi, split_end);
    for (var key0 = max((lo / KEY_TILE) * KEY_TILE, split_start); key0 < window_end; key0 += KEY_TILE) {
        load_tile(kv_head, key0, lid);
        workgroupBarrier();
        fold_tile(i, in_range, key0, lo, window, sinks, false);
        workgroupBarrier();
    }

    if (in_range) {
        store_partial(((p.split_base + wg.z) * p.n + r) * p.heads + h);
    }
}
