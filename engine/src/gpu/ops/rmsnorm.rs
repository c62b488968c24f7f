//! y[i, :] = x[i, :] / sqrt(mean(x[i, :]²) + eps) · weight, one workgroup per row
//! (`shaders/rmsnorm.wgsl`).

use super::{kernel_interface, require, Bound, Ops};
use crate::error::Result;
use crate::gpu::kernels::{grid, Kernel};
use crate::gpu::recorder::Recorder;

kernel_interface! {
    params RmsNormParams for [RmsNorm] { n: u32, dim: u32, eps: f32, _pad: u32 }
    buffers RmsNormBuffers { x: Read, weight: Read, y: ReadWrite }
}

impl Ops<'_> {
    /// y = rmsnorm(x) · weight, row by row: x and y are indexed as [n, dim], weight as [dim].
    pub fn rms_norm(
        &self,
        enc: &mut Recorder,
        x: &wgpu::Buffer,
        weight: &wgpu::Buffer,
        y: &wgpu::Buffer,
        n: usize,
        dim: usize,
        eps: f64,
    ) -> Result<()> {
        require(dim > 0, Kernel::RmsNorm, || "rows of 0 elements".into())?;
        let params = RmsNormParams { n: n as u32, dim: dim as u32, eps: eps as f32, _pad: 0 };
        let buffers = RmsNormBuffers {
            x: Bound::words(x, &[n, dim]),
            weight: Bound::words(weight, &[dim]),
            y: Bound::words(y, &[n, dim]),
        };
        let (gx, gy) = grid(n as u32);
        self.launch(enc, Kernel::RmsNorm, 0, &params, &buffers, (gx, gy, 1))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;

    /// Rows shorter than, equal to and longer than the 256-thread workgroup, not multiples of 4.
    #[test]
    fn rms_norm_matches_cpu() {
        let gpu = TestGpu::new();
        for (n, dim) in [(1, 64), (3, 576), (5, 300), (2, 1), (1, 257), (4, 256)] {
            let x = random(n * dim, 1, 2.0);
            let w = random(dim, 2, 1.0);
            let (xb, wb, yb) = (gpu.buffer(&x), gpu.buffer(&w), gpu.zeros(n * dim));
            gpu.run(|ops, enc| ops.rms_norm(enc, &xb, &wb, &yb, n, dim, 1e-5));
            let mut expected = Vec::new();
            for row in x.chunks(dim) {
                let ms = row.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / dim as f64;
                let inv = 1.0 / (ms + 1e-5).sqrt();
                expected.extend(row.iter().zip(&w).map(|(v, w)| (*v as f64 * inv * *w as f64) as f32));
            }
            assert_close(&gpu.read(&yb), &expected, 1e-5, &format!("n={n} dim={dim}"));
        }
    }

    #[test]
    fn rms_norm_refuses_short_buffers() {
        let gpu = TestGpu::new();
        let (xb, wb, yb) = (gpu.zeros(2 * 64), gpu.zeros(64), gpu.zeros(2 * 64));
        gpu.expect_error(|ops, enc| ops.rms_norm(enc, &xb, &wb, &yb, 3, 64, 1e-5), "'x' buffer");
        gpu.expect_error(|ops, enc| ops.rms_norm(enc, &xb, &wb, &yb, 1, 65, 1e-5), "'weight' buffer");
    }
}
