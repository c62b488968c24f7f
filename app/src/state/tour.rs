//! The guided tour: the teaching presets in order, each opened as its share link (so the page
//! shows the plan, checks the model and judges the rerun against the recorded outcome) and run
//! with one click. On the CPU fallback each step runs its reduced-length variant.

use ctxscope_app::presets::{presets, Preset, PresetModel, Variant};
use ctxscope_engine::backend::Backend;
use leptos::prelude::*;

use super::inside::Inside;
use super::share::{apply, run_link_sweep, Shared};
use super::{AppState, RecallRun};
use crate::components::sweep_form::SweepInputs;

#[derive(Clone, Copy)]
pub struct Tour {
    /// The step shown (None: no tour running).
    pub step: RwSignal<Option<usize>>,
    pub model: StoredValue<PresetModel>,
    pub presets: StoredValue<Vec<Preset>>,
}

impl Tour {
    pub fn new() -> Self {
        let (model, presets) = presets();
        Self { step: RwSignal::new(None), model: StoredValue::new(model), presets: StoredValue::new(presets) }
    }

    pub fn get() -> Self {
        use_context::<Self>().expect("Tour is provided by App")
    }

    pub fn len(&self) -> usize {
        self.presets.with_value(Vec::len)
    }

    pub fn preset(&self, k: usize) -> Option<Preset> {
        self.presets.with_value(|p| p.get(k).cloned())
    }
}

/// Whether requests run on the CPU (the reduced variants).
pub fn on_cpu(s: AppState) -> bool {
    s.backend.get().or_else(|| s.model.with(|m| m.as_ref().map(|m| m.backend))) == Some(Backend::Cpu)
}

/// The variant of `preset` for this page's backend.
pub fn variant(s: AppState, preset: &Preset) -> Variant {
    if on_cpu(s) {
        preset.cpu.clone()
    } else {
        preset.full.clone()
    }
}

/// Shows step `k`: opens its link (view, experiments, sweep, model check).
pub fn go(s: AppState, shared: Shared, inputs: SweepInputs, tour: Tour, inside: Inside, k: usize) {
    let Some(preset) = tour.preset(k) else { return };
    let v = variant(s, &preset);
    let state = tour.model.with_value(|m| v.state(&preset, m));
    if let Ok(fragment) = state.encode() {
        super::share::write_fragment(shared, &fragment);
    }
    let problems = apply(s, shared, inputs, state);
    s.url_problems.set(problems);
    if let Some(lengths) = &v.scan {
        inside.entropy.lengths.set(lengths.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "));
        inside.entropy.with_b.set(true);
        inside.entropy.tail.set(v.tail.unwrap_or(64));
    }
    if let Some(deltas) = &v.deltas {
        inside.precision.deltas.set(deltas.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "));
    }
    tour.step.set(Some(k));
}

/// Runs step `k`'s sweep, scan or probe.
pub fn run_step(s: AppState, shared: Shared, run: RecallRun, inside: Inside, v: &Variant) {
    if v.sweep.is_some() {
        run_link_sweep(s, shared, run);
    } else if v.scan.is_some() {
        inside.entropy.autorun.set(true);
    } else if v.deltas.is_some() {
        inside.precision.autorun.set(true);
    }
}
