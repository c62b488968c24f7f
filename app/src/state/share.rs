//! Share links on the page (docs/share-links.md): the link of what is on screen, opening a link
//! (the address's fragment at load, a later `hashchange`, or a link file), the model check, a
//! time estimate from a calibration run on this adapter, and the verdict of a rerun against the
//! link's record. The format itself is the engine's (`ctxscope_engine::share`), shared with the
//! CLI.

use ctxscope_app::protocol::{EventBody, ModelInfo, RequestBody, Source};
use ctxscope_engine::experiment::Experiment;
use ctxscope_engine::probes::entropy_scan::EntropyScanConfig;
use ctxscope_engine::probes::haystack::Haystack;
use ctxscope_engine::probes::sweep::{CellKey, SweepResults};
use ctxscope_engine::share::{verdict, SharedModel, SharedResult, SharedState, Verdict};
use leptos::prelude::*;
use wasm_bindgen::prelude::*;

use ctxscope_app::estimate::Calibration;

use super::url::View;
use super::{AppState, RecallRun};
use crate::components::model_loader::load;
use crate::components::sweep_form::SweepInputs;

/// How the loaded model compares with the link's.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelCheck {
    /// The link names no model.
    Any,
    NotLoaded,
    Matches,
    /// Refused: the two sha256s.
    Differs {
        link: String,
        loaded: String,
    },
}

pub fn model_check(link: &SharedState, loaded: Option<&ModelInfo>) -> ModelCheck {
    match (&link.model, loaded) {
        (None, _) => ModelCheck::Any,
        (Some(_), None) => ModelCheck::NotLoaded,
        (Some(m), Some(l)) if m.sha256 == l.sha256 => ModelCheck::Matches,
        (Some(m), Some(l)) => ModelCheck::Differs { link: m.sha256.clone(), loaded: l.sha256.clone() },
    }
}

/// The opened link and what became of it.
#[derive(Clone, Copy)]
pub struct Shared {
    /// The link that was opened (None: the page was opened plainly).
    pub opened: RwSignal<Option<SharedState>>,
    /// Whether the opened link's sweep was started here (its verdict follows its run).
    pub ran: RwSignal<bool>,
    pub verdict: RwSignal<Option<Result<Verdict, String>>>,
    pub calibration: RwSignal<Option<Calibration>>,
    /// The results document open in the Results view (what Share links there).
    pub imported: RwSignal<Option<SweepResults>>,
    /// The fragment the page wrote itself (its own hashchange is not a new link).
    pub written: StoredValue<String>,
}

impl Shared {
    pub fn new() -> Self {
        Self {
            opened: RwSignal::new(None),
            ran: RwSignal::new(false),
            verdict: RwSignal::new(None),
            calibration: RwSignal::new(None),
            imported: RwSignal::new(None),
            written: StoredValue::new(String::new()),
        }
    }

    pub fn get() -> Self {
        use_context::<Self>().expect("Shared is provided by App")
    }
}

/// The fragment of the current address, without `#` (empty when none).
pub fn fragment() -> String {
    web_sys::window()
        .and_then(|w| w.location().hash().ok())
        .map(|h| h.trim_start_matches('#').to_string())
        .unwrap_or_default()
}

/// Reads the address's fragment: None when it holds no link, else the link or why it could not
/// be used.
pub fn from_fragment() -> Option<Result<SharedState, String>> {
    let f = fragment();
    (!f.is_empty())
        .then(|| SharedState::decode(&f).map_err(|e| e.to_string().trim_start_matches("invalid input: ").to_string()))
}

/// The experiments a link sets as A and B.
fn experiments_of(link: &SharedState) -> (Option<Experiment>, Option<Experiment>) {
    match &link.sweep {
        Some(s) => {
            (s.experiments.first().map(|e| e.experiment.clone()), s.experiments.get(1).map(|e| e.experiment.clone()))
        }
        None => (link.a.clone(), link.b.clone()),
    }
}

