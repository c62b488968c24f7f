//! One launcher per kernel (`shaders/<name>.wgsl` → `ops/<name>.rs`; matvec shares `matmul.rs`
//! and `linear.wgsl` with matmul, and the attention merge, which every attention call runs, lives
//! in `attention.rs`): the kernel's interface
//! (its uniform struct and its storage bindings, declared with [`kernel_interface!`]), the
//! dispatch size, the host-side bounds checks, and a test against the CPU reference.
//!
//! The interface is written once in Rust and checked against the WGSL by `contract.rs` (naga,
//! no GPU): the uniform struct's size and every member's name, offset, size and type, and every
//! storage binding's index, name and access. A launcher fills a typed buffers struct, so the
//! binding order it passes is the order the interface declares. Every binding also carries the
//! bytes the kernel will index for these parameters; [`Ops::launch`] refuses a buffer that is
//! smaller, which is what lets native pipelines drop naga's bounds checks
//! ([`crate::gpu::kernels::Pipelines`]).

pub(crate) mod argmax;
pub(crate) mod attention;
pub(crate) mod attention_row;
pub(crate) mod embed;
pub(crate) mod matmul;
pub(crate) mod matvec_norm;
pub(crate) mod rmsnorm;
pub(crate) mod rope;
pub(crate) mod swiglu;

#[cfg(test)]
mod contract;
#[cfg(test)]
pub(crate) mod testutil;

use super::context::GpuContext;
use super::kernels::{one_off_bind_group, BindCache, Kernel, Pipelines};
use super::profiler::Profiler;
use super::recorder::Recorder;
use crate::error::{Error, Result};

/// How a kernel accesses a storage binding: `var<storage, read>` or `var<storage, read_write>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    Read,
    ReadWrite,
}

/// One member of a uniform struct as Rust lays it out (read by the contract test).
#[derive(Clone, Copy, Debug)]
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) struct Field {
    pub name: &'static str,
    pub offset: usize,
    pub size: usize,
    /// The WGSL type the member must have.
    pub wgsl: &'static str,
}

/// Rust scalars that may mirror a member of a WGSL uniform struct.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) trait WgslScalar {
    const WGSL: &'static str;
}

impl WgslScalar for u32 {
    const WGSL: &'static str = "u32";
}

impl WgslScalar for f32 {
    const WGSL: &'static str = "f32";
}

/// The host half of a kernel's interface: binding 0 is a uniform holding `Self`, bindings 1..
/// are [`Self::BUFFERS`]. Implemented by [`kernel_interface!`], never by hand.
pub(crate) trait KernelParams: bytemuck::Pod + std::fmt::Debug {
    /// The kernels whose WGSL declares this interface.
    const KERNELS: &'static [Kernel];
    /// The members of the WGSL `Params` struct, in order.
    #[cfg_attr(not(test), allow(dead_code))]
    const FIELDS: &'static [Field];
    /// The storage bindings 1.., in order: WGSL variable name and access.
    const BUFFERS: &'static [(&'static str, Access)];
    /// The typed buffers a launcher fills: one [`Bound`] per entry of [`Self::BUFFERS`].
    type Buffers<'a>: Bindings<'a>;
}

/// A launcher's buffers in binding order.
pub(crate) trait Bindings<'a> {
    fn list(&self) -> Vec<Bound<'a>>;
}

/// A buffer to bind and the bytes the kernel will index in it for this dispatch's parameters
/// (from the kernel's own index arithmetic; the launcher's doc says how).
#[derive(Clone, Copy)]
pub(crate) struct Bound<'a> {
    pub buffer: &'a wgpu::Buffer,
    pub bytes: u64,
}

impl<'a> Bound<'a> {
    /// A binding the kernel indexes as `dims.product()` 4-byte elements (f32 or u32).
    pub fn words(buffer: &'a wgpu::Buffer, dims: &[usize]) -> Self {
        let count = dims.iter().fold(1u64, |a, &d| a.saturating_mul(d as u64));
        Self { buffer, bytes: count.saturating_mul(4) }
    }

    /// A binding the kernel indexes up to `bytes`.
    pub fn bytes(buffer: &'a wgpu::Buffer, bytes: u64) -> Self {
        Self { buffer, bytes }
    }
}

