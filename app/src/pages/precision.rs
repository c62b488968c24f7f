//! The Precision view: AnchorAttention's argument (Wang et al. 2024, arXiv 2411.13476, §3) that
//! RoPE in bf16 stops being purely relative as the absolute position grows. The probe draws
//! |logit(m+Δ, m) − its f64 value| against the absolute position m for each precision mode and
//! distance Δ; beside it, one prompt scored with RoPE in f32 and in another mode, token by
//! token, with the first token where they part by more than a threshold.

use charming::element::{ItemStyle, LineStyle, LineStyleType};
use charming::series::Line;
use charming::Chart;
use ctxscope_app::plot::first_parting;
use ctxscope_app::protocol::{EventBody, Input, RequestBody};
use ctxscope_engine::experiment::Experiment;
use ctxscope_engine::probes::haystack::Haystack;
use ctxscope_engine::rope::precision::{ProbeConfig, ProbeResult};
use ctxscope_engine::rope::RopePrecision;
use leptos::prelude::*;

use crate::components::chart::{axis, chart_with_axes, EChart};
use crate::components::mecw_panel::SERIES_COLOURS;
use crate::download::download_text;
use crate::state::inside::{error_text, Inside, PrecisionScores, Task};
use crate::state::AppState;

/// |Δ log p| (nats) above which two scorings count as parted.
pub const PART_THRESHOLD: f64 = 0.01;

const DASHES: [LineStyleType; 3] = [LineStyleType::Solid, LineStyleType::Dashed, LineStyleType::Dotted];

/// One series per (mode, Δ): mean |Δlogit| against m (log axes; m = 0 is left out).
pub fn probe_chart(result: &ProbeResult) -> Chart {
    let mut chart = chart_with_axes(
        "RoPE logit error against absolute position",
        axis("absolute key position m (tokens, log)", Some(2.0)),
        axis("mean |logit − f64 logit| (log)", Some(10.0)).name_gap(70),
        true,
    );
    let deltas: Vec<usize> = result.config.deltas.clone();
    for series in &result.series {
        let mi = RopePrecision::ALL.iter().position(|&m| m == series.mode).unwrap_or(0);
        let di = deltas.iter().position(|&d| d == series.delta).unwrap_or(0);
        let colour = SERIES_COLOURS[mi % SERIES_COLOURS.len()];
        // A log axis cannot show 0: an exact value (f32 at m = 0) is drawn at 1e-12.
        let data: Vec<Vec<f64>> = result
            .config
            .starts
            .iter()
            .zip(&series.mean_abs_deviation)
            .filter(|(&m, _)| m > 0)
            .map(|(&m, &d)| vec![m as f64, d.max(1e-12)])
            .collect();
        chart = chart.series(
            Line::new()
                .name(format!("{} · Δ={}", series.mode.name(), series.delta))
                .data(data)
                .symbol_size(5)
                .line_style(LineStyle::new().type_(DASHES[di % DASHES.len()]).color(colour).width(1.5))
                .item_style(ItemStyle::new().color(colour)),
        );
    }
    chart
}

/// Log-probabilities of each continuation token under the two precisions.
fn scores_chart(s: &PrecisionScores) -> Chart {
    let chart = chart_with_axes(
        &format!("Continuation log-probabilities: f32 vs {} RoPE", s.other_name),
        axis("continuation token", None),
        axis("log p (nats)", None),
        true,
    );
    let series = |name: &str, values: &[f64], colour: &str| {
        Line::new()
            .name(name)
            .data(values.iter().enumerate().map(|(i, &v)| vec![i as f64, v]).collect::<Vec<_>>())
            .symbol_size(4)
            .line_style(LineStyle::new().color(colour))
            .item_style(ItemStyle::new().color(colour))
    };
    chart.series(series("f32", &s.reference.logprobs, SERIES_COLOURS[0])).series(series(
        &s.other_name,
        &s.other.logprobs,
        SERIES_COLOURS[1],
    ))
}

