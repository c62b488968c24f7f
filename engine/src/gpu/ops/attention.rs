//! Flash attention with logical masks and per-query entropy (`shaders/attention.wgsl`).

use bytemuck::{Pod, Zeroable};

use super::Ops;
use crate::gpu::kernels::{grid, key_tile, Kernel};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    start: u32,
    heads: u32,
    kv_heads: u32,
    capacity: u32,
    layer: u32,
    scale: f32,
    keys_per_split: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct MergeParams {
    n: u32,
    heads: u32,
    splits: u32,
    layer: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct RowParams {
    n: u32,
    start: u32,
    heads: u32,
    kv_heads: u32,
    capacity: u32,
    layer: u32,
    head: u32,
    row: u32,
    scale: f32,
    _pad: [u32; 3],
}

/// Queries per workgroup in `attention.wgsl`.
const QUERY_TILE: usize = 64;
/// Workgroups the key split aims for: a few per SM on large GPUs (an H200 has 132 SMs).
const TARGET_WORKGROUPS: usize = 528;
/// Upper bound on key splits (bounds the partial-result scratch); at most the 64 threads of an
/// `attention_merge.wgsl` workgroup, one per split.
pub(crate) const MAX_SPLITS: usize = 64;

/// Most splits any call with `n` queries can use (sizes the partials scratch).
pub(crate) fn max_splits(n: usize, heads: usize) -> usize {
    let base = n.div_ceil(QUERY_TILE) * heads;
    TARGET_WORKGROUPS.div_ceil(base.max(1)).clamp(1, MAX_SPLITS)
}

/// (splits, keys per split) for `n` queries over `keys` keys: enough workgroups to fill the
/// GPU, each split a whole number of key tiles.
pub(crate) fn split_plan(n: usize, keys: usize, heads: usize, head_dim: usize) -> (usize, usize) {
    let tile = key_tile(head_dim);
    let tiles = keys.div_ceil(tile).max(1);
    let splits = max_splits(n, heads).min(tiles);
    let keys_per_split = tiles.div_ceil(splits) * tile;
    (keys.div_ceil(keys_per_split).max(1), keys_per_split)
}

/// Shapes of one attention call.
pub(crate) struct AttentionShape {
    pub n: usize,
    pub start: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub capacity: usize,
    pub layer: usize,
    pub scale: f32,
    pub head_dim: usize,
}

/// Buffers of one attention call.
pub(crate) struct AttentionIo<'a> {
    pub q: &'a wgpu::Buffer,
    pub k_cache: &'a wgpu::Buffer,
    pub v_cache: &'a wgpu::Buffer,
    /// (window, sinks) per (layer, head); window 0 = unlimited.
    pub mask: &'a wgpu::Buffer,
    pub out: &'a wgpu::Buffer,
    /// [layers, heads, n]: entropy of each query's attention row, in nats.
    pub entropy: &'a wgpu::Buffer,
    /// [layers, heads, n]: log-sum-exp of each query's scores (for attention-row extraction).
    pub lse: &'a wgpu::Buffer,
    /// Scratch for per-split partial outputs, at least [max_splits(n), n, heads, d] floats.
    pub part_o: &'a wgpu::Buffer,
    /// Scratch for per-split (m, l, t), at least [max_splits(n), n, heads, 4] floats.
    pub part_stats: &'a wgpu::Buffer,
}

