//! WGSL sources and compiled pipelines. Each kernel is one file in `shaders/`; the loader puts
//! the shared prelude (and, for kernels that read weights, `weights.wgsl`; for the two linear
//! kernels, their shared interface `linear.wgsl`) in front, plus the
//! generated constants the kernel declares it needs. Pipelines are cached by (kernel, QTYPE,
//! head_dim) and specialised through WGSL `override` constants.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use wgpu::util::DeviceExt;

use super::context::GpuContext;
use super::profiler::Profiler;

const PRELUDE: &str = include_str!("../../../shaders/prelude.wgsl");
const WEIGHTS: &str = include_str!("../../../shaders/weights.wgsl");
const LINEAR: &str = include_str!("../../../shaders/linear.wgsl");

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Kernel {
    Matmul,
    Matvec,
    Embed,
    RmsNorm,
    SwiGlu,
    Rope,
    Attention,
    AttentionMerge,
    AttentionRow,
}

impl Kernel {
    fn source(self) -> &'static str {
        match self {
            Self::Matmul => include_str!("../../../shaders/matmul.wgsl"),
            Self::Matvec => include_str!("../../../shaders/matvec.wgsl"),
            Self::Embed => include_str!("../../../shaders/embed.wgsl"),
            Self::RmsNorm => include_str!("../../../shaders/rmsnorm.wgsl"),
            Self::SwiGlu => include_str!("../../../shaders/swiglu.wgsl"),
            Self::Rope => include_str!("../../../shaders/rope.wgsl"),
            Self::Attention => include_str!("../../../shaders/attention.wgsl"),
            Self::AttentionMerge => include_str!("../../../shaders/attention_merge.wgsl"),
            Self::AttentionRow => include_str!("../../../shaders/attention_row.wgsl"),
        }
    }

    fn reads_weights(self) -> bool {
        matches!(self, Self::Matmul | Self::Matvec | Self::Embed)
    }
}

/// Keys per attention tile: K and V tiles together fill WebGPU's guaranteed 16 KiB of
/// workgroup memory.
pub(crate) fn key_tile(head_dim: usize) -> usize {
    (16384 / (2 * 4 * head_dim)).max(1)
}

/// Full WGSL text of a kernel.
pub(crate) fn assemble(kernel: Kernel, head_dim: usize) -> String {
    let mut src = String::from(PRELUDE);
    if matches!(kernel, Kernel::Attention | Kernel::AttentionMerge | Kernel::AttentionRow) {
        src.push_str(&format!(
            "\nconst HEAD_DIM: u32 = {head_dim}u;\nconst KEY_TILE: u32 = {}u;\n",
            key_tile(head_dim)
        ));
    }
    if kernel.reads_weights() {
        src.push('\n');
        src.push_str(WEIGHTS);
    }
    if matches!(kernel, Kernel::Matmul | Kernel::Matvec) {
        src.push('\n');
        src.push_str(LINEAR);
    }
    src.push('\n');
    src.push_str(kernel.source());
    src
}

type PipelineKey = (Kernel, u32, usize);

/// Compiled pipelines, created on first use.
pub(crate) struct Pipelines {
    cache: RefCell<HashMap<PipelineKey, Rc<wgpu::ComputePipeline>>>,
    head_dim: usize,
}

impl Pipelines {
    pub fn new(head_dim: usize) -> Self {
        Self { cache: RefCell::new(HashMap::new()), head_dim }
    }

    pub fn get(&self, ctx: &GpuContext, kernel: Kernel, qtype: u32) -> Rc<wgpu::ComputePipeline> {
        let key = (kernel, qtype, self.head_dim);
        if let Some(p) = self.cache.borrow().get(&key) {
            return p.clone();
        }
        let module = ctx.device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(&format!("{kernel:?}")),
            source: wgpu::ShaderSource::Wgsl(assemble(kernel, self.head_dim).into()),
        });
        let constants: Vec<(&str, f64)> = if kernel.reads_weights() { vec![("QTYPE", qtype as f64)] } else { vec![] };
        let pipeline = ctx.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(&format!("{kernel:?}/{qtype}")),
            layout: None,
            module: &module,
            entry_point: Some("main"),
            compilation_options: wgpu::PipelineCompilationOptions { constants: &constants, zero_initialize_workgroup_memory: false },
            cache: None,
        });
        let pipeline = Rc::new(pipeline);
        self.cache.borrow_mut().insert(key, pipeline.clone());
        pipeline
    }
}

/// Splits a workgroup count over x and y so neither exceeds WebGPU's 65535 per dimension.
/// Kernels rebuild the linear index as `wg.y * num_workgroups.x + wg.x` and bounds-check it.
pub(crate) fn grid(workgroups: u32) -> (u32, u32) {
    const MAX: u32 = 65535;
    if workgroups <= MAX {
        (workgroups.max(1), 1)
    } else {
        (MAX, workgroups.div_ceil(MAX))
    }
}

/// Records one dispatch: binding 0 is a uniform holding `params`, bindings 1.. are `buffers`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn dispatch(
    ctx: &GpuContext,
    profiler: Option<&Profiler>,
    kernel: Kernel,
    encoder: &mut wgpu::CommandEncoder,
    pipeline: &wgpu::ComputePipeline,
    params: &[u8],
    buffers: &[wgpu::BindingResource<'_>],
    groups: (u32, u32, u32),
) {
    let mut padded = params.to_vec();
    padded.resize(params.len().div_ceil(16).max(1) * 16, 0);
    let uniform = ctx.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("params"),
        contents: &padded,
        usage: wgpu::BufferUsages::UNIFORM,
    });
    let mut entries = vec![wgpu::BindGroupEntry { binding: 0, resource: uniform.as_entire_binding() }];
    entries.extend(
        buffers.iter().enumerate().map(|(i, b)| wgpu::BindGroupEntry { binding: i as u32 + 1, resource: b.clone() }),
    );
    let bind_group = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: None,
        layout: &pipeline.get_bind_group_layout(0),
        entries: &entries,
    });
    let timestamp_writes = profiler.and_then(|p| p.writes(kernel));
    let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: None, timestamp_writes });
    pass.set_pipeline(pipeline);
    pass.set_bind_group(0, &bind_group, &[]);
    pass.dispatch_workgroups(groups.0, groups.1, groups.2);
}