#[component]
pub fn PrecisionPage() -> impl IntoView {
    let s = AppState::get();
    let state = Inside::get().precision;
    let deltas = state.deltas;
    let samples = RwSignal::new(256usize);
    let prompt_tokens = RwSignal::new(2048usize);
    let own_prompt = RwSignal::new(None::<String>);
    let continuation = RwSignal::new(String::from(
        " The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again.",
    ));
    let other = RwSignal::new(RopePrecision::Bf16);
    let probe = move || {
        let parsed: Result<Vec<usize>, _> = deltas
            .get_untracked()
            .split(',')
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(str::parse::<usize>)
            .collect();
        let deltas = match parsed {
            Ok(d) if !d.is_empty() => d,
            _ => return state.task.set(Task::Failed("distances Δ: whole numbers separated by commas".into())),
        };
        let config =
            ProbeConfig { deltas, samples: samples.get_untracked().clamp(1, 100_000), ..ProbeConfig::default() };
        let id = s.client().send(
            RequestBody::PrecisionProbe { experiment: s.experiment.get_untracked(), config },
            move |event| match event {
                EventBody::PrecisionProbe { result } => {
                    state.probe.set(Some(result));
                    state.task.set(Task::Idle);
                }
                EventBody::Error { code, message, remedy, .. } => {
                    state.task.set(Task::Failed(error_text(&code, &message, &remedy)))
                }
                _ => {}
            },
        );
        state.task.set(Task::Running { id, note: "the probe".into() });
    };
    // The tour asks for the probe: run it once the model is there.
    Effect::new(move |_| {
        if state.autorun.get() && s.model.with(Option::is_some) && state.task.with(|t| t.running_id().is_none()) {
            state.autorun.set(false);
            probe();
        }
    });
    // Scores the prompt under f32 RoPE, then under the other mode.
    let score_both = move |prompt: String| {
        let base = s.experiment.get_untracked();
        let other_mode = other.get_untracked();
        let cont = continuation.get_untracked();
        let request = |precision: RopePrecision| RequestBody::Score {
            backend: s.backend.get_untracked(),
            experiment: Experiment { precision, ..base.clone() },
            prompt: prompt.clone(),
            continuation: cont.clone(),
            entropy: false,
            attention_row: None,
        };
        let second = request(other_mode);
        let id = s.client().send(request(RopePrecision::F32), move |event| match event {
            EventBody::Scored { output: reference, .. } => {
                let id = s.client().send(second.clone(), move |event| match event {
                    EventBody::Scored { output, .. } => {
                        state.scores.set(Some(PrecisionScores {
                            prompt_tokens: output.prompt_tokens,
                            pieces: Vec::new(),
                            reference: reference.clone(),
                            other: output,
                            other_name: other_mode.name().into(),
                        }));
                        state.task.set(Task::Idle);
                    }
                    EventBody::Error { code, message, remedy, .. } => {
                        state.task.set(Task::Failed(error_text(&code, &message, &remedy)))
                    }
                    _ => {}
                });
                state.task.set(Task::Running { id, note: format!("scoring with {} RoPE", other_mode.name()) });
            }
            EventBody::Error { code, message, remedy, .. } => {
                state.task.set(Task::Failed(error_text(&code, &message, &remedy)))
            }
            _ => {}
        });
        state.task.set(Task::Running { id, note: "scoring with f32 RoPE".into() });
    };
    let score = move || match own_prompt.get_untracked() {
        Some(text) => score_both(text),
        None => {
            let input =
                Input::Haystack { haystack: Haystack::Filler, tokens: prompt_tokens.get_untracked().max(1), seed: 0 };
            let id = s.client().send(RequestBody::Text { input }, move |event| match event {
                EventBody::Text { text, .. } => score_both(text),
                EventBody::Error { code, message, remedy, .. } => {
                    state.task.set(Task::Failed(error_text(&code, &message, &remedy)))
                }
                _ => {}
            });
            state.task.set(Task::Running { id, note: "building the prompt".into() });
        }
    };
    let busy = move || state.task.with(|t| t.running_id().is_some()) || s.model.with(Option::is_none);

    view! {
        <section class="panel" data-testid="precision-view">
            <h2>"RoPE precision"</h2>
            <p class="muted">"Rotary embeddings should make a query–key logit depend only on their distance Δ. Computed in bf16, the rotation angle m·θ loses digits as the absolute position m grows, so the same Δ gives different logits at different places in the context. The probe measures that with random q and k under experiment A's frequencies."</p>
            <div class="row">
                <label>"distances Δ " <input type="text" size="14" data-testid="precision-deltas" prop:value=move || deltas.get() on:input=move |ev| deltas.set(event_target_value(&ev)) /></label>
                <label>"samples " <input type="number" min="1" max="100000" prop:value=move || samples.get().to_string() on:change=move |ev| samples.set(event_target_value(&ev).parse().unwrap_or(256)) /></label>
                <button data-testid="precision-run" prop:disabled=busy on:click=move |_| probe()>"Run the probe"</button>
                {move || match state.task.get() {
                    Task::Running { note, .. } => Some(view! { <span class="muted" data-testid="precision-progress">"Running: " {note}</span> }.into_any()),
                    Task::Failed(e) => Some(view! { <span class="error" data-testid="precision-error">{e}</span> }.into_any()),
                    Task::Idle => None,
                }}
            </div>
            {move || state.probe.get().map(|result| {
                let chart = probe_chart(&result);
                let json = serde_json::to_string_pretty(&result).unwrap_or_default();
                view! {
                    <EChart chart=Signal::derive(move || chart.clone()) name="ctxscope-rope-precision" testid="precision-chart" height=400
                        caption="One line per precision mode (colour) and distance Δ (dash). Every mode grows with m, f32 from far below: bf16 and f16 round the rotated q and k; the *-angles modes also hold the position and the angle m·θ in 16 bits, the failure AnchorAttention describes, and lose the rotation entirely at large m." />
                    <table class="kv" data-testid="precision-table">
                        <caption>"Spread of logit(m+Δ, m) over m (0 for ideal, purely relative RoPE)"</caption>
                        <tr><th>"mode"</th><th>"Δ"</th><th>"spread over m"</th><th>"error at the largest m"</th></tr>
                        {result.series.iter().map(|x| view! {
                            <tr><td>{x.mode.name()}</td><td>{x.delta}</td><td>{format!("{:.3e}", x.spread_over_starts)}</td><td>{format!("{:.3e}", x.mean_abs_deviation.last().copied().unwrap_or(0.0))}</td></tr>
                        }).collect_view()}
                    </table>
                    <button class="small secondary" data-testid="precision-export" on:click=move |_| download_text("ctxscope-rope-precision.json", "application/json", &json)>"probe JSON"</button>
                }
            })}
        </section>
        <section class="panel" data-testid="precision-score">
            <h3>"One prompt, f32 RoPE against another mode"</h3>
            <div class="row">
                <label><input type="radio" name="precision-prompt" prop:checked=move || own_prompt.with(Option::is_none) on:change=move |_| own_prompt.set(None) /> " filler text of "
                    <input type="number" min="1" max="131072" data-testid="precision-tokens" prop:value=move || prompt_tokens.get().to_string() on:change=move |ev| prompt_tokens.set(event_target_value(&ev).parse().unwrap_or(2048)) /> " tokens"</label>
                <label><input type="radio" name="precision-prompt" prop:checked=move || own_prompt.with(Option::is_some) on:change=move |_| own_prompt.set(Some(String::new())) /> " your prompt"</label>
                <label>"against " <select data-testid="precision-other" on:change=move |ev| other.set(RopePrecision::ALL.into_iter().find(|m| m.name() == event_target_value(&ev)).unwrap_or(RopePrecision::Bf16))>
                    {RopePrecision::ALL.into_iter().filter(|&m| m != RopePrecision::F32).map(|m| view! { <option value=m.name() selected=move || other.get() == m>{m.name()}</option> }).collect_view()}
                </select></label>
            </div>
            {move || own_prompt.get().map(|p| view! { <textarea rows="4" class="wide" prop:value=p on:input=move |ev| own_prompt.set(Some(event_target_value(&ev)))></textarea> })}
            <div class="row">
                <label>"continuation " <input type="text" size="60" data-testid="precision-continuation" prop:value=move || continuation.get() on:input=move |ev| continuation.set(event_target_value(&ev)) /></label>
                <button data-testid="precision-score-run" prop:disabled=busy on:click=move |_| score()>"Score both"</button>
            </div>
            {move || state.scores.get().map(|sc| {
                let parting = first_parting(&sc.reference.logprobs, &sc.other.logprobs, PART_THRESHOLD);
                let max_diff = sc.reference.logprobs.iter().zip(&sc.other.logprobs).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
                let chart = scores_chart(&sc);
                view! {
                    <p data-testid="precision-parting">{format!(
                        "{} prompt tokens. Σ log p: f32 {:.4}, {} {:.4}; largest per-token |Δ| {max_diff:.4} nats; {}.",
                        sc.prompt_tokens, sc.reference.logprob_sum, sc.other_name, sc.other.logprob_sum,
                        match parting { Some(i) => format!("they part (|Δ| > {PART_THRESHOLD}) at continuation token {i}"), None => format!("they never part by more than {PART_THRESHOLD}") }
                    )}</p>
                    <EChart chart=Signal::derive(move || chart.clone()) name="ctxscope-precision-scores" testid="precision-scores-chart" height=300
                        caption="Each continuation token's log-probability with RoPE in f32 and in the other mode; where the lines separate, rounding in the rotation has changed what the model predicts." />
                    <table class="kv">
                        <tr><th>"token"</th><th>"id"</th><th>"log p, f32"</th><th>{sc.other_name.clone()}</th><th>"Δ"</th></tr>
                        {sc.reference.continuation_ids.iter().enumerate().map(|(i, id)| {
                            let (a, b) = (sc.reference.logprobs[i], sc.other.logprobs.get(i).copied().unwrap_or(f64::NAN));
                            view! { <tr class:parted=Some(i) == parting><td>{i}</td><td>{*id}</td><td>{format!("{a:.4}")}</td><td>{format!("{b:.4}")}</td><td>{format!("{:+.4}", b - a)}</td></tr> }
                        }).collect_view()}
                    </table>
                }
            })}
        </section>
    }
}
