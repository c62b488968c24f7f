//! The WGSL engine: the whole llama forward pass on the GPU through wgpu (WebGPU in the
//! browser, Vulkan/Metal/DX12 natively). Kernels live in `shaders/`, one file each; `ops/` has
//! one launcher per kernel; `model.rs` strings them into a forward pass with a GPU KV cache.

mod buffers;
mod context;
mod kernels;
mod model;
pub(crate) mod ops;
mod profiler;
mod recorder;
#[cfg(target_arch = "wasm32")]
mod web_subgroups;
mod weights;

#[cfg(not(target_arch = "wasm32"))]
pub use context::{hardware_adapters, SOFTWARE_ADAPTERS_ENV};
pub use context::{
    GpuContext, PrecisionKernels, ADAPTER_ENV, CHECKED_SHADERS_ENV, PRECISION_KERNELS_ENV, SUBGROUPS_ENV,
};
pub use model::GpuModel;
pub(crate) use model::{GpuSession, GreedyEnd, PREFILL_CHUNK};
#[cfg(target_arch = "wasm32")]
pub use web_subgroups::offers_subgroups;
