//! The wgpu device: adapter selection, limits (the adapter's real ones, with a fallback ladder),
//! and error/device-loss capture so that validation problems become `Error`s, not panics.

use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};

/// What went wrong on the device since the last check (first error wins).
#[derive(Default)]
struct Faults {
    lost: Option<String>,
    error: Option<String>,
}

pub struct GpuContext {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub adapter_info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    faults: Arc<Mutex<Faults>>,
    /// Whether kernels are compiled with wgpu's runtime checks (see [`Self::checked_shaders`]).
    checked_shaders: bool,
    /// A 16-byte storage buffer bound where a kernel's writable binding is unused this dispatch
    /// (WebGPU forbids binding a buffer another binding of the dispatch uses as writable).
    pub(crate) placeholder: wgpu::Buffer,
    /// Whether the device can run `matmul_coop.wgsl` (see [`coop_matmul_supported`]).
    coop_supported: bool,
    /// The adapter's cooperative-matrix configurations, for reports.
    coop_configs: Vec<wgpu::CooperativeMatrixProperties>,
    /// Which kernels may trade exactness for speed (see [`Self::coop_matmul`]).
    precision_kernels: PrecisionKernels,
    /// The aligned block of threads the device's subgroups shuffle within, as measured by
    /// [`probe_subgroups`] (1: no subgroups on this device).
    subgroup_lanes_measured: u32,
    /// Whether the reductions use them (see [`Self::subgroup_lanes`]).
    subgroup_reductions: bool,
}

/// Environment variable choosing the prefill kernels: `f32` (the default) always runs the exact
/// f32 kernels, `fast` uses the cooperative-matrix prefill matmul and attention where the device
/// has them. See [`PrecisionKernels`].
pub const PRECISION_KERNELS_ENV: &str = "CTXSCOPE_PRECISION_KERNELS";

/// Which prefill matmul and attention run where the device has tensor cores.
///
/// The default is exact: a playground result must not depend on which GPU ran it (a share link
/// replayed in a browser, which has no cooperative matrices, must give the same cells). On an
/// H200 the fast kernels moved the teacher-forced log-probabilities of a 634-token continuation
/// after an 11,902-token prompt by 0.0038 nats a token on average (at most 0.021) against the
/// f32 kernels, for 2.1–2.9× the prefill throughput at 1k–32k tokens (BENCHMARKS.md): worth it
/// for large sweeps whose results are compared among themselves, not against the reference.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PrecisionKernels {
    /// The f32 tiled matmul everywhere: every product and sum in f32, as the CPU reference.
    #[default]
    F32,
    /// The cooperative-matrix matmul (`matmul_coop.wgsl`) and prefill attention
    /// (`attention_coop.wgsl`) where the device supports them: inputs (and attention's
    /// probabilities) rounded to f16 (relative error ≤ 2⁻¹¹ each), sums and the softmax in f32;
    /// the f32 kernels elsewhere. An attention row captured in a prefill chunk
    /// (`Session::capture_attention_row`) takes its f32 scores over the log-sum-exp of the
    /// f16-rounded ones, so under this choice it sums to 1 only up to that rounding.
    Fast,
}

impl PrecisionKernels {
    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::Fast => "fast",
        }
    }
}

impl std::str::FromStr for PrecisionKernels {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.trim() {
            "f32" => Ok(Self::F32),
            "fast" => Ok(Self::Fast),
            other => Err(format!("unknown precision kernels '{other}' (f32 or fast)")),
        }
    }
}

/// [`PRECISION_KERNELS_ENV`], or the default (`f32`) when unset or empty.
fn precision_kernels_from_env() -> Result<PrecisionKernels> {
    match std::env::var(PRECISION_KERNELS_ENV) {
        Ok(v) if !v.trim().is_empty() => {
            v.parse().map_err(|e: String| Error::InvalidInput(format!("{PRECISION_KERNELS_ENV}={v}: {e}")))
        }
        _ => Ok(PrecisionKernels::default()),
    }
}

