//! "Share": the link of what is on the page (model, view, experiments, sweep and its recorded
//! result), put in the address bar and offered for copying; over
//! [`LINK_COMFORT_CHARS`](ctxscope_engine::share::LINK_COMFORT_CHARS) it says so and offers the
//! same state as a JSON file, which this box (and the Results view) opens again.

use ctxscope_engine::share::{SharedState, LINK_COMFORT_CHARS};
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use crate::components::sweep_form::SweepInputs;
use crate::download::download_text;
use crate::state::share::{apply, current, page_base, write_fragment, Shared};
use crate::state::{AppState, RecallRun};

/// Copies `text` with the asynchronous Clipboard API, where the page may use it.
async fn copy(text: &str) -> bool {
    let Some(window) = web_sys::window() else { return false };
    let Ok(clipboard) = js_sys::Reflect::get(&window.navigator(), &"clipboard".into()) else { return false };
    let Ok(write) =
        js_sys::Reflect::get(&clipboard, &"writeText".into()).and_then(|f| f.dyn_into::<js_sys::Function>())
    else {
        return false;
    };
    match write.call1(&clipboard, &text.into()).map(|p| p.dyn_into::<js_sys::Promise>()) {
        Ok(Ok(promise)) => JsFuture::from(promise).await.is_ok(),
        _ => false,
    }
}

/// Opens a link file's state (from this box or the Results view).
pub fn open_link_file(s: AppState, shared: Shared, inputs: SweepInputs, text: &str) -> Result<(), String> {
    let state =
        SharedState::from_file(text).map_err(|e| e.to_string().trim_start_matches("invalid input: ").to_string())?;
    if let Ok(fragment) = state.encode() {
        write_fragment(shared, &fragment);
    }
    let problems = apply(s, shared, inputs, state);
    s.url_problems.set(problems);
    Ok(())
}

#[component]
pub fn ShareBox() -> impl IntoView {
    let s = AppState::get();
    let shared = Shared::get();
    let run = RecallRun::get();
    let inputs = use_context::<SweepInputs>().expect("SweepInputs is provided by App");
    let open = RwSignal::new(false);
    let made = RwSignal::new(None::<Result<(String, SharedState), String>>);
    let copied = RwSignal::new(None::<bool>);
    let file_error = RwSignal::new(None::<String>);
    let make = move |_| {
        copied.set(None);
        let result = current(s, shared, run, inputs).and_then(|state| {
            let fragment = state.encode().map_err(|e| e.to_string())?;
            write_fragment(shared, &fragment);
            Ok((format!("{}#{fragment}", page_base()), state))
        });
        made.set(Some(result));
        open.set(true);
    };
    let on_file = move |ev: leptos::ev::Event| {
        let input = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok());
        if let Some(file) = input.and_then(|i| i.files()).and_then(|f| f.get(0)) {
            spawn_local(async move {
                let text = JsFuture::from(file.text()).await.ok().and_then(|t| t.as_string());
                let result = match text {
                    Some(t) => open_link_file(s, shared, inputs, &t),
                    None => Err("the file could not be read".into()),
                };
                file_error.set(result.err().map(|e| format!("{}: {e}", file.name())));
            });
        }
    };
    view! {
        <div class="share">
            <button class="small secondary" data-testid="share" on:click=make>"Share"</button>
            {move || open.get().then(|| view! {
                <div class="panel share-box" data-testid="share-box">
                    {move || match made.get() {
                        Some(Ok((url, state))) => {
                            let long = url.len() > LINK_COMFORT_CHARS;
                            let (for_copy, file) = (url.clone(), state.to_file());
                            view! {
                                <input type="text" readonly=true data-testid="share-link" prop:value=url.clone() on:focus=move |ev| {
                                    if let Some(i) = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()) { i.select() }
                                } />
                                <button class="small" data-testid="share-copy" on:click=move |_| {
                                    let text = for_copy.clone();
                                    spawn_local(async move { copied.set(Some(copy(&text).await)) });
                                }>"Copy"</button>
                                <button class="small secondary" data-testid="share-file" on:click=move |_| download_text("ctxscope-link.json", "application/json", &file)>"link file"</button>
                                <span class=if long { "error" } else { "muted" } data-testid="share-length">{if long {
                                    format!("{} characters: over {LINK_COMFORT_CHARS}, which chat and mail apps may cut — share the link file instead (Share → open a link file, or the Results view, restores it).", url.len())
                                } else {
                                    format!("{} characters. It holds {}; the page that opens it checks the model by sha256.", url.len(), describe(&state))
                                }}</span>
                                {move || copied.get().map(|ok| if ok { "copied" } else { "select the link and copy it (the clipboard is not available here)" })}
                            }.into_any()
                        }
                        Some(Err(e)) => view! { <span class="error">{format!("No link: {e}")}</span> }.into_any(),
                        None => ().into_any(),
                    }}
                    <label>"open a link file " <input type="file" accept=".json,application/json" data-testid="share-open-file" on:change=on_file /></label>
                    {move || file_error.get().map(|e| view! { <span class="error" data-testid="share-file-error">{e}</span> })}
                    <button class="small secondary" on:click=move |_| open.set(false)>"Close"</button>
                </div>
            })}
        </div>
    }
}

/// "the model, experiment A, a 12-cell sweep and its result".
fn describe(state: &SharedState) -> String {
    let mut parts = Vec::new();
    if state.model.is_some() {
        parts.push("the model".to_string());
    }
    if state.a.is_some() {
        parts.push("experiment A".into());
    }
    if state.b.is_some() {
        parts.push("experiment B".into());
    }
    if let Some(s) = &state.sweep {
        parts.push(format!("a {}-cell sweep", s.cells().len()));
    }
    if state.result.is_some() {
        parts.push("its result".into());
    }
    if parts.is_empty() {
        return "only defaults".into();
    }
    let last = parts.pop().unwrap_or_default();
    if parts.is_empty() {
        last
    } else {
        format!("{} and {last}", parts.join(", "))
    }
}
