//! A probe sweep in the worker: cells stream in with progress and ETA; cancel keeps the finished
//! cells and resume continues from them; the results document is the CLI's (schema v1, same
//! `result_hash`). (The playground's recall heatmaps are built on these events.)

use ctxscope_app::protocol::{EventBody, RequestBody};
use ctxscope_engine::probes::sweep::{Cell, Progress, SweepConfig, SweepResults};
use leptos::prelude::*;

use crate::state::AppState;

const DEFAULT_SWEEP: &str = r#"{"version": 1, "name": "passkey, CPU-sized",
 "tasks": [{"name": "passkey", "task": {"task": "passkey"}}],
 "lengths": [96, 128], "depths": [0.25, 0.75], "seeds": 1,
 "haystack": {"kind": "noise"}, "scoring": {"mode": "teacher-forced"}}"#;

#[component]
pub fn SweepPanel() -> impl IntoView {
    let s = AppState::get();
    let text = RwSignal::new(DEFAULT_SWEEP.to_string());
    let config = Memo::new(move |_| SweepConfig::from_json(&text.get()).map_err(|e| e.to_string()));
    let cells = RwSignal::new(Vec::<Cell>::new());
    let progress = RwSignal::new(None::<Progress>);
    let results = RwSignal::new(None::<SweepResults>);
    let partial = RwSignal::new(None::<SweepResults>);
    let message = RwSignal::new(None::<String>);
    let running = RwSignal::new(None::<u32>);
    let start = move |resume: Option<SweepResults>| {
        let Ok(config) = config.get_untracked() else { return };
        if resume.is_none() {
            cells.set(Vec::new());
        }
        results.set(None);
        message.set(None);
        let request = RequestBody::Sweep { backend: s.backend.get_untracked(), config, resume };
        let id = s.client().send(request, move |event| match event {
            EventBody::Cell { cell, progress: p } => {
                cells.update(|c| c.push(cell));
                progress.set(Some(p));
            }
            EventBody::SweepDone { results: r } => {
                if r.complete {
                    partial.set(None);
                    message.set(Some(format!("Complete: {} cells.", r.cells.len())));
                } else {
                    message.set(Some(format!(
                        "Cancelled after {} of {} cells; resume continues from them.",
                        r.cells.len(),
                        r.config.cells().len()
                    )));
                    partial.set(Some(r.clone()));
                }
                results.set(Some(r));
                running.set(None);
            }
            EventBody::Error { code, message: m, remedy, partial: p } => {
                message.set(Some(format!("[{code}] {m}. {remedy}")));
                if let Some(p) = p {
                    partial.set(Some(p));
                }
                running.set(None);
            }
            _ => {}
        });
        running.set(Some(id));
    };
    view! {
        <section class="panel" data-testid="sweep">
            <h2>"Sweep"</h2>
            <textarea rows="5" data-testid="sweep-config" prop:value=move || text.get() on:input=move |ev| text.set(event_target_value(&ev))></textarea>
            <div class="row">
                <button data-testid="sweep-run" prop:disabled=move || running.get().is_some() || s.model.with(Option::is_none) || config.with(Result::is_err)
                    on:click=move |_| start(None)>"Run"</button>
                <button data-testid="sweep-cancel" prop:disabled=move || running.get().is_none()
                    on:click=move |_| if let Some(id) = running.get_untracked() { s.client().cancel(id) }>"Cancel"</button>
                <button data-testid="sweep-resume" prop:disabled=move || running.get().is_some() || partial.with(Option::is_none)
                    on:click=move |_| start(partial.get_untracked())>"Resume"</button>
                {move || config.get().err().map(|e| view! { <span class="error">{e}</span> })}
            </div>
            {move || progress.get().map(|p| view! {
                <p data-testid="sweep-progress">{format!("{}/{} cells · last {} {} at {} tokens, depth {:.2} · {:.1} s elapsed, ETA {:.1} s",
                    p.done, p.total, p.cell.experiment, p.cell.task, p.cell.length, p.cell.depth, p.elapsed_s, p.eta_s)}</p>
            })}
            {move || message.get().map(|m| view! { <p data-testid="sweep-message">{m}</p> })}
            {move || results.get().map(|r| view! {
                <p>"result_hash " <code data-testid="sweep-hash">{r.result_hash.clone()}</code> " · backend " {r.backend.clone()}</p>
            })}
            <table class="kv cells" data-testid="sweep-cells">
                <tr><th>"experiment"</th><th>"task"</th><th>"length"</th><th>"depth"</th><th>"seed"</th><th>"correct"</th><th>"score"</th><th>"rank"</th><th>"rule"</th></tr>
                {move || cells.get().into_iter().map(|c| view! {
                    <tr class="cell-row">
                        <td>{c.key.experiment}</td><td>{c.key.task}</td><td>{c.key.length}</td><td>{format!("{:.2}", c.key.depth)}</td><td>{c.key.seed}</td>
                        <td>{if c.outcome.correct { "✓" } else { "✗" }}</td><td>{format!("{:.3}", c.outcome.score)}</td><td>{c.outcome.answer_rank}</td><td>{c.outcome.rule}</td>
                    </tr>
                }).collect_view()}
            </table>
        </section>
    }
}
