//! What a context costs on the loaded model: the weights plus the KV cache for a chosen length,
//! and the largest context that fits the backend's limits.

use leptos::prelude::*;

use crate::state::{human_bytes, AppState};

#[component]
pub fn MemoryEstimate() -> impl IntoView {
    let s = AppState::get();
    let tokens = RwSignal::new(String::from("8192"));
    view! {
        <section class="panel" data-testid="memory-estimate">
            <h2>"Memory for a context"</h2>
            <label>"context " <input type="text" size="8" data-testid="memory-tokens" prop:value=move || tokens.get() on:input=move |ev| tokens.set(event_target_value(&ev)) /> " tokens"</label>
            {move || {
                let m = s.model.get()?;
                let n = match tokens.get().trim().parse::<u64>() {
                    Ok(n) if n > 0 => n,
                    _ => return Some(view! { <p class="error">"Give the context as a whole number of tokens."</p> }.into_any()),
                };
                let spec = &m.spec;
                let kv = spec.kv_bytes_per_token().saturating_mul(n);
                let gpu = m.backend == ctxscope_engine::Backend::Gpu;
                // The GPU keeps the quantized weights; the CPU path dequantizes them to f32.
                let weights = if gpu { spec.file_size } else { spec.parameter_count * 4 };
                let fits = (n as usize) <= m.max_context;
                Some(view! {
                    <table class="kv" data-testid="memory-table">
                        <tr><th>"weights"</th><td>{human_bytes(weights)} {if gpu { " (quantized, on the GPU)" } else { " (f32, on the CPU)" }}</td></tr>
                        <tr><th>"KV cache (f32, one key region)"</th><td>{human_bytes(kv)}</td></tr>
                        <tr><th>"together"</th><td>{human_bytes(weights + kv)}</td></tr>
                        <tr><th>"largest context that fits here"</th><td data-testid="memory-max">{format!("{} tokens on {}", m.max_context, m.device)}</td></tr>
                    </table>
                    {(!fits).then(|| view! { <p class="notice">{format!("{n} tokens does not fit on {}; at most {}.", m.device, m.max_context)}</p> })}
                }.into_any())
            }}
        </section>
    }
}
