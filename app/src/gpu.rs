//! WebGPU detection through wgpu: the adapter's name and the limits the engine will depend on.

/// What the browser offers for compute.
#[derive(Clone, Debug, PartialEq)]
pub enum GpuStatus {
    Detecting,
    Available(AdapterSummary),
    /// No WebGPU (or no adapter): the app runs the CPU path.
    Unavailable(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct AdapterSummary {
    pub name: String,
    pub backend: String,
    pub max_storage_buffer_binding_size: u64,
    pub max_buffer_size: u64,
    pub max_compute_workgroup_storage_size: u32,
    pub max_compute_invocations_per_workgroup: u32,
    pub max_storage_buffers_per_shader_stage: u32,
    pub shader_f16: bool,
}

pub async fn detect() -> GpuStatus {
    if !wgpu::util::is_browser_webgpu_supported().await {
        return GpuStatus::Unavailable("this browser does not expose WebGPU (navigator.gpu)".into());
    }
    let mut descriptor = wgpu::InstanceDescriptor::new_without_display_handle();
    descriptor.backends = wgpu::Backends::BROWSER_WEBGPU;
    let instance = wgpu::Instance::new(descriptor);
    let options = wgpu::RequestAdapterOptions {
        power_preference: wgpu::PowerPreference::HighPerformance,
        ..Default::default()
    };
    let adapter = match instance.request_adapter(&options).await {
        Ok(a) => a,
        Err(e) => return GpuStatus::Unavailable(format!("WebGPU is present but gave no adapter: {e}")),
    };
    let info = adapter.get_info();
    let limits = adapter.limits();
    // wgpu fills `name` from GPUAdapterInfo.description, which browsers may leave empty.
    let kind = if info.device_type == wgpu::DeviceType::Cpu { "software (fallback) adapter" } else { "hardware adapter" };
    let name = if info.name.is_empty() { format!("unnamed {kind}") } else { format!("{} — {kind}", info.name) };
    GpuStatus::Available(AdapterSummary {
        name,
        backend: format!("{:?}", info.backend),
        max_storage_buffer_binding_size: limits.max_storage_buffer_binding_size as u64,
        max_buffer_size: limits.max_buffer_size,
        max_compute_workgroup_storage_size: limits.max_compute_workgroup_storage_size,
        max_compute_invocations_per_workgroup: limits.max_compute_invocations_per_workgroup,
        max_storage_buffers_per_shader_stage: limits.max_storage_buffers_per_shader_stage,
        shader_f16: adapter.features().contains(wgpu::Features::SHADER_F16),
    })
}
