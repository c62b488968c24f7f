//! Page state shared by the components (through Leptos context): the engine worker, what it
//! reported, and the experiment every request carries.

use std::rc::Rc;

use ctxscope_app::protocol::{GpuInfo, ModelInfo, Stage};
use ctxscope_engine::backend::{Backend, BackendChoice};
use ctxscope_engine::experiment::Experiment;
use leptos::prelude::*;

use crate::client::EngineClient;

/// Progress of the current model load.
#[derive(Clone, Debug, PartialEq)]
pub enum LoadState {
    Idle,
    Working { source: String, stage: Stage, done: u64, total: Option<u64> },
    Ready,
    /// The load failed; the previous model (if any) is still in use.
    Failed { source: String, message: String, remedy: String },
}

#[derive(Clone, Copy)]
pub struct AppState {
    pub client: StoredValue<Rc<EngineClient>, LocalStorage>,
    /// None until the worker reports.
    pub gpu: RwSignal<Option<GpuInfo>>,
    pub model: RwSignal<Option<ModelInfo>>,
    pub load: RwSignal<LoadState>,
    /// The backend the next load asks for.
    pub backend_choice: RwSignal<BackendChoice>,
    /// The backend requests run on (None: the one chosen at load).
    pub backend: RwSignal<Option<Backend>>,
    pub experiment: RwSignal<Experiment>,
}

impl AppState {
    pub fn get() -> Self {
        use_context::<Self>().expect("AppState is provided by App")
    }

    pub fn client(&self) -> Rc<EngineClient> {
        self.client.get_value()
    }
}

/// "98.4 MB": byte counts as people read them.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// What a stage is doing, for people.
pub fn stage_label(stage: Stage) -> &'static str {
    match stage {
        Stage::Download => "Downloading",
        Stage::ReadFile => "Reading the file",
        Stage::Parse => "Reading the GGUF and building the tokenizer",
        Stage::Hash => "Computing the model's sha256",
        Stage::CpuWeights => "Preparing the CPU weights (dequantizing once)",
        Stage::GpuUpload => "Uploading the weights to the GPU",
        Stage::Prefill => "Running the prompt",
        Stage::Decode => "Generating",
        Stage::Sweep => "Running the sweep",
    }
}
