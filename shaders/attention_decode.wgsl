// attention_decode.wgsl — attention.wgsl for a handful of queries (decode steps): the same
// interface, the same partials and the same (m, l, t) statistics for attention_merge.wgsl, but
// one workgroup per (query, head, key split) whose 64 threads share that one query's work, as in
// flash-decoding (Dao, Haziza, Massa, Sizov, "Flash-Decoding for long-context inference", 2023).
// attention.wgsl gives each thread its own query, so at n = 1 one thread of 64 did all the work.
//
// Keys go through in chunks of CHUNK = 64, one key per thread: the thread computes
// s_j = (q · scale) · k_j straight from the cache when the query sees key j, under exactly
// attention.wgsl's visibility (causality, this pass's region dmin <= i - j < dmax, the head's
// window and sinks, the same sink and window key ranges). Workgroup reductions give the chunk's
// max and then Σ e and Σ e·z with z = s - m, and the running (m, l, t) take the online-softmax
// update attention.wgsl applies key by key, once per chunk (FlashAttention-2, Dao 2023, §3.1):
// with m' = max(m, chunk max) and c = e^(m - m'): l' = c·l + Σ e, t' = c·(t + (m - m')·l) + Σ e·z,
// o' = c·o + Σ e·v. A split that sees no key keeps m = NEG_BIG, l = t = 0, o = 0: the neutral
// partial the merge drops, as attention.wgsl writes it.
//
// P·V: thread lid owns output quad lid % 16 (a V row is 16 vec4s) for the keys jj ≡ lid / 16
// (mod 4) of each chunk. Sixteen threads then read one V row as one contiguous 256-byte load,
// 16 bytes per thread, and four rows are in flight at once; one scalar dim per thread would take
// four times the load instructions. The price is one sum of the four groups' quads per split.
//
// q (scaled, as attention.wgsl scales it) sits in workgroup memory: every thread reads the same
// quad at the same time, a broadcast, and no 64-float private row is needed.

// Params and bindings: attention_io.wgsl (shared with attention.wgsl).

const QUADS: u32 = HEAD_DIM / 4u;
const CHUNK: u32 = 64u;              // keys per step: one per thread
const GROUPS: u32 = CHUNK / QUADS;   // key groups in P·V
const NEG_BIG: f32 = -3.0e38;

var<workgroup> q_row: array<vec4<f32>, QUADS>;
var<workgroup> weights: array<f32, CHUNK>;       // e^(s - m') of the chunk's keys (0 if masked)
var<workgroup> group_o: array<vec4<f32>, CHUNK>; // each thread's quad at the end of the split

var<private> m: f32;
var<private> l: f32;
var<private> t: f32;
var<private> acc: vec4<f32>;

// Folds keys key0 .. min(key0 + CHUNK, end) - 1 into (m, l, t, acc). Every thread calls it with
// the same arguments (it reduces across the workgroup). `end` <= i + 1 <= capacity, so each key
// read is a cache row of this chunk's past.
fn fold_chunk(lid: u32, i: u32, kv_head: u32, key0: u32, end: u32, lo: u32, window: u32, sinks: u32, sink_pass: bool) {
    let j = key0 + lid;
    var ok = j < end && j + p.dmin <= i && i - j < p.dmax;
    if (sink_pass) {
        ok = ok && j < sinks && j < lo;
    } else {
        ok = ok && j >= lo && mask_allows(i, j, window, sinks);
    }
    var s = NEG_BIG;
    if (ok) {
        let base = p.k_offset + (kv_head * p.capacity + j) * QUADS;
        var dot_qk = 0.0;
        for (var qc = 0u; qc < QUADS; qc++) {
            dot_qk += dot(q_row[qc], k_cache[base + qc]);
        }
        s = dot_qk;
    }
    let m_new = max(m, workgroup_max(lid, s, CHUNK));
    var e = 0.0;
    var ez = 0.0;
    if (ok) {
        let z = s - m_new;
        e = exp(z);
        ez = e * z;
    }
    weights[lid] = e;
    // The sums' barriers (or reduction_barrier, where the sums are subgroup butterflies) make
    // every thread's weight visible to the P·V loop below; the next chunk's reductions (or the
    // reduction_barrier at the end) keep this chunk's weights until every thread has used them.
    let l_chunk = workgroup_sum(lid, e, CHUNK);
    let t_chunk = workgroup_sum(lid, ez, CHUNK);
    reduction_barrier(CHUNK);
    var c = 1.0;
    if (l > 0.0) {
        c = exp(m - m_new);
        t = c * (t + (m - m_new) * l);
        l *= c;
    }
    l += l_chunk;
    t += t_chunk;
    m = m_new;

    acc *= c;
    let quad = lid % QUADS;
    let rows = min(CHUNK, end - key0);
    for (var jj = lid / QUADS; jj < rows; jj += GROUPS) {
        let w = weights[jj];
        if (w > 0.0) {
            acc = fma(vec4<f32>(w), v_cache[(kv_head * p.capacity + key0 + jj) * QUADS + quad], acc);
        }
    }
    reduction_barrier(CHUNK);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let r = wg.x;                              // query row (grid x = n)
    let h = wg.y;
    let kv_head = h / (p.heads / p.kv_heads);
    let i = p.start + r;                       // absolute position of this query
    let mp = mask[p.layer * p.heads + h];
    let window = mp.x;
    let sinks = mp.y;
    // As in attention.wgsl for a tile of one query.
    let range = key_range(i, i, window, p.dmin, p.dmax);
    let lo = range.x;
    let hi = range.y;

    if (lid < QUADS) {
        q_row[lid] = q[p.q_offset + (r * p.heads + h) * QUADS + lid] * p.scale;
    }
    workgroupBarrier();
    m = NEG_BIG;
    l = 0.0;
    t = 0.0;
    acc = vec4<f32>(0.0);

    // This workgroup's share of the keys: [split_start, split_end).
    let split_start = wg.z * p.keys_per_split;
    let split_end = split_start + p.keys_per_split;
    let sink_end = min(min(min(sinks, lo), split_end), hi);
    for (var key0 = split_start; key0 < sink_end; key0 += CHUNK) {
        fold_chunk(lid, i, kv_head, key0, sink_end, lo, window, sinks, true);
    }
    let window_end = min(hi, split_end);
    for (var key0 = max(lo, split_start); key0 < window_end; key0 += CHUNK) {
        fold_chunk(lid, i, kv_head, key0, window_end, lo, window, sinks, false);
    }

    group_o[lid] = acc;
    workgroupBarrier();
    if (lid < QUADS) {
        var o = vec4<f32>(0.0);
        for (var g = 0u; g < GROUPS; g++) {
            o += group_o[g * QUADS + lid];
        }
        let slot = ((p.split_base + wg.z) * p.n + r) * p.heads + h;
        part_o[slot * QUADS + lid] = o;
        if (lid == 0u) {
            part_stats[slot] = vec4<f32>(m, l, t, 0.0);
        }
    }
}
