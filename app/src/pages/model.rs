//! The Model view: where the model runs, loading it, what it is, what this browser keeps, and
//! what a context costs.

use leptos::prelude::*;

use crate::components::cache_panel::CachePanel;
use crate::components::compute_panel::ComputePanel;
use crate::components::memory_estimate::MemoryEstimate;
use crate::components::model_info::ModelInfoPanel;
use crate::components::model_loader::ModelLoader;

#[component]
pub fn ModelPage() -> impl IntoView {
    view! {
        <ComputePanel />
        <ModelLoader />
        <ModelInfoPanel />
        <MemoryEstimate />
        <CachePanel />
    }
}
