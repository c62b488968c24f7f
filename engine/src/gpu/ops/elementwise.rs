//! Small row-wise kernels: embedding gather, RMSNorm, SwiGLU.

use bytemuck::{Pod, Zeroable};

use super::Ops;
use crate::gpu::kernels::{grid, Kernel};
use crate::gpu::weights::GpuWeight;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct EmbedParams {
    n: u32,
    dim: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct NormParams {
    n: u32,
    dim: u32,
    eps: f32,
    _pad: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct LenParams {
    len: u32,
}

impl Ops<'_> {
    /// x[i] = table[ids[i]] (dequantized).
    pub fn embed(
        &self,
        enc: &mut wgpu::CommandEncoder,
        ids: &wgpu::Buffer,
        table: &GpuWeight,
        x: &wgpu::Buffer,
        n: usize,
    ) {
        let params = EmbedParams { n: n as u32, dim: table.cols as u32 };
        let (gx, gy) = grid((n * table.cols / 4).div_ceil(64) as u32);
        self.launch(
            enc,
            Kernel::Embed,
            table.qtype,
            bytemuck::bytes_of(&params),
            &[ids, &table.buffer, x],
            (gx, gy, 1),
        );
    }

    /// y = rmsnorm(x) · weight, row by row.
    pub fn rms_norm(
        &self,
        enc: &mut wgpu::CommandEncoder,
        x: &wgpu::Buffer,
        weight: &wgpu::Buffer,
        y: &wgpu::Buffer,
        n: usize,
        dim: usize,
        eps: f64,
    ) {
        let params = NormParams { n: n as u32, dim: dim as u32, eps: eps as f32, _pad: 0 };
        let (gx, gy) = grid(n as u32);
        self.launch(enc, Kernel::RmsNorm, 0, bytemuck::bytes_of(&params), &[x, weight, y], (gx, gy, 1));
    }

    /// gate = silu(gate) · up over `len` elements.
    pub fn swiglu(&self, enc: &mut wgpu::CommandEncoder, gate: &wgpu::Buffer, up: &wgpu::Buffer, len: usize) {
        let params = LenParams { len: len as u32 };
        let (gx, gy) = grid(len.div_ceil(256) as u32);
        self.launch(enc, Kernel::SwiGlu, 0, bytemuck::bytes_of(&params), &[gate, up], (gx, gy, 1));
    }
}

#[cfg(test)]
mod tests {
    use candle_core::quantized::GgmlDType;

    use super::super::testutil::*;

    #[test]
    fn embed_gathers_dequantized_rows() {
        let gpu = TestGpu::new();
        for dtype in [GgmlDType::Q8_0, GgmlDType::Q4_1, GgmlDType::F16] {
            let (table, table_f32) = gpu.weight(dtype, 50, 64, 3);
            let ids = [7u32, 0, 49, 7];
            let idb = gpu.buffer_u32(&ids);
            let xb = gpu.zeros(ids.len() * 64);
            gpu.run(|ops, enc| ops.embed(enc, &idb, &table, &xb, ids.len()));
            let expected: Vec<f32> =
                ids.iter().flat_map(|&i| table_f32[i as usize * 64..(i as usize + 1) * 64].to_vec()).collect();
            assert_close(&gpu.read(&xb), &expected, 1e-6, &format!("{dtype:?}"));
        }
    }

    #[test]
    fn rms_norm_matches_cpu() {
        let gpu = TestGpu::new();
        for (n, dim) in [(1, 64), (3, 576), (5, 300)] {
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
    fn swiglu_matches_cpu() {
        let gpu = TestGpu::new();
        let len = 1000;
        let g = random(len, 5, 6.0);
        let u = random(len, 6, 2.0);
        let (gb, ub) = (gpu.buffer(&g), gpu.buffer(&u));
        gpu.run(|ops, enc| ops.swiglu(enc, &gb, &ub, len));
        let expected: Vec<f32> = g.iter().zip(&u).map(|(g, u)| g / (1.0 + (-g).exp()) * u).collect();
        assert_close(&gpu.read(&gb), &expected, 1e-5, "swiglu");
    }
}
