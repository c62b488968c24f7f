//! Where the model runs: what WebGPU offers in the engine worker, the backend the next load asks
//! for, and the one requests use.

use ctxscope_engine::backend::{Backend, BackendChoice};
use leptos::prelude::*;

use crate::state::{human_bytes, AppState};

#[component]
pub fn ComputePanel() -> impl IntoView {
    let s = AppState::get();
    let gpu_usable = move || s.gpu.with(|g| g.as_ref().is_some_and(|g| g.available));
    view! {
        <section class="panel" data-testid="gpu-panel">
            <h2>"Compute"</h2>
            {move || match s.gpu.get() {
                None => view! { <p data-testid="gpu-status">"Starting the engine worker…"</p> }.into_any(),
                Some(g) if !g.available => view! {
                    <p class="notice" data-testid="gpu-status"><strong>"No WebGPU — CPU mode. "</strong>{g.description}
                        ". Models run on the CPU reference path (candle, f32) in a worker."</p>
                }.into_any(),
                Some(g) => view! {
                    <p data-testid="gpu-status">"WebGPU adapter: " <strong data-testid="gpu-adapter">{g.description.clone()}</strong></p>
                    {g.software.then(|| view! {
                        <p class="notice" data-testid="gpu-software">"This adapter is a software renderer: it runs the WGSL engine far slower than the CPU path, so "
                            <em>"auto"</em>" runs on the CPU."</p>
                    })}
                    <table class="kv">
                        <tr><th>"max storage buffer binding"</th><td>{human_bytes(g.max_storage_binding)}</td></tr>
                        <tr><th>"max buffer size"</th><td>{human_bytes(g.max_buffer_size)}</td></tr>
                        <tr><th>"subgroups / shader-f16"</th><td data-testid="gpu-features">{format!("{} / {}", yes(g.subgroups), yes(g.shader_f16))}</td></tr>
                    </table>
                }.into_any(),
            }}
            <div class="row">
                <label>"Load on "
                    <select data-testid="backend-choice" on:change=move |ev| {
                        s.backend_choice.set(match event_target_value(&ev).as_str() { "cpu" => BackendChoice::Cpu, "gpu" => BackendChoice::Gpu, _ => BackendChoice::Auto });
                    }>
                        <option value="auto" selected=true>"auto (GPU if it is faster)"</option>
                        <option value="cpu">"CPU"</option>
                        <option value="gpu" disabled=move || !gpu_usable()>"GPU"</option>
                    </select>
                </label>
                <label>"Run requests on "
                    <select data-testid="request-backend" on:change=move |ev| {
                        s.backend.set(match event_target_value(&ev).as_str() { "cpu" => Some(Backend::Cpu), "gpu" => Some(Backend::Gpu), _ => None });
                    }>
                        <option value="default" selected=true>"the load's backend"</option>
                        <option value="cpu">"CPU"</option>
                        <option value="gpu" disabled=move || !gpu_usable()>"GPU"</option>
                    </select>
                </label>
            </div>
            {move || s.model.get().map(|m| view! {
                <p data-testid="running-on">"Model runs on "<strong>{m.device.clone()}</strong>
                    {m.backend_note.map(|n| format!(" — {n}."))}</p>
            })}
        </section>
    }
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}
