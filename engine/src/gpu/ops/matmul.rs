//! Y[n, out] = X[n, in] · Wᵀ (+ R) straight from quantized weights: one launcher for the three
//! linear kernels, which share their interface (`shaders/linear.wgsl`): for prefill the tiled
//! f32 `matmul.wgsl`, or `matmul_coop.wgsl` on the tensor cores where the device has them
//! ([`GpuContext::coop_matmul`](crate::gpu::GpuContext::coop_matmul)), and `matvec.wgsl` for a
//! single token.

use super::{kernel_interface, require, Bound, Ops};
use crate::error::Result;
use crate::gpu::kernels::{grid, Kernel};
use crate::gpu::recorder::Recorder;
use crate::gpu::weights::GpuWeight;

kernel_interface! {
    params LinearParams for [Matmul, MatmulCoop, Matvec, MatvecSwiGlu] { n: u32, in_dim: u32, out_dim: u32, add_residual: u32 }
    buffers LinearBuffers { x: Read, w: Read, y: ReadWrite, r: Read }
}

/// Output tile edge of `matmul.wgsl` and of `matmul_coop.wgsl`.
const TILE: u32 = 64;
/// Output rows per workgroup of `matvec.wgsl`.
const MATVEC_ROWS: u32 = 8;
/// `in` must be whole quant blocks: `matmul.wgsl` steps through it 16 at a time,
/// `matmul_coop.wgsl` 64 at a time (a last half slice loads zeros) and `matvec.wgsl` 4 at a
/// time, with no tail.
pub(crate) const LINEAR_IN_MULTIPLE: usize = 32;

impl Ops<'_> {
    /// `y = x · wᵀ`, or `y = residual + x · wᵀ`, for a [out, in] weight `w`: x is indexed as
    /// [n, in], y and the residual as [n, out]. `y` must not alias `x` or `residual`. Every
    /// kernel guards rows past n and columns past out itself (the cooperative one loads zeros
    /// for them and skips their stores), so these are the bytes indexed for any n and out.
    pub fn matmul(
        &self,
        enc: &mut Recorder,
        x: &wgpu::Buffer,
        w: &GpuWeight,
        y: &wgpu::Buffer,
        n: usize,
        residual: Option<&wgpu::Buffer>,
    ) -> Result<()> {
        let kernel = match n {
            1 => Kernel::Matvec,
            _ if self.ctx.coop_matmul() => Kernel::MatmulCoop,
            _ => Kernel::Matmul,
        };
        self.linear(enc, kernel, x, w, y, n, residual)
    }

    /// `y = silu(gate) · up · wᵀ` (+ residual) for one token, the FFN's down projection with its
    /// SwiGLU folded in (`matvec.wgsl` built as `MatvecSwiGlu`): `gate_up` is indexed as
    /// [2, in] (gate, then up: the stacked projection's output for n = 1), y and the residual as
    /// [out]. The same arithmetic as [`Ops::swiglu`] then [`Ops::matmul`] at n = 1.
    pub fn matvec_swiglu(
        &self,
        enc: &mut Recorder,
        gate_up: &wgpu::Buffer,
        w: &GpuWeight,
        y: &wgpu::Buffer,
        residual: Option<&wgpu::Buffer>,
    ) -> Result<()> {
        self.linear(enc, Kernel::MatvecSwiGlu, gate_up, w, y, 1, residual)
    }

    /// One linear kernel's launch; `x` holds [n, in] values, or [2, in] for `MatvecSwiGlu`.
    #[allow(clippy::too_many_arguments)]
    fn linear(
        &self,
        enc: &mut Recorder,
        kernel: Kernel,
        x: &wgpu::Buffer,
        w: &GpuWeight,
        y: &wgpu::Buffer,
        n: usize,
        residual: Option<&wgpu::Buffer>,
    ) -> Result<()> {
        let (in_dim, out_dim) = (w.cols, w.rows);
        require(in_dim.is_multiple_of(LINEAR_IN_MULTIPLE), kernel, || {
            format!("in = {in_dim} (a multiple of {LINEAR_IN_MULTIPLE} is needed)")
        })?;
        let params = LinearParams {
            n: n as u32,
            in_dim: in_dim as u32,
            out_dim: out_dim as u32,
            add_residual: residual.is_some() as u32,
        };
        // An unused residual binding still needs a buffer; `x` is never written here.
        let r = match residual {
            Some(r) => Bound::words(r, &[n, out_dim]),
            None => Bound::bytes(x, 0),
        };
        let x_rows = if kernel == Kernel::MatvecSwiGlu { 2 } else { n };
        let buffers = LinearBuffers {
            x: Bound::words(x, &[x_rows, in_dim]),
            w: w.bound(kernel)?,
            y: Bound::words(y, &[n, out_dim]),
            r,
        };
        let groups = if n == 1 {
            let (gx, gy) = grid(params.out_dim.div_ceil(MATVEC_ROWS));
            (gx, gy, 1)
        } else {
            (params.out_dim.div_ceil(TILE), params.n.div_ceil(TILE), 1)
        };
        self.launch(enc, kernel, w.qtype, &params, &buffers, groups)
    }
}

