//! Loading a model: the default one, any URL, or a local file — one path for all three
//! (bytes → `ModelFile::from_bytes` → tokenizer). A failed load keeps the previous model.

use std::sync::Arc;

use ctxscope_engine::{ModelFile, TextTokenizer, DEFAULT_MODEL_FILE};
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;

use super::human_bytes;
use crate::model_source;
use crate::state::{LoadState, LoadedModel, ModelSource, SharedModel};

/// The default model, as `scripts/fetch-model.sh` places it under `public/models/`.
pub fn default_model_url() -> String {
    format!("models/{DEFAULT_MODEL_FILE}")
}

/// Lets the browser paint (e.g. "Parsing…") before a long synchronous step.
async fn yield_to_browser() {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(w) = web_sys::window() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, 0);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

async fn install(bytes: Vec<u8>, source: ModelSource, model: RwSignal<Option<SharedModel>>, state: RwSignal<LoadState>, from_cache: bool) {
    state.set(LoadState::Parsing);
    yield_to_browser().await;
    let parsed = ModelFile::from_bytes(bytes).and_then(|file| {
        let tokenizer = TextTokenizer::from_model(&file)?;
        Ok(LoadedModel { source, file, tokenizer })
    });
    match parsed {
        Ok(loaded) => {
            model.set(Some(Arc::new(loaded)));
            state.set(LoadState::Ready { from_cache });
        }
        Err(e) => state.set(LoadState::Failed(e.to_string())),
    }
}

/// Loads a model from `url` (the browser cache first), in the background.
pub fn load_url(url: String, model: RwSignal<Option<SharedModel>>, state: RwSignal<LoadState>) {
    spawn_local(async move {
        if let Some(bytes) = model_source::cached(&url).await {
            install(bytes, ModelSource::Url(url), model, state, true).await;
            return;
        }
        let downloaded = model_source::download(&url, |loaded, total| state.set(LoadState::Downloading { loaded, total })).await;
        match downloaded {
            Ok(mut bytes) => {
                if let Err(e) = model_source::store(&url, &mut bytes).await {
                    web_sys::console::warn_1(&format!("model not cached: {e}").into());
                }
                install(bytes, ModelSource::Url(url), model, state, false).await;
            }
            Err(e) => state.set(LoadState::Failed(e)),
        }
    });
}

fn load_file(file: web_sys::File, model: RwSignal<Option<SharedModel>>, state: RwSignal<LoadState>) {
    spawn_local(async move {
        state.set(LoadState::Downloading { loaded: 0, total: Some(file.size() as u64) });
        match model_source::read_file(&file).await {
            Ok(bytes) => install(bytes, ModelSource::LocalFile(file.name()), model, state, false).await,
            Err(e) => state.set(LoadState::Failed(e)),
        }
    });
}

#[component]
pub fn ModelLoader(model: RwSignal<Option<SharedModel>>, state: RwSignal<LoadState>) -> impl IntoView {
    let url = RwSignal::new(default_model_url());
    let busy = move || matches!(state.get(), LoadState::Downloading { .. } | LoadState::Parsing);
    let on_file = move |ev: leptos::ev::Event| {
        let input = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok());
        if let Some(file) = input.and_then(|i| i.files()).and_then(|f| f.get(0)) {
            load_file(file, model, state);
        }
    };
    view! {
        <section class="panel" data-testid="model-loader">
            <h2>"Model"</h2>
            <form class="row" on:submit=move |ev| { ev.prevent_default(); load_url(url.get(), model, state); }>
                <label>"GGUF URL "
                    <input type="text" size="60" data-testid="model-url" prop:value=move || url.get()
                        on:input=move |ev| url.set(event_target_value(&ev)) />
                </label>
                <button type="submit" prop:disabled=busy>"Load"</button>
                <label class="file">"or a local file "
                    <input type="file" accept=".gguf" data-testid="model-file" prop:disabled=busy on:change=on_file />
                </label>
            </form>
            {move || match state.get() {
                LoadState::Idle => view! { <p class="muted">"No model loaded."</p> }.into_any(),
                LoadState::Downloading { loaded, total } => {
                    let (max, text) = match total {
                        Some(t) if t > 0 => (t as f64, format!("{} of {} ({:.0}%)", human_bytes(loaded), human_bytes(t), 100.0 * loaded as f64 / t as f64)),
                        _ => (0.0, format!("{} (size unknown)", human_bytes(loaded))),
                    };
                    view! {
                        <div data-testid="load-progress">
                            <progress max=max value=loaded as f64></progress>
                            <span data-testid="load-progress-text">{text}</span>
                        </div>
                    }.into_any()
                }
                LoadState::Parsing => view! { <p data-testid="load-status">"Reading GGUF and building the tokenizer…"</p> }.into_any(),
                LoadState::Ready { from_cache } => view! {
                    <p data-testid="load-status">{if from_cache { "Loaded from the browser cache." } else { "Downloaded and cached for next time." }}</p>
                }.into_any(),
                LoadState::Failed(e) => view! {
                    <p class="error" data-testid="load-error">"Could not load the model: " {e}
                        {move || model.with(|m| m.is_some()).then_some(" The previously loaded model is still in use.")}</p>
                }.into_any(),
            }}
        </section>
    }
}