/// Puts a link's state on the page: view, experiments, the sweep form, and the model (loaded
/// from the link's URL when it names one that is not loaded). Returns problems to show.
pub fn apply(s: AppState, shared: Shared, inputs: SweepInputs, link: SharedState) -> Vec<String> {
    let mut problems = Vec::new();
    let view = match link.view.as_deref().map(View::from_slug) {
        Some(Some(v)) => v,
        Some(None) => {
            problems
                .push(format!("the link's view \"{}\" is unknown; showing Recall", link.view.as_deref().unwrap_or("")));
            View::Recall
        }
        None if link.sweep.is_some() => View::Recall,
        None => s.view.get_untracked(),
    };
    let (a, b) = experiments_of(&link);
    s.experiment.set(a.unwrap_or_default());
    s.experiment_b.set(b);
    if let Some(sweep) = &link.sweep {
        inputs.set_from(sweep);
    }
    let loaded = s.model.with_untracked(|m| m.as_ref().map(|m| (m.sha256.clone(), m.source.clone())));
    if let Some(m) = &link.model {
        let matches = loaded.as_ref().is_some_and(|(sha, _)| *sha == m.sha256);
        let loading_it = matches!(s.load.get_untracked(), super::LoadState::Working { ref source, .. } if Some(source) == m.url.as_ref());
        if !matches && !loading_it {
            if let Some(url) = &m.url {
                load(s, Source::Url { url: url.clone() });
            }
        }
    }
    shared.verdict.set(None);
    shared.ran.set(false);
    shared.opened.set(Some(link));
    s.view.set(view);
    problems
}

/// What is on the page, as a link: the model, the view, the experiments, and the sweep (the
/// Results view's document, or the last run's, with its record when complete; else the Recall
/// form's).
pub fn current(s: AppState, shared: Shared, run: RecallRun, inputs: SweepInputs) -> Result<SharedState, String> {
    let model = s.model.with_untracked(|m| {
        m.as_ref().map(|m| SharedModel {
            name: m.spec.name.clone(),
            url: (!m.source.starts_with("local file ")).then(|| m.source.clone()),
            bytes: m.file_bytes,
            sha256: m.sha256.clone(),
        })
    });
    let view = s.view.get_untracked();
    let max_context = s.model.with_untracked(|m| m.as_ref().map_or(usize::MAX, |m| m.max_context));
    let doc = if view == View::Results { shared.imported.get_untracked() } else { run.results.get_untracked() };
    // The model of a results document is the one that made it (with the loaded model's URL when
    // that is the same file).
    let model = match (&doc, model) {
        (Some(r), loaded) => Some(SharedModel {
            name: r.model.name.clone(),
            url: loaded.filter(|m| m.sha256 == r.model.sha256).and_then(|m| m.url),
            bytes: r.model.file_bytes,
            sha256: r.model.sha256.clone(),
        }),
        (None, loaded) => loaded,
    };
    let (sweep, result) = match doc {
        Some(r) => {
            // A shard's file is complete for its shard only: its record would mark the other
            // shards' cells missing (merge the shards first, `ctxscope merge`).
            let result = (r.complete && r.shard.is_none()).then(|| SharedResult::of(&r));
            (Some(r.config), result)
        }
        None if view == View::Recall => (
            inputs.config(&s.experiment.get_untracked(), s.experiment_b.get_untracked().as_ref(), max_context).ok(),
            None,
        ),
        None => (None, None),
    };
    let (a, b) = if sweep.is_some() {
        (None, None)
    } else {
        (Some(s.experiment.get_untracked()).filter(|e| *e != Experiment::default()), s.experiment_b.get_untracked())
    };
    // A results document reruns in the Recall view.
    let view = if view == View::Results && sweep.is_some() { View::Recall } else { view };
    let state =
        SharedState { model, view: (view != View::default()).then(|| view.slug().to_string()), a, b, sweep, result };
    state.validate().map_err(|e| e.to_string())?;
    Ok(state)
}

