//! One launcher per kernel (`shaders/<name>.wgsl`): the uniform struct, the binding order, the
//! dispatch size, and a test against the CPU reference.

pub(crate) mod attention;
pub(crate) mod elementwise;
pub(crate) mod matmul;
pub(crate) mod rope;

#[cfg(test)]
pub(crate) mod testutil;

use super::context::GpuContext;
use super::kernels::{dispatch, Kernel, Pipelines};
use super::profiler::Profiler;

/// The device, its pipeline cache and (optionally) the kernel profiler: what every launcher needs.
pub(crate) struct Ops<'a> {
    pub ctx: &'a GpuContext,
    pub pipes: &'a Pipelines,
    pub prof: Option<&'a Profiler>,
}

impl Ops<'_> {
    /// Dispatches `kernel` (specialised for weight format `qtype`).
    fn launch(&self, enc: &mut wgpu::CommandEncoder, kernel: Kernel, qtype: u32, params: &[u8], buffers: &[wgpu::BindingResource<'_>], groups: (u32, u32, u32)) {
        let pipeline = self.pipes.get(self.ctx, kernel, qtype);
        dispatch(self.ctx, self.prof, kernel, enc, &pipeline, params, buffers, groups);
    }
}

/// Binding for a whole buffer.
pub(crate) fn whole(b: &wgpu::Buffer) -> wgpu::BindingResource<'_> {
    b.as_entire_binding()
}
