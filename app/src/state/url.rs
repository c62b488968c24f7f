//! The page's state in the URL query — the view and the experiments — so that a reload or a
//! copied address restores it (share links build on this). Everything read from the URL is
//! untrusted: a bad value is reported and replaced by the default, never trusted.

use ctxscope_engine::experiment::Experiment;
use wasm_bindgen::JsValue;

/// The views of the playground.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum View {
    #[default]
    Model,
    Tour,
    Experiment,
    Recall,
    Entropy,
    Attention,
    Precision,
    Chat,
    Results,
    Workbench,
}

impl View {
    pub const ALL: [Self; 10] = [
        Self::Model,
        Self::Tour,
        Self::Experiment,
        Self::Recall,
        Self::Entropy,
        Self::Attention,
        Self::Precision,
        Self::Chat,
        Self::Results,
        Self::Workbench,
    ];

    pub fn slug(self) -> &'static str {
        match self {
            Self::Model => "model",
            Self::Tour => "tour",
            Self::Experiment => "experiment",
            Self::Recall => "recall",
            Self::Entropy => "entropy",
            Self::Attention => "attention",
            Self::Precision => "precision",
            Self::Chat => "chat",
            Self::Results => "results",
            Self::Workbench => "workbench",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Self::Model => "Model",
            Self::Tour => "Tour",
            Self::Experiment => "Experiment",
            Self::Recall => "Recall",
            Self::Entropy => "Entropy",
            Self::Attention => "Attention",
            Self::Precision => "Precision",
            Self::Chat => "Chat",
            Self::Results => "Results",
            Self::Workbench => "Workbench",
        }
    }

    pub fn from_slug(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.slug() == s)
    }
}

/// What the URL said, and what in it could not be used.
pub struct FromUrl {
    pub view: View,
    pub experiment: Experiment,
    pub experiment_b: Option<Experiment>,
    pub problems: Vec<String>,
}

/// The longest query value read (a longer one is refused, not parsed).
const MAX_VALUE: usize = 16 * 1024;

fn params() -> Option<web_sys::UrlSearchParams> {
    let search = web_sys::window()?.location().search().ok()?;
    web_sys::UrlSearchParams::new_with_str(&search).ok()
}

/// Reads the view and experiments from the current URL.
pub fn read() -> FromUrl {
    let mut out =
        FromUrl { view: View::default(), experiment: Experiment::default(), experiment_b: None, problems: Vec::new() };
    let Some(p) = params() else { return out };
    if let Some(v) = p.get("view") {
        match View::from_slug(&v) {
            Some(view) => out.view = view,
            None => out.problems.push(format!("unknown view \"{}\" in the address", ctxscope_engine::error::shown(&v))),
        }
    }
    let experiment = |key: &str, problems: &mut Vec<String>| -> Option<Experiment> {
        let text = p.get(key)?;
        if text.len() > MAX_VALUE {
            problems.push(format!("the address's {key} is {} characters long; ignored", text.len()));
            return None;
        }
        match Experiment::from_json(&text) {
            Ok(e) => Some(e),
            Err(e) => {
                problems.push(format!(
                    "the address's {key} was not used: {}",
                    ctxscope_engine::error::shown(&e.to_string())
                ));
                None
            }
        }
    };
    if let Some(e) = experiment("exp", &mut out.problems) {
        out.experiment = e;
    }
    out.experiment_b = experiment("expb", &mut out.problems);
    out
}

/// Writes the view and experiments into the URL without adding a history entry; defaults are
/// left out.
pub fn write(view: View, experiment: &Experiment, experiment_b: Option<&Experiment>) {
    let Some(window) = web_sys::window() else { return };
    let Ok(p) = web_sys::UrlSearchParams::new() else { return };
    if view != View::default() {
        p.append("view", view.slug());
    }
    if *experiment != Experiment::default() {
        p.append("exp", &serde_json::to_string(experiment).unwrap_or_default());
    }
    if let Some(b) = experiment_b {
        p.append("expb", &serde_json::to_string(b).unwrap_or_default());
    }
    let query = String::from(p.to_string());
    let location = window.location();
    let path = location.pathname().unwrap_or_default();
    let hash = location.hash().unwrap_or_default();
    let url = if query.is_empty() { format!("{path}{hash}") } else { format!("{path}?{query}{hash}") };
    if let Ok(history) = window.history() {
        let _ = history.replace_state_with_url(&JsValue::NULL, "", Some(&url));
    }
}
