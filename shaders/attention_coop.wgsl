// attention_coop.wgsl — attention.wgsl's flash attention with QKᵀ and P·V on the tensor cores
// (16×16×16 cooperative matrices through wgpu's EXPERIMENTAL_COOPERATIVE_MATRIX, native only):
// same parameters, masks, key regions (docs/methods.md#key-regions-and-the-merge), splits and
// partial (m, l, t, o) as attention.wgsl, so
// attention_merge.wgsl joins its splits unchanged. Selected only with the `fast` precision
// choice on devices with f16 × f16 → f32 16×16×16 cooperative matrices, 32-wide subgroups and
// the workgroup memory below (engine/src/gpu/context.rs); attention.wgsl everywhere else.
//
// The FlashAttention-2 loop (Dao 2023, "FlashAttention-2: Faster Attention with Better
// Parallelism and Work Partitioning", Algorithm 1; reference code github.com/Dao-AILab/
// flash-attention): a workgroup owns 64 consecutive queries of one head, four subgroups of 16
// query rows each; each subgroup holds its rows of q·scale as four A fragments in registers for
// the whole loop. Per tile of 64 keys: S = Q·Kᵀ on the cooperative matrices (f16 operands, f32
// sums) into workgroup memory; each row's online softmax by two lanes of its subgroup (32 keys
// each, read once into registers, exchanging only the tile's max, by a subgroup shuffle; no
// mask test on tiles every row sees whole); P rounded to f16; P·V on the cooperative matrices;
// each lane folds its 32 output columns, o ← o·e^(m−m') + P·V, in registers. The next tile's K
// and V are fetched into registers while the current one is worked on.
//
// Numerics: q·scale, K, V and P are rounded to f16 (unit roundoff 2⁻¹¹); scores, the softmax
// statistics (m, l, t), the products' sums and o stay f32. The entropy sums (l, t) use the f32
// probabilities, o the f16 ones. Tested against an f64 softmax of the f16-rounded inputs
// (ops/attention.rs, `coop_attention_matches_the_reference_on_f16_inputs`).
//
// Workgroup memory (HEAD_DIM = 64): k (q first, then each key tile) 9 KiB + v 9 KiB + P 9 KiB +
// scores 17 KiB = 44 KiB (ATTENTION_COOP_WORKGROUP_BYTES in engine/src/gpu/kernels.rs), over
// WebGPU's 16 KiB default: the host selects this kernel only where the device's limit holds it
// (48 KiB on the H200).
//
// Cooperative operations need uniform control flow: every loop bound below is uniform across the
// workgroup; masked keys are handled by the loads (zeros) and the softmax (probability 0), and
// rows past n are computed like the others (from zero queries) and never stored: nothing
// branches around a cooperative operation, a barrier or a shuffle. Subgroup s is invocations
// 32s..32s+31, lane t % 32 (the host requires subgroups of exactly 32, as NVIDIA's warps, and
// the subgroup feature for the shuffles).

enable f16;
enable wgpu_cooperative_matrix;

// Params and bindings: attention_io.wgsl (shared with attention.wgsl and attention_decode.wgsl).

const TILE: u32 = 64u;              // queries per workgroup, keys per tile
// The arrays below and `fetch` (8 × 128 vec4s a tile) are sized for this head size alone; the
// host builds the attention kernels for it only (ATTENTION_HEAD_DIM).
const_assert HEAD_DIM == 64u;
const QUADS: u32 = HEAD_DIM / 4u;
// Row strides, padded by 8 halves / 4 floats: cooperative loads and stores need 16-byte aligned
// rows (VK_KHR_cooperative_matrix), and the padding staggers rows across memory banks.
const HS: u32 = HEAD_DIM + 8u;      // q, k, v, P rows (f16); P uses the first TILE of HS
const SS: u32 = TILE + 4u;          // score / P·V rows (f32)
const NEG_BIG: f32 = -3.0e38;

// Every array's size is a multiple of 16 bytes, so each starts 16-byte aligned.
var<workgroup> k_sh: array<f16, 4608>;   // [TILE][HS]: q · scale at the start (loaded once into
                                         // registers), then the key tile
var<workgroup> p_sh: array<f16, 4608>;   // [TILE rows][HS]: P, the first TILE of each row
var<workgroup> v_sh: array<f16, 4608>;   // [TILE][HS]: the value tile
var<workgroup> s_sh: array<f32, 4352>;   // [TILE][SS]: scores, then P·V