/// The device features the cooperative-matrix kernels need: f16 arithmetic for their workgroup
/// tiles, cooperative matrices (`VK_KHR_cooperative_matrix` on Vulkan; wgpu marks them
/// experimental), subgroup operations (`attention_coop.wgsl`'s lane-pair shuffles) and subgroup
/// barriers (its subgroups order their own rows of workgroup memory without stopping the others).
const COOP_FEATURES: wgpu::Features = wgpu::Features::SHADER_F16
    .union(wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX)
    .union(wgpu::Features::SUBGROUP)
    .union(wgpu::Features::SUBGROUP_BARRIER);

/// Subgroup size the cooperative-matrix kernels are written for: they take invocations
/// 32s..32s+31 as subgroup s, so the adapter's subgroups must be exactly 32 wide (NVIDIA's warps; CUDA C++
/// Programming Guide, "SIMT Architecture": a warp is 32 threads of consecutive thread ids).
const COOP_SUBGROUP: u32 = 32;

/// Whether `adapter` has what the cooperative-matrix kernels need from its features: all of
/// [`COOP_FEATURES`], a 16×16×16
/// configuration with f16 A and B and an f32 accumulator among its cooperative-matrix
/// properties (`vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR`, subgroup scope), and
/// subgroups of exactly [`COOP_SUBGROUP`]. An f16 accumulator is not accepted: a sum of
/// hundreds or thousands of products rounded to 11 bits at every step loses what an f32 sum
/// keeps. Never in the browser (the feature is native only). In practice this is NVIDIA's
/// GPUs: AMD's report subgroups of 32 to 64 and Intel's of 8 to 32, so the exact width excludes
/// them — which `attention_coop.wgsl`'s subgroup barriers rely on (their ordering of workgroup
/// memory is NVIDIA's warp barrier's, not a SPIR-V promise; see the comment there).
fn coop_matmul_supported(adapter: &wgpu::Adapter) -> bool {
    let info = adapter.get_info();
    adapter.features().contains(COOP_FEATURES)
        && info.subgroup_min_size == COOP_SUBGROUP
        && info.subgroup_max_size == COOP_SUBGROUP
        && adapter.cooperative_matrix_properties().iter().any(|p| {
            (p.m_size, p.n_size, p.k_size) == (16, 16, 16)
                && p.ab_type == wgpu::CooperativeScalarType::F16
                && p.cr_type == wgpu::CooperativeScalarType::F32
        })
}

/// Set to `0`, the reductions keep to workgroup memory even where the device has subgroups (for
/// measuring what the shuffles bring, or to rule them out); see [`GpuContext::subgroup_lanes`].
pub const SUBGROUPS_ENV: &str = "CTXSCOPE_SUBGROUPS";

const SUBGROUP_PROBE: &str = include_str!("../../../shaders/subgroup_probe.wgsl");

