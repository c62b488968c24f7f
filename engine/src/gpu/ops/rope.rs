//! Rotary embedding from a host-built cos/sin table, fused with the KV-cache write
//! (`shaders/rope.wgsl`).

use super::{kernel_interface, require, Bound, Ops};
use crate::error::Result;
use crate::gpu::kernels::{grid, Kernel};
use crate::gpu::recorder::Recorder;

kernel_interface! {
    params RopeParams for [Rope] {
        n: u32,
        heads: u32,
        kv_heads: u32,
        head_dim: u32,
        start: u32,
        capacity: u32,
        regions: u32,
        number_format: u32,
        q_table: u32,
        k_table: u32,
        scale_at: u32,
        flags: u32,
        q_stride: u32,
        kv_stride: u32,
        k_offset: u32,
        v_offset: u32,
    }
    buffers RopeBuffers {
        q: Read,
        k: Read,
        v: Read,
        tables: Read,
        q_out: ReadWrite,
        k_cache: ReadWrite,
        v_cache: ReadWrite,
        k_raw: ReadWrite,
    }
}

/// Where this chunk's K and V go.
pub(crate) struct CacheSlot<'a> {
    /// [regions, kv_heads, capacity, d]: keys rotated for each region.
    pub k: &'a wgpu::Buffer,
    pub v: &'a wgpu::Buffer,
    /// [capacity, kv_heads, d]: the keys before RoPE, kept for methods that re-rotate the cache
    /// (dynamic NTK, LongRoPE); None otherwise.
    pub k_raw: Option<&'a wgpu::Buffer>,
    pub start: usize,
    pub capacity: usize,
}

/// How q, k and v are laid out in the buffers `rope_and_cache` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum QkvLayout {
    /// Three buffers: q [n, heads, d], k and v [n, kv_heads, d].
    Separate,
    /// One buffer (passed as q, k and v) written by the stacked q/k/v projection:
    /// [n, heads + 2·kv_heads, d], each token's q heads, then its k heads, then its v heads.
    Stacked,
}

/// Shapes and table offsets of one `rope.wgsl` launch.
pub(crate) struct RopeShape {
    pub n: usize,
    /// Query heads (0 when re-rotating cached keys only).
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub regions: usize,
    /// [`crate::rope::RopePrecision::kernel_code`].
    pub precision: u32,
    /// Offsets, in (cos, sin) pairs, of the query tables, key tables and query scales.
    pub q_table: usize,
    pub k_table: usize,
    pub scale_at: usize,
    pub scale_queries: bool,
    pub write_v: bool,
    pub layout: QkvLayout,
}

/// Flags of `rope.wgsl` (generated into it by `kernels::assemble`).
pub(crate) const SCALE_QUERIES: u32 = 1;
pub(crate) const WRITE_V: u32 = 2;
pub(crate) const WRITE_RAW_K: u32 = 4;

/// The (cos, sin) table buffer `rope.wgsl` reads: query tables [regions, n, pairs], key tables
/// [regions, n, pairs], then one (scale, 0) per query.
pub(crate) struct RopeTables {
    pub data: Vec<f32>,
    pub q_table: usize,
    pub k_table: usize,
    pub scale_at: usize,
}

impl RopeTables {
    /// Interleaves per-region (cos, sin) tables and the query scales.
    pub fn new(queries: &[(Vec<f32>, Vec<f32>)], keys: &[(Vec<f32>, Vec<f32>)], scales: &[f32]) -> Self {
        let mut data = Vec::new();
        let push = |data: &mut Vec<f32>, tables: &[(Vec<f32>, Vec<f32>)]| {
            for (cos, sin) in tables {
                for (c, s) in cos.iter().zip(sin) {
                    data.extend([*c, *s]);
                }
            }
        };
        push(&mut data, queries);
        let k_table = data.len() / 2;
        push(&mut data, keys);
        let scale_at = data.len() / 2;
        data.extend(scales.iter().flat_map(|&s| [s, 0.0]));
        if data.is_empty() {
            data.extend([0.0, 0.0]);
        }
        Self { data, q_table: 0, k_table, scale_at }
    }
}

