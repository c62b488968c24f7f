//! The attention probabilities of one query over every key it may see
//! (`shaders/attention_row.wgsl`), from the log-sum-exp that [`Ops::attention`] stored.

use super::attention::{AttentionIo, AttentionShape};
use super::{kernel_interface, require, Bound, Ops};
use crate::error::Result;
use crate::gpu::kernels::{grid, Kernel};
use crate::gpu::recorder::Recorder;

kernel_interface! {
    params RowParams for [AttentionRow] {
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
    buffers RowBuffers { q: Read, k_cache: Read, mask: Read, lse: Read, probs: ReadWrite }
}

impl Ops<'_> {
    /// Writes the attention row of query `row` (an index into the chunk) of `head` into `probs`
    /// from float `out_offset` on (keys 0 ..= start + row); needs the `lse` written by
    /// [`Ops::attention`] for this layer. At most two key regions (near, far).
    ///
    /// Indexed extents: q [regions, n, heads, d], K [regions, kv_heads, capacity, d], mask
    /// [layer + 1, heads] pairs, lse [layer + 1, heads, n], probs [out_offset + start + row + 1].
    #[allow(clippy::too_many_arguments)]
    pub fn attention_row(
        &self,
        enc: &mut Recorder,
        s: &AttentionShape,
        io: &AttentionIo<'_>,
        head: usize,
        row: usize,
        probs: &wgpu::Buffer,
        out_offset: usize,
    ) -> Result<()> {
        let kernel = Kernel::AttentionRow;
        s.check(kernel, self.pipes.head_dim())?;
        let regions = s.regions.len();
        require(regions <= 2, kernel, || format!("{regions} key regions (near and far at most)"))?;
        require(head < s.heads && row < s.n, kernel, || format!("head {head} row {row} of {} × {}", s.heads, s.n))?;
        let (n, heads, kv_heads, d) = (s.n, s.heads, s.kv_heads, s.head_dim);
        let params = RowParams {
            n: n as u32,
            start: s.start as u32,
            heads: heads as u32,
            kv_heads: kv_heads as u32,
            capacity: s.capacity as u32,
            layer: s.layer as u32,
            head: head as u32,
            row: row as u32,
            scale: s.scale,
            regions: regions as u32,
            near_max: s.regions[0].1,
            far_min: s.regions.get(1).map_or(u32::MAX, |r| r.0),
            q_stride: (n * heads * d / 4) as u32,
            k_stride: (kv_heads * s.capacity * d / 4) as u32,
            out_offset: out_offset as u32,
            _pad: 0,
        };
        let keys = s.start + row + 1;
        let buffers = RowBuffers {
            q: Bound::words(io.q, &[regions, n, heads, d]),
            k_cache: Bound::words(io.k_cache, &[regions, kv_heads, s.capacity, d]),
            mask: Bound::words(io.mask, &[s.layer + 1, heads, 2]),
            lse: Bound::words(io.lse, &[s.layer + 1, heads, n]),
            probs: Bound::words(probs, &[out_offset + keys]),
        };
        let (gx, gy) = grid(keys.div_ceil(64) as u32);
        self.launch(enc, kernel, 0, &params, &buffers, (gx, gy, 1))
    }
}

#[cfg(test)]
mod tests {
    use super::super::attention::tests::{cases, Fixture};
    use super::super::testutil::*;

    /// The full rows of the first and last query of every head, in every attention case.
    #[test]
    fn attention_rows_match_explicit_softmax() {
        let gpu = TestGpu::new();
        for (case, c) in cases().into_iter().enumerate() {
            let f = Fixture::run(&gpu, case, c);
            let (n, start) = (f.shape.n, f.shape.start);
            for (head, head_rows) in f.expected.rows.iter().enumerate() {
                for row in [0, n - 1] {
                    // Written after `pad` untouched floats, as rows of a map are.
                    let pad = 3;
                    let probs = gpu.zeros(pad + start + row + 1);
                    gpu.run(|ops, enc| ops.attention_row(enc, &f.shape, &f.io(), head, row, &probs, pad));
                    let expected: Vec<f32> = head_rows[row].iter().map(|&p| p as f32).collect();
                    let got = gpu.read(&probs);
                    assert_eq!(&got[..pad], &[0.0; 3], "case {case}: the row wrote before its offset");
                    assert_close(&got[pad..], &expected, 2e-5, &format!("case {case} row (head {head}, query {row})"));
                }
            }
        }
    }

    #[test]
    fn attention_row_refuses_a_short_output_and_a_row_past_the_chunk() {
        let gpu = TestGpu::new();
        let f = Fixture::run(&gpu, 0, cases()[0].clone());
        let probs = gpu.zeros(f.shape.start + f.shape.n);
        let last = f.shape.n - 1;
        gpu.expect_error(|ops, enc| ops.attention_row(enc, &f.shape, &f.io(), 0, last, &probs, 1), "'probs' buffer");
        gpu.expect_error(|ops, enc| ops.attention_row(enc, &f.shape, &f.io(), 0, last + 1, &probs, 0), "row");
        gpu.expect_error(|ops, enc| ops.attention_row(enc, &f.shape, &f.io(), 4, 0, &probs, 0), "head 4");
    }
}
