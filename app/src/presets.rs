//! The teaching presets (`examples/tour/presets.json`): each is a share link — experiments, a sweep or
//! a scan, and the outcome recorded when it was measured — with what it illustrates, the paper,
//! and what was observed on the default model. Each has a full variant (measured on an H200
//! with `scripts/measure-presets.py --variant full --backend gpu`) and a CPU variant at reduced
//! lengths (measured natively on the CPU, so the page's CPU run can say "reproduced").

use ctxscope_engine::experiment::Experiment;
use ctxscope_engine::probes::sweep::SweepConfig;
use ctxscope_engine::share::{SharedModel, SharedResult, SharedState};
use serde::Deserialize;

const PRESETS: &str = include_str!("../../examples/tour/presets.json");

/// The model every preset was measured with (the default model).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PresetModel {
    pub name: String,
    pub url: String,
    pub bytes: u64,
    pub sha256: String,
}

/// One way to run a preset.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    #[serde(default)]
    pub a: Option<Experiment>,
    #[serde(default)]
    pub b: Option<Experiment>,
    #[serde(default)]
    pub sweep: Option<SweepConfig>,
    /// Entropy-scan lengths (tokens).
    #[serde(default)]
    pub scan: Option<Vec<usize>>,
    /// How many of the last queries the scan averages (`ctxscope entropy-scan --tail`).
    #[serde(default)]
    pub tail: Option<usize>,
    /// Precision-probe distances Δ.
    #[serde(default)]
    pub deltas: Option<Vec<usize>>,
    /// The recorded outcome of the sweep.
    #[serde(default)]
    pub result: Option<SharedResult>,
    /// What this variant changes (CPU: the reduced lengths).
    #[serde(default)]
    pub note: Option<String>,
    /// What was measured when it ran.
    pub observed: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preset {
    pub id: String,
    pub title: String,
    pub paper: String,
    pub explain: String,
    /// The view it opens (a `View` slug).
    pub view: String,
    pub full: Variant,
    pub cpu: Variant,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct PresetFile {
    model: PresetModel,
    presets: Vec<Preset>,
}

/// The model and the presets, in tour order.
pub fn presets() -> (PresetModel, Vec<Preset>) {
    let f: PresetFile = serde_json::from_str(PRESETS).expect("examples/tour/presets.json parses (tested)");
    (f.model, f.presets)
}

impl Variant {
    /// This variant as a share link's state.
    pub fn state(&self, preset: &Preset, model: &PresetModel) -> SharedState {
        let with_sweep = self.sweep.is_some();
        SharedState {
            model: Some(SharedModel {
                name: Some(model.name.clone()),
                url: Some(model.url.clone()),
                bytes: model.bytes,
                sha256: model.sha256.clone(),
            }),
            view: Some(preset.view.clone()),
            a: if with_sweep { None } else { self.a.clone() },
            b: if with_sweep { None } else { self.b.clone() },
            sweep: self.sweep.clone(),
            result: self.result.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctxscope_engine::share::LINK_COMFORT_CHARS;

    /// Every preset is a valid, short link that opens to the same state; every sweep has its
    /// recorded outcome (one per cell) and something observed.
    #[test]
    fn presets_are_valid_short_links() {
        let (model, presets) = presets();
        assert!(presets.len() >= 8, "{}", presets.len());
        for p in &presets {
            for (name, v) in [("full", &p.full), ("cpu", &p.cpu)] {
                let state = v.state(p, &model);
                state.validate().unwrap_or_else(|e| panic!("{} {name}: {e}", p.id));
                let url = state.url("https://example.org/ctxscope/").unwrap();
                assert!(url.len() < LINK_COMFORT_CHARS, "{} {name}: {} characters", p.id, url.len());
                assert_eq!(SharedState::decode(&url).unwrap(), state);
                assert!(!v.observed.trim().is_empty(), "{} {name}: nothing observed", p.id);
                let runs =
                    usize::from(v.sweep.is_some()) + usize::from(v.scan.is_some()) + usize::from(v.deltas.is_some());
                assert_eq!(runs, 1, "{} {name}: one sweep, scan or probe", p.id);
                if v.sweep.is_some() {
                    assert!(v.result.is_some(), "{} {name}: a sweep without its recorded outcome", p.id);
                }
                if v.scan.is_some() {
                    assert!(v.a.is_some() && v.b.is_some(), "{} {name}: a scan compares A and B", p.id);
                }
            }
            assert!(p.cpu.note.is_some(), "{}: the CPU variant says what it reduces", p.id);
        }
    }
}
