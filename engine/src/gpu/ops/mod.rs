//! One launcher per kernel (`shaders/<name>.wgsl`): the uniform struct, the binding order, the
//! dispatch size, and a test against the CPU reference.

pub(crate) mod attention;
pub(crate) mod elementwise;
pub(crate) mod matmul;
pub(crate) mod rope;

#[cfg(test)]
pub(crate) mod testutil;

use super::context::GpuContext;
use super::kernels::{dispatch, one_off_bind_group, BindCache, Kernel, Pipelines};
use super::profiler::Profiler;

/// The device, its pipeline cache, and optionally the kernel profiler and a bind-group cache:
/// what every launcher needs.
pub(crate) struct Ops<'a> {
    pub ctx: &'a GpuContext,
    pub pipes: &'a Pipelines,
    pub prof: Option<&'a Profiler>,
    pub binds: Option<&'a BindCache>,
}

impl Ops<'_> {
    /// Dispatches `kernel` (specialised for weight format `qtype`); binding 0 is a uniform
    /// holding `params`, bindings 1.. are `buffers`, whole.
    fn launch(
        &self,
        enc: &mut wgpu::CommandEncoder,
        kernel: Kernel,
        qtype: u32,
        params: &[u8],
        buffers: &[&wgpu::Buffer],
        groups: (u32, u32, u32),
    ) {
        let pipeline = self.pipes.get(self.ctx, kernel, qtype);
        let cached = self.binds.and_then(|cache| cache.bind_group(self.ctx, &pipeline, params, buffers));
        let bind_group = cached.unwrap_or_else(|| one_off_bind_group(self.ctx, &pipeline, params, buffers));
        dispatch(self.prof, kernel, enc, &pipeline, &bind_group, groups);
    }
}