// 32 floats in registers: one lane's half of an output row (named vec4s, not an array: drivers
// put dynamically indexed private arrays in slow local memory, see attention.wgsl).
struct Half32 {
    a0: vec4<f32>, a1: vec4<f32>, a2: vec4<f32>, a3: vec4<f32>,
    a4: vec4<f32>, a5: vec4<f32>, a6: vec4<f32>, a7: vec4<f32>,
}

var<private> o: Half32;

// Four consecutive P·V results of this lane's row, from column c.
fn pv4(at: u32) -> vec4<f32> {
    return vec4<f32>(s_sh[at], s_sh[at + 1u], s_sh[at + 2u], s_sh[at + 3u]);
}

// o ← o·c + (P·V)[row, cols..cols+32].
fn fold_pv(c: f32, at: u32) {
    o.a0 = fma(o.a0, vec4<f32>(c), pv4(at));
    o.a1 = fma(o.a1, vec4<f32>(c), pv4(at + 4u));
    o.a2 = fma(o.a2, vec4<f32>(c), pv4(at + 8u));
    o.a3 = fma(o.a3, vec4<f32>(c), pv4(at + 12u));
    o.a4 = fma(o.a4, vec4<f32>(c), pv4(at + 16u));
    o.a5 = fma(o.a5, vec4<f32>(c), pv4(at + 20u));
    o.a6 = fma(o.a6, vec4<f32>(c), pv4(at + 24u));
    o.a7 = fma(o.a7, vec4<f32>(c), pv4(at + 28u));
}

// The next key tile's K and V in registers, 8 vec4s of each per thread (element e = t + 128q of
// the tile's TILE × QUADS vec4s, q = 0..7: HEAD_DIM = 64 makes that exactly the tile), fetched
// from the cache while the current tile is multiplied, so the loads' latency overlaps the work
// (the ablation in BENCHMARKS.md put the unhidden loads at a quarter of the kernel's time).
// Named fields, not an array, to stay in registers.
struct Fetched {
    k0: vec4<f32>, k1: vec4<f32>, k2: vec4<f32>, k3: vec4<f32>,
    k4: vec4<f32>, k5: vec4<f32>, k6: vec4<f32>, k7: vec4<f32>,
    v0: vec4<f32>, v1: vec4<f32>, v2: vec4<f32>, v3: vec4<f32>,
    v4: vec4<f32>, v5: vec4<f32>, v6: vec4<f32>, v7: vec4<f32>,
}

var<private> next: Fetched;

// Cache row j's vec4 `quad` of K (this region's) or V, zeros past the filled rows.
fn cache_k(kv_head: u32, key0: u32, e: u32) -> vec4<f32> {
    let j = key0 + e / QUADS;
    if (j < p.start + p.n) {
        return k_cache[p.k_offset + (kv_head * p.capacity + j) * QUADS + e % QUADS];
    }
    return vec4<f32>(0.0);
}

fn cache_v(kv_head: u32, key0: u32, e: u32) -> vec4<f32> {
    let j = key0 + e / QUADS;
    if (j < p.start + p.n) {
        return v_cache[(kv_head * p.capacity + j) * QUADS + e % QUADS];
    }
    return vec4<f32>(0.0);
}

// Issues the loads of the tile from key0 into `next`.
fn fetch(kv_head: u32, key0: u32, t: u32) {
    next.k0 = cache_k(kv_head, key0, t);
    next.v0 = cache_v(kv_head, key0, t);
    next.k1 = cache_k(kv_head, key0, t + 128u);
    next.v1 = cache_v(kv_head, key0, t + 128u);
    next.k2 = cache_k(kv_head, key0, t + 256u);
    next.v2 = cache_v(kv_head, key0, t + 256u);
    next.k3 = cache_k(kv_head, key0, t + 384u);
    next.v3 = cache_v(kv_head, key0, t + 384u);
    next.k4 = cache_k(kv_head, key0, t + 512u);
    next.v4 = cache_v(kv_head, key0, t + 512u);
    next.k5 = cache_k(kv_head, key0, t + 640u);
    next.v5 = cache_v(kv_head, key0, t + 640u);
    next.k6 = cache_k(kv_head, key0, t + 768u);
    next.v6 = cache_v(kv_head, key0, t + 768u);
    next.k7 = cache_k(kv_head, key0, t + 896u);
    next.v7 = cache_v(kv_head, key0, t + 896u);
}

