//! The Workbench: every engine request as a plain panel — tokenizer, generation, scoring with
//! entropy and rows, a sweep from its JSON config, the RoPE table and the precision probe.

use leptos::prelude::*;

use crate::components::experiment_box::ExperimentBox;
use crate::components::generate_panel::GeneratePanel;
use crate::components::rope_panel::RopePanel;
use crate::components::score_panel::ScorePanel;
use crate::components::sweep_panel::SweepPanel;
use crate::components::tokenizer_view::TokenizerView;

#[component]
pub fn WorkbenchPage() -> impl IntoView {
    view! {
        <ExperimentBox />
        <TokenizerView />
        <GeneratePanel />
        <ScorePanel />
        <SweepPanel />
        <RopePanel />
    }
}
