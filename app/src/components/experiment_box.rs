//! The experiment every request carries, as its JSON config (docs/experiment-config.md), checked
//! against the loaded model as it is typed. (The playground's experiment form replaces this.)

use ctxscope_engine::experiment::{Experiment, Plan};
use leptos::prelude::*;

use crate::state::AppState;

#[component]
pub fn ExperimentBox() -> impl IntoView {
    let s = AppState::get();
    let text = RwSignal::new(serde_json::to_string(&s.experiment.get_untracked()).unwrap_or_default());
    let verdict = Memo::new(move |_| -> Result<(Experiment, Option<String>), String> {
        let e = Experiment::from_json(&text.get()).map_err(|e| e.to_string())?;
        if let Some(m) = s.model.get() {
            let plan = Plan::new(&e, &m.spec).map_err(|e| e.to_string())?;
            return Ok((e, plan.baseline_note()));
        }
        Ok((e, None))
    });
    Effect::new(move |_| {
        if let Ok((e, _)) = verdict.get() {
            s.experiment.set(e);
        }
    });
    view! {
        <section class="panel" data-testid="experiment">
            <h2>"Experiment"</h2>
            <textarea rows="2" data-testid="experiment-json" prop:value=move || text.get() on:input=move |ev| text.set(event_target_value(&ev))></textarea>
            {move || match verdict.get() {
                Ok((_, note)) => view! { <p class="muted" data-testid="experiment-status">"Valid."{note.map(|n| format!(" RoPE: {n}."))}</p> }.into_any(),
                Err(e) => view! { <p class="error" data-testid="experiment-status">{e} " (requests keep the last valid experiment)"</p> }.into_any(),
            }}
        </section>
    }
}