// Element e's K and V vec4s into k_sh and v_sh as f16.
fn put(e: u32, kq: vec4<f32>, vq: vec4<f32>) {
    let s = (e / QUADS) * HS + (e % QUADS) * 4u;
    k_sh[s] = f16(kq.x);
    k_sh[s + 1u] = f16(kq.y);
    k_sh[s + 2u] = f16(kq.z);
    k_sh[s + 3u] = f16(kq.w);
    v_sh[s] = f16(vq.x);
    v_sh[s + 1u] = f16(vq.y);
    v_sh[s + 2u] = f16(vq.z);
    v_sh[s + 3u] = f16(vq.w);
}

// `next` into the workgroup's K and V tiles.
fn stash(t: u32) {
    put(t, next.k0, next.v0);
    put(t + 128u, next.k1, next.v1);
    put(t + 256u, next.k2, next.v2);
    put(t + 384u, next.k3, next.v3);
    put(t + 512u, next.k4, next.v4);
    put(t + 640u, next.k5, next.v5);
    put(t + 768u, next.k6, next.v6);
    put(t + 896u, next.k7, next.v7);
}

// First key of the loop's tile number `tile`: the sink tiles from the split's start, then the
// window's tiles.
fn tile_key0(tile: u32, sink_tiles: u32, split_start: u32, window_start: u32) -> u32 {
    if (tile < sink_tiles) {
        return split_start + tile * TILE;
    }
    return window_start + (tile - sink_tiles) * TILE;
}

// Whether query i (row in range) sees key j in this pass (attention.wgsl's fold_tile test).
fn visible(i: u32, row_ok: bool, j: u32, lo: u32, window: u32, sinks: u32, sink_pass: bool) -> bool {
    var ok = row_ok && j < p.start + p.n && j + p.dmin <= i && i - j < p.dmax;
    if (sink_pass) {
        ok = ok && j < sinks && j < lo;
    } else {
        ok = ok && j >= lo && mask_allows(i, j, window, sinks);
    }
    return ok;
}

// Which of keys j, j + 2, j + 4, j + 6 query i sees: all of them on a tile every row sees whole
// (`full`, uniform: no per-key test).
fn visible4(full: bool, i: u32, row_ok: bool, j: u32, lo: u32, window: u32, sinks: u32, sink_pass: bool) -> vec4<bool> {
    if (full) {
        return vec4<bool>(true);
    }
    return vec4<bool>(visible(i, row_ok, j, lo, window, sinks, sink_pass),
        visible(i, row_ok, j + 2u, lo, window, sinks, sink_pass),
        visible(i, row_ok, j + 4u, lo, window, sinks, sink_pass),
        visible(i, row_ok, j + 6u, lo, window, sinks, sink_pass));
}

// The scores of keys c, c + 2, c + 4, c + 6 of the row at `at` (a lane takes every other key).
fn scores4(at: u32) -> vec4<f32> {
    return vec4<f32>(s_sh[at], s_sh[at + 2u], s_sh[at + 4u], s_sh[at + 6u]);
}

// Max over the visible scores of one group of four.
fn max4(v: vec4<f32>, ok: vec4<bool>) -> f32 {
    let w = select(vec4<f32>(NEG_BIG), v, ok);
    return max(max(w.x, w.y), max(w.z, w.w));
}

// Running sums (l, t) of the exponentials e = e^(s−m) and e·(s−m), key by key in order.
var<private> l: f32;
var<private> tt: f32;

// The four probabilities of one group into P (row-major at `at`, every other column), summed
// into (l, t) in key order; 0 where the row does not see the key.
fn exp4(v: vec4<f32>, ok: vec4<bool>, m: f32, at: u32) {
    let z = v - vec4<f32>(m);
    let e = select(vec4<f32>(0.0), exp(z), ok);
    if (ok.x) { l += e.x; tt += e.x * z.x; }
    if (ok.y) { l += e.y; tt += e.y * z.y; }
    if (ok.z) { l += e.z; tt += e.z * z.z; }
    if (ok.w) { l += e.w; tt += e.w * z.w; }
    p_sh[at] = f16(e.x);
    p_sh[at + 2u] = f16(e.y);
    p_sh[at + 4u] = f16(e.z);
    p_sh[at + 6u] = f16(e.w);
}

