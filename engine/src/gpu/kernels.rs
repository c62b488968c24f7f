//! WGSL sources and compiled pipelines. Each kernel is one file in `shaders/`; the loader puts
//! the shared prelude (and, for kernels that read weights, `weights.wgsl`; for the linear
//! kernels, their shared interface `linear.wgsl`) in front, preceded by the constants Rust
//! owns ([`generated_constants`]), so no number is written on both sides. A kernel's own
//! `enable` directives (only the cooperative-matrix kernels have any) go first of all, as WGSL requires, so
//! the other kernels stay plain WebGPU; a kernel that reduces across its workgroup gets
//! `enable subgroups;` (in the browser) where the device's subgroups finish the prelude's reductions
//! ([`subgroup_lanes`](GpuContext::subgroup_lanes)). Pipelines are cached by (kernel, QTYPE,
//! head_dim, subgroup lanes) and specialised through WGSL `override` constants.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use wgpu::util::DeviceExt;

use super::context::GpuContext;
use super::ops::rope;
use super::weights::QTYPES;
use crate::rope::RopePrecision;

const PRELUDE: &str = include_str!("../../../shaders/prelude.wgsl");
const WEIGHTS: &str = include_str!("../../../shaders/weights.wgsl");
const LINEAR: &str = include_str!("../../../shaders/linear.wgsl");
const ATTENTION_IO: &str = include_str!("../../../shaders/attention_io.wgsl");

/// Declares [`Kernel`] and [`Kernel::ALL`] from one list, so that no kernel can be left out of
/// the checks that iterate over every kernel.
macro_rules! kernels {
    ($($name:ident),* $(,)?) => {
        /// One WGSL kernel (`shaders/<snake_case name>.wgsl`).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub(crate) enum Kernel {
            $($name),*
        }

        impl Kernel {
            /// Every kernel.
            #[cfg_attr(not(test), allow(dead_code))]
            pub(crate) const ALL: &[Kernel] = &[$(Kernel::$name),*];
        }
    };
}

kernels!(
    Matmul,
    MatmulCoop,
    Matvec,
    MatvecSwiGlu,
    MatvecNorm,
    Embed,
    RmsNorm,
    SwiGlu,
    Rope,
    Attention,
    AttentionCoop,
    AttentionDecode,
    AttentionMerge,
    AttentionRow,
    Argmax
);

/// The head size `shaders/attention.wgsl` is written for (a query row is 16 named vec4s).
pub(crate) const ATTENTION_HEAD_DIM: usize = 64;

/// Workgroup memory `shaders/matmul_coop.wgsl` declares, in bytes (for each of its two halves
/// X and W slices of 64 × 72 f16; a 2048-float staging block): the device's limit must hold it
/// for the kernel to be selected (over WebGPU's default 16 KiB; the H200 offers 48 KiB). The
/// contract test holds the kernel to exactly this.
pub(crate) const MATMUL_COOP_WORKGROUP_BYTES: u32 = 2 * 2 * 64 * 72 * 2 + 2048 * 4;

/// Workgroup memory `shaders/attention_coop.wgsl` declares at [`ATTENTION_HEAD_DIM`], in bytes
/// (q-then-K, V and P tiles of 64 × 72 f16, scores of 64 × 68 f32): the
/// device's limit must hold it for the kernel to be selected (WebGPU's default is 16 KiB; the
/// H200 offers 48 KiB). The contract test holds the kernel to exactly this.
pub(crate) const ATTENTION_COOP_WORKGROUP_BYTES: u32 = 3 * 64 * 72 * 2 + 64 * 68 * 4;

/// The kernel's own file, without the prelude (for the contract tests).
#[cfg(test)]
pub(crate) fn own_source(kernel: Kernel) -> &'static str {
    kernel.source()
}

