//! Y[n, out] = X[n, in] · Wᵀ (+ R) straight from quantized weights: the tiled kernel for
//! prefill, the matvec for a single token.

use bytemuck::{Pod, Zeroable};

use super::Ops;
use crate::gpu::kernels::{grid, Kernel};
use crate::gpu::weights::GpuWeight;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    in_dim: u32,
    out_dim: u32,
    add_residual: u32,
}

/// Output tile edge of `matmul.wgsl`.
const TILE: u32 = 64;
/// Output rows per workgroup of `matvec.wgsl`.
const MATVEC_ROWS: u32 = 8;

impl Ops<'_> {
    /// `y = x · wᵀ`, or `y = residual + x · wᵀ`. `y` must not alias `x` or `residual`.
    pub fn matmul(
        &self,
        enc: &mut wgpu::CommandEncoder,
        x: &wgpu::Buffer,
        w: &GpuWeight,
        y: &wgpu::Buffer,
        n: usize,
        residual: Option<&wgpu::Buffer>,
    ) {
        let params = Params {
            n: n as u32,
            in_dim: w.cols as u32,
            out_dim: w.rows as u32,
            add_residual: residual.is_some() as u32,
        };
        // An unused residual binding still needs a buffer; `x` is never written here.
        let r = residual.unwrap_or(x);
        let buffers = [x, &w.buffer, y, r];
        if n == 1 {
            let (gx, gy) = grid(params.out_dim.div_ceil(MATVEC_ROWS));
            self.launch(enc, Kernel::Matvec, w.qtype, bytemuck::bytes_of(&params), &buffers, (gx, gy, 1));
        } else {
            let groups = (params.out_dim.div_ceil(TILE), params.n.div_ceil(TILE), 1);
            self.launch(enc, Kernel::Matmul, w.qtype, bytemuck::bytes_of(&params), &buffers, groups);
        }
    }
}

#[cfg(test)]
mod tests {
    use candle_core::quantized::GgmlDType;

    use super::super::testutil::*;

    /// Every weight format, shapes around the tile edges, n = 1 (matvec) and n > 1 (tiled).
    #[test]
    fn matmul_matches_cpu_for_every_format_and_shape() {
        let gpu = TestGpu::new();
        let formats = [GgmlDType::F32, GgmlDType::F16, GgmlDType::Q4_0, GgmlDType::Q4_1, GgmlDType::Q8_0];
        let shapes = [(1, 32, 1), (1, 96, 70), (3, 64, 5), (64, 32, 64), (70, 96, 130)];
        for (f, dtype) in formats.into_iter().enumerate() {
            for (s, &(n, in_dim, out_dim)) in shapes.iter().enumerate() {
                let seed = (f * 10 + s) as u64;
                let (w, w_f32) = gpu.weight(dtype, out_dim, in_dim, seed);
                let x = random(n * in_dim, seed + 100, 1.0);
                let r = random(n * out_dim, seed + 200, 1.0);
                for with_residual in [false, true] {
                    let xb = gpu.buffer(&x);
                    let rb = gpu.buffer(&r);
                    let yb = gpu.zeros(n * out_dim);
                    gpu.run(|ops, enc| ops.matmul(enc, &xb, &w, &yb, n, with_residual.then_some(&rb)));
                    let got = gpu.read(&yb);
                    let mut expected = cpu_matmul(&x, &w_f32, n, in_dim, out_dim);
                    if with_residual {
                        expected.iter_mut().zip(&r).for_each(|(e, r)| *e += r);
                    }
                    assert_close(
                        &got,
                        &expected,
                        1e-4,
                        &format!("{dtype:?} n={n} in={in_dim} out={out_dim} residual={with_residual}"),
                    );
                }
            }
        }
    }
}
