//! The page: starts the engine worker, loads the default model, and lays out the panels.

use ctxscope_engine::backend::BackendChoice;
use ctxscope_engine::experiment::Experiment;
use leptos::prelude::*;

use crate::client::EngineClient;
use crate::components::compute_panel::ComputePanel;
use crate::components::experiment_box::ExperimentBox;
use crate::components::generate_panel::GeneratePanel;
use crate::components::model_info::ModelInfoPanel;
use crate::components::model_loader::{default_model_url, load, ModelLoader};
use crate::components::rope_panel::RopePanel;
use crate::components::score_panel::ScorePanel;
use crate::components::sweep_panel::SweepPanel;
use crate::components::tokenizer_view::TokenizerView;
use crate::state::{AppState, LoadState};

#[component]
pub fn App() -> impl IntoView {
    let gpu = RwSignal::new(None);
    let client = EngineClient::spawn(move |info| gpu.set(Some(info)));
    let state = AppState {
        client: StoredValue::new_local(client),
        gpu,
        model: RwSignal::new(None),
        load: RwSignal::new(LoadState::Idle),
        backend_choice: RwSignal::new(BackendChoice::Auto),
        backend: RwSignal::new(None),
        experiment: RwSignal::new(Experiment::default()),
    };
    provide_context(state);
    load(state, ctxscope_app::protocol::Source::Url { url: default_model_url() });

    view! {
        <header>
            <h1>"ctxscope"</h1>
            <p class="tagline">"Watch a language model's context window work — and fail — on your own GPU."</p>
        </header>
        <main>
            <ComputePanel />
            <ModelLoader />
            <ModelInfoPanel />
            <ExperimentBox />
            <TokenizerView />
            <GeneratePanel />
            <ScorePanel />
            <SweepPanel />
            <RopePanel />
        </main>
    }
}
