//! act = silu(gate) · up from the stacked gate/up projection (`shaders/swiglu.wgsl`).

use super::{kernel_interface, Bound, Ops};
use crate::error::Result;
use crate::gpu::kernels::{grid, Kernel};
use crate::gpu::recorder::Recorder;

kernel_interface! {
    params SwiGluParams for [SwiGlu] { n: u32, ff: u32 }
    buffers SwiGluBuffers { gate_up: Read, act: ReadWrite }
}

impl Ops<'_> {
    /// act[t, j] = silu(gate_up[t, j]) · gate_up[t, ff + j]: `gate_up` is indexed as [n, 2·ff]
    /// (one matmul over the stacked gate and up weights wrote it), `act` as [n, ff].
    pub fn swiglu(
        &self,
        enc: &mut Recorder,
        gate_up: &wgpu::Buffer,
        act: &wgpu::Buffer,
        n: usize,
        ff: usize,
    ) -> Result<()> {
        let params = SwiGluParams { n: n as u32, ff: ff as u32 };
        let buffers = SwiGluBuffers { gate_up: Bound::words(gate_up, &[n, 2, ff]), act: Bound::words(act, &[n, ff]) };
        let (gx, gy) = grid((n * ff).div_ceil(256) as u32);
        self.launch(enc, Kernel::SwiGlu, 0, &params, &buffers, (gx, gy, 1))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;

    /// The CPU reference of the stacked layout: [n, 2·ff] → [n, ff].
    pub(crate) fn swiglu(gate_up: &[f32], ff: usize) -> Vec<f32> {
        gate_up
            .chunks(2 * ff)
            .flat_map(|row| row[..ff].iter().zip(&row[ff..]).map(|(g, u)| g / (1.0 + (-g).exp()) * u))
            .collect()
    }

    /// Small and odd shapes, and one past 65,535 workgroups (the grid's second dimension).
    #[test]
    fn swiglu_matches_cpu() {
        let gpu = TestGpu::new();
        for (n, ff) in [(1, 1), (1, 255), (3, 333), (7, 1536), (2, 65535 * 128 + 3)] {
            let gu = random(n * 2 * ff, 5, 6.0);
            let (gub, act) = (gpu.buffer(&gu), gpu.zeros(n * ff));
            gpu.run(|ops, enc| ops.swiglu(enc, &gub, &act, n, ff));
            assert_close(&gpu.read(&act), &swiglu(&gu, ff), 1e-5, &format!("swiglu n={n} ff={ff}"));
        }
    }

    #[test]
    fn swiglu_refuses_a_short_buffer() {
        let gpu = TestGpu::new();
        let (gu, act) = (gpu.zeros(2 * 100 - 1), gpu.zeros(100));
        gpu.expect_error(|ops, enc| ops.swiglu(enc, &gu, &act, 1, 100), "'gate_up' buffer");
        let (gu, act) = (gpu.zeros(2 * 100), gpu.zeros(99));
        gpu.expect_error(|ops, enc| ops.swiglu(enc, &gu, &act, 1, 100), "'act' buffer");
    }
}
