//! Page state shared by the components (through Leptos context): the engine worker, what it
//! reported, the view, and the experiments every request carries.
//!
//! - [`grid`]: a sweep as the recall views draw it (per-cell signals);
//! - [`url`]: the view and experiments in the URL query.

pub mod grid;
pub mod inside;
pub mod share;
pub mod tour;
pub mod url;

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
    Working {
        source: String,
        stage: Stage,
        done: u64,
        total: Option<u64>,
    },
    Ready,
    /// The load failed; the previous model (if any) is still in use.
    Failed {
        source: String,
        message: String,
        remedy: String,
    },
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
    /// Experiment A: what every request runs.
    pub experiment: RwSignal<Experiment>,
    /// Experiment B of an A/B comparison, if one is set.
    pub experiment_b: RwSignal<Option<Experiment>>,
    pub view: RwSignal<url::View>,
    /// Messages about what the address held and could not be used.
    pub url_problems: RwSignal<Vec<String>>,
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

/// Where a recall sweep run stands.
#[derive(Clone, Debug, PartialEq)]
pub enum RunStatus {
    Idle,
    Running { id: u32, done: usize, total: usize, elapsed_s: f64, eta_s: f64 },
    Done { complete: bool },
    Failed { message: String },
}

/// The Recall view's sweep: its live view, its status, and its results document.
#[derive(Clone, Copy)]
pub struct RecallRun {
    pub view: RwSignal<Option<grid::SweepView>>,
    pub status: RwSignal<RunStatus>,
    /// The results document so far (complete, or what a cancel or a failure kept).
    pub results: RwSignal<Option<ctxscope_engine::probes::sweep::SweepResults>>,
    /// Owns the current run's per-cell signals: a run is started from buttons in views that
    /// re-render or unmount (the tour bar, the link panel), and its signals must outlive them;
    /// each new run disposes the previous run's.
    owner: StoredValue<(Owner, Option<Owner>)>,
}

impl RecallRun {
    pub fn new() -> Self {
        let app = Owner::current().unwrap_or_default();
        Self {
            view: RwSignal::new(None),
            status: RwSignal::new(RunStatus::Idle),
            results: RwSignal::new(None),
            owner: StoredValue::new((app, None)),
        }
    }

    pub fn get() -> Self {
        use_context::<Self>().expect("RecallRun is provided by App")
    }

    /// Starts (or, with `resume`, continues) `config` in the worker; cells stream into the view.
    pub fn start(
        self,
        s: AppState,
        config: ctxscope_engine::probes::sweep::SweepConfig,
        resume: Option<ctxscope_engine::probes::sweep::SweepResults>,
    ) {
        use ctxscope_app::protocol::{EventBody, RequestBody};
        let trained = s.model.with_untracked(|m| m.as_ref().map_or(8192, |m| m.spec.context_length));
        let run_owner = self.owner.with_value(|(app, _)| app.child());
        self.owner.update_value(|(_, previous)| {
            if let Some(p) = previous.replace(run_owner.clone()) {
                p.cleanup();
            }
        });
        let view = run_owner.with(|| match &resume {
            Some(r) => grid::SweepView::with_cells(config.clone(), trained, &r.cells),
            None => grid::SweepView::new(config.clone(), trained),
        });
        self.view.set(Some(view.clone()));
        let total = config.cells().len();
        let id =
            s.client().send(RequestBody::Sweep { backend: s.backend.get_untracked(), config, resume }, move |event| {
                match event {
                    EventBody::Cell { cell, progress } => {
                        view.add(cell);
                        if let RunStatus::Running { id, .. } = self.status.get_untracked() {
                            self.status.set(RunStatus::Running {
                                id,
                                done: progress.done,
                                total: progress.total,
                                elapsed_s: progress.elapsed_s,
                                eta_s: progress.eta_s,
                            });
                        }
                    }
                    EventBody::SweepDone { results } => {
                        self.status.set(RunStatus::Done { complete: results.complete });
                        self.results.set(Some(results));
                    }
                    EventBody::Error { code, message, remedy, partial } => {
                        self.status.set(RunStatus::Failed { message: format!("[{code}] {message}. {remedy}") });
                        if partial.is_some() {
                            self.results.set(partial);
                        }
                    }
                    _ => {}
                }
            });
        let done = self.view.with_untracked(|v| v.as_ref().map_or(0, |v| v.cells.with_untracked(Vec::len)));
        self.status.set(RunStatus::Running { id, done, total, elapsed_s: 0.0, eta_s: 0.0 });
    }
}