/// Declares a kernel's interface: the `#[repr(C)]` uniform struct (mirrored member for member
/// by the WGSL `Params`), the kernels that use it, and a buffers struct with one [`Bound`] per
/// storage binding in binding order (named as the WGSL variables are).
macro_rules! kernel_interface {
    (
        $(#[$meta:meta])*
        params $params:ident for [$($kernel:ident),+ $(,)?] { $($field:ident: $fty:ty),* $(,)? }
        buffers $buffers:ident { $($buf:ident: $access:ident),* $(,)? }
    ) => {
        $(#[$meta])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
        pub(crate) struct $params {
            $(pub $field: $fty),*
        }

        /// The storage bindings of this kernel interface in binding order (1..).
        pub(crate) struct $buffers<'a> {
            $(pub $buf: $crate::gpu::ops::Bound<'a>),*
        }

        impl $crate::gpu::ops::KernelParams for $params {
            const KERNELS: &'static [$crate::gpu::kernels::Kernel] = &[$($crate::gpu::kernels::Kernel::$kernel),+];
            const FIELDS: &'static [$crate::gpu::ops::Field] = &[$($crate::gpu::ops::Field {
                name: stringify!($field),
                offset: std::mem::offset_of!($params, $field),
                size: std::mem::size_of::<$fty>(),
                wgsl: <$fty as $crate::gpu::ops::WgslScalar>::WGSL,
            }),*];
            const BUFFERS: &'static [(&'static str, $crate::gpu::ops::Access)] =
                &[$((stringify!($buf), $crate::gpu::ops::Access::$access)),*];
            type Buffers<'a> = $buffers<'a>;
        }

        impl<'a> $crate::gpu::ops::Bindings<'a> for $buffers<'a> {
            fn list(&self) -> Vec<$crate::gpu::ops::Bound<'a>> {
                vec![$(self.$buf),*]
            }
        }
    };
}
pub(crate) use kernel_interface;

/// Largest byte range a kernel may index in one binding: WGSL indices are u32, and below 4 GiB
/// every element index (and every loop bound derived from one) stays far from wrapping.
const MAX_INDEXED_BYTES: u64 = 1 << 32;

/// Fails unless `ok`: a shape the kernel cannot run (a zero divisor, a misaligned dimension, a
/// range past the cache). These are engine bugs or unsupported models, never user input.
pub(crate) fn require(ok: bool, kernel: Kernel, what: impl FnOnce() -> String) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(unrunnable(kernel, what()))
    }
}

/// The error [`require`] gives.
pub(crate) fn unrunnable(kernel: Kernel, what: String) -> Error {
    Error::Gpu(format!("the {kernel:?} kernel cannot run on {what}"))
}

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
    /// holding `params`, bindings 1.. are `buffers`, whole. Fails, before recording anything,
    /// if a buffer is smaller than the bytes the kernel will index in it.
    fn launch<P: KernelParams>(
        &self,
        enc: &mut Recorder,
        kernel: Kernel,
        qtype: u32,
        params: &P,
        buffers: &P::Buffers<'_>,
        groups: (u32, u32, u32),
    ) -> Result<()> {
        debug_assert!(P::KERNELS.contains(&kernel), "{kernel:?} does not use {params:?}'s interface");
        let bound = buffers.list();
        for ((name, _), b) in P::BUFFERS.iter().zip(&bound) {
            if b.bytes > b.buffer.size() || b.bytes > MAX_INDEXED_BYTES {
                let limit = if b.bytes > MAX_INDEXED_BYTES { " (over the 4 GiB a kernel may index)" } else { "" };
                return Err(Error::Gpu(format!(
                    "the {kernel:?} kernel would index {} bytes of its '{name}' buffer, which holds {}{limit}; parameters {params:?}",
                    b.bytes,
                    b.buffer.size()
                )));
            }
        }
        let buffers: Vec<&wgpu::Buffer> = bound.iter().map(|b| b.buffer).collect();
        let params = bytemuck::bytes_of(params);
        let pipeline = self.pipes.get(self.ctx, kernel, qtype);
        let cached = self.binds.and_then(|cache| cache.bind_group(self.ctx, &pipeline, params, &buffers));
        let bind_group = cached.unwrap_or_else(|| one_off_bind_group(self.ctx, &pipeline, params, &buffers));
        enc.dispatch(self.prof, kernel, &pipeline, &bind_group, groups);
        Ok(())
    }
}
