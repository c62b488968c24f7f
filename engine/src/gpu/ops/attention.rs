//! Flash attention with logical masks and per-query entropy: `shaders/attention.wgsl` for
//! prefill chunks (`shaders/attention_coop.wgsl` on the tensor cores with the `fast` precision
//! choice), `shaders/attention_decode.wgsl` for decode steps (flash-decoding), all merged by
//! `shaders/attention_merge.wgsl`.

use super::{kernel_interface, require, Bound, Ops};
use crate::error::Result;
use crate::gpu::kernels::{grid, key_tile, Kernel, ATTENTION_HEAD_DIM};
use crate::gpu::recorder::Recorder;

kernel_interface! {
    params AttentionParams for [Attention, AttentionCoop, AttentionDecode] {
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
        _pad0: u32,
        _pad1: u32,
        _pad2: u32,
    }
    buffers AttentionBuffers {
        q: Read,
        k_cache: Read,
        v_cache: Read,
        mask: Read,
        part_o: ReadWrite,
        part_stats: ReadWrite,
    }
}

kernel_interface! {
    params MergeParams for [AttentionMerge] { n: u32, heads: u32, splits: u32, layer: u32 }
    buffers MergeBuffers { part_o: Read, part_stats: Read, out: ReadWrite, entropy: ReadWrite, lse: ReadWrite }
}

/// Queries per workgroup in `attention.wgsl` and `attention_coop.wgsl`.
const QUERY_TILE: usize = 64;
/// Calls with at most this many queries run `attention_decode.wgsl`: one workgroup per query
/// row, its 64 threads sharing the row's keys, where `attention.wgsl` would keep 64 − n threads
/// of each workgroup idle. The decode kernel reads each key once per row instead of once per
/// tile of 64 rows, so its advantage shrinks as rows are added; 4 covers decode (n = 1) and
/// short speculative or multi-token steps while the K/V re-reads stay a few times one pass.
/// Not tuned by measurement at n = 2..4.
pub(crate) const DECODE_MAX_QUERIES: usize = 4;
/// Keys one `attention_decode.wgsl` workgroup folds per step (its `CHUNK`: one per thread).
const DECODE_CHUNK: usize = 64;
/// Keys per tile of `attention_coop.wgsl` (its `TILE`).
const COOP_KEY_TILE: usize = 64;
/// Workgroups the key split aims for: 16 per SM on an H200 (132 SMs). The kernels are bound by
/// latency, not issue, at 4 per SM: on the H200 2,112 against 528 raised f32 prefill at 16k / 32k
/// tokens from 12,822 / 7,483 to 15,051 / 9,200 tok/s (8,448 gained nothing more); the price is
/// the partials' scratch, 28 MB more at a 512-query chunk (BENCHMARKS.md).
const TARGET_WORKGROUPS: usize = 2112;
/// Upper bound on key splits (bounds the partial-result scratch); at most the 64 threads of an
/// `attention_merge.wgsl` workgroup, one per split.
pub(crate) const MAX_SPLITS: usize = 64;

/// The kernel [`Ops::attention`] runs for `n` queries: the decode kernel for a few, else the
/// tiled one, on the tensor cores where `coop` ([`GpuContext::coop_attention`](crate::gpu::GpuContext::coop_attention)).
pub(crate) fn attention_kernel(n: usize, coop: bool) -> Kernel {
    if n <= DECODE_MAX_QUERIES {
        Kernel::AttentionDecode
    } else if coop {
        Kernel::AttentionCoop
    } else {
        Kernel::Attention
    }
}

/// Workgroups `kernel` runs per (head, split) for `n` queries: a tile of 64 queries each for
/// `attention.wgsl` and `attention_coop.wgsl`, one query each for `attention_decode.wgsl`.
fn row_groups(kernel: Kernel, n: usize) -> usize {
    if kernel == Kernel::AttentionDecode {
        n
    } else {
        n.div_ceil(QUERY_TILE)
    }
}

/// Keys a split of `kernel` holds a whole number of: the K/V tile of `attention.wgsl` and of
/// `attention_coop.wgsl`, the key chunk of `attention_decode.wgsl` (splits of whole chunks leave
/// no thread idle but the last chunk's past the window).
fn key_step(kernel: Kernel, head_dim: usize) -> usize {
    match kernel {
        Kernel::AttentionDecode => DECODE_CHUNK,
        Kernel::AttentionCoop => COOP_KEY_TILE,
        _ => key_tile(head_dim),
    }
}

