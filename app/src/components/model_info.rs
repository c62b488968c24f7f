//! The loaded model's metadata.

use leptos::prelude::*;

use super::human_bytes;
use crate::state::SharedModel;

#[component]
pub fn ModelInfo(model: RwSignal<Option<SharedModel>>) -> impl IntoView {
    move || {
        model.get().map(|m| {
            let s = m.file.spec().clone();
            let types = s.tensor_types.iter().map(|(t, n)| format!("{t} × {n}")).collect::<Vec<_>>().join(", ");
            view! {
                <section class="panel" data-testid="model-info">
                    <h2>"Model: " {s.name.clone().unwrap_or_else(|| "unnamed".into())}</h2>
                    <table class="kv">
                        <tr><th>"source"</th><td>{m.source.label()}</td></tr>
                        <tr><th>"architecture"</th><td>{s.architecture.clone()}</td></tr>
                        <tr><th>"layers"</th><td data-testid="model-layers">{s.block_count}</td></tr>
                        <tr><th>"embedding / FFN width"</th><td>{s.embedding_length} " / " {s.feed_forward_length}</td></tr>
                        <tr><th>"heads (query / KV)"</th><td>{s.head_count} " / " {s.head_count_kv} ", head dim " {s.head_dim}</td></tr>
                        <tr><th>"trained context"</th><td data-testid="model-context">{s.context_length} " tokens"</td></tr>
                        <tr><th>"RoPE base"</th><td>{s.rope_freq_base}</td></tr>
                        <tr><th>"RMSNorm ε"</th><td>{format!("{:e}", s.rms_norm_eps as f32)}</td></tr>
                        <tr><th>"vocabulary"</th><td>{s.vocab_size} {if s.tied_output { " (output tied to embedding)" } else { "" }}</td></tr>
                        <tr><th>"parameters"</th><td>{format!("{:.1} M", s.parameter_count as f64 / 1e6)}</td></tr>
                        <tr><th>"file size"</th><td>{human_bytes(s.file_size)}</td></tr>
                        <tr><th>"KV cache per token"</th><td>{human_bytes(s.kv_bytes_per_token())} " (f32)"</td></tr>
                        <tr><th>"tensor types"</th><td>{types}</td></tr>
                    </table>
                </section>
            }
        })
    }
}