/// The subgroup lanes the prelude's reductions may shuffle within on `ctx`'s device, measured
/// with `shaders/subgroup_probe.wgsl`: the smallest subgroup size any thread of a 256-thread
/// workgroup saw (and at most the adapter's reported minimum, since a driver may compile another
/// pipeline with smaller subgroups), provided it is a power of two from 2 to 256 and every
/// shuffle below it brought thread t the value of thread t XOR mask (thread t is lane
/// t % size). 1 when the device has no subgroups, the probe fails or the layout is another:
/// the reductions then stay in workgroup memory, with the same results.
async fn probe_subgroups(ctx: &GpuContext) -> u32 {
    const THREADS: u64 = 256;
    const MASKS: u64 = 8;
    // Validation (a browser that refuses the module) and internal errors (a back end that fails
    // to compile it) are the probe's to catch, not the context's: scopes nest, popped in reverse.
    let internal = ctx.device.push_error_scope(wgpu::ErrorFilter::Internal);
    let scope = ctx.device.push_error_scope(wgpu::ErrorFilter::Validation);
    let module = ctx.device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some("subgroup probe"),
        source: wgpu::ShaderSource::Wgsl(format!("{}{SUBGROUP_PROBE}", super::kernels::SUBGROUPS_ENABLE).into()),
    });
    let pipeline = ctx.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some("subgroup probe"),
        layout: None,
        module: &module,
        entry_point: Some("main"),
        compilation_options: Default::default(),
        cache: None,
    });
    let bytes = THREADS * (MASKS + 1) * 4;
    let seen = ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("subgroup probe"),
        size: bytes,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    let staging = super::buffers::readback(ctx, "subgroup probe", bytes);
    let bind = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: None,
        layout: &pipeline.get_bind_group_layout(0),
        entries: &[wgpu::BindGroupEntry { binding: 0, resource: seen.as_entire_binding() }],
    });
    let mut encoder = ctx.device.create_command_encoder(&Default::default());
    {
        let mut pass = encoder.begin_compute_pass(&Default::default());
        pass.set_pipeline(&pipeline);
        pass.set_bind_group(0, &bind, &[]);
        pass.dispatch_workgroups(1, 1, 1);
    }
    encoder.copy_buffer_to_buffer(&seen, 0, &staging, 0, bytes);
    let submission = ctx.queue.submit([encoder.finish()]);
    let mapping = super::buffers::map_read(&staging);
    let refused = scope.pop();
    let failed = internal.pop();
    if refused.await.is_some()
        || failed.await.is_some()
        || super::buffers::mapped(ctx, mapping, Some(submission)).await.is_err()
    {
        return 1;
    }
    let words: Vec<u32> = match staging.slice(..).get_mapped_range() {
        Ok(view) => bytemuck::pod_collect_to_vec(&view),
        Err(_) => return 1,
    };
    staging.unmap();
    let threads = THREADS as usize;
    let smallest = words[..threads].iter().copied().min().unwrap_or(0);
    let reported = ctx.adapter_info.subgroup_min_size;
    let lanes = if reported > 0 { smallest.min(reported) } else { smallest };
    if !lanes.is_power_of_two() || !(2..=256).contains(&lanes) {
        return 1;
    }
    let laid_out = (0..lanes.trailing_zeros() as usize)
        .all(|k| (0..threads).all(|t| words[threads * (k + 1) + t] == (t as u32 ^ (1 << k))));
    if laid_out {
        lanes
    } else {
        1
    }
}

/// [`SUBGROUPS_ENV`]: false when set to `0`.
fn subgroups_from_env() -> bool {
    !matches!(std::env::var(SUBGROUPS_ENV).as_deref().map(str::trim), Ok("0"))
}

/// Set to anything but `0` or empty, compiles every kernel with wgpu's runtime checks natively
/// (for debugging a kernel that may index out of bounds); see [`GpuContext::checked_shaders`].
pub const CHECKED_SHADERS_ENV: &str = "CTXSCOPE_CHECKED_SHADERS";

/// Environment variable choosing the GPU by its index among the hardware adapters (natively
/// only): one sweep shard per GPU on a multi-GPU host (docs/sharding.md). Unset, the
/// high-performance adapter.
pub const ADAPTER_ENV: &str = "CTXSCOPE_GPU_ADAPTER";

/// The adapter `CTXSCOPE_GPU_ADAPTER` names, if set: its index among the instance's hardware
/// adapters (software renderers and CPUs excluded), in the driver's enumeration order.
#[cfg(not(target_arch = "wasm32"))]
async fn adapter_from_env(instance: &wgpu::Instance, backends: wgpu::Backends) -> Result<Option<wgpu::Adapter>> {
    let Ok(value) = std::env::var(ADAPTER_ENV) else { return Ok(None) };
    let index: usize =
        value.trim().parse().map_err(|_| Error::NoGpu(format!("{ADAPTER_ENV}={value} is not an adapter index")))?;
    let mut hardware = hardware(instance, backends).await;
    let count = hardware.len();
    if index >= count {
        return Err(Error::NoGpu(format!("{ADAPTER_ENV}={index}, but there are {count} hardware GPU adapter(s)")));
    }
    Ok(Some(hardware.swap_remove(index)))
}

