//! Getting GGUF bytes into the app: from a URL (streamed, with progress, cached with the Cache
//! API so a reload does not download again) or from a local file. Both end in the same
//! `ModelFile::from_bytes`.

use js_sys::{Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Cache, ReadableStreamDefaultReader, Response};

/// Name of the Cache API bucket holding downloaded models; bump it to invalidate old entries.
const CACHE_NAME: &str = "ctxscope-models-v1";

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
    let caches = web_sys::window()?.caches().ok()?;
    let cache = JsFuture::from(caches.open(CACHE_NAME)).await.ok()?;
    cache.dyn_into::<Cache>().ok()
}

/// The cached copy of `url`, if any.
pub async fn cached(url: &str) -> Option<Vec<u8>> {
    let cache = open_cache().await?;
    let hit = JsFuture::from(cache.match_with_str(url)).await.ok()?;
    let response = hit.dyn_into::<Response>().ok()?;
    let buffer = JsFuture::from(response.array_buffer().ok()?).await.ok()?;
    Some(Uint8Array::new(&buffer).to_vec())
}

/// Stores `bytes` as the cached copy of `url`. Failure (e.g. quota) only costs a re-download.
pub async fn store(url: &str, bytes: &mut [u8]) -> Result<(), String> {
    let cache = open_cache().await.ok_or("the Cache API is not available here")?;
    let response = Response::new_with_opt_u8_array(Some(bytes)).map_err(|e| js_err("building cache entry", e))?;
    JsFuture::from(cache.put_with_str(url, &response)).await.map_err(|e| js_err("caching the model", e))?;
    Ok(())
}

/// Downloads `url`, calling `progress(loaded, total)` as chunks arrive.
pub async fn download(url: &str, mut progress: impl FnMut(u64, Option<u64>)) -> Result<Vec<u8>, String> {
    let window = web_sys::window().ok_or("no window")?;
    let response = JsFuture::from(window.fetch_with_str(url))
        .await
        .map_err(|e| js_err(&format!("fetching {url}"), e))?
        .dyn_into::<Response>()
        .map_err(|e| js_err("fetch returned something other than a Response", e))?;
    if !response.ok() {
        return Err(format!("fetching {url}: HTTP {} {}", response.status(), response.status_text()));
    }
    let total = response
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.parse::<u64>().ok());
    let body = response.body().ok_or_else(|| format!("fetching {url}: the response has no body"))?;
    let reader = body
        .get_reader()
        .dyn_into::<ReadableStreamDefaultReader>()
        .map_err(|e| js_err("reading the response", e.into()))?;
    let mut bytes = Vec::with_capacity(total.unwrap_or(0).min(1 << 31) as usize);
    progress(0, total);
    loop {
        let chunk = JsFuture::from(reader.read()).await.map_err(|e| js_err(&format!("downloading {url}"), e))?;
        let done = Reflect::get(&chunk, &"done".into()).map(|v| v.is_truthy()).unwrap_or(true);
        if done {
            break;
        }
        let value = Reflect::get(&chunk, &"value".into()).map_err(|e| js_err("reading a chunk", e))?;
        bytes.extend(Uint8Array::new(&value).to_vec());
        progress(bytes.len() as u64, total);
    }
    Ok(bytes)
}

/// Reads a user-chosen local file.
pub async fn read_file(file: &web_sys::File) -> Result<Vec<u8>, String> {
    let buffer = JsFuture::from(file.array_buffer()).await.map_err(|e| js_err(&format!("reading {}", file.name()), e))?;
    Ok(Uint8Array::new(&buffer).to_vec())
}
