//! The loaded model's metadata, its declared RoPE and what a context costs.

use leptos::prelude::*;

use crate::state::{human_bytes, AppState};

#[component]
pub fn ModelInfoPanel() -> impl IntoView {
    let s = AppState::get();
    move || {
        s.model.get().map(|m| {
            let spec = m.spec.clone();
            let types = spec.tensor_types.iter().map(|(t, n)| format!("{t} × {n}")).collect::<Vec<_>>().join(", ");
            view! {
                <section class="panel" data-testid="model-info">
                    <h2>"Model: " {spec.name.clone().unwrap_or_else(|| "unnamed".into())}</h2>
                    <table class="kv">
                        <tr><th>"source"</th><td>{m.source.clone()}</td></tr>
                        <tr><th>"sha256"</th><td class="mono" data-testid="model-sha">{m.sha256.clone()}</td></tr>
                        <tr><th>"architecture"</th><td>{spec.architecture.clone()}</td></tr>
                        <tr><th>"layers"</th><td data-testid="model-layers">{spec.block_count}</td></tr>
                        <tr><th>"embedding / FFN width"</th><td>{spec.embedding_length} " / " {spec.feed_forward_length}</td></tr>
                        <tr><th>"heads (query / KV)"</th><td>{spec.head_count} " / " {spec.head_count_kv} ", head dim " {spec.head_dim}</td></tr>
                        <tr><th>"trained context"</th><td data-testid="model-context">{spec.context_length} " tokens"</td></tr>
                        <tr><th>"RoPE"</th><td>"base " {spec.rope_freq_base} "; declared scaling: " {spec.rope.describe()}</td></tr>
                        <tr><th>"vocabulary"</th><td>{spec.vocab_size} {if spec.tied_output { " (output tied to embedding)" } else { "" }}</td></tr>
                        <tr><th>"parameters"</th><td>{format!("{:.1} M", spec.parameter_count as f64 / 1e6)}</td></tr>
                        <tr><th>"file size"</th><td>{human_bytes(spec.file_size)}</td></tr>
                        <tr><th>"KV cache per token"</th><td>{human_bytes(spec.kv_bytes_per_token())} " (f32)"</td></tr>
                        <tr><th>"largest context here"</th><td data-testid="model-max-context">{m.max_context.min(spec.context_length * 64)} " tokens on " {m.device.clone()}</td></tr>
                        <tr><th>"tensor types"</th><td>{types}</td></tr>
                    </table>
                </section>
            }
        })
    }
}