impl Kernel {
    fn source(self) -> &'static str {
        match self {
            Self::Matmul => include_str!("../../../shaders/matmul.wgsl"),
            Self::MatmulCoop => include_str!("../../../shaders/matmul_coop.wgsl"),
            Self::Matvec | Self::MatvecSwiGlu => include_str!("../../../shaders/matvec.wgsl"),
            Self::MatvecNorm => include_str!("../../../shaders/matvec_norm.wgsl"),
            Self::Embed => include_str!("../../../shaders/embed.wgsl"),
            Self::RmsNorm => include_str!("../../../shaders/rmsnorm.wgsl"),
            Self::SwiGlu => include_str!("../../../shaders/swiglu.wgsl"),
            Self::Rope => include_str!("../../../shaders/rope.wgsl"),
            Self::Attention => include_str!("../../../shaders/attention.wgsl"),
            Self::AttentionCoop => include_str!("../../../shaders/attention_coop.wgsl"),
            Self::AttentionDecode => include_str!("../../../shaders/attention_decode.wgsl"),
            Self::AttentionMerge => include_str!("../../../shaders/attention_merge.wgsl"),
            Self::AttentionRow => include_str!("../../../shaders/attention_row.wgsl"),
            Self::Argmax => include_str!("../../../shaders/argmax.wgsl"),
        }
    }

    /// Whether the kernel reads a weight matrix (and is specialised per format by `QTYPE`).
    pub(crate) fn reads_weights(self) -> bool {
        matches!(
            self,
            Self::Matmul | Self::MatmulCoop | Self::Matvec | Self::MatvecSwiGlu | Self::MatvecNorm | Self::Embed
        )
    }

    /// Whether the kernel calls the prelude's `workgroup_sum` / `workgroup_max` (and so may finish
    /// them with subgroup shuffles). The contract test holds this to the kernels' sources.
    pub(crate) fn reduces(self) -> bool {
        matches!(
            self,
            Self::Matvec
                | Self::MatvecSwiGlu
                | Self::MatvecNorm
                | Self::RmsNorm
                | Self::AttentionDecode
                | Self::AttentionMerge
        )
    }

    /// Whether the kernel implements the linear interface (`linear.wgsl`).
    pub(crate) fn is_linear(self) -> bool {
        matches!(self, Self::Matmul | Self::MatmulCoop | Self::Matvec | Self::MatvecSwiGlu)
    }

    /// The values of the kernel's WGSL `override` constants a pipeline of it is built with, for
    /// weight format `qtype`: `QTYPE` for the kernels that read weights, and `GATED` for the
    /// SwiGLU matvec (`matvec.wgsl` built a second time).
    pub(crate) fn overrides(self, qtype: u32) -> Vec<(&'static str, f64)> {
        let mut constants = Vec::new();
        if self.reads_weights() {
            constants.push(("QTYPE", qtype as f64));
        }
        if self == Self::MatvecSwiGlu {
            constants.push(("GATED", 1.0));
        }
        constants
    }
}

/// Keys per attention tile: K and V tiles together fill WebGPU's guaranteed 16 KiB of
/// workgroup memory.
pub(crate) fn key_tile(head_dim: usize) -> usize {
    (16384 / (2 * 4 * head_dim)).max(1)
}

/// The constants Rust owns and the WGSL uses by name, generated in front of the prelude: the
/// weight formats (`QTYPE_<format>`, `BLOCK_WORDS_<format>`) for every kernel, the subgroup
/// block the reductions shuffle within (`SUBGROUP_LANES`), the attention sizes for the attention
/// kernels, and the RoPE number formats and flags for `rope.wgsl`.
fn generated_constants(kernel: Kernel, head_dim: usize, subgroup_lanes: u32) -> String {
    let mut consts: Vec<(String, u32)> = vec![("SUBGROUP_LANES".into(), subgroup_lanes)];
    for (name, id, block_words) in QTYPES {
        consts.push((format!("QTYPE_{name}"), id));
        consts.push((format!("BLOCK_WORDS_{name}"), block_words));
    }
    if matches!(
        kernel,
        Kernel::Attention
            | Kernel::AttentionCoop
            | Kernel::AttentionDecode
            | Kernel::AttentionMerge
            | Kernel::AttentionRow
    ) {
        consts.push(("HEAD_DIM".into(), head_dim as u32));
        consts.push(("KEY_TILE".into(), key_tile(head_dim) as u32));
    }
    if kernel == Kernel::Rope {
        consts.push(("FORMAT_BF16".into(), RopePrecision::Bf16.kernel_code()));
        consts.push(("FORMAT_F16".into(), RopePrecision::F16.kernel_code()));
        consts.push(("SCALE_QUERIES".into(), rope::SCALE_QUERIES));
        consts.push(("WRITE_V".into(), rope::WRITE_V));
        consts.push(("WRITE_RAW_K".into(), rope::WRITE_RAW_K));
    }
    consts.iter().map(|(name, value)| format!("const {name}: u32 = {value}u;\n")).collect()
}

