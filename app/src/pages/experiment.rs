//! The Experiment view: experiment A (what every request runs) and, for A/B comparisons,
//! experiment B, each as a form, beside the RoPE view of both.

use leptos::prelude::*;

use crate::components::experiment_form::ExperimentForm;
use crate::components::rope_view::RopeView;
use crate::state::AppState;

#[component]
pub fn ExperimentPage() -> impl IntoView {
    let s = AppState::get();
    // B is edited through its own signal; switching it on copies A as a starting point.
    let b = RwSignal::new(s.experiment_b.get_untracked().unwrap_or_default());
    Effect::new(move |_| {
        let value = b.get();
        if s.experiment_b.with_untracked(Option::is_some) {
            s.experiment_b.set(Some(value));
        }
    });
    view! {
        <section class="panel" data-testid="experiment-view">
            <h2>"Experiment"</h2>
            <p class="muted">"How positions are encoded (the RoPE method) and which keys each head sees (the attention pattern). Every request — recall sweeps, scores, generations — runs experiment A; a recall sweep can also run B on the same grid and draw the difference."</p>
            <div class="two-columns">
                <ExperimentForm target=s.experiment label="Experiment A" />
                <div>
                    <label><input type="checkbox" data-testid="enable-b" prop:checked=move || s.experiment_b.with(Option::is_some) on:change=move |ev| {
                        if event_target_checked(&ev) {
                            b.set(s.experiment.get_untracked());
                            s.experiment_b.set(Some(s.experiment.get_untracked()));
                        } else {
                            s.experiment_b.set(None);
                        }
                    } /> " compare with an experiment B"</label>
                    {move || s.experiment_b.with(Option::is_some).then(|| view! { <ExperimentForm target=b label="Experiment B" /> })}
                </div>
            </div>
        </section>
        <RopeView />
    }
}
