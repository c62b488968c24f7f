//! Greedy generation on the loaded model, on the GPU (WebGPU, the WGSL engine) or the CPU
//! reference (candle in wasm), so the two paths can be compared token by token.

use std::rc::Rc;
use std::sync::Arc;

use ctxscope_engine::cpu::CpuModel;
use ctxscope_engine::generate::{generate_greedy, Generation, GreedyDecoder};
use ctxscope_engine::gpu::{GpuContext, GpuModel};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::state::SharedModel;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Backend {
    Gpu,
    Cpu,
}

#[derive(Clone, Debug, PartialEq)]
struct RunResult {
    backend: Backend,
    ids: Vec<u32>,
    text: String,
    seconds: f64,
}

fn now_s() -> f64 {
    web_sys::window().and_then(|w| w.performance()).map_or(0.0, |p| p.now() / 1000.0)
}

/// Runs the WGSL engine: uploads the weights (once per model), then prefill + decode.
/// The GPU copy of a model, with the model it was made from (held, so identity checks stay valid).
type GpuCache = StoredValue<Option<(SharedModel, Rc<GpuModel>)>, LocalStorage>;

async fn run_gpu(model: &SharedModel, cache: GpuCache, prompt: &str, max_tokens: usize) -> Result<Generation, String> {
    let gpu = match cache.get_value() {
        Some((source, gpu)) if Arc::ptr_eq(&source, model) => gpu,
        _ => {
            cache.set_value(None); // free the previous model's GPU buffers first
            let ctx = GpuContext::new().await.map_err(|e| e.to_string())?;
            let gpu = Rc::new(GpuModel::load(Arc::new(ctx), &model.file).map_err(|e| e.to_string())?);
            cache.set_value(Some((model.clone(), gpu.clone())));
            gpu
        }
    };
    let (mut decoder, prompt_ids) = GreedyDecoder::new(&model.tokenizer, prompt, max_tokens).map_err(|e| e.to_string())?;
    let mut session = gpu.session(prompt_ids.len() + max_tokens).map_err(|e| e.to_string())?;
    let mut logits = session.forward_async(&prompt_ids, &[prompt_ids.len() - 1]).await.map_err(|e| e.to_string())?;
    while let Some(next) = decoder.step(&logits[0], &mut |_| {}).map_err(|e| e.to_string())? {
        logits = session.forward_async(&[next], &[0]).await.map_err(|e| e.to_string())?;
    }
    Ok(decoder.finish())
}

fn run_cpu(model: &SharedModel, prompt: &str, max_tokens: usize) -> Result<Generation, String> {
    let cpu = CpuModel::load(&model.file).map_err(|e| e.to_string())?;
    generate_greedy(&mut cpu.session(), &model.tokenizer, prompt, max_tokens, &mut |_| {}).map_err(|e| e.to_string())
}

#[component]
pub fn GeneratePanel(model: RwSignal<Option<SharedModel>>) -> impl IntoView {
    let prompt = RwSignal::new(String::from("The capital of France is"));
    let max_tokens = RwSignal::new(4usize);
    let running = RwSignal::new(None::<Backend>);
    let results = RwSignal::new(Vec::<RunResult>::new());
    let error = RwSignal::new(None::<String>);
    let gpu_cache: GpuCache = StoredValue::new_local(None);

    let run = move |backend: Backend| {
        let Some(m) = model.get_untracked() else { return };
        let (p, n) = (prompt.get_untracked(), max_tokens.get_untracked());
        running.set(Some(backend));
        error.set(None);
        spawn_local(async move {
            let start = now_s();
            let outcome = match backend {
                Backend::Gpu => run_gpu(&m, gpu_cache, &p, n).await,
                Backend::Cpu => run_cpu(&m, &p, n),
            };
            match outcome {
                Ok(g) => results.update(|r| r.push(RunResult { backend, ids: g.ids, text: g.text, seconds: now_s() - start })),
                Err(e) => error.set(Some(format!("{backend:?} run failed: {e}"))),
            }
            running.set(None);
        });
    };
    let disabled = move || running.get().is_some() || model.with(|m| m.is_none());

    view! {
        <section class="panel" data-testid="generate">
            <h2>"Generate (greedy)"</h2>
            <textarea data-testid="generate-prompt" rows="2" prop:value=move || prompt.get()
                on:input=move |ev| prompt.set(event_target_value(&ev))></textarea>
            <div class="row">
                <label>"tokens " <input type="number" min="1" max="256" data-testid="generate-max"
                    prop:value=move || max_tokens.get().to_string()
                    on:input=move |ev| max_tokens.set(event_target_value(&ev).parse().unwrap_or(4).clamp(1, 256)) /></label>
                <button data-testid="run-gpu" prop:disabled=disabled on:click=move |_| run(Backend::Gpu)>"Run on GPU"</button>
                <button data-testid="run-cpu" prop:disabled=disabled on:click=move |_| run(Backend::Cpu)>"Run on CPU"</button>
                {move || running.get().map(|b| view! { <span class="muted">{format!("running on {b:?}…")}</span> })}
            </div>
            {move || error.get().map(|e| view! { <p class="error" data-testid="generate-error">{e}</p> })}
            <table class="kv" data-testid="generate-results">
                {move || results.get().into_iter().map(|r| view! {
                    <tr data-backend=format!("{:?}", r.backend)>
                        <th>{format!("{:?} ({:.1} s)", r.backend, r.seconds)}</th>
                        <td class="gen-text">{r.text.clone()}</td>
                        <td class="gen-ids">{r.ids.iter().map(u32::to_string).collect::<Vec<_>>().join(" ")}</td>
                    </tr>
                }).collect_view()}
            </table>
        </section>
    }
}
