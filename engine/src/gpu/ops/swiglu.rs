//! gate = silu(gate) · up, in place (`shaders/swiglu.wgsl`).

use super::{kernel_interface, Bound, Ops};
use crate::error::Result;
use crate::gpu::kernels::{grid, Kernel};
use crate::gpu::recorder::Recorder;

kernel_interface! {
    params SwiGluParams for [SwiGlu] { len: u32 }
    buffers SwiGluBuffers { gate: ReadWrite, up: Read }
}

impl Ops<'_> {
    /// gate = silu(gate) · up over `len` elements (both buffers are indexed below `len`).
    pub fn swiglu(&self, enc: &mut Recorder, gate: &wgpu::Buffer, up: &wgpu::Buffer, len: usize) -> Result<()> {
        let params = SwiGluParams { len: len as u32 };
        let buffers = SwiGluBuffers { gate: Bound::words(gate, &[len]), up: Bound::words(up, &[len]) };
        let (gx, gy) = grid(len.div_ceil(256) as u32);
        self.launch(enc, Kernel::SwiGlu, 0, &params, &buffers, (gx, gy, 1))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;

    /// Lengths around the 256-thread workgroup and the 65535-workgroup grid edge.
    #[test]
    fn swiglu_matches_cpu() {
        let gpu = TestGpu::new();
        for len in [1, 255, 1000, 65535 * 256 + 3] {
            let g = random(len, 5, 6.0);
            let u = random(len, 6, 2.0);
            let (gb, ub) = (gpu.buffer(&g), gpu.buffer(&u));
            gpu.run(|ops, enc| ops.swiglu(enc, &gb, &ub, len));
            let expected: Vec<f32> = g.iter().zip(&u).map(|(g, u)| g / (1.0 + (-g).exp()) * u).collect();
            assert_close(&gpu.read(&gb), &expected, 1e-5, &format!("swiglu len={len}"));
        }
    }

    #[test]
    fn swiglu_refuses_a_short_buffer() {
        let gpu = TestGpu::new();
        let (gb, ub) = (gpu.zeros(100), gpu.zeros(99));
        gpu.expect_error(|ops, enc| ops.swiglu(enc, &gb, &ub, 100), "'up' buffer");
    }
}