#[cfg(test)]
mod tests {
    use candle_core::quantized::GgmlDType;

    use super::super::testutil::*;
    use crate::gpu::PrecisionKernels;

    const FORMATS: [GgmlDType; 5] = [GgmlDType::F32, GgmlDType::F16, GgmlDType::Q4_0, GgmlDType::Q4_1, GgmlDType::Q8_0];

    /// Every weight format, shapes around the tile edges, n = 1 (matvec) and n > 1 (the f32
    /// tiled kernel: `TestGpu` runs the f32 kernels).
    #[test]
    fn matmul_matches_cpu_for_every_format_and_shape() {
        let gpu = TestGpu::new();
        let formats = FORMATS;
        let shapes = [(1, 32, 1), (1, 96, 70), (3, 64, 5), (64, 32, 64), (70, 96, 130), (2, 32, 3), (65, 64, 63)];
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

    /// The SwiGLU matvec gives what the SwiGLU kernel then the matvec give, bit for bit (the
    /// same arithmetic element for element), for every weight format, in = 32 (one block),
    /// 160 (a step of 128 and a tail) and 1536 (SmolLM2's FFN), with and without the residual;
    /// and both stay within the matvec tolerance of the CPU reference (silu(g)·u then x · wᵀ).
    #[test]
    fn matvec_swiglu_matches_swiglu_then_matvec() {
        let gpu = TestGpu::new();
        for (f, dtype) in FORMATS.into_iter().enumerate() {
            for (s, (in_dim, out_dim)) in [(32, 5), (160, 70), (1536, 33)].into_iter().enumerate() {
                let seed = 500 + (f * 10 + s) as u64;
                let (w, w_f32) = gpu.weight(dtype, out_dim, in_dim, seed);
                let gate_up = random(2 * in_dim, seed + 1, 4.0);
                let r = random(out_dim, seed + 2, 1.0);
                let act: Vec<f32> =
                    gate_up[..in_dim].iter().zip(&gate_up[in_dim..]).map(|(g, u)| g / (1.0 + (-g).exp()) * u).collect();
                for with_residual in [false, true] {
                    let what = format!("{dtype:?} in={in_dim} out={out_dim} residual={with_residual}");
                    let (gb, rb) = (gpu.buffer(&gate_up), gpu.buffer(&r));
                    let (act_b, two_step, fused) = (gpu.zeros(in_dim), gpu.zeros(out_dim), gpu.zeros(out_dim));
                    let residual = with_residual.then_some(&rb);
                    gpu.run(|ops, enc| {
                        ops.swiglu(enc, &gb, &act_b, 1, in_dim)?;
                        ops.matmul(enc, &act_b, &w, &two_step, 1, residual)?;
                        ops.matvec_swiglu(enc, &gb, &w, &fused, residual)
                    });
                    let (two_step, fused) = (gpu.read(&two_step), gpu.read(&fused));
                    let same = two_step.iter().zip(&fused).all(|(a, b)| a.to_bits() == b.to_bits());
                    assert!(same, "{what}: fused {fused:?} vs two dispatches {two_step:?}");
                    let mut expected = cpu_matmul(&act, &w_f32, 1, in_dim, out_dim);
                    if with_residual {
                        expected.iter_mut().zip(&r).for_each(|(e, r)| *e += r);
                    }
                    assert_close(&fused, &expected, 1e-4, &what);
                }
            }
        }
    }

    /// The SwiGLU matvec refuses a gate/up buffer shorter than [2, in].
    #[test]
    fn matvec_swiglu_refuses_a_short_gate_up() {
        let gpu = TestGpu::new();
        let (w, _) = gpu.weight(GgmlDType::Q4_0, 8, 64, 1);
        let (short, y) = (gpu.zeros(64 + 63), gpu.zeros(8));
        gpu.expect_error(|ops, enc| ops.matvec_swiglu(enc, &short, &w, &y, None), "'x'");
    }

    /// The cooperative-matrix kernel and the f32 tiled kernel against the CPU reference, for
    /// every weight format and shapes that are not multiples of its 16×16 fragments or 64×64
    /// tiles, where the test adapter has the 16×16×16 f16 → f32 configuration (elsewhere, e.g.
    /// on lavapipe, it says so and passes; CTXSCOPE_GPU_ADAPTER picks the adapter).
    ///
    /// Tolerance of the cooperative kernel, per output: 2e-3 · Σ_c |x_c|·|w_c| (+ 1e-6 for the
    /// f32 residual add). Rounding x and w to f16 (unit roundoff u = 2⁻¹¹ ≈ 4.9e-4) changes
    /// each product by at most (2u + u²)·|x_c||w_c| ≈ 9.8e-4·|x_c||w_c|; the f32 sums add at
    /// most in·2⁻²⁴ ≈ 3.4e-5 of the same sum for in = 576. So 2e-3 is twice the worst case,
    /// and an indexing or tiling bug (a wrong, missing or doubled term) is far outside it. The
    /// f32 kernel keeps the tight tolerance of `matmul_matches_cpu_for_every_format_and_shape`.
    #[test]
    fn matmul_coop_matches_f32_tiled() {
        let mut gpu = TestGpu::new();
        if !gpu.has_coop("matmul_coop_matches_f32_tiled") {
            return;
        }
        let mut case = 0u64;
        for dtype in FORMATS {
            for n in [2, 17, 64, 130] {
                for out_dim in [16, 63, 130] {
                    for in_dim in [32, 96, 160, 576] {
                        case += 1;
                        let (w, w_f32) = gpu.weight(dtype, out_dim, in_dim, case);
                        let x = random(n * in_dim, case + 1000, 1.0);
                        let r = random(n * out_dim, case + 2000, 1.0);
                        let (x_abs, w_abs): (Vec<f32>, Vec<f32>) =
                            (x.iter().map(|v| v.abs()).collect(), w_f32.iter().map(|v| v.abs()).collect());
                        let magnitude = cpu_matmul(&x_abs, &w_abs, n, in_dim, out_dim);
                        let with_residual = case.is_multiple_of(2);
                        let mut expected = cpu_matmul(&x, &w_f32, n, in_dim, out_dim);
                        if with_residual {
                            expected.iter_mut().zip(&r).for_each(|(e, r)| *e += r);
                        }
                        let what = format!("{dtype:?} n={n} in={in_dim} out={out_dim} residual={with_residual}");
                        let mut run = |choice: PrecisionKernels| {
                            gpu.ctx.set_precision_kernels(choice);
                            let (xb, rb, yb) = (gpu.buffer(&x), gpu.buffer(&r), gpu.zeros(n * out_dim));
                            gpu.run(|ops, enc| ops.matmul(enc, &xb, &w, &yb, n, with_residual.then_some(&rb)));
                            gpu.read(&yb)
                        };
                        let exact = run(PrecisionKernels::F32);
                        let fast = run(PrecisionKernels::Fast);
                        assert!(gpu.ctx.coop_matmul(), "the fast choice must select the cooperative kernel");
                        assert_close(&exact, &expected, 1e-4, &format!("f32 tiled, {what}"));
                        for (i, ((g, e), m)) in fast.iter().zip(&expected).zip(&magnitude).enumerate() {
                            let bound = 2e-3 * m + 1e-6;
                            assert!(
                                (g - e).abs() <= bound,
                                "coop, {what}: element {i}: GPU {g} vs CPU {e} (tolerance {bound}; f32 kernel {})",
                                exact[i]
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn matmul_refuses_short_buffers() {
        let gpu = TestGpu::new();
        let (w, _) = gpu.weight(GgmlDType::Q8_0, 8, 64, 1);
        let (x, y, r) = (gpu.zeros(2 * 64), gpu.zeros(2 * 8), gpu.zeros(8));
        let half_row = gpu.zeros(32);
        gpu.expect_error(|ops, enc| ops.matmul(enc, &half_row, &w, &y, 1, None), "'x' buffer");
        gpu.expect_error(|ops, enc| ops.matmul(enc, &x, &w, &y, 3, None), "'x' buffer");
        gpu.expect_error(|ops, enc| ops.matmul(enc, &x, &w, &y, 2, Some(&r)), "'r' buffer");
        let (short_w, _) = gpu.weight(GgmlDType::Q8_0, 8, 32, 1);
        let short_w = crate::gpu::weights::GpuWeight { cols: 64, ..short_w };
        gpu.expect_error(|ops, enc| ops.matmul(enc, &x, &short_w, &y, 1, None), "'w' buffer");
    }
}
