//! One heatmap cell up close: its trials, and for a chosen trial the exact prompt the model saw
//! (rebuilt by the worker from the cell's key; the needles highlighted), the expected answer and
//! the model's answer (generated scoring keeps it; for teacher-forced cells the worker decodes
//! one greedily under the cell's experiment).

use ctxscope_app::protocol::{EventBody, RequestBody, Segment};
use ctxscope_engine::probes::scoring::Scoring;
use ctxscope_engine::probes::sweep::{Cell, SweepConfig};
use leptos::prelude::*;

use crate::state::AppState;

#[derive(Clone, Debug, PartialEq)]
struct Detail {
    segments: Vec<Segment>,
    tokens: usize,
    target: String,
    answers: Vec<String>,
    generated: Option<String>,
}

#[component]
pub fn CellDetail(config: SweepConfig, cells: Vec<Cell>) -> impl IntoView {
    let s = AppState::get();
    let chosen = RwSignal::new(0usize);
    let detail = RwSignal::new(None::<Result<Detail, String>>);
    let cells = StoredValue::new(cells);
    let config = StoredValue::new(config);
    let load = move |k: usize| {
        chosen.set(k);
        detail.set(None);
        let Some(cell) = cells.with_value(|c| c.get(k).cloned()) else { return };
        let cfg = config.get_value();
        let task = cfg.tasks.iter().find(|t| t.name == cell.key.task).map(|t| t.task.clone());
        let experiment = cfg.experiments.iter().find(|e| e.name == cell.key.experiment).map(|e| e.experiment.clone());
        let (Some(task), Some(experiment)) = (task, experiment) else { return };
        // Generated scoring kept the answer; teacher-forced cells get one decoded now.
        let generate = match cfg.scoring {
            Scoring::TeacherForced => Some(32),
            Scoring::Generated { .. } => None,
        };
        let kept = cell.outcome.generated.clone();
        let request = RequestBody::Case {
            task,
            haystack: cfg.haystack.clone(),
            length: cell.key.length,
            depth: cell.key.depth,
            seed: cell.key.seed,
            experiment,
            backend: s.backend.get_untracked(),
            generate,
        };
        s.client().send(request, move |event| match event {
            EventBody::Case { segments, tokens, target, answers, generated } => detail.set(Some(Ok(Detail {
                segments,
                tokens,
                target,
                answers,
                generated: generated.or(kept.clone()),
            }))),
            EventBody::Error { message, .. } => detail.set(Some(Err(message))),
            _ => {}
        });
    };
    load(0);
    view! {
        <section class="panel cell-detail" data-testid="cell-detail">
            {move || cells.with_value(|c| c.first().map(|c| format!("{} · {} · {} tokens · depth {:.0} %", c.key.experiment, c.key.task, c.key.length, c.key.depth * 100.0))).map(|t| view! { <h3>{t}</h3> })}
            <table class="kv">
                <tr><th>"seed"</th><th>"correct"</th><th>"score"</th><th>"answer rank"</th><th>"needle at"</th><th>"rule"</th><th></th></tr>
                {cells.with_value(|c| c.iter().enumerate().map(|(k, c)| view! {
                    <tr class:chosen=move || chosen.get() == k>
                        <td>{c.key.seed}</td><td>{if c.outcome.correct { "✓" } else { "✗" }}</td><td>{format!("{:.3}", c.outcome.score)}</td>
                        <td>{c.outcome.answer_rank}</td><td>{format!("{:.1} %", c.needle_depth * 100.0)}</td><td>{c.outcome.rule.clone()}</td>
                        <td><button class="small secondary" on:click=move |_| load(k)>"show prompt"</button></td>
                    </tr>
                }).collect_view())}
            </table>
            {move || match detail.get() {
                None => view! { <p class="muted">"Rebuilding the prompt in the worker…"</p> }.into_any(),
                Some(Err(e)) => view! { <p class="error">{e}</p> }.into_any(),
                Some(Ok(d)) => view! {
                    <p><strong>"Expected: "</strong><code data-testid="cell-expected">{d.target.clone()}</code>
                        {(!d.answers.is_empty()).then(|| format!(" (matched on: {})", d.answers.join(", ")))}</p>
                    <p><strong>"The model's answer: "</strong><code data-testid="cell-answer">{d.generated.clone().unwrap_or_else(|| "—".into())}</code></p>
                    <p class="muted">{format!("The prompt ({} tokens); needles highlighted:", d.tokens)}</p>
                    <pre class="prompt" data-testid="cell-prompt">{d.segments.iter().map(|seg| if seg.needle {
                        view! { <mark class="needle">{seg.text.clone()}</mark> }.into_any()
                    } else {
                        view! { <span>{seg.text.clone()}</span> }.into_any()
                    }).collect_view()}</pre>
                }.into_any(),
            }}
        </section>
    }
}