@compute @workgroup_size(128)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let h = wg.y;
    let kv_head = h / (p.heads / p.kv_heads);
    let r0 = wg.x * TILE;                       // first query row of this workgroup
    let first = p.start + r0;
    let last = p.start + min(r0 + TILE, p.n) - 1u;
    let mp = mask[p.layer * p.heads + h];
    let window = mp.x;
    let sinks = mp.y;
    let range = key_range(first, last, window, p.dmin, p.dmax);
    let lo = range.x;
    let hi = range.y;

    let sg = t / 32u;                           // subgroup: query rows 16sg..16sg+15
    let lane = t % 32u;
    let row = sg * 16u + lane / 2u;             // this lane's query row in the tile
    let half = lane % 2u;                       // which 32 keys / output columns it handles
    let r = r0 + row;
    let row_ok = r < p.n;
    let i = p.start + r;

    // q · scale as f16, zeros past n.
    for (var e = t; e < TILE * QUADS; e += 128u) {
        let qr = e / QUADS;
        let quad = e % QUADS;
        var v = vec4<f32>(0.0);
        if (r0 + qr < p.n) {
            v = q[p.q_offset + ((r0 + qr) * p.heads + h) * QUADS + quad] * p.scale;
        }
        let s = qr * HS + quad * 4u;
        k_sh[s] = f16(v.x);
        k_sh[s + 1u] = f16(v.y);
        k_sh[s + 2u] = f16(v.z);
        k_sh[s + 3u] = f16(v.w);
    }

    // This subgroup's 16 query rows as four A fragments (16 columns each), held in registers
    // for the whole loop: QKᵀ reloads only the key tile.
    workgroupBarrier();
    let hs = HS;
    let iq0 = sg * 16u * HS;
    let iq1 = iq0 + 16u;
    let iq2 = iq0 + 32u;
    let iq3 = iq0 + 48u;
    let qa0 = coopLoadT<coop_mat16x16<f16, A>>(&k_sh[iq0], hs);
    let qa1 = coopLoadT<coop_mat16x16<f16, A>>(&k_sh[iq1], hs);
    let qa2 = coopLoadT<coop_mat16x16<f16, A>>(&k_sh[iq2], hs);
    let qa3 = coopLoadT<coop_mat16x16<f16, A>>(&k_sh[iq3], hs);
    // Every subgroup has its fragments before the first key tile overwrites k_sh.
    workgroupBarrier();

    var m = NEG_BIG;
    l = 0.0;                                    // this lane's share of Σ e^(s−m) ...
    tt = 0.0;                                   // ... and of Σ e^(s−m)(s−m)
    let z4 = vec4<f32>(0.0);
    o = Half32(z4, z4, z4, z4, z4, z4, z4, z4);

    let split_start = wg.z * p.keys_per_split;
    let split_end = split_start + p.keys_per_split;
    let sink_end = min(min(min(sinks, lo), split_end), hi);
    let window_start = max((lo / TILE) * TILE, split_start);
    let window_end = min(hi, split_end);
    let sink_tiles = (max(sink_end, split_start) - split_start + TILE - 1u) / TILE;
    var window_tiles = 0u;
    if (window_end > window_start) {
        window_tiles = (window_end - window_start + TILE - 1u) / TILE;
    }

    let ss = SS;
    let tiles = sink_tiles + window_tiles;
    if (tiles > 0u) {
        fetch(kv_head, tile_key0(0u, sink_tiles, split_start, window_start), t);
    }
    for (var tile = 0u; tile < tiles; tile++) {
        let sink_pass = tile < sink_tiles;
        let key0 = tile_key0(tile, sink_tiles, split_start, window_start);
        stash(t);
        workgroupBarrier();
        // The next tile's loads, in flight during this tile's work.
        if (tile + 1u < tiles) {
            fetch(kv_head, tile_key0(tile + 1u, sink_tiles, split_start, window_start), t);
        }

        // S[16 rows of this subgroup][64 keys] = (q·scale) · Kᵀ: A = q rows (row-major,
        // coopLoadT), B[c][key] = K[key][c] (the K tile read column-major, coopLoad).
        var s0 = coop_mat16x16<f32, C>();
        var s1 = coop_mat16x16<f32, C>();
        var s2 = coop_mat16x16<f32, C>();
        var s3 = coop_mat16x16<f32, C>();
        // Written out over the four 16-column steps, as the A fragments are four named values.
        // Every pointer's index is a constant or a plain value (`let`): naga's SPIR-V writer needs
        // the index expression emitted before a cooperative load or store (the contract test
        // compiles it).
        let k00 = coopLoad<coop_mat16x16<f16, B>>(&k_sh[0u * HS + 0u], hs);
        let k01 = coopLoad<coop_mat16x16<f16, B>>(&k_sh[16u * HS + 0u], hs);
        let k02 = coopLoad<coop_mat16x16<f16, B>>(&k_sh[32u * HS + 0u], hs);
        let k03 = coopLoad<coop_mat16x16<f16, B>>(&k_sh[48u * HS + 0u], hs);
        s0 = coopMultiplyAdd(qa0, k00, s0);
        s1 = coopMultiplyAdd(qa0, k01, s1);
        s2 = coopMultiplyAdd(qa0, k02, s2);
        s3 = coopMultiplyAdd(qa0, k03, s3);
        let k10 = coopLoad<coop_mat16x16<f16, B>>(&k_sh[0u * HS + 16u], hs);
        let k11 = coopLoad<coop_mat16x16<f16, B>>(&k_sh[16u * HS + 16u], hs);
        let k12 = coopLoad<coop_mat16x16<f16, B>>(&k_sh[32u * HS + 16u], hs);
        let k13 = coopLoad<coop_mat16x16<f16, B>>(&k_sh[48u * HS + 16u], hs);
        s0 = coopMultiplyAdd(qa1, k10, s0);
        s1 = coopMultiplyAdd(qa1, k11, s1);
        s2 = coopMultiplyAdd(qa1, k12, s2);
        s3 = coopMultiplyAdd(qa1, k13, s3);
        let k20 = coopLoad<coop_mat16x16<f16, B>>(&k_sh[0u * HS + 32u], hs);
        let k21 = coopLoad<coop_mat16x16<f16, B>>(&k_sh[16u * HS + 32u], hs);
        let k22 = coopLoad<coop_mat16x16<f16, B>>(&k_sh[32u * HS + 32u], hs);
        let k23 = coopLoad<coop_mat16x16<f16, B>>(&k_sh[48u * HS + 32u], hs);
        s0 = coopMultiplyAdd(qa2, k20, s0);
        s1 = coopMultiplyAdd(qa2, k21, s1);
        s2 = coopMultiplyAdd(qa2, k22, s2);
        s3 = coopMultiplyAdd(qa2, k23, s3);
        let k30 = coopLoad<coop_mat16x16<f16, B>>(&k_sh[0u * HS + 48u], hs);
        let k31 = coopLoad<coop_mat16x16<f16, B>>(&k_sh[16u * HS + 48u], hs);
        let k32 = coopLoad<coop_mat16x16<f16, B>>(&k_sh[32u * HS + 48u], hs);
        let k33 = coopLoad<coop_mat16x16<f16, B>>(&k_sh[48u * HS + 48u], hs);
        s0 = coopMultiplyAdd(qa3, k30, s0);
        s1 = coopMultiplyAdd(qa3, k31, s1);
        s2 = coopMultiplyAdd(qa3, k32, s2);
        s3 = coopMultiplyAdd(qa3, k33, s3);
        let srow = sg * 16u * SS;
        let is1 = srow + 16u;
        let is2 = srow + 32u;
        let is3 = srow + 48u;
        coopStoreT(s0, &s_sh[srow], ss);
        coopStoreT(s1, &s_sh[is1], ss);
        coopStoreT(s2, &s_sh[is2], ss);
        coopStoreT(s3, &s_sh[is3], ss);
        // A subgroup's score rows are its own (stored by its cooperative store, read by its
        // lanes), and P has an array of its own: a subgroup barrier, not a workgroup one (two
        // of the loop's four workgroup barriers became these: +2–4 % prefill, BENCHMARKS.md).
        // naga emits OpControlBarrier at subgroup scope with subgroup-memory semantics; that it
        // orders this subgroup's workgroup-memory accesses is what NVIDIA's warp barrier does
        // (PTX `bar.warp.sync`), not something SPIR-V promises: the kernel runs only on devices
        // with 32-wide subgroups and cooperative matrices, and the kernel tests and the NIAH
        // grid's hash (bit for bit the same as with workgroup barriers) check it on the H200.
        subgroupBarrier();

        // This lane's 32 keys, every other one (key 2c + half: the two lanes of a row read
        // neighbouring words, and rows 8 apart share a bank, a 2-way conflict at worst): the
        // tile max over the visible ones, shared with its partner. Where every key of the tile
        // is visible to every row (a causal tile wholly below the first query, inside every
        // window and the region), the per-key mask test is skipped; the branch is uniform.
        let tile_full = !sink_pass && key0 >= lo && key0 + TILE <= p.start + p.n && first >= p.dmin
            && key0 + TILE - 1u <= first - p.dmin && last - key0 < p.dmax && (window == 0u || last - key0 < window);
        let at = row * SS + half;
        let j0 = key0 + half;
        // The lane's 32 scores, read once into registers for both the max and the exponentials.
        let c0 = scores4(at);
        let c1 = scores4(at + 8u);
        let c2 = scores4(at + 16u);
        let c3 = scores4(at + 24u);
        let c4 = scores4(at + 32u);
        let c5 = scores4(at + 40u);
        let c6 = scores4(at + 48u);
        let c7 = scores4(at + 56u);
        let v0 = visible4(tile_full, i, row_ok, j0, lo, window, sinks, sink_pass);
        let v1 = visible4(tile_full, i, row_ok, j0 + 8u, lo, window, sinks, sink_pass);
        let v2 = visible4(tile_full, i, row_ok, j0 + 16u, lo, window, sinks, sink_pass);
        let v3 = visible4(tile_full, i, row_ok, j0 + 24u, lo, window, sinks, sink_pass);
        let v4 = visible4(tile_full, i, row_ok, j0 + 32u, lo, window, sinks, sink_pass);
        let v5 = visible4(tile_full, i, row_ok, j0 + 40u, lo, window, sinks, sink_pass);
        let v6 = visible4(tile_full, i, row_ok, j0 + 48u, lo, window, sinks, sink_pass);
        let v7 = visible4(tile_full, i, row_ok, j0 + 56u, lo, window, sinks, sink_pass);
        let tile_max = max(max(max(max4(c0, v0), max4(c1, v1)), max(max4(c2, v2), max4(c3, v3))),
            max(max(max4(c4, v4), max4(c5, v5)), max(max4(c6, v6), max4(c7, v7))));
        // The partner lane (t ^ 1) is in the same subgroup: a shuffle, no workgroup barrier.
        let m_new = max(m, max(tile_max, subgroupShuffleXor(tile_max, 1u)));
        // Rescale what has been summed (1 when the max stays; 0 when nothing was summed yet).
        let alpha = exp(m - m_new);
        tt = alpha * (tt + (m - m_new) * l);
        l *= alpha;
        m = m_new;
        let prow = row * HS + half;
        exp4(c0, v0, m, prow);
        exp4(c1, v1, m, prow + 8u);
        exp4(c2, v2, m, prow + 16u);
        exp4(c3, v3, m, prow + 24u);
        exp4(c4, v4, m, prow + 32u);
        exp4(c5, v5, m, prow + 40u);
        exp4(c6, v6, m, prow + 48u);
        exp4(c7, v7, m, prow + 56u);
        // P rows visible to the subgroup's cooperative loads (its own rows again).
        subgroupBarrier();

        // (P·V)[16 rows][HEAD_DIM] = P[16 rows][64 keys] · V[64 keys][HEAD_DIM]: A = P rows,
        // B = V rows (both row-major, coopLoadT), into this subgroup's score rows.
        for (var c = 0u; c < HEAD_DIM; c += 16u) {
            var acc = coop_mat16x16<f32, C>();
            for (var kk = 0u; kk < TILE; kk += 16u) {
                let ia = sg * 16u * HS + kk;
                let ib = kk * HS + c;
                let a = coopLoadT<coop_mat16x16<f16, A>>(&p_sh[ia], hs);
                let b = coopLoadT<coop_mat16x16<f16, B>>(&v_sh[ib], hs);
                acc = coopMultiplyAdd(a, b, acc);
            }
            let io = srow + c;
            coopStoreT(acc, &s_sh[io], ss);
        }
        workgroupBarrier();
        // The next tile's stash writes k_sh and v_sh (read above, before this barrier) and its
        // scores s_sh only after its first barrier, which every lane reaches after this fold.
        fold_pv(alpha, row * SS + half * 32u);
    }

    // The row's (l, t) are the two lanes' shares summed.
    let l_row = l + subgroupShuffleXor(l, 1u);
    let t_row = tt + subgroupShuffleXor(tt, 1u);

    if (row_ok) {
        let slot = ((p.split_base + wg.z) * p.n + r) * p.heads + h;
        let b = slot * QUADS + half * 8u;
        part_o[b] = o.a0; part_o[b + 1u] = o.a1; part_o[b + 2u] = o.a2; part_o[b + 3u] = o.a3;
        part_o[b + 4u] = o.a4; part_o[b + 5u] = o.a5; part_o[b + 6u] = o.a6; part_o[b + 7u] = o.a7;
        if (half == 0u) {
            part_stats[slot] = vec4<f32>(m, l_row, t_row, 0.0);
        }
    }
}
