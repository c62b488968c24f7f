//! Shows whether WebGPU is available, the adapter, and the limits the engine depends on.

use leptos::prelude::*;

use super::human_bytes;
use crate::gpu::GpuStatus;

#[component]
pub fn GpuPanel(status: RwSignal<GpuStatus>) -> impl IntoView {
    view! {
        <section class="panel" data-testid="gpu-panel">
            <h2>"Compute"</h2>
            {move || match status.get() {
                GpuStatus::Detecting => view! { <p data-testid="gpu-status">"Detecting WebGPU…"</p> }.into_any(),
                GpuStatus::Unavailable(why) => view! {
                    <p class="notice" data-testid="gpu-status">
                        <strong>"No WebGPU — CPU mode. "</strong>
                        {why}
                        ". Models run on the CPU reference path, which is much slower."
                    </p>
                }.into_any(),
                GpuStatus::Available(a) => view! {
                    <p data-testid="gpu-status">"WebGPU adapter: "<strong data-testid="gpu-adapter">{a.name.clone()}</strong>
                        " (" {a.backend.clone()} ")"</p>
                    <table class="kv">
                        <tr><th>"max storage buffer binding"</th><td>{human_bytes(a.max_storage_buffer_binding_size)}</td></tr>
                        <tr><th>"max buffer size"</th><td>{human_bytes(a.max_buffer_size)}</td></tr>
                        <tr><th>"workgroup shared memory"</th><td>{human_bytes(a.max_compute_workgroup_storage_size as u64)}</td></tr>
                        <tr><th>"invocations per workgroup"</th><td>{a.max_compute_invocations_per_workgroup}</td></tr>
                        <tr><th>"storage buffers per stage"</th><td>{a.max_storage_buffers_per_shader_stage}</td></tr>
                        <tr><th>"shader-f16"</th><td>{if a.shader_f16 { "yes" } else { "no" }}</td></tr>
                    </table>
                }.into_any(),
            }}
        </section>
    }
}
