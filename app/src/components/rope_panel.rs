//! The experiment's RoPE table and the precision probe, computed in the worker (summaries here;
//! the playground draws them).

use ctxscope_app::protocol::{EventBody, RequestBody};
use ctxscope_engine::rope::precision::ProbeConfig;
use leptos::prelude::*;

use crate::state::AppState;

#[component]
pub fn RopePanel() -> impl IntoView {
    let s = AppState::get();
    let seq_len = RwSignal::new(String::from("16384"));
    let out = RwSignal::new(None::<String>);
    let table = move || {
        let Ok(n) = seq_len.get_untracked().trim().parse::<usize>() else {
            out.set(Some("the length must be a whole number of tokens".into()));
            return;
        };
        s.client().send(RequestBody::RopeTable { experiment: s.experiment.get_untracked(), seq_len: n.max(1) }, move |event| match event {
            EventBody::RopeTable { table: t } => out.set(Some(format!(
                "{} at {} tokens: {} region(s); θ_0 = {:.4e}, θ_last = {:.4e} (longest wavelength {:.0} tokens against {} trained); cos/sin × {:.4}; logit scale at the last query {:.4}",
                t.experiment.rope.name(),
                t.seq_len,
                t.regions.len(),
                t.inv_freq[0],
                t.inv_freq[t.inv_freq.len() - 1],
                t.wavelengths[t.wavelengths.len() - 1],
                t.trained_ctx,
                t.attention_scaling,
                t.logit_scale_at_last_query
            ))),
            EventBody::Error { message, .. } => out.set(Some(message)),
            _ => {}
        });
    };
    let probe = move || {
        let config = ProbeConfig {
            deltas: vec![1, 16],
            starts: vec![0, 1024, 8192, 32768],
            samples: 64,
            seed: 0,
            ..ProbeConfig::default()
        };
        s.client().send(
            RequestBody::PrecisionProbe { experiment: s.experiment.get_untracked(), config },
            move |event| match event {
                EventBody::PrecisionProbe { result } => out.set(Some(
                    result
                        .series
                        .iter()
                        .map(|sr| {
                            format!(
                                "{} Δ={}: |Δlogit| at 32k = {:.3}",
                                sr.mode.name(),
                                sr.delta,
                                sr.mean_abs_deviation.last().copied().unwrap_or(0.0)
                            )
                        })
                        .collect::<Vec<_>>()
                        .join(" · "),
                )),
                EventBody::Error { message, .. } => out.set(Some(message)),
                _ => {}
            },
        );
    };
    view! {
        <section class="panel" data-testid="rope">
            <h2>"RoPE"</h2>
            <div class="row">
                <label>"at " <input type="text" size="7" data-testid="rope-len" prop:value=move || seq_len.get() on:input=move |ev| seq_len.set(event_target_value(&ev)) /> " tokens"</label>
                <button data-testid="rope-table" prop:disabled=move || s.model.with(Option::is_none) on:click=move |_| table()>"RoPE table"</button>
                <button data-testid="rope-probe" prop:disabled=move || s.model.with(Option::is_none) on:click=move |_| probe()>"Precision probe"</button>
            </div>
            {move || out.get().map(|o| view! { <p data-testid="rope-out">{o}</p> })}
        </section>
    }
}
