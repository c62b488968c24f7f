//! Offline use: registers the service worker (`public/offline/sw.js`) that keeps the app shell,
//! where the browser offers service workers (secure contexts: https, localhost).

use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// Registers `./sw.js` (relative, so the scope is the page's own sub-path). Failures are logged,
/// never fatal: the page works online without it.
pub fn register_service_worker() {
    let Some(window) = web_sys::window() else { return };
    let navigator = window.navigator();
    // `navigator.serviceWorker` is absent outside secure contexts; calling into it would throw.
    if !js_sys::Reflect::has(&navigator, &JsValue::from_str("serviceWorker")).unwrap_or(false) {
        return;
    }
    let Ok(container) = js_sys::Reflect::get(&navigator, &JsValue::from_str("serviceWorker")) else { return };
    let Ok(container) = container.dyn_into::<web_sys::ServiceWorkerContainer>() else { return };
    let promise = container.register("./sw.js");
    wasm_bindgen_futures::spawn_local(async move {
        if let Err(e) = JsFuture::from(promise).await {
            web_sys::console::warn_2(
                &JsValue::from_str("ctxscope: no offline copy (the service worker did not register):"),
                &e,
            );
        }
    });
}
