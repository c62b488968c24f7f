//! x[i, :] = W[ids[i], :]: the token-embedding gather from quantized storage (`shaders/embed.wgsl`).

use super::{kernel_interface, require, Bound, Ops};
use crate::error::Result;
use crate::gpu::kernels::{grid, Kernel};
use crate::gpu::recorder::Recorder;
use crate::gpu::weights::GpuWeight;

kernel_interface! {
    /// `rows` bounds the gather: the kernel clamps each id to `rows - 1`, since the ids live on
    /// the GPU where the host cannot check them (the engine checks them against the vocabulary
    /// before upload; the clamp keeps a bad id from reading past the table).
    params EmbedParams for [Embed] { n: u32, dim: u32, rows: u32 }
    buffers EmbedBuffers { ids: Read, w: Read, x: ReadWrite }
}

impl Ops<'_> {
    /// x[i] = table[ids[i]] (dequantized) for i < n: ids is indexed as [n], x as [n, cols], the
    /// table as its whole [rows, cols] matrix.
    pub fn embed(
        &self,
        enc: &mut Recorder,
        ids: &wgpu::Buffer,
        table: &GpuWeight,
        x: &wgpu::Buffer,
        n: usize,
    ) -> Result<()> {
        let dim = table.cols;
        require(dim > 0 && dim.is_multiple_of(4), Kernel::Embed, || {
            format!("rows of {dim} elements (a multiple of 4 is needed)")
        })?;
        require(table.rows > 0, Kernel::Embed, || "an empty table".into())?;
        let params = EmbedParams { n: n as u32, dim: dim as u32, rows: table.rows as u32 };
        let buffers = EmbedBuffers {
            ids: Bound::words(ids, &[n]),
            w: table.bound(Kernel::Embed)?,
            x: Bound::words(x, &[n, dim]),
        };
        let (gx, gy) = grid((n * dim / 4).div_ceil(64) as u32);
        self.launch(enc, Kernel::Embed, table.qtype, &params, &buffers, (gx, gy, 1))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::quantized::GgmlDType;

    use super::super::testutil::*;

    #[test]
    fn embed_gathers_dequantized_rows() {
        let gpu = TestGpu::new();
        for dtype in [GgmlDType::Q8_0, GgmlDType::Q4_0, GgmlDType::Q4_1, GgmlDType::F16, GgmlDType::F32] {
            let (table, table_f32) = gpu.weight(dtype, 50, 64, 3);
            for ids in [vec![7u32, 0, 49, 7], vec![49]] {
                let idb = gpu.buffer_u32(&ids);
                let xb = gpu.zeros(ids.len() * 64);
                gpu.run(|ops, enc| ops.embed(enc, &idb, &table, &xb, ids.len()));
                let expected: Vec<f32> =
                    ids.iter().flat_map(|&i| table_f32[i as usize * 64..(i as usize + 1) * 64].to_vec()).collect();
                assert_close(&gpu.read(&xb), &expected, 1e-6, &format!("{dtype:?} {} ids", ids.len()));
            }
        }
    }

    /// An id past the table reads its last row instead of memory beyond it.
    #[test]
    fn embed_clamps_an_id_past_the_table() {
        let gpu = TestGpu::new();
        let (table, table_f32) = gpu.weight(GgmlDType::F32, 5, 32, 4);
        let idb = gpu.buffer_u32(&[1_000_000]);
        let xb = gpu.zeros(32);
        gpu.run(|ops, enc| ops.embed(enc, &idb, &table, &xb, 1));
        assert_close(&gpu.read(&xb), &table_f32[4 * 32..], 0.0, "clamped id");
    }

    #[test]
    fn embed_refuses_a_short_output() {
        let gpu = TestGpu::new();
        let (table, _) = gpu.weight(GgmlDType::F32, 5, 32, 4);
        let (idb, xb) = (gpu.buffer_u32(&[0, 1]), gpu.zeros(32));
        gpu.expect_error(|ops, enc| ops.embed(enc, &idb, &table, &xb, 2), "'x' buffer");
    }
}
