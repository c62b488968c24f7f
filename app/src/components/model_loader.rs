//! Loading a model — the default one, any URL, or a local file — in the engine worker, with
//! the stage and byte progress it reports. A failed load keeps the previous model and says so.

use ctxscope_app::protocol::{EventBody, RequestBody, Source};
use ctxscope_engine::DEFAULT_MODEL_FILE;
use leptos::prelude::*;
use wasm_bindgen::JsCast;

use crate::state::{human_bytes, stage_label, AppState, LoadState};

/// The default model, as `scripts/fetch-model.sh` places it under `public/models/`.
pub fn default_model_url() -> String {
    format!("models/{DEFAULT_MODEL_FILE}")
}

/// Asks the worker to load `source`.
pub fn load(s: AppState, source: Source) {
    let label = match &source {
        Source::Url { url } => url.clone(),
        Source::File { file } => format!("local file {}", file.name()),
    };
    s.load.set(LoadState::Working {
        source: label.clone(),
        stage: ctxscope_app::protocol::Stage::Download,
        done: 0,
        total: None,
    });
    s.client().send(
        RequestBody::Load { source, backend: s.backend_choice.get_untracked() },
        move |event| match event {
            EventBody::Progress { stage, done, total } => {
                s.load.set(LoadState::Working { source: label.clone(), stage, done, total })
            }
            EventBody::Loaded { model } => {
                s.model.set(Some(model));
                s.load.set(LoadState::Ready);
            }
            EventBody::Error { message, remedy, .. } => {
                s.load.set(LoadState::Failed { source: label.clone(), message, remedy })
            }
            _ => {}
        },
    );
}

#[component]
pub fn ModelLoader() -> impl IntoView {
    let s = AppState::get();
    let url = RwSignal::new(default_model_url());
    let busy = move || matches!(s.load.get(), LoadState::Working { .. });
    let on_file = move |ev: leptos::ev::Event| {
        let input = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok());
        if let Some(file) = input.and_then(|i| i.files()).and_then(|f| f.get(0)) {
            load(s, Source::File { file });
        }
    };
    view! {
        <section class="panel" data-testid="model-loader">
            <h2>"Model"</h2>
            <form class="row" on:submit=move |ev| { ev.prevent_default(); load(s, Source::Url { url: url.get() }); }>
                <label>"GGUF URL "
                    <input type="text" size="60" data-testid="model-url" prop:value=move || url.get()
                        on:input=move |ev| url.set(event_target_value(&ev)) />
                </label>
                <button type="submit" prop:disabled=busy>"Load"</button>
                <label class="file">"or a local file "
                    <input type="file" accept=".gguf" data-testid="model-file" prop:disabled=busy on:change=on_file />
                </label>
            </form>
            {move || match s.load.get() {
                LoadState::Idle => view! { <p class="muted">"No model loaded."</p> }.into_any(),
                LoadState::Working { source, stage, done, total } => {
                    let text = match total {
                        Some(t) if t > 0 => format!("{}: {} of {} ({:.0}%)", stage_label(stage), human_bytes(done), human_bytes(t), 100.0 * done as f64 / t as f64),
                        _ if done > 0 => format!("{}: {} (size unknown)", stage_label(stage), human_bytes(done)),
                        _ => format!("{}…", stage_label(stage)),
                    };
                    view! {
                        <div data-testid="load-progress">
                            <progress max=total.unwrap_or(0) as f64 value=done as f64></progress>
                            <span data-testid="load-progress-text">{text}</span>
                            <p class="muted">{source}</p>
                        </div>
                    }.into_any()
                }
                LoadState::Ready => {
                    let status = s.model.with(|m| m.as_ref().map(|m| {
                        if m.source.starts_with("local file") {
                            format!("Loaded {}.", m.source)
                        } else if m.from_cache {
                            format!("Loaded {} from the browser cache.", m.source)
                        } else {
                            format!("Downloaded {} and cached it for next time.", m.source)
                        }
                    })).unwrap_or_default();
                    view! { <p data-testid="load-status">{status}</p> }.into_any()
                }
                LoadState::Failed { source, message, remedy } => view! {
                    <p class="error" data-testid="load-error">"Could not load " {source} ": " {message} ". " {remedy}
                        {move || s.model.with(|m| m.as_ref().map(|m| format!(" The previously loaded model ({}) is still in use.", m.source)))}</p>
                }.into_any(),
            }}
        </section>
    }
}