/// Set to `1`, software adapters (lavapipe, SwiftShader) count as GPUs for [`ADAPTER_ENV`] and
/// `sweep --devices`: what lets the tests run the multi-GPU paths on a machine without a GPU.
#[cfg(not(target_arch = "wasm32"))]
pub const SOFTWARE_ADAPTERS_ENV: &str = "CTXSCOPE_SOFTWARE_ADAPTERS";

/// The instance's hardware adapters (software renderers and CPUs excluded, unless
/// [`SOFTWARE_ADAPTERS_ENV`] is `1`), in the driver's enumeration order: the order
/// [`ADAPTER_ENV`] indexes.
#[cfg(not(target_arch = "wasm32"))]
async fn hardware(instance: &wgpu::Instance, backends: wgpu::Backends) -> Vec<wgpu::Adapter> {
    let software = std::env::var(SOFTWARE_ADAPTERS_ENV).is_ok_and(|v| v == "1");
    instance
        .enumerate_adapters(backends)
        .await
        .into_iter()
        .filter(|a| software || !matches!(a.get_info().device_type, wgpu::DeviceType::Cpu | wgpu::DeviceType::Other))
        .collect()
}

/// The hardware GPU adapters a native run can pick with [`ADAPTER_ENV`], in index order (what
/// `ctxscope sweep --devices all` runs one shard on each of).
#[cfg(not(target_arch = "wasm32"))]
pub fn hardware_adapters() -> Vec<wgpu::AdapterInfo> {
    quiet_headless_vulkan();
    let (instance, backends) = native_instance();
    pollster::block_on(hardware(&instance, backends)).iter().map(|a| a.get_info()).collect()
}

/// A native instance on the primary backends (or those `WGPU_BACKEND` names).
#[cfg(not(target_arch = "wasm32"))]
fn native_instance() -> (wgpu::Instance, wgpu::Backends) {
    let mut descriptor = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    if descriptor.backends.is_empty() || descriptor.backends == wgpu::Backends::all() {
        descriptor.backends = wgpu::Backends::PRIMARY;
    }
    let backends = descriptor.backends;
    (wgpu::Instance::new(descriptor), backends)
}

fn checked_shaders_from_env() -> bool {
    if cfg!(target_arch = "wasm32") {
        return true;
    }
    std::env::var(CHECKED_SHADERS_ENV).is_ok_and(|v| !v.is_empty() && v != "0")
}

impl std::fmt::Debug for GpuContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuContext").field("adapter", &self.adapter_info.name).finish_non_exhaustive()
    }
}

/// Mesa's implicit Vulkan layer `VK_LAYER_MESA_device_select` picks a default GPU by connecting
/// to the Wayland and X11 servers when an instance enables their surface extensions (wgpu always
/// enables them). On a headless machine its Wayland probe makes libwayland print "error:
/// XDG_RUNTIME_DIR is invalid or not set in the environment." on stderr for every instance —
/// noise from a run that succeeds. A compute engine chooses its adapter itself (by power
/// preference), so without any display server the layer has nothing to do: switch it off through
/// its documented `NODEVICE_SELECT=1`, unless the user configured it (`MESA_VK_DEVICE_SELECT`).
fn quiet_headless_vulkan() {
    #[cfg(all(unix, not(target_os = "macos"), not(target_arch = "wasm32")))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            let set = |k: &str| std::env::var_os(k).is_some();
            if !set("WAYLAND_DISPLAY") && !set("DISPLAY") && !set("NODEVICE_SELECT") && !set("MESA_VK_DEVICE_SELECT") {
                // Runs before this process creates its first Vulkan instance (the only reader
                // of the variable), under a Once that every instance creation goes through.
                std::env::set_var("NODEVICE_SELECT", "1");
            }
        });
    }
}

