//! Getting GGUF bytes into the worker — from a URL (streamed with byte progress, cached with the
//! Cache API so a reload does not download again) or from a `File` the page handed over — and
//! what WebGPU offers here.

use js_sys::{Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Cache, ReadableStreamDefaultReader, Response, WorkerGlobalScope};

use crate::protocol::GpuInfo;

/// The Cache API bucket holding downloaded models; bump it to invalidate old entries.
pub const MODEL_CACHE: &str = "ctxscope-models-v1";

fn scope() -> WorkerGlobalScope {
    js_sys::global().unchecked_into()
}

fn js_err(context: &str, e: JsValue) -> String {
    let detail = e
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| format!("{e:?}"));
    format!("{context}: {detail}")
}

async fn open_cache() -> Option<Cache> {
    // The Cache API exists only in secure contexts (https or localhost); without it we still load.
    let caches = scope().caches().ok()?;
    JsFuture::from(caches.open(MODEL_CACHE)).await.ok()?.dyn_into::<Cache>().ok()
}

/// The cached copy of `url`, if any.
pub async fn cached(url: &str) -> Option<Vec<u8>> {
    let cache = open_cache().await?;
    let response = JsFuture::from(cache.match_with_str(url)).await.ok()?.dyn_into::<Response>().ok()?;
    let buffer = JsFuture::from(response.array_buffer().ok()?).await.ok()?;
    Some(Uint8Array::new(&buffer).to_vec())
}

/// Stores `bytes` as the cached copy of `url`. A failure (quota) only costs a re-download.
pub async fn store(url: &str, bytes: &[u8]) -> Result<(), String> {
    let cache = open_cache().await.ok_or("the Cache API is not available here")?;
    let array = Uint8Array::from(bytes);
    // The page lists cached models with their sizes from this header (components/cache_panel.rs).
    let headers = web_sys::Headers::new().map_err(|e| js_err("building the cache entry", e))?;
    headers.set("x-ctxscope-bytes", &bytes.len().to_string()).map_err(|e| js_err("building the cache entry", e))?;
    let init = web_sys::ResponseInit::new();
    init.set_headers(&headers);
    let response = Response::new_with_opt_buffer_source_and_init(Some(&array), &init)
        .map_err(|e| js_err("building the cache entry", e))?;
    JsFuture::from(cache.put_with_str(url, &response)).await.map_err(|e| js_err("caching the model", e))?;
    Ok(())
}

/// Downloads `url`, calling `progress(loaded, total)` as chunks arrive.
pub async fn download(url: &str, mut progress: impl FnMut(u64, Option<u64>)) -> Result<Vec<u8>, String> {
    let response = JsFuture::from(scope().fetch_with_str(url))
        .await
        .map_err(|e| js_err(&format!("fetching {url}"), e))?
        .dyn_into::<Response>()
        .map_err(|e| js_err("fetch returned something other than a Response", e))?;
    if !response.ok() {
        return Err(format!("fetching {url}: HTTP {} {}", response.status(), response.status_text()));
    }
    let total = response.headers().get("content-length").ok().flatten().and_then(|v| v.parse::<u64>().ok());
    let body = response.body().ok_or_else(|| format!("fetching {url}: the response has no body"))?;
    let reader = body
        .get_reader()
        .dyn_into::<ReadableStreamDefaultReader>()
        .map_err(|e| js_err("reading the response", e.into()))?;
    // The declared length is only a hint: never reserve more than wasm32 can hold.
    let mut bytes = Vec::with_capacity(total.unwrap_or(0).min(1 << 31) as usize);
    progress(0, total);
    loop {
        let chunk = JsFuture::from(reader.read()).await.map_err(|e| js_err(&format!("downloading {url}"), e))?;
        if Reflect::get(&chunk, &"done".into()).map(|v| v.is_truthy()).unwrap_or(true) {
            break;
        }
        let value = Reflect::get(&chunk, &"value".into()).map_err(|e| js_err("reading a chunk", e))?;
        bytes.extend(Uint8Array::new(&value).to_vec());
        progress(bytes.len() as u64, total);
    }
    Ok(bytes)
}

/// Reads a user-chosen file.
pub async fn read_file(file: &web_sys::File) -> Result<Vec<u8>, String> {
    let buffer =
        JsFuture::from(file.array_buffer()).await.map_err(|e| js_err(&format!("reading {}", file.name()), e))?;
    Ok(Uint8Array::new(&buffer).to_vec())
}

/// Whether the browser's high-performance adapter offers WebGPU's `subgroups` (which the engine
/// then requests for its reductions): asked of the browser itself, since wgpu 30's
/// `Adapter::features` never reports them on the web (`ctxscope_engine::gpu::offers_subgroups`).
async fn browser_offers_subgroups() -> bool {
    let gpu = Reflect::get(&js_sys::global(), &"navigator".into())
        .and_then(|navigator| Reflect::get(&navigator, &"gpu".into()))
        .ok()
        .filter(|gpu| !gpu.is_undefined() && !gpu.is_null());
    let Some(gpu) = gpu else { return false };
    let options = js_sys::Object::new();
    let _ = Reflect::set(&options, &"powerPreference".into(), &"high-performance".into());
    let request = Reflect::get(&gpu, &"requestAdapter".into())
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
        .and_then(|f| f.call1(&gpu, &options).ok())
        .and_then(|p| p.dyn_into::<js_sys::Promise>().ok());
    match request {
        #[cfg(target_arch = "wasm32")]
        Some(promise) => JsFuture::from(promise).await.is_ok_and(|a| ctxscope_engine::gpu::offers_subgroups(&a)),
        // The worker runs only in the browser; natively (the app's tests) there is no WebGPU.
        #[cfg(not(target_arch = "wasm32"))]
        Some(_) => false,
        None => false,
    }
}

/// WebGPU in this worker: the adapter wgpu would pick and the limits that matter.
pub async fn gpu_info() -> GpuInfo {
    let none = |why: &str| GpuInfo {
        available: false,
        description: why.to_string(),
        software: false,
        max_storage_binding: 0,
        max_buffer_size: 0,
        subgroups: false,
        shader_f16: false,
    };
    if !wgpu::util::is_browser_webgpu_supported().await {
        return none("this browser offers no WebGPU (navigator.gpu) to workers");
    }
    let mut descriptor = wgpu::InstanceDescriptor::new_without_display_handle();
    descriptor.backends = wgpu::Backends::BROWSER_WEBGPU;
    let instance = wgpu::Instance::new(descriptor);
    let options =
        wgpu::RequestAdapterOptions { power_preference: wgpu::PowerPreference::HighPerformance, ..Default::default() };
    let adapter = match instance.request_adapter(&options).await {
        Ok(a) => a,
        Err(e) => return none(&format!("WebGPU is present but gave no adapter: {e}")),
    };
    let info = adapter.get_info();
    let limits = adapter.limits();
    let software = info.device_type == wgpu::DeviceType::Cpu;
    let kind = if software { "software (fallback) adapter" } else { "hardware adapter" };
    let description = if info.name.is_empty() { format!("unnamed {kind}") } else { format!("{}, {kind}", info.name) };
    GpuInfo {
        available: true,
        description,
        software,
        max_storage_binding: limits.max_storage_buffer_binding_size as u64,
        max_buffer_size: limits.max_buffer_size,
        subgroups: browser_offers_subgroups().await,
        shader_f16: adapter.features().contains(wgpu::Features::SHADER_F16),
    }
}
