//! Greedy generation in the worker: tokens stream in with the decode rate, it stops at the
//! end-of-turn token or the limit, and can be stopped. Each result says what produced it.

use ctxscope_app::protocol::{EventBody, RequestBody};
use ctxscope_engine::backend::Backend;
use leptos::prelude::*;

use crate::state::AppState;

/// The most tokens one request may generate here.
const MAX_TOKENS: usize = 512;

#[derive(Clone, Debug, PartialEq)]
struct Run {
    prompt: String,
    model: String,
    backend: Option<Backend>,
    text: String,
    ids: Vec<u32>,
    rate: f64,
    status: String,
}

#[component]
pub fn GeneratePanel() -> impl IntoView {
    let s = AppState::get();
    let prompt = RwSignal::new(String::from("The capital of France is"));
    let max_text = RwSignal::new(String::from("16"));
    let max_tokens = Memo::new(move |_| {
        let t = max_text.get();
        match t.trim().parse::<usize>() {
            Ok(n) if (1..=MAX_TOKENS).contains(&n) => Ok(n),
            _ => Err(format!("tokens must be a whole number from 1 to {MAX_TOKENS} (got \"{t}\")")),
        }
    });
    let runs = RwSignal::new(Vec::<Run>::new());
    let running = RwSignal::new(None::<u32>);
    let start = move || {
        let Ok(n) = max_tokens.get_untracked() else { return };
        let Some(model) = s.model.get_untracked() else { return };
        let index = runs.with_untracked(Vec::len);
        runs.update(|r| {
            r.push(Run {
                prompt: prompt.get_untracked(),
                model: model.spec.name.clone().unwrap_or_else(|| model.source.clone()),
                backend: None,
                text: String::new(),
                ids: Vec::new(),
                rate: 0.0,
                status: "running…".into(),
            })
        });
        let update = move |f: &dyn Fn(&mut Run)| runs.update(|r| f(&mut r[index]));
        let request = RequestBody::Generate {
            backend: s.backend.get_untracked(),
            experiment: s.experiment.get_untracked(),
            prompt: prompt.get_untracked(),
            max_tokens: n,
        };
        let id = s.client().send(request, move |event| match event {
            EventBody::Token { id, text, tokens_per_s, .. } => update(&|r| {
                r.text.push_str(&text);
                r.ids.push(id);
                r.rate = tokens_per_s;
            }),
            EventBody::Generated { backend, generation, prefill_tokens_per_s, decode_tokens_per_s } => {
                update(&|r| {
                    r.backend = Some(backend);
                    r.text = generation.text.clone();
                    r.ids = generation.ids.clone();
                    r.rate = decode_tokens_per_s;
                    r.status = format!(
                        "{} tokens, {}; prompt at {prefill_tokens_per_s:.0} tok/s, generation at {decode_tokens_per_s:.1} tok/s",
                        generation.ids.len(),
                        if generation.stopped_at_eos { "stopped at end of turn" } else { "hit the limit" }
                    );
                });
                running.set(None);
            }
            EventBody::Error { message, remedy, .. } => {
                update(&|r| r.status = format!("{message}. {remedy}"));
                running.set(None);
            }
            _ => {}
        });
        running.set(Some(id));
    };
    let disabled = move || running.get().is_some() || s.model.with(Option::is_none) || max_tokens.with(Result::is_err);
    view! {
        <section class="panel" data-testid="generate">
            <h2>"Generate (greedy)"</h2>
            <textarea data-testid="generate-prompt" rows="2" prop:value=move || prompt.get() on:input=move |ev| prompt.set(event_target_value(&ev))></textarea>
            <div class="row">
                <label>"tokens " <input type="text" size="4" data-testid="generate-max" prop:value=move || max_text.get()
                    on:input=move |ev| max_text.set(event_target_value(&ev)) /></label>
                <button data-testid="generate-run" prop:disabled=disabled on:click=move |_| start()>"Generate"</button>
                <button data-testid="generate-stop" prop:disabled=move || running.get().is_none()
                    on:click=move |_| if let Some(id) = running.get_untracked() { s.client().cancel(id) }>"Stop"</button>
                {move || max_tokens.get().err().map(|e| view! { <span class="error" data-testid="generate-invalid">{e}</span> })}
            </div>
            <table class="kv results" data-testid="generate-results">
                <tr><th>"prompt"</th><th>"model / backend"</th><th>"text"</th><th>"ids"</th><th>"status"</th></tr>
                {move || runs.get().into_iter().map(|r| view! {
                    <tr data-backend=r.backend.map_or("", Backend::name)>
                        <td class="gen-prompt">{r.prompt}</td>
                        <td>{r.model} " / " {r.backend.map_or("…", Backend::name)}</td>
                        <td class="gen-text">{r.text}</td>
                        <td class="gen-ids">{r.ids.iter().map(u32::to_string).collect::<Vec<_>>().join(" ")}</td>
                        <td class="gen-status">{r.status}</td>
                    </tr>
                }).collect_view()}
            </table>
        </section>
    }
}
