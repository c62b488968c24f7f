//! The RoPE view: what the experiment(s) do to positions at a chosen length — every pair's
//! wavelength before and after scaling with the trained context marked, the relative position a
//! query sees against the distance (bent by STRING, Self-Extend and ReRoPE), and the attention
//! scaling. Resolved on the page from the engine's `RopeTable` (no model run is needed).

use charming::element::{LineStyle, LineStyleType};
use charming::series::Line;
use charming::Chart;
use ctxscope_engine::experiment::{Experiment, Plan};
use ctxscope_engine::rope::RopeTable;
use leptos::prelude::*;

use super::chart::{base_chart, guide, EChart};
use crate::state::AppState;

/// Wavelength (tokens, log axis) of every pair, before and after scaling.
pub fn wavelength_chart(tables: &[(String, RopeTable)]) -> Chart {
    let mut chart = base_chart(
        "Wavelength of each rotary pair",
        "pair k (fast → slow)",
        "wavelength 2π/θ_k (tokens, log)",
        false,
        true,
    );
    if let Some((_, t)) = tables.first() {
        let standard: Vec<Vec<f64>> = t
            .standard_inv_freq
            .iter()
            .enumerate()
            .map(|(k, &f)| vec![k as f64, 2.0 * std::f64::consts::PI / f as f64])
            .collect();
        chart = chart.series(
            Line::new()
                .name("standard RoPE (before scaling)")
                .data(standard)
                .show_symbol(false)
                .line_style(LineStyle::new().type_(LineStyleType::Dotted))
                .mark_line(guide(t.trained_ctx as f64, "trained context", true)),
        );
    }
    for (name, t) in tables {
        for (r, region) in t.regions.iter().enumerate() {
            let series_name = if t.regions.len() > 1 { format!("{name} (region {r})") } else { name.clone() };
            let data: Vec<Vec<f64>> = region.wavelengths.iter().enumerate().map(|(k, &w)| vec![k as f64, w]).collect();
            chart = chart.series(Line::new().name(series_name).data(data).symbol_size(4));
        }
    }
    chart
}

/// The relative position the last query sees at each distance (log axes).
pub fn effective_chart(tables: &[(String, RopeTable)]) -> Chart {
    let mut chart = base_chart(
        "Relative position seen at each distance",
        "distance Δ = i − j (tokens, log)",
        "effective relative position (log)",
        true,
        true,
    );
    if let Some((_, t)) = tables.first() {
        let identity: Vec<Vec<f64>> =
            t.effective_positions.iter().filter(|p| p.0 > 0).map(|&(d, _)| vec![d as f64, d as f64]).collect();
        chart = chart.series(
            Line::new()
                .name("identity (standard RoPE)")
                .data(identity)
                .show_symbol(false)
                .line_style(LineStyle::new().type_(LineStyleType::Dotted))
                .mark_line(guide(t.trained_ctx as f64, "trained context", false)),
        );
    }
    for (name, t) in tables {
        let data: Vec<Vec<f64>> =
            t.effective_positions.iter().filter(|p| p.0 > 0 && p.1 > 0.0).map(|&(d, p)| vec![d as f64, p]).collect();
        chart = chart.series(Line::new().name(name.clone()).data(data).show_symbol(false));
    }
    chart
}

#[component]
pub fn RopeView() -> impl IntoView {
    let s = AppState::get();
    let length_text = RwSignal::new(String::new());
    let length = Memo::new(move |_| {
        let trained = s.model.with(|m| m.as_ref().map_or(8192, |m| m.spec.context_length));
        match length_text.get().trim() {
            "" => Ok(trained * 2),
            t => t
                .parse::<usize>()
                .ok()
                .filter(|&n| (1..=1 << 27).contains(&n))
                .ok_or_else(|| format!("\"{t}\" is not a length of 1 … 2^27 tokens")),
        }
    });
    let tables = Memo::new(move |_| -> Result<Vec<(String, RopeTable)>, String> {
        let Some(m) = s.model.get() else { return Ok(Vec::new()) };
        let n = length.get()?;
        let mut out = Vec::new();
        let mut add = |name: &str, e: &Experiment| -> Result<(), String> {
            let plan = Plan::new(e, &m.spec).map_err(|e| e.to_string())?;
            out.push((format!("{name}: {}", e.rope.name()), RopeTable::new(&plan, n)));
            Ok(())
        };
        add("A", &s.experiment.get())?;
        if let Some(b) = s.experiment_b.get() {
            add("B", &b)?;
        }
        Ok(out)
    });
    let ok_tables = Signal::derive(move || tables.get().unwrap_or_default());
    view! {
        <section class="panel" data-testid="rope-view">
            <h2>"RoPE view"</h2>
            <div class="row">
                <label>"at a length of " <input type="text" size="8" data-testid="rope-view-length" placeholder="2 × trained"
                    prop:value=move || length_text.get() on:change=move |ev| length_text.set(event_target_value(&ev)) /> " tokens"</label>
                <span class="muted">"(dynamic NTK and LongRoPE change with the length)"</span>
                {move || length.get().err().map(|e| view! { <span class="error">{e}</span> })}
            </div>
            {move || tables.get().err().map(|e| view! { <p class="error">{e}</p> })}
            {move || (s.model.with(Option::is_none)).then(|| view! { <p class="muted">"Load a model to see its RoPE."</p> })}
            <div class="scaling" data-testid="rope-scaling">
                {move || ok_tables.get().into_iter().map(|(name, t)| view! {
                    <p>{format!(
                        "{name} at {} tokens: cos/sin × {:.4} (logits × {:.4}); logit scale at the last query {:.4}; {} key region(s){}",
                        t.seq_len,
                        t.attention_scaling,
                        t.attention_scaling * t.attention_scaling,
                        t.logit_scale_at_last_query,
                        t.regions.len(),
                        t.rope_baseline.as_ref().map(|b| format!("; {b}")).unwrap_or_default()
                    )}</p>
                }).collect_view()}
            </div>
            <div class="charts">
                <EChart chart=Signal::derive(move || wavelength_chart(&ok_tables.get())) name="rope-wavelengths" testid="rope-wavelengths"
                    caption="Each rotary pair turns once per wavelength. Pairs whose wavelength exceeds the trained context (dashed) never completed a turn in training: scaling methods stretch those (the curve rises) and leave the fast pairs alone." />
                <EChart chart=Signal::derive(move || effective_chart(&ok_tables.get())) name="rope-effective-positions" testid="rope-effective"
                    caption="The relative position a query feeds into RoPE for a key at each distance. Plain RoPE follows the identity; STRING, Self-Extend and ReRoPE bend it so that far keys look no farther than positions seen in training (left of the dashed line)." />
            </div>
        </section>
    }
}