impl GpuContext {
    /// Picks the high-performance adapter and requests a device with its full limits, falling
    /// back to WebGPU's defaults and then to downlevel limits if the driver refuses.
    pub async fn new() -> Result<Self> {
        quiet_headless_vulkan();
        #[cfg(not(target_arch = "wasm32"))]
        let (instance, chosen) = {
            let (instance, backends) = native_instance();
            let chosen = adapter_from_env(&instance, backends).await?;
            (instance, chosen)
        };
        #[cfg(target_arch = "wasm32")]
        let mut subgroup_request = super::web_subgroups::SubgroupRequest::install();
        #[cfg(target_arch = "wasm32")]
        let (instance, chosen): (_, Option<wgpu::Adapter>) = {
            let mut descriptor = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
            descriptor.backends = wgpu::Backends::BROWSER_WEBGPU;
            (wgpu::Instance::new(descriptor), None)
        };
        let adapter = match chosen {
            Some(adapter) => adapter,
            None => instance
                .request_adapter(&wgpu::RequestAdapterOptions {
                    power_preference: wgpu::PowerPreference::HighPerformance,
                    ..Default::default()
                })
                .await
                .map_err(|e| Error::NoGpu(format!("no GPU adapter found ({e})")))?,
        };
        let adapter_info = adapter.get_info();
        let coop_supported = !cfg!(target_arch = "wasm32") && coop_matmul_supported(&adapter);
        let coop_configs = adapter.cooperative_matrix_properties();
        let precision_kernels = precision_kernels_from_env()?;
        let ladder = [adapter.limits(), wgpu::Limits::default(), wgpu::Limits::downlevel_defaults()];
        let mut last_error = String::new();
        // Each rung with the cooperative-matrix features first (where the adapter has them),
        // then without: a driver that refuses the experimental features still gives a device,
        // one that runs the f32 kernels.
        let attempts = ladder.into_iter().flat_map(|limits| {
            [true, false].into_iter().filter(|&coop| coop_supported || !coop).map(move |coop| (limits.clone(), coop))
        });
        for (limits, coop_supported) in attempts {
            // Timestamp queries only feed the optional kernel profiler; take them when offered.
            // The cooperative-matrix features only change the kernels that use them: naga
            // declares the Vulkan memory model only in a module with cooperative matrices.
            // Subgroups finish the reductions where the device has them (`probe_subgroups`).
            let mut required_features =
                adapter.features() & (wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::SUBGROUP);
            if coop_supported {
                required_features |= COOP_FEATURES;
            }
            let request = adapter.request_device(&wgpu::DeviceDescriptor {
                label: Some("ctxscope"),
                required_features,
                required_limits: limits.clone(),
                // SAFETY: the one experimental feature requested is cooperative matrices, used
                // by `matmul_coop.wgsl` alone (uniform control flow, in-range workgroup
                // pointers aligned as VK_KHR_cooperative_matrix requires); its results are
                // checked against the f32 kernel by `matmul_coop_matches_f32_tiled`.
                experimental_features: if coop_supported {
                    unsafe { wgpu::ExperimentalFeatures::enabled() }
                } else {
                    wgpu::ExperimentalFeatures::disabled()
                },
                ..Default::default()
            });
            match request.await {
                Ok((device, queue)) => {
                    let faults = Arc::new(Mutex::new(Faults::default()));
                    let on_lost = faults.clone();
                    device.set_device_lost_callback(move |reason, message| {
                        if let Ok(mut f) = on_lost.lock() {
                            f.lost.get_or_insert(format!("{reason:?}: {message}"));
                        }
                    });
                    let on_error = faults.clone();
                    device.on_uncaptured_error(Arc::new(move |error: wgpu::Error| {
                        if let Ok(mut f) = on_error.lock() {
                            f.error.get_or_insert(error.to_string());
                        }
                    }));
                    let checked_shaders = checked_shaders_from_env();
                    let placeholder = device.create_buffer(&wgpu::BufferDescriptor {
                        label: Some("unused binding"),
                        size: 16,
                        usage: wgpu::BufferUsages::STORAGE,
                        mapped_at_creation: false,
                    });
                    #[cfg(not(target_arch = "wasm32"))]
                    let has_subgroups = device.features().contains(wgpu::Features::SUBGROUP);
                    #[cfg(target_arch = "wasm32")]
                    let has_subgroups = subgroup_request.take().is_some_and(|r| r.finish());
                    let mut ctx = Self {
                        device,
                        queue,
                        adapter_info,
                        limits,
                        faults,
                        checked_shaders,
                        coop_supported,
                        coop_configs,
                        precision_kernels,
                        placeholder,
                        subgroup_lanes_measured: 1,
                        subgroup_reductions: subgroups_from_env(),
                    };
                    if has_subgroups {
                        ctx.subgroup_lanes_measured = probe_subgroups(&ctx).await;
                    }
                    return Ok(ctx);
                }
                Err(e) => last_error = e.to_string(),
            }
        }
        Err(Error::NoGpu(format!("adapter '{}' refused every device request: {last_error}", adapter_info.name)))
    }