/// Times forward passes at [`Calibration::LENGTHS`] under experiment A, for the link's estimate.
pub fn calibrate(s: AppState, shared: Shared) {
    let config =
        EntropyScanConfig { haystack: Haystack::Filler, lengths: Calibration::LENGTHS.to_vec(), tail: 1, seed: 0 };
    // Not a StoredValue: this runs inside an effect, whose owner would dispose it on rerun.
    let times = std::rc::Rc::new(std::cell::RefCell::new(Vec::<(usize, f64)>::new()));
    s.client().send(
        RequestBody::EntropyScan {
            backend: s.backend.get_untracked(),
            experiments: vec![s.experiment.get_untracked()],
            config,
        },
        move |event| match event {
            EventBody::EntropyPoint { point, .. } => times.borrow_mut().push((point.length, point.seconds)),
            EventBody::EntropyScanDone { backend } => {
                let t = times.borrow().clone();
                if let [a, b] = t[..] {
                    shared.calibration.set(Some(Calibration::fit(a, b, backend)));
                }
            }
            _ => {}
        },
    );
}

/// Runs the opened link's sweep in the Recall view (its verdict follows the run).
pub fn run_link_sweep(s: AppState, shared: Shared, run: RecallRun) {
    let Some(sweep) = shared.opened.with_untracked(|l| l.as_ref().and_then(|l| l.sweep.clone())) else { return };
    shared.verdict.set(None);
    shared.ran.set(true);
    run.results.set(None);
    run.start(s, sweep, None);
    s.view.set(View::Recall);
}

/// Compares a finished run with the opened link's record (when it is that link's sweep).
pub fn judge(shared: Shared, results: &SweepResults) {
    let Some(link) = shared.opened.get_untracked() else { return };
    let (Some(sweep), Some(record)) = (&link.sweep, &link.result) else { return };
    if !shared.ran.get_untracked() || *sweep != results.config || !results.complete {
        return;
    }
    shared.verdict.set(Some(verdict(record, results).map_err(|e| e.to_string())));
}

/// The cells a verdict found different.
pub fn differing(v: &Verdict) -> &[CellKey] {
    match v {
        Verdict::Reproduced => &[],
        Verdict::Differs { cells, .. } => cells,
    }
}

/// Writes `fragment` as the address's fragment without a history entry (and remembers it, so
/// the `hashchange` it may cause is not taken for a new link).
pub fn write_fragment(shared: Shared, fragment: &str) {
    shared.written.set_value(fragment.to_string());
    let Some(window) = web_sys::window() else { return };
    let location = window.location();
    let base = format!("{}{}", location.pathname().unwrap_or_default(), location.search().unwrap_or_default());
    if let Ok(history) = window.history() {
        let _ = history.replace_state_with_url(&JsValue::NULL, "", Some(&format!("{base}#{fragment}")));
    }
}

/// The page's address without its fragment (what a link is appended to).
pub fn page_base() -> String {
    web_sys::window()
        .and_then(|w| w.location().href().ok())
        .map(|h| h.split('#').next().unwrap_or("").to_string())
        .unwrap_or_default()
}

/// Opens links that arrive after the page loaded (an edited address, a clicked link).
pub fn listen_for_links(s: AppState, shared: Shared, inputs: SweepInputs) {
    let Some(window) = web_sys::window() else { return };
    let handler = Closure::<dyn FnMut()>::new(move || {
        let f = fragment();
        if f.is_empty() || f == shared.written.get_value() {
            return;
        }
        shared.written.set_value(f);
        match from_fragment() {
            Some(Ok(link)) => {
                let problems = apply(s, shared, inputs, link);
                s.url_problems.set(problems);
            }
            Some(Err(e)) => {
                s.url_problems.set(vec![format!("this link could not be opened — {e}; nothing was changed")])
            }
            None => {}
        }
    });
    let _ = window.add_event_listener_with_callback("hashchange", handler.as_ref().unchecked_ref());
    // The page lives as long as the listener: leak the closure deliberately.
    handler.forget();
}
