//! The Tour view: every teaching preset with what it shows, its paper, what was observed on the
//! default model, and its share link; "Start the tour" walks through them in order.

use leptos::prelude::*;

use crate::components::sweep_form::SweepInputs;
use crate::state::inside::Inside;
use crate::state::share::{page_base, Shared};
use crate::state::tour::{go, on_cpu, variant, Tour};
use crate::state::AppState;

#[component]
pub fn TourPage() -> impl IntoView {
    let (s, shared, tour, inside) = (AppState::get(), Shared::get(), Tour::get(), Inside::get());
    let inputs = use_context::<SweepInputs>().expect("SweepInputs is provided by App");
    let cards = move || {
        let cpu = on_cpu(s);
        tour.presets.with_value(|presets| {
            presets
                .iter()
                .enumerate()
                .map(|(k, p)| {
                    let v = variant(s, p);
                    let link = tour.model.with_value(|m| v.state(p, m).url(&page_base()).unwrap_or_default());
                    view! {
                        <li class="tour-card" data-testid="tour-card">
                            <h3>{format!("{}. {}", k + 1, p.title)}</h3>
                            <p>{p.explain.clone()}</p>
                            <p class="muted">"Paper: " {p.paper.clone()}</p>
                            <p><strong>"Observed on an H200: "</strong>{p.full.observed.clone()}</p>
                            <p><strong>"On the CPU fallback: "</strong>{p.cpu.note.clone().unwrap_or_default()} " " {p.cpu.observed.clone()}</p>
                            <div class="row">
                                <button class="small" on:click=move |_| go(s, shared, inputs, tour, inside, k)>"Open this step"</button>
                                <a href=link data-testid="tour-link">{if cpu { "share link (CPU variant)" } else { "share link" }}</a>
                            </div>
                        </li>
                    }
                })
                .collect_view()
        })
    };
    view! {
        <section class="panel" data-testid="tour-view">
            <h2>"A guided tour"</h2>
            <p class="muted">{move || format!(
                "{} steps, each a share link to one result from the long-context literature, measured on SmolLM2-135M. Each step opens its experiment, runs with one click, and says whether this run reproduced the recorded one.{}",
                tour.len(),
                if on_cpu(s) { " This page runs on the CPU fallback: every step runs a shorter variant (each says how), and the full-length outcome is quoted beside it." } else { "" }
            )}</p>
            <button data-testid="tour-start" on:click=move |_| go(s, shared, inputs, tour, inside, 0)>"Start the tour"</button>
            <ol class="tour-list">{cards}</ol>
        </section>
    }
}