/// Most splits one pass of `kernel` over `n` queries and `regions` key regions can use, aiming
/// at `target` workgroups ([`TARGET_WORKGROUPS`]; tests aim lower to get many key tiles a split).
fn splits_per_pass(kernel: Kernel, n: usize, heads: usize, regions: usize, target: usize) -> usize {
    let base = row_groups(kernel, n) * heads;
    (target.div_ceil(base.max(1)).clamp(1, MAX_SPLITS) / regions.max(1)).max(1)
}

/// Partial-result slots any call with `n` queries and `regions` key regions can use, whichever
/// attention kernel runs it (sizes the partials scratch; at most [`MAX_SPLITS`]).
pub(crate) fn max_splits(n: usize, heads: usize, regions: usize) -> usize {
    let most = [Kernel::Attention, Kernel::AttentionCoop, Kernel::AttentionDecode]
        .map(|k| splits_per_pass(k, n, heads, regions, TARGET_WORKGROUPS));
    most.into_iter().max().unwrap_or(1) * regions.max(1)
}

/// (splits, keys per split) for one pass of `kernel` over `n` queries and `keys` keys: enough
/// workgroups to fill the GPU (about `target`), each split a whole number of the kernel's key
/// steps.
pub(crate) fn split_plan(
    kernel: Kernel,
    n: usize,
    keys: usize,
    heads: usize,
    head_dim: usize,
    regions: usize,
    target: usize,
) -> (usize, usize) {
    let step = key_step(kernel, head_dim);
    let steps = keys.div_ceil(step).max(1);
    let splits = splits_per_pass(kernel, n, heads, regions, target).min(steps);
    let keys_per_split = steps.div_ceil(splits) * step;
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

impl AttentionShape {
    /// The checks every attention kernel needs: the head size the pipelines were built for,
    /// whole query groups per KV head (the kernels divide by `heads / kv_heads`), at least one
    /// key region, and the chunk's keys inside the cache.
    pub(crate) fn check(&self, kernel: Kernel, pipeline_head_dim: usize) -> Result<()> {
        let s = self;
        require(s.head_dim == ATTENTION_HEAD_DIM && s.head_dim == pipeline_head_dim, kernel, || {
            format!(
                "head_dim {} (pipelines built for {pipeline_head_dim}, kernel written for {ATTENTION_HEAD_DIM})",
                s.head_dim
            )
        })?;
        require(s.kv_heads > 0 && s.heads >= s.kv_heads && s.heads.is_multiple_of(s.kv_heads), kernel, || {
            format!("{} query heads over {} KV heads", s.heads, s.kv_heads)
        })?;
        require(!s.regions.is_empty(), kernel, || "no key region".into())?;
        require(s.start + s.n <= s.capacity, kernel, || {
            format!("keys 0..{} of a {}-row cache", s.start + s.n, s.capacity)
        })
    }
}

impl Ops<'_> {
    /// Split-key flash attention, one pass per key region, then the merge of every split: the
    /// decode kernel for at most [`DECODE_MAX_QUERIES`] queries, the tiled kernel otherwise (its
    /// cooperative-matrix form where the context selects it).
    pub fn attention(&self, enc: &mut Recorder, s: &AttentionShape, io: &AttentionIo<'_>) -> Result<()> {
        self.attention_with(enc, attention_kernel(s.n, self.ctx.coop_attention()), s, io, TARGET_WORKGROUPS)
    }

    /// [`Self::attention`] with `kernel` ([`Kernel::Attention`], [`Kernel::AttentionCoop`] or
    /// [`Kernel::AttentionDecode`], which take the same parameters and write the same partials)
    /// for the key splits.
    ///
    /// Indexed extents: q [regions, n, heads, d], the cache [regions, kv_heads, capacity, d] (V:
    /// one region), mask [layer + 1, heads] pairs, the partials [regions · splits, n, heads, d]
    /// and [regions · splits, n, heads, 4], out [n, heads, d], entropy and lse [layer + 1, heads, n].
    /// The decode kernel's workgroup x is its query row (< n), and it reads keys j <= start + row.
    /// The key splits aim at `target` workgroups ([`TARGET_WORKGROUPS`]; fewer splits never need
    /// more partials scratch than [`max_splits`] sizes).
    fn attention_with(
        &self,
        enc: &mut Recorder,
        kernel: Kernel,
        s: &AttentionShape,
        io: &AttentionIo<'_>,
        target: usize,
    ) -> Result<()> {
        s.check(kernel, self.pipes.head_dim())?;
        let regions = s.regions.len();
        let (n, heads, kv_heads, d) = (s.n, s.heads, s.kv_heads, s.head_dim);
        let target = target.clamp(1, TARGET_WORKGROUPS);
        let (splits, keys_per_split) = split_plan(kernel, n, s.start + n, heads, d, regions, target);
        let all_splits = splits * regions;
        require(all_splits <= MAX_SPLITS, Kernel::AttentionMerge, || format!("{all_splits} key splits"))?;
        let quads = d / 4;
        let part_o = Bound::words(io.part_o, &[all_splits, n, heads, d]);
        let part_stats = Bound::words(io.part_stats, &[all_splits, n, heads, 4]);
        for (r, &(dmin, dmax)) in s.regions.iter().enumerate() {
            let params = AttentionParams {
                n: n as u32,
                start: s.start as u32,
                heads: heads as u32,
                kv_heads: kv_heads as u32,
                capacity: s.capacity as u32,
                layer: s.layer as u32,
                scale: s.scale,
                keys_per_split: keys_per_split as u32,
                dmin,
                dmax,
                split_base: (r * splits) as u32,
                q_offset: (r * n * heads * quads) as u32,
                k_offset: (r * kv_heads * s.capacity * quads) as u32,
                _pad0: 0,
                _pad1: 0,
                _pad2: 0,
            };
            let buffers = AttentionBuffers {
                q: Bound::words(io.q, &[regions, n, heads, d]),
                k_cache: Bound::words(io.k_cache, &[regions, kv_heads, s.capacity, d]),
                v_cache: Bound::words(io.v_cache, &[kv_heads, s.capacity, d]),
                mask: Bound::words(io.mask, &[s.layer + 1, heads, 2]),
                part_o,
                part_stats,
            };
            let groups = (row_groups(kernel, n) as u32, heads as u32, splits as u32);
            self.launch(enc, kernel, 0, &params, &buffers, groups)?;
        }

        let merge = MergeParams { n: n as u32, heads: heads as u32, splits: all_splits as u32, layer: s.layer as u32 };
        let buffers = MergeBuffers {
            part_o,
            part_stats,
            out: Bound::words(io.out, &[n, heads, d]),
            entropy: Bound::words(io.entropy, &[s.layer + 1, heads, n]),
            lse: Bound::words(io.lse, &[s.layer + 1, heads, n]),
        };
        let (gx, gy) = grid((n * heads) as u32);
        self.launch(enc, Kernel::AttentionMerge, 0, &merge, &buffers, (gx, gy, 1))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::testutil::*;
    use super::{
        attention_kernel, max_splits, split_plan, AttentionIo, AttentionShape, DECODE_MAX_QUERIES, TARGET_WORKGROUPS,
    };
    use crate::gpu::kernels::Kernel;

    /// Both kernels' plans, at the query counts each runs (and the tiled kernel's at decode
    /// sizes, which the comparison tests force): every key in exactly one split, whole key steps,
    /// and the partial slots within what [`max_splits`] sizes the scratch for.
    #[test]
    fn split_plan_covers_every_key_once() {
        let decode = [(1, 1), (1, 63), (1, 64), (1, 65), (1, 4096), (2, 1000), (3, 103), (4, 5000), (1, 100_000)];
        let tiled = [(512, 8192), (130, 130), (5, 40)];
        for regions in [1, 2] {
            for heads in [2, 9, 32] {
                for (kernel, n, keys) in decode
                    .iter()
                    .flat_map(|&(n, keys)| {
                        [
                            (Kernel::AttentionDecode, n, keys),
                            (Kernel::Attention, n, keys),
                            (Kernel::AttentionCoop, n, keys),
                        ]
                    })
                    .chain(
                        tiled
                            .iter()
                            .flat_map(|&(n, keys)| [Kernel::Attention, Kernel::AttentionCoop].map(|k| (k, n, keys))),
                    )
                {
                    let what = format!("{kernel:?} n={n} keys={keys} heads={heads} regions={regions}");
                    let (splits, per) = split_plan(kernel, n, keys, heads, 64, regions, TARGET_WORKGROUPS);
                    assert!(splits >= 1 && splits * regions <= max_splits(n, heads, regions), "{what}: {splits}");
                    assert!(max_splits(n, heads, regions) <= super::MAX_SPLITS, "{what}");
                    let step = match kernel {
                        Kernel::Attention => 32,
                        _ => 64,
                    };
                    assert_eq!(per % step, 0, "{what}");
                    assert!(splits * per >= keys && (splits - 1) * per < keys, "{what}: {splits} × {per}");
                }
            }
        }
        for coop in [false, true] {
            assert_eq!(attention_kernel(1, coop), Kernel::AttentionDecode);
        }
        assert_eq!(attention_kernel(DECODE_MAX_QUERIES + 1, false), Kernel::Attention);
        assert_eq!(attention_kernel(DECODE_MAX_QUERIES + 1, true), Kernel::AttentionCoop);
        assert!(split_plan(Kernel::AttentionDecode, 1, 4096, 9, 64, 1, TARGET_WORKGROUPS).0 > 1, "decode is split");
        assert_eq!(split_plan(Kernel::AttentionCoop, 512, 8192, 9, 64, 1, 1).0, 1, "one split at target 1");
    }

    /// What [`reference`] computes.
    pub(crate) struct Reference {
        /// [n, heads, d].
        pub out: Vec<f32>,
        /// [heads, n], in nats.
        pub entropy: Vec<f32>,
        /// [heads, n]: ln Σ e^s over the visible scores.
        pub lse: Vec<f32>,
        /// [head][row] → probabilities over keys 0..=start + row.
        pub rows: Vec<Vec<Vec<f64>>>,
    }

    /// Explicit softmax over the union of regions with the visibility evaluated per (i, j, region),
    /// as the reference: the output, the entropies, the log-sum-exps and every probability row.
    /// `q`: [regions, n, heads, d]; `k`: [regions, kv_heads, capacity, d].
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn reference(
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
    ) -> Reference {
        let mut out = vec![0.0; n * heads * d];
        let mut entropy = vec![0.0; heads * n];
        let mut lse = vec![0.0; heads * n];
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
                lse[h * n + r] = (max + z.ln()) as f32;
            }
        }
        Reference { out, entropy, lse, rows }
    }

    const ALL: (u32, u32) = (0, u32::MAX);

    /// (queries, past tokens, per-head (window, sinks), key regions).
    pub(crate) type Case = (usize, usize, [(u32, u32); 4], Vec<(u32, u32)>);

    /// Full causal, windows narrower and wider than a tile, sinks, a chunk that starts deep into
    /// the cache, > 64 queries, odd query counts; a decode step deep into the cache (many key
    /// splits) and one at position 0; then two-region splits (STRING / Self-Extend / ReRoPE
    /// shape, StreamingLLM cache positions with sinks, and the overlapping STRING reference quirk).
    pub(crate) fn cases() -> Vec<Case> {
        vec![
            (9, 0, [(0, 0); 4], vec![ALL]),
            (70, 5, [(0, 0), (8, 0), (8, 4), (40, 1)], vec![ALL]),
            (3, 100, [(0, 0), (1, 0), (16, 2), (33, 40)], vec![ALL]),
            (130, 0, [(64, 4), (0, 0), (5, 0), (100, 0)], vec![ALL]),
            (1, 2000, [(0, 0), (300, 4), (7, 0), (0, 0)], vec![ALL]),
            (1, 0, [(0, 0), (1, 1), (0, 0), (2, 0)], vec![ALL]),
            (100, 30, [(0, 0); 4], vec![(0, 40), (40, u32::MAX)]),
            (70, 0, [(20, 4), (20, 4), (0, 0), (3, 0)], vec![(0, 20), (20, u32::MAX)]),
            (1, 700, [(0, 0), (50, 2), (0, 0), (0, 0)], vec![(0, 33), (33, u32::MAX)]),
            (90, 10, [(0, 0), (0, 0), (64, 3), (0, 0)], vec![(0, 41), (40, u32::MAX)]),
        ]
    }

    /// A fixture's inputs on the host: q, K, V (layouts of [`reference`]) and the per-head
    /// (window, sinks).
    pub(crate) struct HostInputs {
        pub q: Vec<f32>,
        pub k: Vec<f32>,
        pub v: Vec<f32>,
        pub masks: Vec<(u32, u32)>,
    }

    /// One attention call at layer 1 of 2 (the kernels must index the mask and the entropy by
    /// layer): its inputs, buffers and the reference's results.
    pub(crate) struct Fixture {
        pub shape: AttentionShape,
        pub q: wgpu::Buffer,
        pub k: wgpu::Buffer,
        pub v: wgpu::Buffer,
        pub mask: wgpu::Buffer,
        pub out: wgpu::Buffer,
        pub entropy: wgpu::Buffer,
        pub lse: wgpu::Buffer,
        pub part_o: wgpu::Buffer,
        pub part_stats: wgpu::Buffer,
        pub expected: Reference,
        /// The inputs on the host.
        pub host: HostInputs,
    }

    impl Fixture {
        pub fn io(&self) -> AttentionIo<'_> {
            AttentionIo {
                q: &self.q,
                k_cache: &self.k,
                v_cache: &self.v,
                mask: &self.mask,
                out: &self.out,
                entropy: &self.entropy,
                lse: &self.lse,
                part_o: &self.part_o,
                part_stats: &self.part_stats,
            }
        }

        /// One of [`cases`], on 4 query heads over 2 KV heads, through [`Ops::attention`](super::Ops::attention).
        pub fn run(gpu: &TestGpu, case: usize, (n, start, head_masks, regions): Case) -> Self {
            let fixture = Self::new(gpu, case as u64 * 10, n, start, (4, 2), &head_masks, regions);
            gpu.run(|ops, enc| ops.attention(enc, &fixture.shape, &fixture.io()));
            fixture
        }

        /// Random inputs for `n` queries at `start` on (heads, kv_heads) with one (window, sinks)
        /// per head, zeroed outputs and the reference's results; nothing launched yet.
        pub fn new(
            gpu: &TestGpu,
            seed: u64,
            n: usize,
            start: usize,
            (heads, kv_heads): (usize, usize),
            head_masks: &[(u32, u32)],
            regions: Vec<(u32, u32)>,
        ) -> Self {
            let d = 64;
            let capacity = start + n + 3;
            let g = regions.len();
            let q = random(g * n * heads * d, seed, 1.0);
            let k = random(g * kv_heads * capacity * d, seed + 1, 1.0);
            let v = random(kv_heads * capacity * d, seed + 2, 1.0);
            // Layer 0's masks, which the kernels must not read, then layer 1's.
            let mut mask_words = vec![999u32; 2 * heads];
            for &(w, s) in head_masks {
                mask_words.extend([w, s]);
            }
            let scale = 1.0 / (d as f32).sqrt() * 3.0;
            let splits = max_splits(n, heads, g);
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
            let expected = reference(&q, &k, &v, n, start, heads, kv_heads, capacity, d, head_masks, &regions, scale);
            Self {
                shape,
                q: gpu.buffer(&q),
                k: gpu.buffer(&k),
                v: gpu.buffer(&v),
                mask: gpu.buffer_u32(&mask_words),
                out: gpu.zeros(n * heads * d),
                entropy: gpu.zeros(2 * heads * n),
                lse: gpu.zeros(2 * heads * n),
                part_o: gpu.zeros(splits * n * heads * d),
                part_stats: gpu.zeros(splits * n * heads * 4),
                expected,
                host: HostInputs { q, k, v, masks: head_masks.to_vec() },
            }
        }
    }

    #[test]
    fn attention_matches_explicit_softmax_under_every_mask_and_region_split() {
        let gpu = TestGpu::new();
        for (case, c) in cases().into_iter().enumerate() {
            let f = Fixture::run(&gpu, case, c);
            let (n, heads) = (f.shape.n, f.shape.heads);
            assert_close(&gpu.read(&f.out), &f.expected.out, 2e-5, &format!("case {case} output"));
            let entropy = gpu.read(&f.entropy);
            assert_close(&entropy[heads * n..], &f.expected.entropy, 2e-5, &format!("case {case} entropy (layer 1)"));
            let lse = gpu.read(&f.lse);
            assert_close(&lse[heads * n..], &f.expected.lse, 2e-5, &format!("case {case} lse (layer 1)"));
            // One split: every key tile of a pass in one workgroup's loop.
            let single = run_kernel(&gpu, &f, Kernel::Attention, 1);
            let expected = [&f.expected.out, &f.expected.entropy, &f.expected.lse];
            for (i, name) in ["output", "entropy", "lse"].into_iter().enumerate() {
                assert_close(&single[i], expected[i], 2e-5, &format!("case {case}, one split: {name}"));
            }
        }
    }

    /// The decode kernel against the reference and against the tiled kernel (forced at the same
    /// sizes, into separate outputs), over query counts, positions around a key chunk's edges and
    /// deep enough for splits of several chunks (6000 on 9 heads: 2–3 chunks a split), GQA
    /// ratios, one and two key regions (disjoint, and overlapping as STRING's reference quirk),
    /// and per-head masks rotating through full, windows narrower than a chunk (so whole splits
    /// see nothing), windows with sinks, and a one-key window.
    #[test]
    fn decode_attention_matches_the_reference_and_the_tiled_kernel() {
        let gpu = TestGpu::new();
        let masks = [(0, 0), (7, 0), (7, 3), (40, 1), (1, 0), (100, 4), (0, 0), (3, 70), (65, 0)];
        let region_sets = [vec![ALL], vec![(0, 20), (20, u32::MAX)], vec![(0, 33), (32, u32::MAX)]];
        let mut case = 0;
        for n in 1..=3 {
            for start in [0, 5, 31, 32, 33, 200, 1000, 6000] {
                for (heads, kv_heads) in [(9, 3), (4, 4), (2, 1)] {
                    for regions in [1, 2] {
                        case += 1;
                        if start == 6000 && heads != 9 {
                            continue;
                        }
                        let head_masks: Vec<(u32, u32)> = (0..heads).map(|h| masks[(h + case) % masks.len()]).collect();
                        let region_set = region_sets[if regions == 1 { 0 } else { 1 + case % 2 }].clone();
                        let what = format!(
                            "n={n} start={start} heads={heads}/{kv_heads} regions={region_set:?} masks={head_masks:?}"
                        );
                        let f = Fixture::new(&gpu, case as u64, n, start, (heads, kv_heads), &head_masks, region_set);
                        assert_eq!(attention_kernel(n, false), Kernel::AttentionDecode);
                        if start == 6000 {
                            let (_, per) = split_plan(
                                Kernel::AttentionDecode,
                                n,
                                start + n,
                                heads,
                                64,
                                regions,
                                TARGET_WORKGROUPS,
                            );
                            assert!(per > 64, "{what}: splits of one chunk ({per} keys)");
                        }
                        let decode = run_kernel(&gpu, &f, Kernel::AttentionDecode, TARGET_WORKGROUPS);
                        let tiled = run_kernel(&gpu, &f, Kernel::Attention, TARGET_WORKGROUPS);
                        let expected = [&f.expected.out, &f.expected.entropy, &f.expected.lse];
                        for (k, name) in ["output", "entropy", "lse"].into_iter().enumerate() {
                            assert_close(&decode[k], expected[k], 2e-5, &format!("{what}: decode {name} vs reference"));
                            assert_close(&decode[k], &tiled[k], 2e-5, &format!("{what}: decode {name} vs tiled"));
                        }
                    }
                }
            }
        }
    }

    /// The cooperative-matrix kernel against the f64 softmax of its f16-rounded inputs (q·scale,
    /// K and V rounded as the kernel rounds them), where the test adapter has cooperative
    /// matrices (elsewhere, e.g. on lavapipe, it says so and passes): every case of [`cases`],
    /// then deep chunks with several key splits and partial tiles on 9 query heads over 3 KV
    /// heads (windows narrower than a tile, sinks, two regions).
    ///
    /// Each call runs twice: with the production split plan (many splits of one or two tiles) and
    /// with one split (every key tile of a pass in one workgroup's loop: the register prefetch
    /// chain, the window tiles after the first, the rescaling between tiles). The shallow cases
    /// put the causal edge at every offset of a tile (starts 126 and 127 with 130 queries) and
    /// a region boundary (150) where the whole-tile test decides.
    ///
    /// Tolerances: with the inputs rounded as the kernel rounds them, the scores are exact
    /// products summed in f32, so the softmax statistics keep 2e-4 absolute (entropy, lse; a
    /// wrong or missing tile moves them by far more, a single key of weight w by ~w); the output
    /// adds the rounding of each probability to f16 (relative 2⁻¹¹ ≈ 4.9e-4, so at most 4.9e-4 ·
    /// Σ p|v| ≤ 4.9e-4 for |v| ≤ 1): 1e-3. The same call through the f32 tiled kernel must stay
    /// within 2e-5 of the unrounded reference.
    #[test]
    fn coop_attention_matches_the_reference_on_f16_inputs() {
        use half::f16;
        let mut gpu = TestGpu::new();
        if !gpu.has_coop("coop_attention_matches_the_reference_on_f16_inputs") {
            return;
        }
        gpu.ctx.set_precision_kernels(crate::gpu::PrecisionKernels::Fast);
        assert_eq!(attention_kernel(100, gpu.ctx.coop_attention()), Kernel::AttentionCoop);
        let masks = [(0, 0), (7, 0), (7, 3), (40, 1), (1, 0), (100, 4), (0, 0), (3, 70), (65, 0)];
        let mut fixtures: Vec<(String, Fixture)> = cases()
            .into_iter()
            .enumerate()
            .map(|(case, (n, start, head_masks, regions))| {
                let what = format!("case {case}");
                (what, Fixture::new(&gpu, case as u64 * 10, n, start, (4, 2), &head_masks, regions))
            })
            .collect();
        // (n, start, regions, whether every head sees everything).
        for (case, (n, start, regions, full)) in [
            (200, 3000, vec![ALL], false),
            (64, 1000, vec![ALL], false),
            (65, 127, vec![(0, 20), (20, u32::MAX)], false),
            (300, 700, vec![(0, 33), (32, u32::MAX)], false),
            (130, 126, vec![ALL], true),
            (130, 127, vec![ALL], true),
            (100, 400, vec![(0, 150), (150, u32::MAX)], true),
        ]
        .into_iter()
        .enumerate()
        {
            let head_masks: Vec<(u32, u32)> =
                (0..9).map(|h| if full { (0, 0) } else { masks[(h + case) % masks.len()] }).collect();
            let what = format!("n={n} start={start} regions={regions:?} masks={head_masks:?}");
            fixtures.push((what, Fixture::new(&gpu, 500 + case as u64, n, start, (9, 3), &head_masks, regions)));
        }
        for (what, f) in &fixtures {
            let s = &f.shape;
            let HostInputs { q, k, v, masks: head_masks } = &f.host;
            let round =
                |x: &[f32], by: f32| -> Vec<f32> { x.iter().map(|&e| f16::from_f32(e * by).to_f32()).collect() };
            let expected = reference(
                &round(q, s.scale),
                &round(k, 1.0),
                &round(v, 1.0),
                s.n,
                s.start,
                s.heads,
                s.kv_heads,
                s.capacity,
                s.head_dim,
                head_masks,
                &s.regions,
                1.0,
            );
            let tiled = run_kernel(&gpu, f, Kernel::Attention, TARGET_WORKGROUPS);
            let rounded = [&expected.out, &expected.entropy, &expected.lse];
            let exact = [&f.expected.out, &f.expected.entropy, &f.expected.lse];
            for target in [TARGET_WORKGROUPS, 1] {
                let coop = run_kernel(&gpu, f, Kernel::AttentionCoop, target);
                for (i, (name, tol)) in [("output", 1e-3), ("entropy", 2e-4), ("lse", 2e-4)].into_iter().enumerate() {
                    for (j, (g, e)) in coop[i].iter().zip(rounded[i].iter()).enumerate() {
                        assert!(
                            (g - e).abs() <= tol,
                            "{what}, split target {target}: coop {name} element {j}: {g} vs {e} (f16-input reference; tolerance {tol})"
                        );
                    }
                    assert_close(&tiled[i], exact[i], 2e-5, &format!("{what}: tiled {name} vs reference"));
                }
            }
        }
    }

    /// The decode attention and the merge with their reductions finished by subgroup shuffles
    /// give the workgroup-memory results bit for bit (`prelude.wgsl` says why), on calls with one
    /// and several key splits (so the merge runs), windows, sinks and two regions. Where the
    /// device has no subgroups it says so and passes.
    #[test]
    fn decode_attention_with_subgroup_reductions_is_bit_identical() {
        let mut gpu = TestGpu::new();
        if !gpu.has_subgroups("decode_attention_with_subgroup_reductions_is_bit_identical") {
            return;
        }
        let masks = [(0, 0), (7, 0), (7, 3), (40, 1), (1, 0), (100, 4), (0, 0), (3, 70), (65, 0)];
        let mut fixtures = Vec::new();
        for (case, (n, start, regions)) in
            [(1, 5, vec![ALL]), (1, 6000, vec![ALL]), (2, 1000, vec![(0, 20), (20, u32::MAX)]), (3, 200, vec![ALL])]
                .into_iter()
                .enumerate()
        {
            let head_masks: Vec<(u32, u32)> = (0..9).map(|h| masks[(h + case) % masks.len()]).collect();
            fixtures.push(Fixture::new(&gpu, 50 + case as u64, n, start, (9, 3), &head_masks, regions));
        }
        let mut runs = Vec::new();
        for on in [false, true] {
            gpu.ctx.set_subgroup_reductions(on);
            runs.push(
                fixtures
                    .iter()
                    .map(|f| run_kernel(&gpu, f, Kernel::AttentionDecode, TARGET_WORKGROUPS))
                    .collect::<Vec<_>>(),
            );
        }
        for (case, (tree, shuffled)) in runs[0].iter().zip(&runs[1]).enumerate() {
            for (k, name) in ["output", "entropy", "lse"].into_iter().enumerate() {
                let same = tree[k].iter().zip(&shuffled[k]).all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "case {case}: {name} differs with {} subgroup lanes", gpu.ctx.subgroup_lanes());
            }
        }
    }

    /// (output, layer 1's entropies, layer 1's lse) of `f`'s call run with `kernel`, its key
    /// splits aiming at `target` workgroups, into fresh outputs and partials.
    fn run_kernel(gpu: &TestGpu, f: &Fixture, kernel: Kernel, target: usize) -> [Vec<f32>; 3] {
        let (n, heads) = (f.shape.n, f.shape.heads);
        let splits = max_splits(n, heads, f.shape.regions.len());
        let (out, entropy, lse) = (gpu.zeros(n * heads * 64), gpu.zeros(2 * heads * n), gpu.zeros(2 * heads * n));
        let (part_o, part_stats) = (gpu.zeros(splits * n * heads * 64), gpu.zeros(splits * n * heads * 4));
        let io =
            AttentionIo { out: &out, entropy: &entropy, lse: &lse, part_o: &part_o, part_stats: &part_stats, ..f.io() };
        gpu.run(|ops, enc| ops.attention_with(enc, kernel, &f.shape, &io, target));
        [gpu.read(&out), gpu.read(&entropy)[heads * n..].to_vec(), gpu.read(&lse)[heads * n..].to_vec()]
    }

    /// Every buffer one too small, and shapes the kernels cannot index: each is an error before
    /// anything is recorded.
    #[test]
    fn attention_refuses_short_buffers_and_bad_shapes() {
        let gpu = TestGpu::new();
        let f = Fixture::run(&gpu, 0, cases()[1].clone());
        let small = gpu.zeros(1);
        let io = f.io();
        for (name, io) in [
            ("'q'", super::AttentionIo { q: &small, ..f.io() }),
            ("'k_cache'", super::AttentionIo { k_cache: &small, ..f.io() }),
            ("'v_cache'", super::AttentionIo { v_cache: &small, ..f.io() }),
            ("'mask'", super::AttentionIo { mask: &small, ..f.io() }),
            ("'part_o'", super::AttentionIo { part_o: &small, ..f.io() }),
            ("'part_stats'", super::AttentionIo { part_stats: &small, ..f.io() }),
            ("'out'", super::AttentionIo { out: &small, ..f.io() }),
            ("'entropy'", super::AttentionIo { entropy: &small, ..f.io() }),
            ("'lse'", super::AttentionIo { lse: &small, ..f.io() }),
        ] {
            gpu.expect_error(|ops, enc| ops.attention(enc, &f.shape, &io), name);
        }
        let bad = |change: &dyn Fn(&mut AttentionShape)| {
            let mut shape = AttentionShape { regions: f.shape.regions.clone(), ..f.shape };
            change(&mut shape);
            shape
        };
        for (what, shape) in [
            ("cache", bad(&|s| s.capacity = s.start + s.n - 1)),
            ("KV heads", bad(&|s| s.kv_heads = 3)),
            ("KV heads", bad(&|s| s.kv_heads = 0)),
            ("head_dim", bad(&|s| s.head_dim = 32)),
            ("key region", bad(&|s| s.regions.clear())),
        ] {
            gpu.expect_error(|ops, enc| ops.attention(enc, &shape, &io), what);
        }
    }
}
