//! The Entropy view: mean attention entropy (nats) against context length, one line per layer
//! or a layer × length map, a head × length map for one layer, and ln(n) of uniform attention
//! for scale; experiments A and B overlaid. Fed by an entropy scan (one text at growing
//! lengths, `probes::entropy_scan`) or by the cells of the Recall sweep.
//!
//! The argument it makes visible: under standard RoPE a query's attention spreads as the
//! context grows (entropy climbs towards ln n); Entropy-ABF's log-n logit scaling (Zhang et al.
//! 2024, arXiv 2401.07004) and StreamingLLM's sinks + window (arXiv 2309.17453) keep it bounded.

use charming::element::{ItemStyle, LineStyle, LineStyleType};
use charming::series::Line;
use charming::Chart;
use ctxscope_app::protocol::{EventBody, RequestBody};
use ctxscope_engine::experiment::Experiment;
use ctxscope_engine::probes::entropy_scan::{EntropyPoint, EntropyScanConfig};
use ctxscope_engine::probes::haystack::Haystack;
use ctxscope_engine::probes::sweep::SweepResults;
use leptos::prelude::*;

use crate::components::chart::{axis, chart_with_axes, EChart};
use crate::components::heatmap::{short_length, Heatmap, Matrix, Source};
use crate::components::signal_select::SignalSelect;
use crate::download::download_text;
use crate::state::inside::{error_text, EntropyCurve, EntropyExport, Inside, Task};
use crate::state::{AppState, RecallRun};

/// Line styles of experiments A, B, … (colour encodes the layer).
const DASHES: [LineStyleType; 3] = [LineStyleType::Solid, LineStyleType::Dashed, LineStyleType::Dotted];

/// A colour per layer along cividis (dark = first layer, yellow = last).
fn layer_colour(layer: usize, layers: usize) -> String {
    crate::components::palette::score_colour(layer as f64 / (layers.max(2) - 1) as f64)
}

/// One line per (experiment, layer) and the uniform-attention reference.
pub fn entropy_chart(curves: &[EntropyCurve]) -> Chart {
    let mut chart = chart_with_axes(
        "Mean attention entropy against context length",
        axis("context length (tokens, log)", Some(2.0)),
        axis("entropy (nats)", None),
        true,
    );
    let layers = curves.iter().flat_map(|c| c.points.first()).map(|p| p.per_layer.len()).max().unwrap_or(0);
    if let Some(c) = curves.first() {
        let data: Vec<Vec<f64>> = c.points.iter().map(|p| vec![p.length as f64, p.uniform as f64]).collect();
        chart = chart.series(
            Line::new()
                .name("uniform attention ln(n)")
                .data(data)
                .show_symbol(false)
                .line_style(LineStyle::new().type_(LineStyleType::Dashed).color("#000").width(1))
                .item_style(ItemStyle::new().color("#000")),
        );
    }
    for (ci, c) in curves.iter().enumerate() {
        for layer in 0..layers {
            let colour = layer_colour(layer, layers);
            let data: Vec<Vec<f64>> = c
                .points
                .iter()
                .filter_map(|p| p.per_layer.get(layer).map(|&v| vec![p.length as f64, v as f64]))
                .collect();
            chart = chart.series(
                Line::new()
                    .name(format!("{} · layer {layer}", c.label))
                    .data(data)
                    .symbol_size(4)
                    .line_style(LineStyle::new().type_(DASHES[ci % DASHES.len()]).color(colour.as_str()).width(1.5))
                    .item_style(ItemStyle::new().color(colour.as_str())),
            );
        }
    }
    chart
}

/// Rows of `rows(point)` against the lengths of a curve, as a heatmap matrix.
fn matrix(
    curve: &EntropyCurve,
    row_axis: &str,
    row_label: &dyn Fn(usize) -> String,
    rows: &dyn Fn(&EntropyPoint) -> Vec<f32>,
    range: (f64, f64),
) -> Matrix {
    let columns: Vec<Vec<f32>> = curve.points.iter().map(rows).collect();
    let n = columns.iter().map(Vec::len).max().unwrap_or(0);
    Matrix {
        rows: (0..n).map(row_label).collect(),
        cols: curve.points.iter().map(|p| short_length(p.length)).collect(),
        row_axis: row_axis.into(),
        col_axis: "length".into(),
        values: (0..n).map(|r| columns.iter().map(|c| c.get(r).map(|&v| v as f64)).collect()).collect(),
        range,
        diverging: false,
        unit: "nats".into(),
    }
}