/// The directive a module that uses subgroup operations starts with where its WGSL goes to a
/// browser: WGSL requires `enable subgroups;` (Tint refuses the operations without it), while
/// naga 30, which compiles our WGSL natively, does not implement that directive and refuses
/// it ("not yet supported", gfx-rs/wgpu#5555); natively the device's `Features::SUBGROUP`
/// alone allows the operations.
pub(crate) const SUBGROUPS_ENABLE: &str = if cfg!(target_arch = "wasm32") { "enable subgroups;\n" } else { "" };

/// The prelude's `subgroup_xor(v, mask)`: `v` of the lane whose index is this lane's XOR `mask`
/// (WGSL's `subgroupShuffleXor`), or, in a module without subgroups, `v` itself (never called
/// there: `SUBGROUP_LANES` is 1, so the butterflies have no step).
fn subgroup_xor(shuffles: bool) -> &'static str {
    if shuffles {
        "fn subgroup_xor(v: f32, mask: u32) -> f32 {\n    return subgroupShuffleXor(v, mask);\n}\n"
    } else {
        "fn subgroup_xor(v: f32, mask: u32) -> f32 {\n    return v;\n}\n"
    }
}

/// Full WGSL text of a kernel: the kernel's `enable` directives (WGSL allows them only before
/// every declaration; [`SUBGROUPS_ENABLE`] added for a kernel that [reduces](Kernel::reduces)
/// when `subgroup_lanes` > 1), generated constants, the prelude, `weights.wgsl` and `linear.wgsl`
/// where the kernel needs them, then the rest of the kernel's own file. `subgroup_lanes` is a
/// power of two, the aligned block of threads the reductions may finish in with shuffles (1: no
/// subgroup operations; see [`GpuContext::subgroup_lanes`]).
pub(crate) fn assemble(kernel: Kernel, head_dim: usize, subgroup_lanes: u32) -> String {
    let lanes = if kernel.reduces() { subgroup_lanes.max(1) } else { 1 };
    let (enables, body): (Vec<&str>, Vec<&str>) =
        kernel.source().lines().partition(|line| line.trim_start().starts_with("enable "));
    let mut src: String = enables.iter().map(|line| format!("{line}\n")).collect();
    if lanes > 1 {
        src.push_str(SUBGROUPS_ENABLE);
    }
    src.push_str(&generated_constants(kernel, head_dim, lanes));
    src.push('\n');
    src.push_str(subgroup_xor(lanes > 1));
    src.push('\n');
    src.push_str(PRELUDE);
    if kernel.reads_weights() {
        src.push('\n');
        src.push_str(WEIGHTS);
    }
    if kernel.is_linear() {
        src.push('\n');
        src.push_str(LINEAR);
    }
    if matches!(kernel, Kernel::Attention | Kernel::AttentionCoop | Kernel::AttentionDecode) {
        src.push('\n');
        src.push_str(ATTENTION_IO);
    }
    src.push('\n');
    for line in body {
        src.push_str(line);
        src.push('\n');
    }
    src
}

/// (kernel, QTYPE, head_dim, subgroup lanes).
type PipelineKey = (Kernel, u32, usize, u32);

/// Compiled pipelines, created on first use: natively as trusted modules without wgpu's
/// runtime checks unless [`GpuContext::checked_shaders`] (browsers always check).
pub(crate) struct Pipelines {
    cache: RefCell<HashMap<PipelineKey, Rc<wgpu::ComputePipeline>>>,
    head_dim: usize,
}

impl Pipelines {
    pub fn new(head_dim: usize) -> Self {
        Self { cache: RefCell::new(HashMap::new()), head_dim }
    }

    /// The head size the attention kernels are built for.
    pub fn head_dim(&self) -> usize {
        self.head_dim
    }

