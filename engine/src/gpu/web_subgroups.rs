//! Asks the browser for WebGPU's `subgroups` feature, which wgpu 30 cannot: its WebGPU back end
//! requests only the features of its own table (`FEATURES_MAPPING` in
//! `wgpu/src/backend/webgpu.rs`, 16 entries; `subgroups` is not one), so a device it creates
//! never has them, though Chromium ships them (on SwiftShader with 4 lanes, on the H200 with 32:
//! `../shared/anchors/chromium-webgpu/README.md`). For the span of `GpuContext::new`, the
//! `navigator.gpu` object gets its own `requestAdapter`, which calls the real one and gives the
//! adapter it returns its own `requestDevice`, which adds `"subgroups"` to the descriptor's
//! `requiredFeatures` when the adapter offers them and then calls the real one. Nothing else of
//! the request changes, and [`SubgroupRequest::finish`] takes both wrappers away again (the
//! prototypes are never touched). Remove this module when wgpu's WebGPU back end maps
//! `Features::SUBGROUP` (gfx-rs/wgpu#10146; the one-line fix, gfx-rs/wgpu#10220, is open).
//!
//! Hand-written because no library does it; the wrappers are wasm-bindgen closures, not
//! JavaScript source (the page's Content-Security-Policy forbids `eval` and `new Function`, and
//! the worker, built as a `no-modules` script, cannot import wasm-bindgen snippets).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::{Array, Function, Promise, Reflect};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};

const FEATURE: &str = "subgroups";

type Wrapper = Closure<dyn FnMut(JsValue) -> JsValue>;

/// The wrappers while they are installed, and whether the last device request they saw asked
/// for `subgroups`.
pub(crate) struct SubgroupRequest {
    gpu: JsValue,
    granted: Rc<Cell<bool>>,
    _request_adapter: Wrapper,
    _request_device: Rc<RefCell<Vec<Wrapper>>>,
}

fn get(target: &JsValue, key: &str) -> Option<JsValue> {
    Reflect::get(target, &JsValue::from_str(key)).ok().filter(|v| !v.is_undefined() && !v.is_null())
}

/// Whether `adapter`, a `GPUAdapter` from `navigator.gpu.requestAdapter()`, has `subgroups`
/// among its features: what wgpu's `Adapter::features` cannot say on the web (it maps only its
/// own table). For the page's report of what WebGPU offers.
pub fn offers_subgroups(adapter: &JsValue) -> bool {
    let Some(features) = get(adapter, "features") else { return false };
    let Some(has) = get(&features, "has").and_then(|f| f.dyn_into::<Function>().ok()) else { return false };
    has.call1(&features, &JsValue::from_str(FEATURE)).is_ok_and(|v| v.is_truthy())
}

impl SubgroupRequest {
    /// Installs the wrappers on `navigator.gpu` (of the window or the worker); None where there
    /// is no WebGPU or the object cannot be given a property (the request then goes on as wgpu
    /// makes it).
    pub(crate) fn install() -> Option<Self> {
        let navigator = get(&js_sys::global(), "navigator")?;
        let gpu = get(&navigator, "gpu")?;
        let request_adapter: Function = get(&gpu, "requestAdapter")?.dyn_into().ok()?;
        let granted = Rc::new(Cell::new(false));
        let request_device: Rc<RefCell<Vec<Wrapper>>> = Rc::new(RefCell::new(Vec::new()));
        let wrapper = {
            let (gpu, granted, request_device) = (gpu.clone(), granted.clone(), request_device.clone());
            Closure::new(move |options: JsValue| -> JsValue {
                let promise = match request_adapter.call1(&gpu, &options) {
                    Ok(p) => p,
                    Err(e) => return Promise::reject(&e).into(),
                };
                let (granted, request_device) = (granted.clone(), request_device.clone());
                let on_adapter = Closure::once_into_js(move |adapter: JsValue| -> JsValue {
                    wrap_request_device(&adapter, &granted, &request_device);
                    adapter
                });
                let then = get(&promise, "then").and_then(|f| f.dyn_into::<Function>().ok());
                match then {
                    Some(then) => then.call1(&promise, &on_adapter).unwrap_or(promise),
                    None => promise,
                }
            })
        };
        Reflect::set(&gpu, &JsValue::from_str("requestAdapter"), wrapper.as_ref()).ok()?;
        Some(Self { gpu, granted, _request_adapter: wrapper, _request_device: request_device })
    }

    /// Takes the wrappers away (as dropping does); whether the last device request asked for
    /// `subgroups` (the device wgpu got, when the request succeeded, has them).
    pub(crate) fn finish(self) -> bool {
        self.granted.get()
    }
}

impl Drop for SubgroupRequest {
    /// Whatever way `GpuContext::new` ends: `navigator.gpu.requestAdapter` is the prototype's
    /// again (the adapter's wrapper is dropped with `self`; wgpu asks it for no other device).
    fn drop(&mut self) {
        let _ =
            Reflect::delete_property(self.gpu.unchecked_ref::<js_sys::Object>(), &JsValue::from_str("requestAdapter"));
    }
}

/// Gives `adapter` its own `requestDevice`, which adds `subgroups` where the adapter offers them.
fn wrap_request_device(adapter: &JsValue, granted: &Rc<Cell<bool>>, kept: &Rc<RefCell<Vec<Wrapper>>>) {
    let Some(original) = get(adapter, "requestDevice").and_then(|f| f.dyn_into::<Function>().ok()) else { return };
    let offers = offers_subgroups(adapter);
    let (target, granted) = (adapter.clone(), granted.clone());
    let wrapper: Wrapper = Closure::new(move |descriptor: JsValue| -> JsValue {
        let descriptor = if descriptor.is_object() { descriptor } else { js_sys::Object::new().into() };
        let features = get(&descriptor, "requiredFeatures").map(|f| Array::from(&f)).unwrap_or_default();
        let wanted = offers && !features.includes(&JsValue::from_str(FEATURE), 0);
        if wanted {
            features.push(&JsValue::from_str(FEATURE));
            let _ = Reflect::set(&descriptor, &JsValue::from_str("requiredFeatures"), &features);
        }
        granted.set(offers);
        original.call1(&target, &descriptor).unwrap_or_else(|e| Promise::reject(&e).into())
    });
    if Reflect::set(adapter, &JsValue::from_str("requestDevice"), wrapper.as_ref()).is_ok() {
        // Kept until the request's `SubgroupRequest` is dropped (after the device is made): every
        // adapter handed out meanwhile (another task of the worker may ask for one) keeps a
        // wrapper that still works.
        kept.borrow_mut().push(wrapper);
    }
}