impl Ops<'_> {
    /// Rotates q ([n, heads, d]) into `q_out` once per region (scaled per query), and stores
    /// k rotated per region and plain v ([n, kv_heads, d]) at cache rows `start ..`, and the
    /// unrotated k in `slot.k_raw` if given. q, k and v are laid out as `shape.layout` says
    /// (with [`QkvLayout::Stacked`], pass the one buffer three times).
    ///
    /// Indexed extents: q [n, heads, d], k and v [n, kv_heads, d] (v only with `write_v`), or
    /// all three [n, heads + 2·kv_heads, d] stacked; q_out [regions, n, heads, d], the cache
    /// [regions, kv_heads, capacity, d] (V: one region, only with `write_v`), k_raw
    /// [capacity, kv_heads, d], and in `tables` (cos, sin) pairs up to the end of the query
    /// tables (`q_table + regions·n·d/2`) and scales (`scale_at + n`) when there are query
    /// heads, and of the key tables (`k_table + regions·n·d/2`). Needs `start + n <= capacity`.
    #[allow(clippy::too_many_arguments)]
    pub fn rope_and_cache(
        &self,
        enc: &mut Recorder,
        q: &wgpu::Buffer,
        k: &wgpu::Buffer,
        v: &wgpu::Buffer,
        tables: &wgpu::Buffer,
        q_out: &wgpu::Buffer,
        slot: CacheSlot<'_>,
        shape: &RopeShape,
    ) -> Result<()> {
        let s = shape;
        let (n, d, kv_heads, regions) = (s.n, s.head_dim, s.kv_heads, s.regions);
        require(kv_heads > 0 && d >= 2 && d.is_multiple_of(2), Kernel::Rope, || {
            format!("{kv_heads} KV heads of size {d}")
        })?;
        require(slot.start + n <= slot.capacity, Kernel::Rope, || {
            format!("cache rows {}..{} of {}", slot.start, slot.start + n, slot.capacity)
        })?;
        let flags = if s.scale_queries { SCALE_QUERIES } else { 0 }
            | if s.write_v { WRITE_V } else { 0 }
            | if slot.k_raw.is_some() { WRITE_RAW_K } else { 0 };
        let pairs = d / 2;
        let (q_stride, kv_stride, k_offset, v_offset) = match s.layout {
            QkvLayout::Separate => (s.heads * pairs, kv_heads * pairs, 0, 0),
            QkvLayout::Stacked => {
                let row = (s.heads + 2 * kv_heads) * pairs;
                (row, row, s.heads * pairs, (s.heads + kv_heads) * pairs)
            }
        };
        let params = RopeParams {
            n: n as u32,
            heads: s.heads as u32,
            kv_heads: kv_heads as u32,
            head_dim: d as u32,
            start: slot.start as u32,
            capacity: slot.capacity as u32,
            regions: regions as u32,
            number_format: s.precision,
            q_table: s.q_table as u32,
            k_table: s.k_table as u32,
            scale_at: s.scale_at as u32,
            flags,
            q_stride: q_stride as u32,
            kv_stride: kv_stride as u32,
            k_offset: k_offset as u32,
            v_offset: v_offset as u32,
        };
        let mut table_pairs = s.k_table + regions * n * pairs;
        if s.heads > 0 {
            table_pairs = table_pairs.max(s.q_table + regions * n * pairs);
            if s.scale_queries {
                table_pairs = table_pairs.max(s.scale_at + n);
            }
        }
        let v_rows = if s.write_v { n } else { 0 };
        let v_cache_rows = if s.write_v { slot.capacity } else { 0 };
        // A bound per binding: with the stacked layout every one of q, k, v is the whole row.
        let (q_bound, k_bound, v_bound) = match s.layout {
            QkvLayout::Separate => (
                Bound::words(q, &[n, s.heads, d]),
                Bound::words(k, &[n, kv_heads, d]),
                Bound::words(v, &[v_rows, kv_heads, d]),
            ),
            QkvLayout::Stacked => {
                let rows = |b| Bound::words(b, &[n, s.heads + 2 * kv_heads, d]);
                (rows(q), rows(k), if s.write_v { rows(v) } else { Bound::bytes(v, 0) })
            }
        };
        let k_raw = match slot.k_raw {
            Some(raw) => Bound::words(raw, &[slot.capacity, kv_heads, d]),
            None => Bound::bytes(&self.ctx.placeholder, 0),
        };
        let buffers = RopeBuffers {
            q: q_bound,
            k: k_bound,
            v: v_bound,
            tables: Bound::words(tables, &[table_pairs, 2]),
            q_out: Bound::words(q_out, &[regions, n, s.heads, d]),
            k_cache: Bound::words(slot.k, &[regions, kv_heads, slot.capacity, d]),
            v_cache: Bound::words(slot.v, &[kv_heads, v_cache_rows, d]),
            k_raw,
        };
        let threads = n * (s.heads + kv_heads) * pairs;
        let (gx, gy) = grid(threads.div_ceil(64) as u32);
        self.launch(enc, Kernel::Rope, 0, &params, &buffers, (gx, gy, 1))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::{CacheSlot, QkvLayout, RopeShape, RopeTables};
    use crate::rope::{RopeFrequencies, RopePrecision};

    /// Adjacent-pair rotation as the CPU reference does it (`RopePrecision::rotate`), times the
    /// token's scale.
    fn rotate(
        x: &[f32],
        cos: &[f32],
        sin: &[f32],
        heads: usize,
        d: usize,
        precision: RopePrecision,
        scales: &[f32],
    ) -> Vec<f32> {
        let pairs = d / 2;
        let mut out = x.to_vec();
        for (t, token) in out.chunks_mut(heads * d).enumerate() {
            for head in token.chunks_mut(d) {
                precision.rotate(head, &cos[t * pairs..][..pairs], &sin[t * pairs..][..pairs]);
                head.iter_mut().for_each(|v| *v *= scales[t]);
            }
        }
        out
    }

    /// [n, heads + 2·kv_heads, d]: each token's q, k and v rows one after another.
    fn stack(q: &[f32], k: &[f32], v: &[f32], n: usize) -> Vec<f32> {
        let (qs, ks) = (q.len() / n, k.len() / n);
        (0..n).flat_map(|t| [&q[t * qs..][..qs], &k[t * ks..][..ks], &v[t * ks..][..ks]].concat()).collect()
    }

    /// Two regions with different frequencies and positions, query scales, every precision;
    /// q, k and v in three buffers, and stacked in one with the raw keys kept.
    #[test]
    fn rope_rotates_each_region_and_fills_the_cache() {
        let gpu = TestGpu::new();
        let (n, heads, kv_heads, d, start, capacity) = (5, 4, 2, 16, 3, 12);
        let near = RopeFrequencies::standard(10_000.0, d);
        let far = RopeFrequencies { attention_scaling: 1.3, ..RopeFrequencies::standard(500.0, d) };
        let cases = RopePrecision::ALL.into_iter().flat_map(|p| [(p, QkvLayout::Separate), (p, QkvLayout::Stacked)]);
        for (precision, layout) in cases {
            let positions = |shift: f64| (start..start + n).map(move |p| p as f64 * 1.5 + shift);
            let qt = [precision.tables(&near, positions(0.0)), precision.tables(&far, positions(40.0))];
            let kt = [precision.tables(&near, positions(0.0)), precision.tables(&far, positions(-2.0))];
            let scales = [1.0, 1.5, 0.5, 2.0, 1.25];
            let tables = RopeTables::new(&qt, &kt, &scales);
            let q = random(n * heads * d, 1, 1.0);
            let k = random(n * kv_heads * d, 2, 1.0);
            let v = random(n * kv_heads * d, 3, 1.0);
            let (qb, kb, vb) = match layout {
                QkvLayout::Separate => (gpu.buffer(&q), gpu.buffer(&k), gpu.buffer(&v)),
                QkvLayout::Stacked => {
                    let b = gpu.buffer(&stack(&q, &k, &v, n));
                    (b.clone(), b.clone(), b)
                }
            };
            let tb = gpu.buffer(&tables.data);
            let q_out = gpu.zeros(2 * n * heads * d);
            let kc = gpu.buffer(&vec![-7.0; 2 * kv_heads * capacity * d]);
            let vc = gpu.buffer(&vec![-7.0; kv_heads * capacity * d]);
            let raw = gpu.buffer(&vec![-7.0; capacity * kv_heads * d]);
            let keep_raw = layout == QkvLayout::Stacked;
            let shape = RopeShape {
                n,
                heads,
                kv_heads,
                head_dim: d,
                regions: 2,
                precision: precision.kernel_code(),
                q_table: tables.q_table,
                k_table: tables.k_table,
                scale_at: tables.scale_at,
                scale_queries: true,
                write_v: true,
                layout,
            };
            gpu.run(|ops, enc| {
                let slot = CacheSlot { k: &kc, v: &vc, k_raw: keep_raw.then_some(&raw), start, capacity };
                ops.rope_and_cache(enc, &qb, &kb, &vb, &tb, &q_out, slot, &shape)
            });
            let raw = gpu.read(&raw);
            for row in 0..capacity {
                let at = row * kv_heads * d;
                let got = &raw[at..at + kv_heads * d];
                if keep_raw && (start..start + n).contains(&row) {
                    assert_eq!(got, &k[(row - start) * kv_heads * d..][..kv_heads * d], "raw k row {row}");
                } else {
                    assert!(got.iter().all(|&x| x == -7.0), "raw k row {row} was written");
                }
            }
            let (got_q, k_cache, v_cache) = (gpu.read(&q_out), gpu.read(&kc), gpu.read(&vc));
            // f16 rounding on the GPU may differ by one ulp from `half` in rare ties.
            let tol = if precision == RopePrecision::F32 { 1e-6 } else { 2e-3 };
            for r in 0..2 {
                let expected = rotate(&q, &qt[r].0, &qt[r].1, heads, d, precision, &scales);
                assert_close(
                    &got_q[r * n * heads * d..][..n * heads * d],
                    &expected,
                    tol,
                    &format!("{precision:?} q region {r}"),
                );
                let k_rot = rotate(&k, &kt[r].0, &kt[r].1, kv_heads, d, precision, &[1.0; 5]);
                for h in 0..kv_heads {
                    for row in 0..capacity {
                        let at = ((r * kv_heads + h) * capacity + row) * d;
                        let v_at = (h * capacity + row) * d;
                        if (start..start + n).contains(&row) {
                            let src = ((row - start) * kv_heads + h) * d;
                            assert_close(&k_cache[at..at + d], &k_rot[src..src + d], tol, "k cache");
                            assert_close(&v_cache[v_at..v_at + d], &v[src..src + d], 0.0, "v cache");
                        } else {
                            assert!(
                                k_cache[at..at + d].iter().all(|&x| x == -7.0),
                                "row {row} outside the chunk was written"
                            );
                        }
                    }
                }
            }
        }
    }

    /// Odd shapes: one token written to the cache's last row, and the re-rotation shape (no
    /// query heads, keys only, no V), where q, q_out and v are bound but never indexed (they
    /// still need one element each: wgpu's minimum binding size).
    #[test]
    fn rope_handles_one_token_at_the_last_row_and_keys_only() {
        let gpu = TestGpu::new();
        let (kv_heads, d, capacity) = (3, 6, 4);
        let freqs = RopeFrequencies::standard(10_000.0, d);
        let precision = RopePrecision::F32;
        for (n, heads, start) in [(1, 3, capacity - 1), (capacity, 0, 0)] {
            let table = precision.tables(&freqs, (start..start + n).map(|p| p as f64));
            let one = std::slice::from_ref(&table);
            let tables = RopeTables::new(one, one, &vec![1.0; n]);
            let q = random(n * heads * d, 1, 1.0);
            let k = random(n * kv_heads * d, 2, 1.0);
            let (qb, kb, tb) = (gpu.buffer(&q), gpu.buffer(&k), gpu.buffer(&tables.data));
            let q_out = gpu.zeros((n * heads * d).max(2));
            let qb = if heads > 0 { qb } else { gpu.zeros(2) };
            let kc = gpu.buffer(&vec![-7.0; kv_heads * capacity * d]);
            let vc = gpu.zeros(kv_heads * capacity * d);
            let shape = RopeShape {
                n,
                heads,
                kv_heads,
                head_dim: d,
                regions: 1,
                precision: precision.kernel_code(),
                q_table: tables.q_table,
                k_table: tables.k_table,
                scale_at: tables.scale_at,
                scale_queries: false,
                write_v: heads > 0,
                layout: QkvLayout::Separate,
            };
            gpu.run(|ops, enc| {
                let slot = CacheSlot { k: &kc, v: &vc, k_raw: None, start, capacity };
                ops.rope_and_cache(enc, &qb, &kb, &kb, &tb, &q_out, slot, &shape)
            });
            let k_rot = rotate(&k, &table.0, &table.1, kv_heads, d, precision, &vec![1.0; n]);
            let k_cache = gpu.read(&kc);
            for h in 0..kv_heads {
                for row in 0..capacity {
                    let at = (h * capacity + row) * d;
                    if (start..start + n).contains(&row) {
                        let src = ((row - start) * kv_heads + h) * d;
                        assert_close(&k_cache[at..at + d], &k_rot[src..src + d], 1e-6, "k cache");
                    } else {
                        assert!(k_cache[at..at + d].iter().all(|&x| x == -7.0), "row {row} was written");
                    }
                }
            }
            if heads > 0 {
                let expected = rotate(&q, &table.0, &table.1, heads, d, precision, &vec![1.0; n]);
                assert_close(&gpu.read(&q_out), &expected, 1e-6, "q");
            }
        }
    }

    #[test]
    fn rope_refuses_rows_past_the_cache_and_short_tables() {
        let gpu = TestGpu::new();
        let (n, heads, kv_heads, d) = (2, 2, 1, 4);
        let b = |floats: usize| gpu.zeros(floats);
        let (q, k, q_out, kc, vc) = (b(n * heads * d), b(n * kv_heads * d), b(n * heads * d), b(8 * d), b(8 * d));
        let shape = |q_table| RopeShape {
            n,
            heads,
            kv_heads,
            head_dim: d,
            regions: 1,
            precision: 0,
            q_table,
            k_table: 0,
            scale_at: 0,
            scale_queries: true,
            write_v: true,
            layout: QkvLayout::Separate,
        };
        let tables = b(2 * n * d / 2 + 2 * n);
        let slot = |start| CacheSlot { k: &kc, v: &vc, k_raw: None, start, capacity: 8 };
        gpu.expect_error(|ops, enc| ops.rope_and_cache(enc, &q, &k, &k, &tables, &q_out, slot(7), &shape(0)), "cache");
        gpu.expect_error(
            |ops, enc| ops.rope_and_cache(enc, &q, &k, &k, &tables, &q_out, slot(0), &shape(5)),
            "'tables' buffer",
        );
        gpu.expect_error(|ops, enc| ops.rope_and_cache(enc, &q, &k, &k, &tables, &b(3), slot(0), &shape(0)), "'q_out'");
        // Stacked, each binding must hold whole [n, heads + 2·kv_heads, d] rows; a raw-key
        // buffer must hold the whole cache.
        let stacked = RopeShape { layout: QkvLayout::Stacked, ..shape(0) };
        let short = b(n * (heads + 2 * kv_heads) * d - 1);
        gpu.expect_error(
            |ops, enc| ops.rope_and_cache(enc, &short, &short, &short, &tables, &q_out, slot(0), &stacked),
            "'q' buffer",
        );
        let small_raw = b(7 * kv_heads * d);
        let raw_slot = CacheSlot { k_raw: Some(&small_raw), ..slot(0) };
        gpu.expect_error(
            |ops, enc| ops.rope_and_cache(enc, &q, &k, &k, &tables, &q_out, raw_slot, &shape(0)),
            "'k_raw'",
        );
    }
}