/// B − A of two matrices of the same shape.
fn difference(a: &Matrix, b: &Matrix) -> Matrix {
    let values: Vec<Vec<Option<f64>>> = a
        .values
        .iter()
        .zip(&b.values)
        .map(|(ra, rb)| ra.iter().zip(rb).map(|(x, y)| Some(y.as_ref()? - x.as_ref()?)).collect())
        .collect();
    let max = values.iter().flatten().flatten().fold(0.0f64, |m, v| m.max(v.abs()));
    Matrix { values, range: (-max, max), diverging: true, ..a.clone() }
}

fn value_range(curves: &[EntropyCurve], f: &dyn Fn(&EntropyPoint) -> Vec<f32>) -> (f64, f64) {
    let all: Vec<f64> = curves.iter().flat_map(|c| c.points.iter().flat_map(f)).map(|v| v as f64).collect();
    let lo = all.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = all.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if lo.is_finite() {
        (lo, hi)
    } else {
        (0.0, 1.0)
    }
}

/// Entropy curves from a sweep's cells: per experiment and length, the mean over its cells of
/// each layer's entropy (over every position of each prompt), and the chosen layer's heads.
pub fn curves_from_sweep(results: &SweepResults) -> Vec<EntropyCurve> {
    let layer = results.config.entropy_layer;
    results
        .config
        .experiments
        .iter()
        .map(|named| {
            let points = results
                .config
                .lengths
                .iter()
                .filter_map(|&length| {
                    let cells: Vec<_> = results
                        .cells
                        .iter()
                        .filter(|c| c.key.experiment == named.name && c.key.length == length)
                        .filter_map(|c| c.entropy.as_ref())
                        .collect();
                    let first = cells.first()?;
                    let mean =
                        |f: &dyn Fn(&ctxscope_engine::probes::sweep::EntropySummary) -> Option<Vec<f32>>| -> Vec<f32> {
                            let rows: Vec<Vec<f32>> = cells.iter().filter_map(|c| f(c)).collect();
                            let n = rows.first().map_or(0, Vec::len);
                            (0..n)
                                .map(|i| {
                                    rows.iter().map(|r| r.get(i).copied().unwrap_or(0.0)).sum::<f32>()
                                        / rows.len() as f32
                                })
                                .collect()
                        };
                    let per_layer = mean(&|e| Some(e.per_layer.clone()));
                    let heads = mean(&|e| e.per_head.clone());
                    let per_head = (0..first.per_layer.len())
                        .map(|l| if Some(l) == layer { heads.clone() } else { Vec::new() })
                        .collect();
                    // Uniform attention over every position i of the prompt: mean of ln(i + 1).
                    let uniform = ((1..=length).map(|i| (i as f64).ln()).sum::<f64>() / length as f64) as f32;
                    Some(EntropyPoint { length, queries: length, per_head, per_layer, uniform, seconds: 0.0 })
                })
                .collect();
            EntropyCurve { label: named.name.clone(), experiment: named.experiment.clone(), points }
        })
        .filter(|c| !c.points.is_empty())
        .collect()
}

