// argmax.wgsl — greedy decoding's next token, picked on the GPU: the index of the largest of the
// `n` logits, with ties going to the lowest index and values ordered as Rust's `f32::total_cmp`
// orders them (the CPU's `top_k`, so both pick the same token). It is written where the next
// decode step's embedding reads its token id (`ids[0]`), and with a non-finite flag into `picked`,
// which is all a pipelined decode step copies back (8 bytes instead of the vocabulary's logits).
// One workgroup: a decode step has one row of ~50k logits, a few microseconds of work.

struct Params {
    n: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> ids: array<u32>;
@group(0) @binding(3) var<storage, read_write> picked: array<u32>;

const WG: u32 = 256u;
const NONE: u32 = 0xFFFFFFFFu;

var<workgroup> best_key: array<u32, WG>;
var<workgroup> best_index: array<u32, WG>;
var<workgroup> bad: array<u32, WG>;

// An f32's bits as an unsigned key in total_cmp's order: negative values (sign set) reversed
// below every positive one, -0 below +0, NaNs at the ends.
fn order_key(bits: u32) -> u32 {
    return select(bits | 0x80000000u, ~bits, (bits & 0x80000000u) != 0u);
}

// Whether candidate (k, i) beats (bk, bi): larger key, or the same key at a lower index.
fn beats(k: u32, i: u32, bk: u32, bi: u32) -> bool {
    return i != NONE && (bi == NONE || k > bk || (k == bk && i < bi));
}

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) t: u32) {
    var key = 0u;
    var index = NONE;
    var nonfinite = 0u;
    // Each thread walks indices t, t + WG, … upwards, so a strict `>` keeps its lowest index.
    for (var i = t; i < p.n; i += WG) {
        let bits = bitcast<u32>(logits[i]);
        if ((bits & 0x7F800000u) == 0x7F800000u) {
            nonfinite = 1u;
        }
        let k = order_key(bits);
        if (index == NONE || k > key) {
            key = k;
            index = i;
        }
    }
    best_key[t] = key;
    best_index[t] = index;
    bad[t] = nonfinite;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (t < s) {
            if (beats(best_key[t + s], best_index[t + s], best_key[t], best_index[t])) {
                best_key[t] = best_key[t + s];
                best_index[t] = best_index[t + s];
            }
            bad[t] = bad[t] | bad[t + s];
        }
        workgroupBarrier();
    }
    if (t == 0u) {
        ids[0] = best_index[0];
        picked[0] = best_index[0];
        picked[1] = bad[0];
    }
}