    pub fn get(&self, ctx: &GpuContext, kernel: Kernel, qtype: u32) -> Rc<wgpu::ComputePipeline> {
        let lanes = if kernel.reduces() { ctx.subgroup_lanes() } else { 1 };
        let key = (kernel, qtype, self.head_dim, lanes);
        if let Some(p) = self.cache.borrow().get(&key) {
            return p.clone();
        }
        let descriptor = wgpu::ShaderModuleDescriptor {
            label: Some(&format!("{kernel:?}")),
            source: wgpu::ShaderSource::Wgsl(assemble(kernel, self.head_dim, lanes).into()),
        };
        #[cfg(not(target_arch = "wasm32"))]
        let module = if ctx.checked_shaders() {
            ctx.device.create_shader_module(descriptor)
        } else {
            // SAFETY: the module is one of our kernels (`shaders/`, assembled above; never user
            // WGSL), and every dispatch of it goes through `Ops::launch`, whose host checks make
            // each access it performs defined without wgpu's runtime checks:
            // - bounds: each launcher binds every buffer as a `Bound` holding the bytes the
            //   kernel indexes for the dispatch's parameters (derived in the launcher from the
            //   kernel's index arithmetic and documented on it), and `launch` refuses a smaller
            //   buffer; the uniform is padded to at least its struct. The one GPU-side index the
            //   host cannot see, a token id, is clamped in `embed.wgsl`. Workgroup arrays are
            //   indexed by local ids below their fixed sizes (the merge's split count is checked
            //   against `MAX_SPLITS`). `ops/contract.rs` checks that the WGSL bindings are the
            //   ones the launchers describe.
            // - division: the launchers' `require`s rule out zero divisors (KV heads, query
            //   heads per KV head, head_dim / 2, dim / 4).
            // - loops: each counts up by a positive constant to a bound taken from an indexed
            //   extent, and `launch` keeps extents below 4 GiB, so no counter wraps; the
            //   reductions' loops halve a constant power of two down to 1 (or to the subgroup
            //   lanes, a power of two the probe checked).
            // CTXSCOPE_CHECKED_SHADERS=1 brings the checks back to debug a kernel.
            unsafe { ctx.device.create_shader_module_trusted(descriptor, wgpu::ShaderRuntimeChecks::unchecked()) }
        };
        #[cfg(target_arch = "wasm32")]
        let module = ctx.device.create_shader_module(descriptor);
        let constants = kernel.overrides(qtype);
        let pipeline = ctx.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(&format!("{kernel:?}/{qtype}")),
            layout: None,
            module: &module,
            entry_point: Some("main"),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants: &constants,
                zero_initialize_workgroup_memory: false,
            },
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

/// Uniform slot stride: WebGPU's default `minUniformBufferOffsetAlignment`.
const UNIFORM_SLOT: u64 = 256;
/// Dispatches one forward pass may cache (SmolLM2's 30 layers × 10 in prefill, 8 in decode, plus
/// the embedding and the head, with room to spare).
const CACHED_DISPATCHES: u64 = 1024;

fn padded(params: &[u8]) -> Vec<u8> {
    let mut p = params.to_vec();
    p.resize(params.len().div_ceil(16).max(1) * 16, 0);
    p
}

fn bind_group(
    ctx: &GpuContext,
    pipeline: &wgpu::ComputePipeline,
    uniform: wgpu::BindingResource<'_>,
    buffers: &[&wgpu::Buffer],
) -> wgpu::BindGroup {
    let mut entries = vec![wgpu::BindGroupEntry { binding: 0, resource: uniform }];
    entries.extend(
        buffers
            .iter()
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry { binding: i as u32 + 1, resource: b.as_entire_binding() }),
    );
    ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: None,
        layout: &pipeline.get_bind_group_layout(0),
        entries: &entries,
    })
}

/// A bind group with its own small uniform buffer, for dispatches that are not cached.
pub(crate) fn one_off_bind_group(
    ctx: &GpuContext,
    pipeline: &wgpu::ComputePipeline,
    params: &[u8],
    buffers: &[&wgpu::Buffer],
) -> wgpu::BindGroup {
    let uniform = ctx.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("params"),
        contents: &padded(params),
        usage: wgpu::BufferUsages::UNIFORM,
    });
    bind_group(ctx, pipeline, uniform.as_entire_binding(), buffers)
}

