//! The Recall view: build a sweep, run it in the worker and watch the depth × length heatmap
//! fill cell by cell (and, for A/B, the second experiment and the difference), with progress,
//! ETA, cancel and resume; then the MECW per task.

use leptos::prelude::*;

use crate::components::sweep_display::SweepDisplay;
use crate::components::sweep_form::{SweepForm, SweepInputs};
use crate::download::download_text;
use crate::state::grid::cells_csv;
use crate::state::{AppState, RecallRun, RunStatus};

#[component]
pub fn RecallPage() -> impl IntoView {
    let s = AppState::get();
    let run = RecallRun::get();
    let inputs = use_context::<SweepInputs>().expect("SweepInputs is provided by App");
    let max_context = move || s.model.with(|m| m.as_ref().map_or(0, |m| m.max_context));
    let config = Memo::new(move |_| inputs.config(&s.experiment.get(), s.experiment_b.get().as_ref(), max_context()));
    let running = move || matches!(run.status.get(), RunStatus::Running { .. });
    let resumable = move || run.results.with(|r| r.as_ref().is_some_and(|r| !r.complete)) && !running();
    view! {
        <section class="panel" data-testid="recall-view">
            <h2>"Recall"</h2>
            <p class="muted">"Hide needles in a haystack at chosen depths and lengths, ask for them back, and see where recall holds. Each cell is one (length, depth) over its seeds."</p>
            <SweepForm inputs=inputs b_available=Signal::derive(move || s.experiment_b.with(Option::is_some)) />
            <div class="row">
                <button data-testid="recall-run" prop:disabled=move || running() || s.model.with(Option::is_none) || config.with(Result::is_err)
                    on:click=move |_| if let Ok(c) = config.get_untracked() { run.results.set(None); run.start(s, c, None) }>"Run"</button>
                <button data-testid="recall-cancel" prop:disabled=move || !running()
                    on:click=move |_| if let RunStatus::Running { id, .. } = run.status.get_untracked() { s.client().cancel(id) }>"Cancel"</button>
                <button data-testid="recall-resume" prop:disabled=move || !resumable()
                    on:click=move |_| if let Some(r) = run.results.get_untracked() { run.start(s, r.config.clone(), Some(r)) }>"Resume"</button>
                {move || match config.get() {
                    Ok(c) => view! { <span class="muted" data-testid="recall-cells">{format!("{} cells ({} × {} lengths × {} depths × {} seeds)", c.cells().len(), c.experiments.len() * c.tasks.len(), c.lengths.len(), c.depths.values().len(), c.seeds)}</span> }.into_any(),
                    Err(e) => view! { <span class="error" data-testid="recall-invalid">{e}</span> }.into_any(),
                }}
            </div>
            {move || match run.status.get() {
                RunStatus::Idle => None,
                RunStatus::Running { done, total, elapsed_s, eta_s, .. } => Some(view! {
                    <div data-testid="recall-progress">
                        <progress max=total as f64 value=done as f64></progress>
                        {format!("{done} of {total} cells · {elapsed_s:.0} s elapsed{}", if done > 0 { format!(" · about {eta_s:.0} s left") } else { String::new() })}
                    </div>
                }.into_any()),
                RunStatus::Done { complete } => Some(view! {
                    <p data-testid="recall-status">{if complete { "Complete.".to_string() } else {
                        format!("Cancelled: {} cells kept; Resume continues from them.", run.results.with(|r| r.as_ref().map_or(0, |r| r.cells.len())))
                    }}</p>
                }.into_any()),
                RunStatus::Failed { message } => Some(view! { <p class="error" data-testid="recall-status">{message} " The finished cells are kept; Resume continues from them."</p> }.into_any()),
            }}
            {move || run.results.get().map(|r| {
                let (json, csv) = (serde_json::to_string_pretty(&r).unwrap_or_default(), cells_csv(&r.cells));
                view! {
                    <div class="row">
                        <span class="muted">"result_hash " <code data-testid="recall-hash">{r.result_hash.clone()}</code></span>
                        <button class="small secondary" data-testid="export-json" on:click=move |_| download_text("ctxscope-results.json", "application/json", &json)>"results JSON"</button>
                        <button class="small secondary" data-testid="export-csv" on:click=move |_| download_text("ctxscope-cells.csv", "text/csv", &csv)>"cells CSV"</button>
                    </div>
                }
            })}
        </section>
        {move || run.view.get().map(|v| view! { <SweepDisplay view=v /> })}
    }
}
