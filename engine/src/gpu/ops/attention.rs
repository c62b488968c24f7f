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
    dmin: u32,
    dmax: u32,
    split_base: u32,
    q_offset: u32,
    k_offset: u32,
    _pad: [u32; 3],
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
    regions: u32,
    near_max: u32,
    far_min: u32,
    q_stride: u32,
    k_stride: u32,
    out_offset: u32,
    _pad: u32,
}

/// Queries per workgroup in `attention.wgsl`.
const QUERY_TILE: usize = 64;
/// Workgroups the key split aims for: a few per SM on large GPUs (an H200 has 132 SMs).
const TARGET_WORKGROUPS: usize = 528;
/// Upper bound on key splits (bounds the partial-result scratch); at most the 64 threads of an
/// `attention_merge.wgsl` workgroup, one per split.
pub(crate) const MAX_SPLITS: usize = 64;

/// Most splits one pass of a call with `n` queries and `regions` key regions can use.
fn splits_per_pass(n: usize, heads: usize, regions: usize) -> usize {
    let base = n.div_ceil(QUERY_TILE) * heads;
    (TARGET_WORKGROUPS.div_ceil(base.max(1)).clamp(1, MAX_SPLITS) / regions.max(1)).max(1)
}

/// Partial-result slots any call with `n` queries and `regions` key regions can use (sizes the
/// partials scratch; at most [`MAX_SPLITS`]).
pub(crate) fn max_splits(n: usize, heads: usize, regions: usize) -> usize {
    splits_per_pass(n, heads, regions) * regions.max(1)
}

/// (splits, keys per split) for one pass of `n` queries over `keys` keys: enough workgroups to
/// fill the GPU, each split a whole number of key tiles.
pub(crate) fn split_plan(n: usize, keys: usize, heads: usize, head_dim: usize, regions: usize) -> (usize, usize) {
    let tile = key_tile(head_dim);
    let tiles = keys.div_ceil(tile).max(1);
    let splits = splits_per_pass(n, heads, regions).min(tiles);
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
    /// One entry per key region: the Δ range it covers, `[min, max)` (u32::MAX = unbounded).
    pub regions: Vec<(u32, u32)>,
}

/// Buffers of one attention call.
pub(crate) struct AttentionIo<'a> {
    /// [regions, n, heads, d]: q rotated for each region.
    pub q: &'a wgpu::Buffer,
    /// [regions, kv_heads, capacity, d]: K rotated for each region.
    pub k_cache: &'a wgpu::Buffer,
    pub v_cache: &'a wgpu::Buffer,
    /// (window, sinks) per (layer, head); window 0 = unlimited.
    pub mask: &'a wgpu::Buffer,
    pub out: &'a wgpu::Buffer,
    /// [layers, heads, n]: entropy of each query's attention row, in nats.
    pub entropy: &'a wgpu::Buffer,
    /// [layers, heads, n]: log-sum-exp of each query's scores (for attention-row extraction).
    pub lse: &'a wgpu::Buffer,
    /// Scratch for per-split partial outputs, at least [max_splits(n, ..), n, heads, d] floats.
    pub part_o: &'a wgpu::Buffer,
    /// Scratch for per-split (m, l, t), at least [max_splits(n, ..), n, heads, 4] floats.
    pub part_stats: &'a wgpu::Buffer,
}

