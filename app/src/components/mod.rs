//! One component per file; each reads and writes the shared [`crate::state::AppState`].

pub mod compute_panel;
pub mod experiment_box;
pub mod generate_panel;
pub mod model_info;
pub mod model_loader;
pub mod rope_panel;
pub mod score_panel;
pub mod sweep_panel;
pub mod tokenizer_view;
