//! Teacher-forced scoring in the worker, with attention entropy and an attention row on request.

use ctxscope_app::protocol::{EventBody, Input, RequestBody, Rows};
use leptos::prelude::*;
use serde_json::json;

use crate::state::AppState;

#[component]
pub fn ScorePanel() -> impl IntoView {
    let s = AppState::get();
    let prompt = RwSignal::new(String::from("The colour of a clear daytime sky is"));
    let continuation = RwSignal::new(String::from(" blue."));
    let entropy = RwSignal::new(true);
    let row = RwSignal::new(String::from("2,4,6"));
    let result = RwSignal::new(None::<Result<serde_json::Value, String>>);
    let running = RwSignal::new(None::<u32>);
    let run = move || {
        let attention_row = {
            let v: Vec<usize> = row.get_untracked().split(',').filter_map(|x| x.trim().parse().ok()).collect();
            (v.len() == 3).then(|| (v[0], v[1], v[2]))
        };
        result.set(None);
        let request = RequestBody::Score {
            backend: s.backend.get_untracked(),
            experiment: s.experiment.get_untracked(),
            prompt: prompt.get_untracked(),
            continuation: continuation.get_untracked(),
            entropy: entropy.get_untracked(),
            attention_row,
        };
        let id = s.client().send(request, move |event| match event {
            EventBody::Scored { backend, output, entropy, row, seconds } => {
                result.set(Some(Ok(json!({
                    "backend": backend,
                    "seconds": seconds,
                    "output": output,
                    "entropy_per_layer": entropy.map(|t| t.mean_per_layer()),
                    "attention_row": row,
                }))));
                running.set(None);
            }
            EventBody::Error { code, message, remedy, .. } => {
                result.set(Some(Err(format!("[{code}] {message}. {remedy}"))));
                running.set(None);
            }
            _ => {}
        });
        running.set(Some(id));
    };
    let row_only = move || {
        let v: Vec<usize> = row.get_untracked().split(',').filter_map(|x| x.trim().parse().ok()).collect();
        let [layer, head, position] = v[..] else {
            result.set(Some(Err("the attention row needs layer,head,position".into())));
            return;
        };
        result.set(None);
        let request = RequestBody::AttentionMap {
            backend: s.backend.get_untracked(),
            experiment: s.experiment.get_untracked(),
            input: Input::Text { text: prompt.get_untracked() },
            layer,
            head,
            rows: Rows::At { position },
        };
        let id = s.client().send(request, move |event| match event {
            EventBody::Map { backend, map, pieces, .. } => {
                let row = map.row(position);
                let sum: f64 = row.iter().flat_map(|r| r.probs.iter().flatten()).map(|&p| p as f64).sum();
                result.set(Some(Ok(json!({ "backend": backend, "row": row, "row_sum": sum, "keys": pieces.iter().map(|p| p.text.clone()).collect::<Vec<_>>() }))));
                running.set(None);
            }
            EventBody::Error { code, message, remedy, .. } => {
                result.set(Some(Err(format!("[{code}] {message}. {remedy}"))));
                running.set(None);
            }
            _ => {}
        });
        running.set(Some(id));
    };
    view! {
        <section class="panel" data-testid="score">
            <h2>"Score (teacher-forced)"</h2>
            <div class="row">
                <input type="text" size="40" data-testid="score-prompt" prop:value=move || prompt.get() on:input=move |ev| prompt.set(event_target_value(&ev)) />
                <input type="text" size="20" data-testid="score-continuation" prop:value=move || continuation.get() on:input=move |ev| continuation.set(event_target_value(&ev)) />
                <label><input type="checkbox" prop:checked=move || entropy.get() on:change=move |ev| entropy.set(event_target_checked(&ev)) /> " entropy"</label>
                <label>"attention row (layer,head,position) " <input type="text" size="8" data-testid="score-row" prop:value=move || row.get() on:input=move |ev| row.set(event_target_value(&ev)) /></label>
                <button data-testid="score-run" prop:disabled=move || running.get().is_some() || s.model.with(Option::is_none) on:click=move |_| run()>"Score"</button>
                <button data-testid="row-run" prop:disabled=move || running.get().is_some() || s.model.with(Option::is_none) on:click=move |_| row_only()>"Attention row of the prompt"</button>
            </div>
            {move || match result.get() {
                None => running.get().map(|_| view! { <p class="muted">"Scoring…"</p> }.into_any()),
                Some(Ok(v)) => Some(view! {
                    <p data-testid="score-summary">{match v["output"]["logprob_sum"].as_f64() {
                        Some(lp) => format!("log p = {lp:.4} on {}, {:.2} s", v["backend"].as_str().unwrap_or("?"), v["seconds"].as_f64().unwrap_or(0.0)),
                        None => format!("attention row on {}: sums to {:.6}", v["backend"].as_str().unwrap_or("?"), v["row_sum"].as_f64().unwrap_or(0.0)),
                    }}</p>
                    <pre class="json" data-testid="score-json">{serde_json::to_string(&v).unwrap_or_default()}</pre>
                }.into_any()),
                Some(Err(e)) => Some(view! { <p class="error" data-testid="score-error">{e}</p> }.into_any()),
            }}
        </section>
    }
}