impl Ops<'_> {
    /// Split-key flash attention, one pass per key region, then the merge of every split.
    pub fn attention(&self, enc: &mut wgpu::CommandEncoder, s: &AttentionShape, io: &AttentionIo<'_>) {
        let regions = s.regions.len();
        let (splits, keys_per_split) = split_plan(s.n, s.start + s.n, s.heads, s.head_dim, regions);
        let quads = s.head_dim / 4;
        for (r, &(dmin, dmax)) in s.regions.iter().enumerate() {
            let params = Params {
                n: s.n as u32,
                start: s.start as u32,
                heads: s.heads as u32,
                kv_heads: s.kv_heads as u32,
                capacity: s.capacity as u32,
                layer: s.layer as u32,
                scale: s.scale,
                keys_per_split: keys_per_split as u32,
                dmin,
                dmax,
                split_base: (r * splits) as u32,
                q_offset: (r * s.n * s.heads * quads) as u32,
                k_offset: (r * s.kv_heads * s.capacity * quads) as u32,
                _pad: [0; 3],
            };
            let buffers = [io.q, io.k_cache, io.v_cache, io.mask, io.part_o, io.part_stats];
            let groups = (s.n.div_ceil(QUERY_TILE) as u32, s.heads as u32, splits as u32);
            self.launch(enc, Kernel::Attention, 0, bytemuck::bytes_of(&params), &buffers, groups);
        }
        let splits = splits * regions;

        let merge = MergeParams { n: s.n as u32, heads: s.heads as u32, splits: splits as u32, layer: s.layer as u32 };
        let buffers = [io.part_o, io.part_stats, io.out, io.entropy, io.lse];
        let (gx, gy) = grid((s.n * s.heads) as u32);
        self.launch(enc, Kernel::AttentionMerge, 0, bytemuck::bytes_of(&merge), &buffers, (gx, gy, 1));
    }

    /// The attention probabilities of query `row` (chunk index) of `head` over keys 0..=its
    /// position, into `probs`; needs the `lse` written by [`Ops::attention`] for this layer.
    /// Writes the attention row of query `row` (an index into the chunk) of `head` into `probs`
    /// from float `out_offset` on (keys 0 ..= start + row).
    #[allow(clippy::too_many_arguments)]
    pub fn attention_row(
        &self,
        enc: &mut wgpu::CommandEncoder,
        s: &AttentionShape,
        io: &AttentionIo<'_>,
        head: usize,
        row: usize,
        probs: &wgpu::Buffer,
        out_offset: usize,
    ) {
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
            regions: s.regions.len() as u32,
            near_max: s.regions[0].1,
            far_min: s.regions.get(1).map_or(u32::MAX, |r| r.0),
            q_stride: (s.n * s.heads * s.head_dim / 4) as u32,
            k_stride: (s.kv_heads * s.capacity * s.head_dim / 4) as u32,
            out_offset: out_offset as u32,
            _pad: 0,
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
        for regions in [1, 2] {
            for (n, keys) in [(1, 1), (1, 4096), (3, 103), (512, 8192), (130, 130), (1, 100_000)] {
                let (splits, per) = split_plan(n, keys, 9, 64, regions);
                assert!(splits >= 1 && splits * regions <= max_splits(n, 9, regions), "n={n} keys={keys}: {splits}");
                assert!(max_splits(n, 9, regions) <= super::MAX_SPLITS);
                assert_eq!(per % 32, 0);
                assert!(splits * per >= keys && (splits - 1) * per < keys, "n={n} keys={keys}: {splits} × {per}");
            }
        }
        assert!(split_plan(1, 4096, 9, 64, 1).0 > 1, "decode is split");
    }

    /// Explicit softmax over the union of regions with the visibility evaluated per (i, j, region),
    /// as the reference: the output, the entropies and every probability row ([head][row] → p over
    /// keys 0..=i). `q`: [regions, n, heads, d]; `k`: [regions, kv_heads, capacity, d].
    #[allow(clippy::too_many_arguments, clippy::type_complexity)]
    fn reference(
        q: &[f32],
        k: &[f32],
        v: &[f32],
        n: usize,
        start: usize,
        heads: usize,
        kv_heads: usize,
        capacity: usize,
        d: usize,
        mask: &[(u32, u32)],
        regions: &[(u32, u32)],
        scale: f32,
    ) -> (Vec<f32>, Vec<f32>, Vec<Vec<Vec<f64>>>) {
        let mut out = vec![0.0; n * heads * d];
        let mut entropy = vec![0.0; heads * n];
        let mut rows = vec![vec![Vec::new(); n]; heads];
        for h in 0..heads {
            let kvh = h / (heads / kv_heads);
            let (window, sinks) = mask[h];
            for r in 0..n {
                let i = start + r;
                let visible = |j: usize| j <= i && (window == 0 || i - j < window as usize || j < sinks as usize);
                let mut scores: Vec<(usize, f64)> = Vec::new();
                for (g, &(dmin, dmax)) in regions.iter().enumerate() {
                    for j in (0..=i).filter(|&j| visible(j) && i - j >= dmin as usize && ((i - j) as u64) < dmax as u64)
                    {
                        let qi = &q[((g * n + r) * heads + h) * d..][..d];
                        let kj = &k[((g * kv_heads + kvh) * capacity + j) * d..][..d];
                        scores.push((
                            j,
                            qi.iter().zip(kj).map(|(a, b)| (*a as f64) * (*b as f64)).sum::<f64>() * scale as f64,
                        ));
                    }
                }
                let max = scores.iter().map(|s| s.1).fold(f64::NEG_INFINITY, f64::max);
                let z: f64 = scores.iter().map(|s| (s.1 - max).exp()).sum();
                let mut h_sum = 0.0;
                rows[h][r] = vec![0.0; i + 1];
                for &(j, s) in &scores {
                    let p = (s - max).exp() / z;
                    rows[h][r][j] += p;
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
    fn attention_matches_explicit_softmax_under_every_mask_and_region_split() {
        let gpu = TestGpu::new();
        let d = 64;
        let (heads, kv_heads) = (4, 2);
        const ALL: (u32, u32) = (0, u32::MAX);
        // (queries, past tokens, per-head (window, sinks), key regions): full causal, windows
        // narrower and wider than a tile, sinks, a chunk that starts deep into the cache, > 64
        // queries; a decode step deep into the cache (many key splits); then two-region splits
        // (STRING / Self-Extend / ReRoPE shape, StreamingLLM cache positions with sinks, and the
        // overlapping STRING reference quirk).
        type Case = (usize, usize, [(u32, u32); 4], Vec<(u32, u32)>);
        let cases: Vec<Case> = vec![
            (9, 0, [(0, 0); 4], vec![ALL]),
            (70, 5, [(0, 0), (8, 0), (8, 4), (40, 1)], vec![ALL]),
            (3, 100, [(0, 0), (1, 0), (16, 2), (33, 40)], vec![ALL]),
            (130, 0, [(64, 4), (0, 0), (5, 0), (100, 0)], vec![ALL]),
            (1, 2000, [(0, 0), (300, 4), (7, 0), (0, 0)], vec![ALL]),
            (100, 30, [(0, 0); 4], vec![(0, 40), (40, u32::MAX)]),
            (70, 0, [(20, 4), (20, 4), (0, 0), (3, 0)], vec![(0, 20), (20, u32::MAX)]),
            (1, 700, [(0, 0), (50, 2), (0, 0), (0, 0)], vec![(0, 33), (33, u32::MAX)]),
            (90, 10, [(0, 0), (0, 0), (64, 3), (0, 0)], vec![(0, 41), (40, u32::MAX)]),
        ];
        for (case, (n, start, head_masks, regions)) in cases.into_iter().enumerate() {
            let capacity = start + n + 3;
            let seed = case as u64 * 10;
            let g = regions.len();
            let q = random(g * n * heads * d, seed, 1.0);
            let k = random(g * kv_heads * capacity * d, seed + 1, 1.0);
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
            let splits = max_splits(n, heads, g);
            let (po, ps) = (gpu.zeros(splits * n * heads * d), gpu.zeros(splits * n * heads * 4));
            let shape = AttentionShape {
                n,
                start,
                heads,
                kv_heads,
                capacity,
                layer: 1,
                scale,
                head_dim: d,
                regions: regions.clone(),
            };
            gpu.run(|ops, enc| {
                let io = AttentionIo {
                    q: &qb,
                    k_cache: &kb,
                    v_cache: &vb,
                    mask: &mb,
                    out: &ob,
                    entropy: &eb,
                    lse: &lb,
                    part_o: &po,
                    part_stats: &ps,
                };
                ops.attention(enc, &shape, &io)
            });
            let (out, entropy, rows) =
                reference(&q, &k, &v, n, start, heads, kv_heads, capacity, d, &head_masks, &regions, scale);
            assert_close(&gpu.read(&ob), &out, 2e-5, &format!("case {case} output"));
            assert_close(&gpu.read(&eb)[heads * n..], &entropy, 2e-5, &format!("case {case} entropy (layer 1)"));
            // Full attention rows of the first and last query of every head.
            for (head, head_rows) in rows.iter().enumerate() {
                for row in [0, n - 1] {
                    // Written after `pad` untouched floats, as rows of a map are.
                    let pad = 3;
                    let probs = gpu.zeros(pad + start + row + 1);
                    gpu.run(|ops, enc| {
                        let io = AttentionIo {
                            q: &qb,
                            k_cache: &kb,
                            v_cache: &vb,
                            mask: &mb,
                            out: &ob,
                            entropy: &eb,
                            lse: &lb,
                            part_o: &po,
                            part_stats: &ps,
                        };
                        ops.attention_row(enc, &shape, &io, head, row, &probs, pad)
                    });
                    let expected: Vec<f32> = head_rows[row].iter().map(|&p| p as f32).collect();
                    let got = gpu.read(&probs);
                    assert_eq!(&got[..pad], &[0.0; 3], "case {case}: the row wrote before its offset");
                    assert_close(&got[pad..], &expected, 2e-5, &format!("case {case} row (head {head}, query {row})"));
                }
            }
        }
    }
}