struct CachedBind {
    pipeline: Rc<wgpu::ComputePipeline>,
    buffers: Vec<wgpu::Buffer>,
    params_len: usize,
    bind_group: wgpu::BindGroup,
}

/// Bind groups reused across forward passes that record the same dispatches over the same
/// buffers (every decode step): dispatch k always reads its parameters from slot k of one
/// uniform buffer, which [`BindCache::flush`] fills with one write per submission. Creating a
/// buffer and a bind group per dispatch cost ~15 ms of CPU per decode step (BENCHMARKS.md).
pub(crate) struct BindCache {
    uniform: wgpu::Buffer,
    entries: RefCell<Vec<Option<CachedBind>>>,
    /// The parameters of this forward pass's dispatches so far, slot by slot.
    params: RefCell<Vec<u8>>,
    /// Bytes of `params` already written to `uniform` (a forward pass may be submitted in parts).
    flushed: std::cell::Cell<usize>,
}

impl BindCache {
    pub fn new(ctx: &GpuContext) -> Self {
        let uniform = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("dispatch params"),
            size: UNIFORM_SLOT * CACHED_DISPATCHES,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Self {
            uniform,
            entries: RefCell::new(Vec::new()),
            params: RefCell::new(Vec::new()),
            flushed: std::cell::Cell::new(0),
        }
    }

