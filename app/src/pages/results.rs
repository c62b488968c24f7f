//! The Results view: open a results document — from `ctxscope sweep`, or exported here — by file
//! or URL, draw it with the Recall view's heatmaps and MECW panel, and export it as JSON, CSV or
//! images. The document is untrusted: it is size-limited and checked before it is drawn.

use ctxscope_engine::probes::sweep::{result_hash, SweepResults, RESULTS_SCHEMA, RESULTS_VERSION};
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use crate::components::share_box::open_link_file;
use crate::components::sweep_display::SweepDisplay;
use crate::components::sweep_form::SweepInputs;
use crate::download::download_text;
use crate::state::grid::{cells_csv, SweepView};
use crate::state::share::Shared;
use ctxscope_engine::share::LINK_FILE_SCHEMA;

/// The largest document opened (a 100 000-cell sweep is ~40 MB).
const MAX_BYTES: usize = 64 << 20;

/// Parses and checks a results document.
pub fn parse_results(text: &str) -> Result<SweepResults, String> {
    if text.len() > MAX_BYTES {
        return Err(format!(
            "the file is {} MB; ctxscope opens results up to {} MB",
            text.len() >> 20,
            MAX_BYTES >> 20
        ));
    }
    let r: SweepResults = serde_json::from_str(text).map_err(|e| format!("not a ctxscope results document: {e}"))?;
    if r.schema != RESULTS_SCHEMA || r.version != RESULTS_VERSION {
        return Err(format!(
            "schema \"{}\" version {} is not \"{RESULTS_SCHEMA}\" version {RESULTS_VERSION}",
            ctxscope_engine::error::shown(&r.schema),
            r.version
        ));
    }
    r.config.validate().map_err(|e| e.to_string())?;
    let hash = result_hash(&r.cells);
    if hash != r.result_hash {
        return Err(format!(
            "its cells do not match its result_hash ({} recorded, {} computed): the file was changed or damaged",
            &r.result_hash.get(..12).unwrap_or(""),
            &hash[..12]
        ));
    }
    Ok(r)
}

/// Whether `text` is a link file (`"schema": "ctxscope-link"`) rather than a results document.
fn is_link_file(text: &str) -> bool {
    text.len() <= ctxscope_engine::share::MAX_INFLATED_BYTES
        && serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .is_some_and(|v| v.get("schema").and_then(|s| s.as_str()) == Some(LINK_FILE_SCHEMA))
}

async fn fetch_text(url: &str) -> Result<String, String> {
    let window = web_sys::window().ok_or("no window")?;
    let response: web_sys::Response = JsFuture::from(window.fetch_with_str(url))
        .await
        .map_err(|_| format!("{url} could not be fetched"))?
        .unchecked_into();
    if !response.ok() {
        return Err(format!("{url}: HTTP {}", response.status()));
    }
    let text =
        JsFuture::from(response.text().map_err(|_| "no body")?).await.map_err(|_| "the body could not be read")?;
    text.as_string().ok_or_else(|| "the body is not text".into())
}

#[component]
pub fn ResultsPage() -> impl IntoView {
    let opened = RwSignal::new(None::<(SweepResults, SweepView)>);
    let error = RwSignal::new(None::<String>);
    let url = RwSignal::new(String::from("examples/results/niah-grid-h200.json"));
    let (s, shared) = (crate::state::AppState::get(), Shared::get());
    let inputs = use_context::<SweepInputs>().expect("SweepInputs is provided by App");
    let open = move |text: String, from: String| {
        // A share link saved as a file opens as the link would.
        if is_link_file(&text) {
            let result = open_link_file(s, shared, inputs, &text);
            error.set(result.err().map(|e| format!("{from}: {e}")));
            return;
        }
        match parse_results(&text) {
            Ok(r) => {
                error.set(None);
                let view = SweepView::with_cells(r.config.clone(), r.model.trained_ctx, &r.cells);
                shared.imported.set(Some(r.clone()));
                opened.set(Some((r, view)));
            }
            Err(e) => error.set(Some(format!("{from}: {e}"))),
        }
    };
    let on_file = move |ev: leptos::ev::Event| {
        let input = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok());
        if let Some(file) = input.and_then(|i| i.files()).and_then(|f| f.get(0)) {
            spawn_local(async move {
                match JsFuture::from(file.text()).await.ok().and_then(|t| t.as_string()) {
                    Some(text) => open(text, file.name()),
                    None => error.set(Some(format!("{}: could not be read", file.name()))),
                }
            });
        }
    };
    view! {
        <section class="panel" data-testid="results-view">
            <h2>"Results"</h2>
            <p class="muted">"Open a results document — from " <code>"ctxscope sweep"</code> " on a GPU box, or exported from the Recall view — to see it here (Share then makes a link that reruns it). A share link saved as a file opens here too."</p>
            <div class="row">
                <label>"a file " <input type="file" accept=".json,application/json" data-testid="results-file" on:change=on_file /></label>
                <form class="row" on:submit=move |ev| {
                    ev.prevent_default();
                    let u = url.get_untracked();
                    spawn_local(async move { match fetch_text(&u).await { Ok(t) => open(t, u), Err(e) => error.set(Some(e)) } });
                }>
                    <label>"or a URL " <input type="text" size="44" data-testid="results-url" prop:value=move || url.get() on:input=move |ev| url.set(event_target_value(&ev)) /></label>
                    <button type="submit" data-testid="results-open">"Open"</button>
                </form>
            </div>
            {move || error.get().map(|e| view! { <p class="error" data-testid="results-error">{e}</p> })}
            {move || opened.get().map(|(r, _)| {
                let (json, csv) = (serde_json::to_string_pretty(&r).unwrap_or_default(), cells_csv(&r.cells));
                view! {
                    <p data-testid="results-summary">{format!(
                        "{} — {} cells on {} ({}), model {} ({} tokens trained), engine {}, backend {}; result_hash {}",
                        r.config.name, r.cells.len(), r.backend, match (r.complete, r.shard) { (true, None) => "complete".to_string(), (true, Some(s)) => format!("shard {s} of the sweep, complete"), (false, Some(s)) => format!("shard {s} of the sweep, incomplete"), (false, None) => "incomplete".to_string() },
                        r.model.name.clone().unwrap_or_else(|| "unnamed".into()), r.model.trained_ctx, r.engine_version, r.backend,
                        &r.result_hash[..12.min(r.result_hash.len())]
                    )}</p>
                    <div class="row">
                        <button class="small secondary" data-testid="export-json" on:click=move |_| download_text("ctxscope-results.json", "application/json", &json)>"results JSON"</button>
                        <button class="small secondary" data-testid="export-csv" on:click=move |_| download_text("ctxscope-cells.csv", "text/csv", &csv)>"cells CSV"</button>
                    </div>
                }
            })}
        </section>
        {move || opened.get().map(|(_, v)| view! { <SweepDisplay view=v /> })}
    }
}
