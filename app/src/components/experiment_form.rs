//! The experiment as a form: every RoPE method with its parameters and defaults, every attention
//! pattern, the precision mode and the key-cache policy, checked against the loaded model as you
//! type (the engine's own validation messages), and presets for the common ones.
//!
//! The parameter fields are generated from the engine's serde form of each method and pattern —
//! the one `Experiment` type, never a second config format: a field is its serde name, its
//! default is what serde fills in, and a bad value is refused by the same deserialisation the
//! CLI's `--config` uses.

use ctxscope_engine::experiment::{Experiment, KeyCache, Plan};
use ctxscope_engine::pattern::AttentionPattern;
use ctxscope_engine::rope::{RopeMethod, RopePrecision};
use leptos::prelude::*;
use serde_json::{json, Value};

use super::param_fields::ParamFields;
use crate::state::AppState;

const METHODS: [&str; 14] = [
    "model",
    "default",
    "linear",
    "ntk",
    "dynamic",
    "yarn",
    "llama3",
    "longrope",
    "abf",
    "eabf",
    "string",
    "self-extend",
    "rerope",
    "leaky-rerope",
];
const PATTERNS: [&str; 5] = ["full", "window", "sinks", "mswa", "custom"];

/// What each method is, in a line.
fn method_help(m: &str) -> &'static str {
    match m {
        "model" => "the model's own RoPE, with any scaling its GGUF declares",
        "default" => "standard RoPE θ_k = b^(−2k/d) (Su et al. 2021), replacing any declared scaling",
        "linear" => "position interpolation: every θ divided by the factor (Chen et al. 2023)",
        "ntk" => "NTK-aware: a larger base b·s^(d/(d−2)) (bloc97)",
        "dynamic" => "dynamic NTK: the NTK base grows with the length past L (HF)",
        "yarn" => "YaRN: NTK-by-parts ramp and a temperature 0.1 ln s + 1 (Peng et al. 2023)",
        "llama3" => "Llama 3.1's three wavelength bands",
        "longrope" => "LongRoPE: per-pair factors, long ones past the original context (Ding et al. 2024)",
        "abf" => "adjusted base frequency (Xiong et al. 2023)",
        "eabf" => "Entropy-ABF: base 5e5 and log-n logit scaling (Zhang et al. 2024)",
        "string" => "STRING: far distances shifted next to the local window (An et al. 2024)",
        "self-extend" => "Self-Extend: grouped positions for far keys (Jin et al. 2024)",
        "rerope" => "ReRoPE: relative position capped at the window (Su 2023)",
        "leaky-rerope" => "leaky ReRoPE: slope 1/k past the window (Su 2023)",
        _ => "",
    }
}

/// A method with its required fields filled; serde adds every default.
fn starter_method(name: &str, pairs: usize) -> Value {
    match name {
        "linear" | "ntk" | "dynamic" | "yarn" => json!({"method": name, "factor": 2.0}),
        "llama3" => json!({"method": name, "factor": 8.0}),
        "longrope" => {
            json!({"method": name, "short_factor": vec![1.0; pairs], "long_factor": vec![2.0; pairs], "factor": 1.0})
        }
        "abf" => json!({"method": name, "base": 500000.0}),
        _ => json!({"method": name}),
    }
}

fn starter_pattern(name: &str, layers: usize, heads: usize) -> Value {
    match name {
        "window" => json!({"pattern": name, "window": 1024}),
        "sinks" => json!({"pattern": name, "sinks": 4, "window": 1024}),
        "mswa" => json!({"pattern": name, "window": 1024}),
        "custom" => json!({"pattern": name, "windows": vec![vec![0; heads]; layers]}),
        _ => json!({"pattern": name}),
    }
}

/// A few experiments worth comparing.
fn presets() -> Vec<(&'static str, Value)> {
    vec![
        ("the model's own", json!({"version": 1})),
        ("PI ×2", json!({"version": 1, "rope": {"method": "linear", "factor": 2}})),
        ("NTK ×2", json!({"version": 1, "rope": {"method": "ntk", "factor": 2}})),
        ("dynamic NTK ×2", json!({"version": 1, "rope": {"method": "dynamic", "factor": 2}})),
        ("YaRN ×2", json!({"version": 1, "rope": {"method": "yarn", "factor": 2}})),
        ("YaRN ×4", json!({"version": 1, "rope": {"method": "yarn", "factor": 4}})),
        ("STRING", json!({"version": 1, "rope": {"method": "string"}})),
        ("Self-Extend", json!({"version": 1, "rope": {"method": "self-extend"}})),
        ("ReRoPE", json!({"version": 1, "rope": {"method": "rerope"}})),
        ("Entropy-ABF", json!({"version": 1, "rope": {"method": "eabf"}})),
        ("sliding window 1k", json!({"version": 1, "attention": {"pattern": "window", "window": 1024}})),
        ("sinks + window", json!({"version": 1, "attention": {"pattern": "sinks", "sinks": 4, "window": 1024}})),
        ("bf16 RoPE", json!({"version": 1, "precision": "bf16"})),
    ]
}