#[component]
pub fn EntropyPage() -> impl IntoView {
    let s = AppState::get();
    let state = Inside::get().entropy;
    let recall = RecallRun::get();
    let lengths = state.lengths;
    let tail = state.tail;
    let haystack = RwSignal::new(String::from("filler"));
    let with_b = state.with_b;
    let as_map = RwSignal::new(None::<bool>);
    // None: the middle layer (the first layers are often exempt from scaling methods).
    let head_layer = RwSignal::new(None::<usize>);
    let layers = move || s.model.with(|m| m.as_ref().map_or(0, |m| m.spec.block_count));
    // Lines for a few layers, a map for many, until the user picks.
    let show_map = move || as_map.get().unwrap_or(layers() > 12);
    let max_context = move || s.model.with(|m| m.as_ref().map_or(0, |m| m.max_context));
    let parsed = Memo::new(move |_| -> Result<Vec<usize>, String> {
        let mut v = Vec::new();
        for part in lengths.get().split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let n: usize = part.parse().map_err(|_| format!("\"{part}\" is not a length"))?;
            if n < 2 || n > max_context() {
                return Err(format!("{n} is outside 2 … {} tokens (this backend's limit)", max_context()));
            }
            v.push(n);
        }
        if v.is_empty() {
            return Err("give at least one length".into());
        }
        v.sort_unstable();
        v.dedup();
        Ok(v)
    });
    let run = move || {
        let Ok(lengths) = parsed.get_untracked() else { return };
        let mut experiments = vec![("A".to_string(), s.experiment.get_untracked())];
        if let Some(b) = s.experiment_b.get_untracked().filter(|_| with_b.get_untracked()) {
            experiments.push(("B".to_string(), b));
        }
        let haystack = if haystack.get_untracked() == "noise" { Haystack::Noise } else { Haystack::Filler };
        let config = EntropyScanConfig {
            haystack: haystack.clone(),
            lengths: lengths.clone(),
            tail: tail.get_untracked().max(1),
            seed: 0,
        };
        state.curves.set(
            experiments
                .iter()
                .map(|(label, e)| EntropyCurve { label: label.clone(), experiment: e.clone(), points: Vec::new() })
                .collect(),
        );
        state.source.set(format!(
            "scan of {} text, mean over the last {} queries of each run",
            haystack.name(),
            config.tail
        ));
        let total = lengths.len() * experiments.len();
        let request = RequestBody::EntropyScan {
            backend: s.backend.get_untracked(),
            experiments: experiments.into_iter().map(|(_, e)| e).collect(),
            config,
        };
        // A plain counter, not a signal: `run` may be called from an effect (the tour), whose
        // owner would dispose a signal made here when it reruns.
        let done = std::rc::Rc::new(std::cell::Cell::new(0usize));
        let id = s.client().send(request, move |event| match event {
            EventBody::EntropyPoint { experiment, point } => {
                state.curves.update(|c| {
                    if let Some(curve) = c.get_mut(experiment) {
                        curve.points.push(point);
                        curve.points.sort_by_key(|p| p.length);
                    }
                });
                done.set(done.get() + 1);
                if let Task::Running { id, .. } = state.task.get_untracked() {
                    state.task.set(Task::Running { id, note: format!("{} of {total} runs", done.get()) });
                }
            }
            EventBody::Progress { .. } => {}
            EventBody::EntropyScanDone { .. } => state.task.set(Task::Idle),
            EventBody::Error { code, message, remedy, .. } => {
                state.task.set(Task::Failed(error_text(&code, &message, &remedy)))
            }
            _ => {}
        });
        state.task.set(Task::Running { id, note: format!("0 of {total} runs") });
    };
    // The tour asks for a scan: start it once the model is there.
    Effect::new(move |_| {
        if state.autorun.get()
            && s.model.with(Option::is_some)
            && state.task.with(|t| t.running_id().is_none())
            && parsed.with(Result::is_ok)
        {
            state.autorun.set(false);
            run();
        }
    });
    let from_sweep = move || {
        if let Some(r) = recall.results.get_untracked() {
            state.curves.set(curves_from_sweep(&r));
            state.source.set("the Recall sweep's cells, mean over every position of each prompt".into());
        }
    };
    let sweep_has_entropy =
        move || recall.results.with(|r| r.as_ref().is_some_and(|r| r.cells.iter().any(|c| c.entropy.is_some())));
    let export = move || EntropyExport {
        source: state.source.get_untracked(),
        model: s.model.with_untracked(|m| m.as_ref().and_then(|m| m.spec.name.clone())),
        backend: s
            .backend
            .get_untracked()
            .or(s.model.with_untracked(|m| m.as_ref().map(|m| m.backend)))
            .map(|b| b.name().to_string()),
        unit: "nats".into(),
        curves: state.curves.get_untracked(),
    };
    let set_b = move |e: Experiment| s.experiment_b.set(Some(e));
    let has_points = move || state.curves.with(|c| c.iter().any(|c| !c.points.is_empty()));

    view! {
        <section class="panel" data-testid="entropy-view">
            <h2>"Attention entropy"</h2>
            <p class="muted">"How spread out each layer's attention is, H = −Σ p ln p in nats, as the context grows. ln(n) is the entropy of attention spread evenly over n keys: a curve that follows it has stopped focusing."</p>
            <div class="row">
                <label>"lengths " <input type="text" size="28" data-testid="entropy-lengths" prop:value=move || lengths.get() on:input=move |ev| lengths.set(event_target_value(&ev)) /></label>
                <label>"average the last " <input type="number" min="1" max="4096" data-testid="entropy-tail" prop:value=move || tail.get().to_string() on:input=move |ev| tail.set(event_target_value(&ev).parse().unwrap_or(64)) /> " queries"</label>
                <label>"text " <SignalSelect value=haystack options=&[("filler", "filler sentences"), ("noise", "“The grass is green…”")] /></label>
                <label><input type="checkbox" prop:checked=move || with_b.get() prop:disabled=move || s.experiment_b.with(Option::is_none) on:change=move |ev| with_b.set(event_target_checked(&ev)) /> " overlay B"</label>
            </div>
            <div class="row">
                <span class="muted">"Set B to: "</span>
                <button class="small secondary" data-testid="entropy-b-logn" title="Entropy-ABF's log-n logit scaling, max(1, ln(i+1)/ln 128), with the model's own base; the first two layers exempt"
                    on:click=move |_| set_b(Experiment { rope: ctxscope_engine::rope::RopeMethod::Eabf { base: s.model.with_untracked(|m| m.as_ref().map_or(10_000.0, |m| m.spec.rope_freq_base)), log_n_ctx: Some(128), exempt_layers: 2 }, ..s.experiment.get_untracked() })>"log-n scaling from 128 tokens"</button>
                <button class="small secondary" data-testid="entropy-b-eabf" title="base 500 000 and log-n scaling past the trained context, as published"
                    on:click=move |_| set_b(Experiment { rope: ctxscope_engine::rope::RopeMethod::Eabf { base: 500_000.0, log_n_ctx: None, exempt_layers: 2 }, ..s.experiment.get_untracked() })>"Entropy-ABF as published"</button>
                <button class="small secondary" data-testid="entropy-b-sinks" on:click=move |_| set_b(Experiment { attention: ctxscope_engine::pattern::AttentionPattern::Sinks { sinks: 4, window: 128, positions: Default::default() }, ..s.experiment.get_untracked() })>"sinks 4 + window 128"</button>
                {move || s.experiment_b.get().map(|b| view! { <span class="muted">{format!("B: {} · {}", b.rope.name(), b.attention.name())}</span> })}
            </div>
            <div class="row">
                <button data-testid="entropy-run" prop:disabled=move || state.task.with(|t| t.running_id().is_some()) || s.model.with(Option::is_none) || parsed.with(Result::is_err) on:click=move |_| run()>"Run entropy scan"</button>
                <button data-testid="entropy-cancel" prop:disabled=move || state.task.with(|t| t.running_id().is_none()) on:click=move |_| if let Some(id) = state.task.get_untracked().running_id() { s.client().cancel(id) }>"Cancel"</button>
                <button class="secondary" data-testid="entropy-from-sweep" prop:disabled=move || !sweep_has_entropy() on:click=move |_| from_sweep()>"Use the Recall sweep's cells"</button>
                {move || parsed.get().err().map(|e| view! { <span class="error" data-testid="entropy-invalid">{e}</span> })}
                {move || match state.task.get() {
                    Task::Running { note, .. } => Some(view! { <span class="muted" data-testid="entropy-progress">"Running: " {note}</span> }.into_any()),
                    Task::Failed(e) => Some(view! { <span class="error" data-testid="entropy-error">{e}</span> }.into_any()),
                    Task::Idle => None,
                }}
            </div>
        </section>
        {move || has_points().then(|| {
            let curves = state.curves.get();
            let layer_count = curves.iter().flat_map(|c| c.points.first()).map(|p| p.per_layer.len()).max().unwrap_or(0);
            let heads_layer = head_layer.get().unwrap_or(layer_count / 2).min(layer_count.saturating_sub(1));
            let per_layer_range = value_range(&curves, &|p| p.per_layer.clone());
            let heads_of = move |p: &EntropyPoint| p.per_head.get(heads_layer).cloned().unwrap_or_default();
            let per_head_range = value_range(&curves, &heads_of);
            let json = serde_json::to_string_pretty(&export()).unwrap_or_default();
            let layer_maps = curves.iter().map(|c| matrix(c, "layer", &|l| l.to_string(), &|p| p.per_layer.clone(), per_layer_range)).collect::<Vec<_>>();
            let head_maps = curves.iter().map(|c| matrix(c, "head", &|h| h.to_string(), &heads_of, per_head_range)).collect::<Vec<_>>();
            let diff = |maps: &[Matrix]| (maps.len() == 2 && maps[0].values.len() == maps[1].values.len() && maps[0].cols == maps[1].cols).then(|| difference(&maps[0], &maps[1]));
            let (layer_diff, head_diff) = (diff(&layer_maps), diff(&head_maps));
            let labels: Vec<String> = curves.iter().map(|c| c.label.clone()).collect();
            view! {
                <section class="panel" data-testid="entropy-results">
                    <div class="row">
                        <span class="muted">{format!("Source: {}.", state.source.get())}</span>
                        <label><input type="radio" name="entropy-display" data-testid="entropy-lines" prop:checked=move || !show_map() on:change=move |_| as_map.set(Some(false)) /> " a line per layer"</label>
                        <label><input type="radio" name="entropy-display" data-testid="entropy-map" prop:checked=show_map on:change=move |_| as_map.set(Some(true)) /> " layer × length map"</label>
                        <button class="small secondary" data-testid="entropy-export" on:click=move |_| download_text("ctxscope-entropy.json", "application/json", &json)>"entropy JSON"</button>
                    </div>
                    {if show_map() {
                        let maps = layer_maps.into_iter().zip(labels.clone()).map(|(m, label)| view! {
                            <Heatmap source=Source::Matrix(m) title=format!("{label}: mean entropy per layer (nats)") testid="entropy-layer-map"
                                caption="Each cell: one layer's mean attention entropy at one length (cividis: dark low, yellow high; the same scale for A and B)." />
                        }).collect_view();
                        view! {
                            {maps}
                            {layer_diff.map(|m| view! {
                                <Heatmap source=Source::Matrix(m) title="B − A: entropy per layer (nats)" testid="entropy-layer-diff"
                                    caption="Blue where B's attention is more spread out than A's, red where it is more focused." />
                            })}
                        }.into_any()
                    } else {
                        let chart = entropy_chart(&curves);
                        view! {
                            <EChart chart=Signal::derive(move || chart.clone()) name="ctxscope-entropy" testid="entropy-chart" height=420
                                caption="One line per layer (colour: first layer dark, last yellow); A solid, B dashed; the black dashed line is ln(n), attention spread evenly. Under the model's own RoPE most layers climb with length; log-n scaling multiplies the logits by ln(i+1)/ln L past L tokens and holds them near their level at L (its first two layers are exempt and keep climbing); a sinks + window pattern caps them at ln(window + sinks)." />
                        }.into_any()
                    }}
                    <div class="row">
                        <label>"heads of layer " <input type="number" min="0" max=layer_count.saturating_sub(1).to_string() data-testid="entropy-head-layer" prop:value=heads_layer.to_string()
                            on:change=move |ev| head_layer.set(event_target_value(&ev).parse().ok()) /></label>
                    </div>
                    {head_maps.into_iter().zip(labels).map(|(m, label)| if m.rows.is_empty() {
                        view! { <p class="muted">{format!("{label}: the per-head entropy of layer {heads_layer} was not recorded (a sweep records the heads of its entropy layer only).")}</p> }.into_any()
                    } else {
                        view! {
                            <Heatmap source=Source::Matrix(m) title=format!("{label}: entropy of each head of layer {heads_layer} (nats)") testid="entropy-head-map"
                                caption="Heads that stay dark while the context grows keep focusing (often on the first tokens, the attention sinks); heads that turn yellow spread out." />
                        }.into_any()
                    }).collect_view()}
                    {head_diff.filter(|m| !m.rows.is_empty()).map(|m| view! {
                        <Heatmap source=Source::Matrix(m) title=format!("B − A: entropy of each head of layer {heads_layer}") testid="entropy-head-diff" caption="Per-head difference, B minus A." />
                    })}
                </section>
            }
        })}
    }
}
