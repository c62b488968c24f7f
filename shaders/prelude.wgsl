// prelude.wgsl — shared by every kernel (prepended by engine/src/gpu/kernels.rs).
//
// Weight formats as they sit in GPU storage (array<u32>), one row after another:
//   F32   1 word per element.
//   F16   2 elements per word (unpack2x16float).
//   Q4_0  5 words per 32-element block: [d:f16 | pad], 16 bytes of nibbles (repacked from
//         GGUF's 18-byte block so blocks are word-aligned). x = (q - 8) * d.
//   Q4_1  5 words per block, GGUF's own layout: [d:f16 | m:f16], 16 bytes. x = q * d + m.
//   Q8_0  9 words per block: [d:f16 | pad], 32 signed bytes (repacked from 34 bytes). x = q * d.
// In both 4-bit formats byte i holds element i (low nibble) and element i + 16 (high nibble).
// The format ids QTYPE_<format> and block sizes BLOCK_WORDS_<format> are generated in front of
// this file from the Rust table (`QTYPES` in engine/src/gpu/weights.rs), never written here.

fn f16_low(word: u32) -> f32 {
    return unpack2x16float(word).x;
}

fn f16_high(word: u32) -> f32 {
    return unpack2x16float(word).y;
}

// Four unsigned nibbles of `word`: bytes 0..3, low nibbles (high = false) or high nibbles.
fn nibbles4(word: u32, high: bool) -> vec4<f32> {
    let w = select(word, word >> 4u, high);
    return vec4<f32>(f32(w & 0xFu), f32((w >> 8u) & 0xFu), f32((w >> 16u) & 0xFu), f32((w >> 24u) & 0xFu));
}

// Four signed bytes of `word`.
fn sbytes4(word: u32) -> vec4<f32> {
    let w = bitcast<i32>(word);
    return vec4<f32>(f32((w << 24u) >> 24u), f32((w << 16u) >> 24u), f32((w << 8u) >> 24u), f32(w >> 24u));
}

fn words_per_block(qtype: u32) -> u32 {
    switch qtype {
        case QTYPE_Q4_0: { return BLOCK_WORDS_Q4_0; }
        case QTYPE_Q4_1: { return BLOCK_WORDS_Q4_1; }
        case QTYPE_Q8_0: { return BLOCK_WORDS_Q8_0; }
        default: { return 0u; }
    }
}

// Word index of the header of the block holding element `col` of row `row` (`cols` per row).
fn block_base(qtype: u32, row: u32, col: u32, cols: u32) -> u32 {
    return (row * (cols / 32u) + col / 32u) * words_per_block(qtype);
}

// Whether the query at absolute position i may see key j <= i under its head's mask
// (docs/methods.md#attention-patterns): inside the window (0 = unlimited) or one of the first
// `sinks` keys. The one definition for the attention kernels and attention_row.wgsl
// (attention_coop.wgsl's whole-tile test bounds the same window for a tile at once).
fn mask_allows(i: u32, j: u32, window: u32, sinks: u32) -> bool {
    return window == 0u || i - j < window || j < sinks;
}

// The keys a region's pass must visit for queries at absolute positions first..=last, as
// (lo, hi): keys below lo are outside every query's window (or the region's Δ < dmax), so only
// sinks reach them; keys at or above hi are beyond the last query's reach (Δ ≥ dmin). Shared by
// attention.wgsl (a tile of queries) and attention_decode.wgsl (first = last).
fn key_range(first: u32, last: u32, window: u32, dmin: u32, dmax: u32) -> vec2<u32> {
    var reach = dmax;
    if (window != 0u) {
        reach = min(window, dmax);
    }
    var lo = 0u;
    if (first + 1u > reach) {
        lo = first + 1u - reach;
    }
    var hi = 0u;
    if (last >= dmin) {
        hi = last + 1u - dmin;
    }
    return vec2<u32>(lo, hi);
}

// Workgroup tree reductions. Threads are taken in segments of `width` (a power of two, at most
// 256 and at most the workgroup size, which must be a multiple of it): thread t contributes v,
// and every thread gets the total of its segment t / width. Call from uniform control flow, with
// the same constant width in every thread. The scratch is declared here once; pipelines only
// allocate it for kernels that reduce (an entry point gets the workgroup memory it uses).
//
// The tree halves the stride from width / 2 down to 1. Its last levels, strides below
// SUBGROUP_LANES (generated; 1 where the device has no subgroups or they are switched off), run
// as a butterfly of `subgroup_xor` shuffles inside aligned blocks of that many threads, with no
// workgroup memory and no barrier (the engine checked at start-up that thread t is lane
// t % SUBGROUP_LANES: `GpuContext`'s subgroup probe). Each butterfly step adds the same two
// partial sums as the tree's step (a + b for a thread, b + a for its partner: IEEE addition is
// commutative), so every thread gets the tree's total bit for bit, with or without subgroups.
// (The maximum is the tree's too, up to the sign of a zero in threads other than the first:
// max(+0, -0) may depend on the order.)
//
// A reduction of width <= SUBGROUP_LANES is a butterfly alone and does not synchronise the
// workgroup: a kernel that shares its own workgroup memory across one calls reduction_barrier.
var<workgroup> reduce_scratch: array<f32, 256>;

// The barrier a reduction of `width` no longer gives when it is a butterfly alone (a no-op
// where the reduction goes through workgroup memory, whose barriers already order everything).
// Call from uniform control flow with a constant width.
fn reduction_barrier(width: u32) {
    if (width <= SUBGROUP_LANES) {
        workgroupBarrier();
    }
}

fn workgroup_sum(t: u32, v: f32, width: u32) -> f32 {
    let lanes = min(width, SUBGROUP_LANES);
    var s = v;
    if (width > lanes) {
        reduce_scratch[t] = v;
        workgroupBarrier();
        let lane = t % width;
        for (var stride = width / 2u; stride >= lanes; stride /= 2u) {
            if (lane < stride) {
                reduce_scratch[t] += reduce_scratch[t + stride];
            }
            workgroupBarrier();
        }
        s = reduce_scratch[t - lane + lane % lanes];
        workgroupBarrier();
    }
    for (var mask = lanes / 2u; mask > 0u; mask /= 2u) {
        s += subgroup_xor(s, mask);
    }
    return s;
}

fn workgroup_max(t: u32, v: f32, width: u32) -> f32 {
    let lanes = min(width, SUBGROUP_LANES);
    var s = v;
    if (width > lanes) {
        reduce_scratch[t] = v;
        workgroupBarrier();
        let lane = t % width;
        for (var stride = width / 2u; stride >= lanes; stride /= 2u) {
            if (lane < stride) {
                reduce_scratch[t] = max(reduce_scratch[t], reduce_scratch[t + stride]);
            }
            workgroupBarrier();
        }
        s = reduce_scratch[t - lane + lane % lanes];
        workgroupBarrier();
    }
    for (var mask = lanes / 2u; mask > 0u; mask /= 2u) {
        s = max(s, subgroup_xor(s, mask));
    }
    return s;
}
