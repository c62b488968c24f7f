//! One launcher per kernel (`shaders/<name>.wgsl`): the uniform struct, the binding order, the
//! dispatch size, and a test against the CPU reference.

pub(crate) mod attention;
pub(crate) mod elementwise;
pub(crate) mod matmul;
pub(crate) mod rope;

#[cfg(test)]
pub(crate) mod testutil;

use super::context::GpuContext;
use super::kernels::Pipelines;

/// The device plus its pipeline cache: what every launcher needs.
pub(crate) struct Ops<'a> {
    pub ctx: &'a GpuContext,
    pub pipes: &'a Pipelines,
}

/// Binding for a whole buffer.
pub(crate) fn whole(b: &wgpu::Buffer) -> wgpu::BindingResource<'_> {
    b.as_entire_binding()
}
