//! The models this browser keeps (the Cache API the worker fills), their sizes, a delete button
//! each, and how much storage the site uses of its quota.

use js_sys::Reflect;
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use crate::state::{human_bytes, AppState};

/// The Cache API bucket the worker stores models in (`worker/load.rs`).
const MODEL_CACHE: &str = ctxscope_app::worker::MODEL_CACHE;

#[derive(Clone, Debug, PartialEq)]
struct Entry {
    url: String,
    bytes: Option<u64>,
}

async fn list() -> Result<Vec<Entry>, String> {
    let caches = web_sys::window()
        .ok_or("no window")?
        .caches()
        .map_err(|_| "this page has no Cache API (it needs https or localhost)")?;
    let cache: web_sys::Cache =
        JsFuture::from(caches.open(MODEL_CACHE)).await.map_err(|_| "the cache could not be opened")?.unchecked_into();
    let keys: js_sys::Array =
        JsFuture::from(cache.keys()).await.map_err(|_| "the cache could not be listed")?.unchecked_into();
    let mut out = Vec::new();
    for key in keys.iter() {
        let request: web_sys::Request = key.unchecked_into();
        let url = request.url();
        let response = JsFuture::from(cache.match_with_request(&request))
            .await
            .ok()
            .and_then(|r| r.dyn_into::<web_sys::Response>().ok());
        let bytes =
            response.and_then(|r| r.headers().get("x-ctxscope-bytes").ok().flatten()).and_then(|b| b.parse().ok());
        out.push(Entry { url, bytes });
    }
    Ok(out)
}

async fn delete(url: String) {
    let Some(caches) = web_sys::window().and_then(|w| w.caches().ok()) else { return };
    if let Ok(cache) = JsFuture::from(caches.open(MODEL_CACHE)).await {
        let cache: web_sys::Cache = cache.unchecked_into();
        let _ = JsFuture::from(cache.delete_with_str(&url)).await;
    }
}

/// (usage, quota) in bytes from navigator.storage.estimate().
async fn estimate() -> Option<(f64, f64)> {
    let storage = web_sys::window()?.navigator().storage();
    let e = JsFuture::from(storage.estimate().ok()?).await.ok()?;
    let get = |k: &str| Reflect::get(&e, &k.into()).ok().and_then(|v| v.as_f64());
    Some((get("usage")?, get("quota")?))
}

#[component]
pub fn CachePanel() -> impl IntoView {
    let s = AppState::get();
    let entries = RwSignal::new(None::<Result<Vec<Entry>, String>>);
    let storage = RwSignal::new(None::<(f64, f64)>);
    let refresh = move || {
        spawn_local(async move {
            entries.set(Some(list().await));
            storage.set(estimate().await);
        });
    };
    // Refresh whenever a model finishes loading (it may just have been cached).
    Effect::new(move |_| {
        s.model.track();
        refresh();
    });
    view! {
        <section class="panel" data-testid="cache-panel">
            <h2>"Models in this browser"</h2>
            {move || match entries.get() {
                None => view! { <p class="muted">"Reading the cache…"</p> }.into_any(),
                Some(Err(e)) => view! { <p class="muted">{e}</p> }.into_any(),
                Some(Ok(list)) if list.is_empty() => view! { <p class="muted">"None: models are cached when they are downloaded."</p> }.into_any(),
                Some(Ok(list)) => view! {
                    <table class="kv" data-testid="cache-list">
                        {list.into_iter().map(|e| {
                            let url = e.url.clone();
                            view! {
                                <tr>
                                    <td class="mono">{e.url.clone()}</td>
                                    <td>{e.bytes.map(human_bytes).unwrap_or_else(|| "size unknown".into())}</td>
                                    <td><button class="small secondary" on:click=move |_| { let u = url.clone(); spawn_local(async move { delete(u).await; refresh(); }); }>"delete"</button></td>
                                </tr>
                            }
                        }).collect_view()}
                    </table>
                }.into_any(),
            }}
            {move || storage.get().map(|(usage, quota)| view! {
                <p class="muted" data-testid="storage-estimate">{format!("This site uses {} of the {} the browser allows it.", human_bytes(usage as u64), human_bytes(quota as u64))}</p>
            })}
        </section>
    }
}
