//! y = W · rmsnorm(x)·γ for one token: the RMSNorm before a decode projection fused into the
//! matvec (`shaders/matvec_norm.wgsl`), one dispatch instead of two.

use super::matmul::LINEAR_IN_MULTIPLE;
use super::{kernel_interface, require, Bound, Ops};
use crate::error::Result;
use crate::gpu::kernels::{grid, Kernel};
use crate::gpu::recorder::Recorder;
use crate::gpu::weights::GpuWeight;

kernel_interface! {
    params MatvecNormParams for [MatvecNorm] { in_dim: u32, out_dim: u32, eps: f32, _pad: u32 }
    buffers MatvecNormBuffers { x: Read, gamma: Read, w: Read, y: ReadWrite }
}

/// Output rows per workgroup of `matvec_norm.wgsl`.
const ROWS: u32 = 8;

impl Ops<'_> {
    /// `y = w · (x / sqrt(mean(x²) + eps) · gamma)` for a [out, in] weight `w`: x and gamma are
    /// indexed as [in], y as [out]. The same arithmetic as [`Ops::rms_norm`] then
    /// [`Ops::matmul`] at n = 1, up to the order of the sum of squares.
    pub fn matvec_norm(
        &self,
        enc: &mut Recorder,
        x: &wgpu::Buffer,
        gamma: &wgpu::Buffer,
        w: &GpuWeight,
        y: &wgpu::Buffer,
        eps: f64,
    ) -> Result<()> {
        let (in_dim, out_dim) = (w.cols, w.rows);
        require(in_dim > 0 && in_dim.is_multiple_of(LINEAR_IN_MULTIPLE), Kernel::MatvecNorm, || {
            format!("in = {in_dim} (a positive multiple of {LINEAR_IN_MULTIPLE} is needed)")
        })?;
        let params = MatvecNormParams { in_dim: in_dim as u32, out_dim: out_dim as u32, eps: eps as f32, _pad: 0 };
        let buffers = MatvecNormBuffers {
            x: Bound::words(x, &[in_dim]),
            gamma: Bound::words(gamma, &[in_dim]),
            w: w.bound(Kernel::MatvecNorm)?,
            y: Bound::words(y, &[out_dim]),
        };
        let (gx, gy) = grid(params.out_dim.div_ceil(ROWS));
        self.launch(enc, Kernel::MatvecNorm, w.qtype, &params, &buffers, (gx, gy, 1))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::quantized::GgmlDType;

    use super::super::testutil::*;

    /// Against the CPU: RMSNorm in f64, then the dequantized weights' product, for every
    /// format and row counts around the 8-row workgroup; and against the two kernels it
    /// replaces.
    #[test]
    fn matvec_norm_matches_rms_norm_then_matvec() {
        let gpu = TestGpu::new();
        let formats = [GgmlDType::F32, GgmlDType::F16, GgmlDType::Q4_0, GgmlDType::Q4_1, GgmlDType::Q8_0];
        for (f, dtype) in formats.into_iter().enumerate() {
            for (s, &(in_dim, out_dim)) in [(32, 1), (96, 70), (576, 960), (1056, 9)].iter().enumerate() {
                let seed = (f * 10 + s) as u64;
                let (w, wf) = gpu.weight(dtype, out_dim, in_dim, seed);
                let x = random(in_dim, seed + 100, 3.0);
                let gamma = random(in_dim, seed + 200, 1.5);
                let (xb, gb) = (gpu.buffer(&x), gpu.buffer(&gamma));
                let (fused, h, split) = (gpu.zeros(out_dim), gpu.zeros(in_dim), gpu.zeros(out_dim));
                gpu.run(|ops, enc| {
                    ops.matvec_norm(enc, &xb, &gb, &w, &fused, 1e-5)?;
                    ops.rms_norm(enc, &xb, &gb, &h, 1, in_dim, 1e-5)?;
                    ops.matmul(enc, &h, &w, &split, 1, None)
                });
                let ms = x.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / in_dim as f64;
                let inv = 1.0 / (ms + 1e-5).sqrt();
                let normed: Vec<f32> =
                    x.iter().zip(&gamma).map(|(v, g)| (*v as f64 * inv * *g as f64) as f32).collect();
                let expected = cpu_matmul(&normed, &wf, 1, in_dim, out_dim);
                let what = format!("{dtype:?} in={in_dim} out={out_dim}");
                assert_close(&gpu.read(&fused), &expected, 1e-4, &what);
                assert_close(&gpu.read(&fused), &gpu.read(&split), 1e-5, &format!("{what}: fused vs split"));
            }
        }
    }

    #[test]
    fn matvec_norm_refuses_short_buffers() {
        let gpu = TestGpu::new();
        let (w, _) = gpu.weight(GgmlDType::Q4_1, 8, 64, 1);
        let (x, g, y) = (gpu.zeros(64), gpu.zeros(64), gpu.zeros(8));
        gpu.expect_error(|ops, enc| ops.matvec_norm(enc, &gpu.zeros(63), &g, &w, &y, 1e-5), "'x' buffer");
        gpu.expect_error(|ops, enc| ops.matvec_norm(enc, &x, &gpu.zeros(32), &w, &y, 1e-5), "'gamma' buffer");
        gpu.expect_error(|ops, enc| ops.matvec_norm(enc, &x, &g, &w, &gpu.zeros(7), 1e-5), "'y' buffer");
    }
}