    /// The bind group for the next dispatch, or None when the slots are used up.
    pub fn bind_group(
        &self,
        ctx: &GpuContext,
        pipeline: &Rc<wgpu::ComputePipeline>,
        params: &[u8],
        buffers: &[&wgpu::Buffer],
    ) -> Option<wgpu::BindGroup> {
        let mut staged = self.params.borrow_mut();
        let slot = staged.len() / UNIFORM_SLOT as usize;
        if slot as u64 >= CACHED_DISPATCHES || params.len() as u64 > UNIFORM_SLOT {
            return None;
        }
        let params = padded(params);
        staged.extend_from_slice(&params);
        staged.resize((slot + 1) * UNIFORM_SLOT as usize, 0);
        let mut entries = self.entries.borrow_mut();
        if entries.len() <= slot {
            entries.resize_with(slot + 1, || None);
        }
        let reusable = entries[slot].as_ref().is_some_and(|c| {
            Rc::ptr_eq(&c.pipeline, pipeline)
                && c.params_len == params.len()
                && c.buffers.len() == buffers.len()
                && c.buffers.iter().zip(buffers).all(|(a, b)| a == *b)
        });
        if !reusable {
            let uniform = wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer: &self.uniform,
                offset: slot as u64 * UNIFORM_SLOT,
                size: std::num::NonZeroU64::new(params.len() as u64),
            });
            entries[slot] = Some(CachedBind {
                pipeline: pipeline.clone(),
                buffers: buffers.iter().map(|b| (*b).clone()).collect(),
                params_len: params.len(),
                bind_group: bind_group(ctx, pipeline, uniform, buffers),
            });
        }
        entries[slot].as_ref().map(|c| c.bind_group.clone())
    }

    /// Ends the forward pass (submitted whole, or abandoned on an error): the next one starts
    /// again at slot 0.
    pub fn reset(&self) {
        self.params.borrow_mut().clear();
        self.flushed.set(0);
    }

    /// Uploads the parameters staged since the last flush; call before each submission of the
    /// forward pass. Earlier submissions' slots are not rewritten.
    pub fn flush(&self, ctx: &GpuContext) {
        let staged = self.params.borrow();
        let from = self.flushed.get();
        if staged.len() > from {
            ctx.queue.write_buffer(&self.uniform, from as u64, &staged[from..]);
            self.flushed.set(staged.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use candle_core::quantized::GgmlDType;

    use crate::gpu::ops::testutil::*;

    /// The same kernels compiled with and without wgpu's runtime checks give the same results
    /// (the other kernel tests run in whichever mode the environment selects: trusted natively
    /// unless CTXSCOPE_CHECKED_SHADERS is set).
    #[test]
    fn checked_and_trusted_modules_agree() {
        let results: Vec<Vec<f32>> = [true, false]
            .into_iter()
            .map(|checked| {
                let mut gpu = TestGpu::new();
                gpu.ctx.set_checked_shaders(checked);
                assert_eq!(gpu.ctx.checked_shaders(), checked);
                let (w, _) = gpu.weight(GgmlDType::Q4_0, 70, 96, 1);
                let x = gpu.buffer(&random(5 * 96, 2, 1.0));
                let (y, h) = (gpu.zeros(5 * 70), gpu.zeros(5 * 70));
                let norm = gpu.buffer(&random(70, 3, 1.0));
                gpu.run(|ops, enc| {
                    ops.matmul(enc, &x, &w, &y, 5, None)?;
                    ops.rms_norm(enc, &y, &norm, &h, 5, 70, 1e-5)
                });
                gpu.read(&h)
            })
            .collect();
        assert_close(&results[1], &results[0], 0.0, "trusted vs checked");
    }

    /// The reductions finished with subgroup shuffles give the workgroup-memory tree's results
    /// bit for bit (the shuffle butterfly adds the same pairs: `prelude.wgsl`): the matvec (a
    /// 32-wide reduction), the fused RMSNorm matvec (256 wide, then 32) and RMSNorm (256), over
    /// every weight format, widths that are and are not multiples of the 128 elements a row's
    /// 32 threads take per step, and values spanning six orders of magnitude (so that a
    /// different order of the sums shows in the last bits). Where the device has no subgroups
    /// it says so and passes. The attention kernels' reductions: `attention.rs`.
    #[test]
    fn subgroup_reductions_match_the_workgroup_tree_bit_for_bit() {
        let mut gpu = TestGpu::new();
        if !gpu.has_subgroups("subgroup_reductions_match_the_workgroup_tree_bit_for_bit") {
            return;
        }
        let lanes = gpu.ctx.subgroup_lanes();
        let mut runs: Vec<Vec<Vec<f32>>> = Vec::new();
        for on in [false, true] {
            gpu.ctx.set_subgroup_reductions(on);
            assert_eq!(gpu.ctx.subgroup_lanes(), if on { lanes } else { 1 });
            let mut outputs = Vec::new();
            for (case, (dtype, rows, cols)) in [
                (GgmlDType::Q4_0, 70, 96),
                (GgmlDType::Q4_1, 33, 576),
                (GgmlDType::Q8_0, 9, 1536),
                (GgmlDType::F16, 17, 160),
                (GgmlDType::F32, 5, 32),
            ]
            .into_iter()
            .enumerate()
            {
                let seed = case as u64 * 7;
                let (w, _) = gpu.weight(dtype, rows, cols, seed + 1);
                let x: Vec<f32> = random(cols, seed + 2, 1.0)
                    .iter()
                    .enumerate()
                    .map(|(i, v)| v * 10f32.powi((i % 7) as i32 - 3))
                    .collect();
                let x = gpu.buffer(&x);
                let gamma = gpu.buffer(&random(cols, seed + 3, 2.0));
                let (y, fused, normed) = (gpu.zeros(rows), gpu.zeros(rows), gpu.zeros(cols));
                gpu.run(|ops, enc| {
                    ops.matmul(enc, &x, &w, &y, 1, None)?;
                    ops.matvec_norm(enc, &x, &gamma, &w, &fused, 1e-5)?;
                    ops.rms_norm(enc, &x, &gamma, &normed, 1, cols, 1e-5)
                });
                outputs.extend([gpu.read(&y), gpu.read(&fused), gpu.read(&normed)]);
            }
            runs.push(outputs);
        }
        for (k, (tree, shuffled)) in runs[0].iter().zip(&runs[1]).enumerate() {
            let what = ["matvec", "matvec_norm", "rms_norm"][k % 3];
            assert!(tree.iter().any(|v| *v != 0.0), "case {}: {what} wrote nothing", k / 3);
            let same = tree.iter().zip(shuffled).all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "case {}: {what}: {lanes} subgroup lanes {shuffled:?} vs the tree {tree:?}", k / 3);
        }
    }
}