impl Ops<'_> {
    /// Split-key flash attention, then the merge of the splits.
    pub fn attention(&self, enc: &mut wgpu::CommandEncoder, s: &AttentionShape, io: &AttentionIo<'_>) {
        let (splits, keys_per_split) = split_plan(s.n, s.start + s.n, s.heads, s.head_dim);
        let params = Params {
            n: s.n as u32,
            start: s.start as u32,
            heads: s.heads as u32,
            kv_heads: s.kv_heads as u32,
            capacity: s.capacity as u32,
            layer: s.layer as u32,
            scale: s.scale,
            keys_per_split: keys_per_split as u32,
        };
        let buffers = [io.q, io.k_cache, io.v_cache, io.mask, io.part_o, io.part_stats];
        let groups = (s.n.div_ceil(QUERY_TILE) as u32, s.heads as u32, splits as u32);
        self.launch(enc, Kernel::Attention, 0, bytemuck::bytes_of(&params), &buffers, groups);

        let merge = MergeParams { n: s.n as u32, heads: s.heads as u32, splits: splits as u32, layer: s.layer as u32 };
        let buffers = [io.part_o, io.part_stats, io.out, io.entropy, io.lse];
        let (gx, gy) = grid((s.n * s.heads) as u32);
        self.launch(enc, Kernel::AttentionMerge, 0, bytemuck::bytes_of(&merge), &buffers, (gx, gy, 1));
    }

    /// The attention probabilities of query `row` (chunk index) of `head` over keys 0..=its
    /// position, into `probs`; needs the `lse` written by [`Ops::attention`] for this layer.
    pub fn attention_row(&self, enc: &mut wgpu::CommandEncoder, s: &AttentionShape, io: &AttentionIo<'_>, head: usize, row: usize, probs: &wgpu::Buffer) {
        let params = RowParams {
            n: s.n as u32,
            start: s.start as u32,
            heads: s.heads as u32,
            kv_heads: s.kv_heads as u32,
            capacity: s.capacity as u32,
            layer: s.layer as u32,
            head: head as u32,
            row: row as u32,
            scale: s.scale,
            _pad: [0; 3],
        };
        let buffers = [io.q, io.k_cache, io.mask, io.lse, probs];
        let (gx, gy) = grid((s.start + row + 1).div_ceil(64) as u32);
        self.launch(enc, Kernel::AttentionRow, 0, bytemuck::bytes_of(&params), &buffers, (gx, gy, 1));
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::{max_splits, split_plan, AttentionIo, AttentionShape};

    #[test]
    fn split_plan_covers_every_key_once() {
        for (n, keys) in [(1, 1), (1, 4096), (3, 103), (512, 8192), (130, 130), (1, 100_000)] {
            let (splits, per) = split_plan(n, keys, 9, 64);
            assert!(splits >= 1 && splits <= max_splits(n, 9), "n={n} keys={keys}: {splits}");
            assert_eq!(per % 32, 0);
            assert!(splits * per >= keys && (splits - 1) * per < keys, "n={n} keys={keys}: {splits} × {per}");
        }
        assert!(split_plan(1, 4096, 9, 64).0 > 1, "decode is split");
    }

    /// Explicit softmax rows with the mask evaluated per (i, j), as the reference: the output,
    /// the entropies and every probability row ([head][row] → p over keys 0..=i).
    #[allow(clippy::too_many_arguments, clippy::type_complexity)]
    fn reference(q: &[f32], k: &[f32], v: &[f32], n: usize, start: usize, heads: usize, kv_heads: usize, capacity: usize, d: usize, mask: &[(u32, u32)], scale: f32) -> (Vec<f32>, Vec<f32>, Vec<Vec<Vec<f64>>>) {
        let mut out = vec![0.0; n * heads * d];
        let mut entropy = vec![0.0; heads * n];
        let mut rows = vec![vec![Vec::new(); n]; heads];
        for h in 0..heads {
            let kvh = h / (heads / kv_heads);
            let (window, sinks) = mask[h];
            for r in 0..n {
                let i = start + r;
                let visible = |j: usize| j <= i && (window == 0 || i - j < window as usize || j < sinks as usize);
                let scores: Vec<(usize, f64)> = (0..=i)
                    .filter(|&j| visible(j))
                    .map(|j| {
                        let qi = &q[(r * heads + h) * d..][..d];
                        let kj = &k[(kvh * capacity + j) * d..][..d];
                        (j, qi.iter().zip(kj).map(|(a, b)| (*a as f64) * (*b as f64)).sum::<f64>() * scale as f64)
                    })
                    .collect();
                let max = scores.iter().map(|s| s.1).fold(f64::NEG_INFINITY, f64::max);
                let z: f64 = scores.iter().map(|s| (s.1 - max).exp()).sum();
                let mut h_sum = 0.0;
                rows[h][r] = vec![0.0; i + 1];
                for &(j, s) in &scores {
                    let p = (s - max).exp() / z;
                    rows[h][r][j] = p;
                    h_sum -= if p > 0.0 { p * p.ln() } else { 0.0 };
                    for c in 0..d {
                        out[(r * heads + h) * d + c] += (p * v[(kvh * capacity + j) * d + c] as f64) as f32;
                    }
                }
                entropy[h * n + r] = h_sum as f32;
            }
        }
        (out, entropy, rows)
    }

    #[test]
    fn attention_matches_explicit_softmax_under_every_mask() {
        let gpu = TestGpu::new();
        let d = 64;
        let (heads, kv_heads) = (4, 2);
        // (queries, past tokens, per-head (window, sinks)): full causal, windows narrower and
        // wider than a tile, sinks, a chunk that starts deep into the cache, > 64 queries.
        // The last case is a decode step deep into the cache: 63 key splits.
        let cases: [(usize, usize, [(u32, u32); 4]); 5] = [
            (9, 0, [(0, 0); 4]),
            (70, 5, [(0, 0), (8, 0), (8, 4), (40, 1)]),
            (3, 100, [(0, 0), (1, 0), (16, 2), (33, 40)]),
            (130, 0, [(64, 4), (0, 0), (5, 0), (100, 0)]),
            (1, 2000, [(0, 0), (300, 4), (7, 0), (0, 0)]),
        ];
        for (case, (n, start, head_masks)) in cases.into_iter().enumerate() {
            let capacity = start + n + 3;
            let seed = case as u64 * 10;
            let q = random(n * heads * d, seed, 1.0);
            let k = random(kv_heads * capacity * d, seed + 1, 1.0);
            let v = random(kv_heads * capacity * d, seed + 2, 1.0);
            // Layer 1 of 2: the kernel must index the mask table by layer.
            let mut mask_words = vec![999u32, 999, 999, 999, 999, 999, 999, 999];
            for (w, s) in head_masks {
                mask_words.extend([w, s]);
            }
            let scale = 1.0 / (d as f32).sqrt() * 3.0;
            let (qb, kb, vb) = (gpu.buffer(&q), gpu.buffer(&k), gpu.buffer(&v));
            let mb = gpu.buffer_u32(&mask_words);
            let (ob, eb, lb) = (gpu.zeros(n * heads * d), gpu.zeros(2 * heads * n), gpu.zeros(2 * heads * n));
            let splits = max_splits(n, heads);
            let (po, ps) = (gpu.zeros(splits * n * heads * d), gpu.zeros(splits * n * heads * 4));
            let shape = AttentionShape { n, start, heads, kv_heads, capacity, layer: 1, scale, head_dim: d };
            gpu.run(|ops, enc| {
                let io = AttentionIo { q: &qb, k_cache: &kb, v_cache: &vb, mask: &mb, out: &ob, entropy: &eb, lse: &lb, part_o: &po, part_stats: &ps };
                ops.attention(enc, &shape, &io)
            });
            let (out, entropy, rows) = reference(&q, &k, &v, n, start, heads, kv_heads, capacity, d, &head_masks, scale);
            assert_close(&gpu.read(&ob), &out, 2e-5, &format!("case {case} output"));
            assert_close(&gpu.read(&eb)[heads * n..], &entropy, 2e-5, &format!("case {case} entropy (layer 1)"));
            // Full attention rows of the first and last query of every head.
            for head in 0..heads {
                for row in [0, n - 1] {
                    let probs = gpu.zeros(start + row + 1);
                    gpu.run(|ops, enc| {
                        let io = AttentionIo { q: &qb, k_cache: &kb, v_cache: &vb, mask: &mb, out: &ob, entropy: &eb, lse: &lb, part_o: &po, part_stats: &ps };
                        ops.attention_row(enc, &shape, &io, head, row, &probs)
                    });
                    let expected: Vec<f32> = rows[head][row].iter().map(|&p| p as f32).collect();
                    assert_close(&gpu.read(&probs), &expected, 2e-5, &format!("case {case} row (head {head}, query {row})"));
                }
            }
        }
    }
}
