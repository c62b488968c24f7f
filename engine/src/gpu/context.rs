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

/// The instance's hardware adapters (software renderers and CPUs excluded), in the driver's
/// enumeration order: the order [`ADAPTER_ENV`] indexes.
#[cfg(not(target_arch = "wasm32"))]
async fn hardware(instance: &wgpu::Instance, backends: wgpu::Backends) -> Vec<wgpu::Adapter> {
    instance
        .enumerate_adapters(backends)
        .await
        .into_iter()
        .filter(|a| !matches!(a.get_info().device_type, wgpu::DeviceType::Cpu | wgpu::DeviceType::Other))
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
        let ladder = [adapter.limits(), wgpu::Limits::default(), wgpu::Limits::downlevel_defaults()];
        let mut last_error = String::new();
        for limits in ladder {
            // Timestamp queries only feed the optional kernel profiler; take them when offered.
            let required_features = adapter.features() & wgpu::Features::TIMESTAMP_QUERY;
            let request = adapter.request_device(&wgpu::DeviceDescriptor {
                label: Some("ctxscope"),
                required_features,
                required_limits: limits.clone(),
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
                    return Ok(Self { device, queue, adapter_info, limits, faults, checked_shaders, placeholder });
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

    /// Largest buffer a single binding may cover.
    pub fn max_binding(&self) -> u64 {
        self.limits.max_storage_buffer_binding_size.min(self.limits.max_buffer_size)
    }
}
