//! The tour's bar above the views: the step's title, what it shows, the paper, what was observed
//! when it was measured (on the CPU fallback, the reduced variant and why), Run, Previous, Next.

use leptos::prelude::*;

use crate::components::sweep_form::SweepInputs;
use crate::state::inside::Inside;
use crate::state::share::Shared;
use crate::state::tour::{go, on_cpu, run_step, variant, Tour};
use crate::state::{AppState, RecallRun, RunStatus};

#[component]
pub fn TourBar() -> impl IntoView {
    let (s, shared, tour, run, inside) = (AppState::get(), Shared::get(), Tour::get(), RecallRun::get(), Inside::get());
    let inputs = use_context::<SweepInputs>().expect("SweepInputs is provided by App");
    let busy = move || {
        matches!(run.status.get(), RunStatus::Running { .. })
            || inside.entropy.task.with(|t| t.running_id().is_some())
            || inside.precision.task.with(|t| t.running_id().is_some())
            || s.model.with(Option::is_none)
    };
    move || {
        let k = tour.step.get()?;
        let preset = tour.preset(k)?;
        let n = tour.len();
        let cpu = on_cpu(s);
        let v = variant(s, &preset);
        let (full_observed, v_run) = (preset.full.observed.clone(), v.clone());
        Some(view! {
            <section class="panel tour-bar" data-testid="tour-bar" aria-live="polite">
                <p class="muted">{format!("Tour · step {} of {n}", k + 1)}</p>
                <h2 data-testid="tour-title">{preset.title.clone()}</h2>
                <p>{preset.explain.clone()}</p>
                <p class="muted">"Paper: " {preset.paper.clone()}</p>
                {cpu.then(|| view! { <p class="notice" data-testid="tour-cpu">"CPU fallback: " {v.note.clone().unwrap_or_default()}</p> })}
                <p data-testid="tour-observed"><strong>{if cpu { "Measured on the CPU (these lengths): " } else { "Measured on an H200 (these lengths): " }}</strong>{v.observed.clone()}</p>
                {cpu.then(|| view! { <p class="muted"><strong>"Full lengths, measured on an H200: "</strong>{full_observed}</p> })}
                <div class="row">
                    <button data-testid="tour-run" prop:disabled=busy on:click=move |_| run_step(s, shared, run, inside, &v_run)>"Run this step"</button>
                    <button class="secondary" data-testid="tour-prev" prop:disabled=move || k == 0 on:click=move |_| go(s, shared, inputs, tour, inside, k - 1)>"Previous"</button>
                    <button class="secondary" data-testid="tour-next" prop:disabled=move || { k + 1 >= n } on:click=move |_| go(s, shared, inputs, tour, inside, k + 1)>"Next"</button>
                    <button class="small secondary" data-testid="tour-end" on:click=move |_| tour.step.set(None)>"End the tour"</button>
                </div>
            </section>
        })
    }
}