    /// Blocking constructor for native callers.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn new_blocking() -> Result<Self> {
        pollster::block_on(Self::new())
    }

    /// Fails if the device was lost or reported an error since the last check.
    pub fn check(&self) -> Result<()> {
        let mut f = self.faults.lock().map_err(|_| Error::Gpu("fault state poisoned".into()))?;
        if let Some(lost) = &f.lost {
            return Err(Error::DeviceLost(lost.clone()));
        }
        if let Some(error) = f.error.take() {
            return Err(Error::Gpu(error));
        }
        Ok(())
    }

    /// Whether the adapter is a software renderer (SwiftShader, lavapipe, WARP).
    pub fn is_software(&self) -> bool {
        self.adapter_info.device_type == wgpu::DeviceType::Cpu
    }

    /// The adapter's name for people (browsers may leave it empty).
    pub fn adapter_label(&self) -> String {
        let kind = if self.is_software() { "software adapter" } else { "GPU" };
        if self.adapter_info.name.is_empty() {
            format!("unnamed {kind} ({:?})", self.adapter_info.backend)
        } else {
            format!("{} ({kind}, {:?})", self.adapter_info.name, self.adapter_info.backend)
        }
    }

    /// Whether kernels are compiled with wgpu's runtime checks (bounds clamps, loop bounding,
    /// division guards). Always in the browser, where WebGPU checks anyway. Natively the default
    /// is unchecked ("trusted") modules, which are 19–31 % faster on prefill (H200, BENCHMARKS.md): every launcher
    /// proves its indices in bounds on the host instead (`gpu::ops`, the SAFETY comment in
    /// `kernels::Pipelines::get`). [`CHECKED_SHADERS_ENV`] or [`Self::set_checked_shaders`]
    /// turn the checks back on.
    pub fn checked_shaders(&self) -> bool {
        self.checked_shaders
    }

    /// Chooses checked (`true`) or trusted kernels for pipelines built from now on (set it
    /// before loading a model; in the browser kernels are always checked).
    pub fn set_checked_shaders(&mut self, checked: bool) {
        self.checked_shaders = checked || cfg!(target_arch = "wasm32");
    }

    /// The aligned block of threads (a power of two) the prelude's reductions finish in with
    /// subgroup shuffles instead of workgroup memory and barriers: the device's measured subgroup
    /// lanes ([`probe_subgroups`]; 32 on NVIDIA, 4 on SwiftShader) while subgroup reductions are
    /// on (the default; [`SUBGROUPS_ENV`], [`Self::set_subgroup_reductions`]), else 1. The
    /// results are the same bit for bit either way (`shaders/prelude.wgsl` says why).
    pub fn subgroup_lanes(&self) -> u32 {
        if self.subgroup_reductions {
            self.subgroup_lanes_measured
        } else {
            1
        }
    }

    /// Turns the subgroup reductions on or off for pipelines built from now on (on has an
    /// effect only where the device has subgroups; see [`Self::subgroup_lanes`]).
    pub fn set_subgroup_reductions(&mut self, on: bool) {
        self.subgroup_reductions = on;
    }

    /// How the kernels reduce across a workgroup, for reports: `subgroup shuffles (N lanes)` or
    /// `workgroup memory`.
    pub fn reductions_label(&self) -> String {
        match self.subgroup_lanes() {
            1 => "workgroup memory".into(),
            lanes => format!("subgroup shuffles ({lanes} lanes)"),
        }
    }

    /// Whether the device can run the cooperative-matrix kernels (whatever the precision
    /// choice): the adapter's features and cooperative-matrix configuration, and a
    /// workgroup-memory limit that holds both kernels' tiles.
    pub fn coop_matmul_supported(&self) -> bool {
        use crate::gpu::kernels::{ATTENTION_COOP_WORKGROUP_BYTES, MATMUL_COOP_WORKGROUP_BYTES};
        let needed = MATMUL_COOP_WORKGROUP_BYTES.max(ATTENTION_COOP_WORKGROUP_BYTES);
        self.coop_supported && self.limits.max_compute_workgroup_storage_size >= needed
    }

    /// The adapter's cooperative-matrix configurations as `MxNxK AB->CR` (e.g.
    /// `16x16x16 F16->F32`); empty without the feature.
    pub fn cooperative_matrix_configs(&self) -> Vec<String> {
        self.coop_configs
            .iter()
            .map(|p| format!("{}x{}x{} {:?}->{:?}", p.m_size, p.n_size, p.k_size, p.ab_type, p.cr_type))
            .collect()
    }

    /// The precision choice ([`PRECISION_KERNELS_ENV`] or [`Self::set_precision_kernels`]).
    pub fn precision_kernels(&self) -> PrecisionKernels {
        self.precision_kernels
    }

    /// Chooses the matmul kernels for launches from now on (pipelines of both are cached).
    pub fn set_precision_kernels(&mut self, choice: PrecisionKernels) {
        self.precision_kernels = choice;
    }

    /// Whether prefill matmuls (n > 1) run `matmul_coop.wgsl`: the device supports the
    /// cooperative-matrix kernels ([`Self::coop_matmul_supported`]) and
    /// [`PrecisionKernels::Fast`] is chosen.
    pub fn coop_matmul(&self) -> bool {
        self.coop_matmul_supported() && self.precision_kernels == PrecisionKernels::Fast
    }

    /// Whether prefill attention (more than `DECODE_MAX_QUERIES` queries) runs
    /// `attention_coop.wgsl`: the same condition as [`Self::coop_matmul`].
    pub fn coop_attention(&self) -> bool {
        self.coop_matmul()
    }

    /// The prefill attention kernel in use, for reports: `coop_f16` or `f32`.
    pub fn attention_kernel_name(&self) -> &'static str {
        if self.coop_attention() {
            "coop_f16"
        } else {
            "f32"
        }
    }

    /// The prefill matmul kernel in use, for reports: `coop_f16` (f16 inputs, f32 sums on the
    /// tensor cores) or `f32`.
    pub fn matmul_kernel_name(&self) -> &'static str {
        if self.coop_matmul() {
            "coop_f16"
        } else {
            "f32"
        }
    }

    /// Largest buffer a single binding may cover.
    pub fn max_binding(&self) -> u64 {
        self.limits.max_storage_buffer_binding_size.min(self.limits.max_buffer_size)
    }
}