/// The experiment form, editing `target`.
#[component]
pub fn ExperimentForm(target: RwSignal<Experiment>, #[prop(into)] label: String) -> impl IntoView {
    let s = AppState::get();
    let problem = RwSignal::new(None::<String>);
    let pairs = move || s.model.with(|m| m.as_ref().map_or(32, |m| m.spec.head_dim / 2));
    let shape = move || s.model.with(|m| m.as_ref().map_or((30, 9), |m| (m.spec.block_count, m.spec.head_count)));
    // Applies an edited experiment: the engine's checks decide; the last valid one stays in use.
    let apply = move |candidate: Result<Experiment, String>| {
        let checked = candidate.and_then(|e| match s.model.get_untracked() {
            Some(m) => Plan::new(&e, &m.spec).map(|_| e).map_err(|err| err.to_string()),
            None => Ok(e),
        });
        match checked {
            Ok(e) => {
                problem.set(None);
                target.set(e);
            }
            Err(e) => problem.set(Some(e)),
        }
    };
    let rope_value = Signal::derive(move || serde_json::to_value(&target.get().rope).unwrap_or_default());
    let pattern_value = Signal::derive(move || serde_json::to_value(&target.get().attention).unwrap_or_default());
    let set_rope = Callback::new(move |v: Value| {
        let rope = serde_json::from_value::<RopeMethod>(v).map_err(|e| e.to_string());
        apply(rope.map(|rope| Experiment { rope, ..target.get_untracked() }));
    });
    let set_pattern = Callback::new(move |v: Value| {
        let attention = serde_json::from_value::<AttentionPattern>(v).map_err(|e| e.to_string());
        apply(attention.map(|attention| Experiment { attention, ..target.get_untracked() }));
    });
    let id = label.to_lowercase().replace(' ', "-");
    let (id_method, id_pattern, id_precision, id_cache) =
        (format!("{id}-method"), format!("{id}-pattern"), format!("{id}-precision"), format!("{id}-key-cache"));
    view! {
        <div class="experiment-form" data-testid=format!("{id}-form")>
            <h3>{label.clone()}</h3>
            <div class="row presets">
                {presets().into_iter().map(|(name, v)| view! {
                    <button class="small secondary" on:click=move |_| apply(Experiment::from_json(&v.to_string()).map_err(|e| e.to_string()))>{name}</button>
                }).collect_view()}
            </div>
            <label>"RoPE method "
                <select data-testid=id_method on:change=move |ev| set_rope.run(starter_method(&event_target_value(&ev), pairs()))>
                    {METHODS.into_iter().map(|m| view! { <option value=m selected=move || target.with(|e| e.rope.name() == m)>{m}</option> }).collect_view()}
                </select>
            </label>
            <p class="muted help">{move || method_help(target.with(|e| e.rope.name()))}</p>
            <ParamFields object=rope_value tag="method" on_change=set_rope prefix=format!("{id}-rope") />
            <label>"Attention pattern "
                <select data-testid=id_pattern on:change=move |ev| { let (l, h) = shape(); set_pattern.run(starter_pattern(&event_target_value(&ev), l, h)) }>
                    {PATTERNS.into_iter().map(|p| view! { <option value=p selected=move || target.with(|e| e.attention.name() == p)>{p}</option> }).collect_view()}
                </select>
            </label>
            <ParamFields object=pattern_value tag="pattern" on_change=set_pattern prefix=format!("{id}-attention") />
            <div class="row">
                <label>"RoPE precision "
                    <select data-testid=id_precision on:change=move |ev| {
                        let p = RopePrecision::ALL.into_iter().find(|p| p.name() == event_target_value(&ev)).unwrap_or_default();
                        apply(Ok(Experiment { precision: p, ..target.get_untracked() }));
                    }>
                        {RopePrecision::ALL.into_iter().map(|p| view! { <option value=p.name() selected=move || target.with(|e| e.precision == p)>{p.name()}</option> }).collect_view()}
                    </select>
                </label>
                <label>"key cache "
                    <select data-testid=id_cache on:change=move |ev| {
                        let k = match event_target_value(&ev).as_str() { "pre-rope" => KeyCache::PreRope, "post-rope" => KeyCache::PostRope, _ => KeyCache::Recompute };
                        apply(Ok(Experiment { key_cache: k, ..target.get_untracked() }));
                    }>
                        {[(KeyCache::Recompute, "recompute"), (KeyCache::PreRope, "pre-rope"), (KeyCache::PostRope, "post-rope")].into_iter()
                            .map(|(k, n)| view! { <option value=n selected=move || target.with(|e| e.key_cache == k)>{n}</option> }).collect_view()}
                    </select>
                </label>
            </div>
            {let id = id.clone(); move || match problem.get() {
                Some(p) => view! { <p class="error" data-testid=format!("{id}-problem")>{p} " — the last valid experiment stays in use."</p> }.into_any(),
                None => {
                    let note = s.model.with(|m| m.as_ref().and_then(|m| Plan::new(&target.get(), &m.spec).ok()).and_then(|p| p.baseline_note()));
                    view! { <p class="muted" data-testid=format!("{id}-status")>"Valid for this model." {note.map(|n| format!(" RoPE: {n}."))}</p> }.into_any()
                }
            }}
            <details><summary>"as JSON"</summary><pre class="json" data-testid=format!("{id}-json")>{move || serde_json::to_string(&target.get()).unwrap_or_default()}</pre></details>
        </div>
    }
}
