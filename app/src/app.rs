//! The page: composes the panels and owns the shared signals.

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::components::generate_panel::GeneratePanel;
use crate::components::gpu_panel::GpuPanel;
use crate::components::model_info::ModelInfo;
use crate::components::model_loader::{default_model_url, load_url, ModelLoader};
use crate::components::tokenizer_view::TokenizerView;
use crate::gpu::{self, GpuStatus};
use crate::state::{LoadState, SharedModel};

#[component]
pub fn App() -> impl IntoView {
    let gpu_status = RwSignal::new(GpuStatus::Detecting);
    spawn_local(async move { gpu_status.set(gpu::detect().await) });

    let model: RwSignal<Option<SharedModel>> = RwSignal::new(None);
    let load_state = RwSignal::new(LoadState::Idle);
    load_url(default_model_url(), model, load_state);

    view! {
        <header>
            <h1>"ctxscope"</h1>
            <p class="tagline">"Watch a language model's context window work — and fail — on your own GPU."</p>
        </header>
        <main>
            <GpuPanel status=gpu_status />
            <ModelLoader model=model state=load_state />
            <ModelInfo model=model />
            <TokenizerView model=model />
            <GeneratePanel model=model />
        </main>
    }
}
