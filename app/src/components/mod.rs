//! One component per file; each reads and writes the shared [`crate::state::AppState`].

pub mod attention_canvas;
pub mod cache_panel;
pub mod cell_detail;
pub mod chart;
pub mod compute_panel;
pub mod experiment_box;
pub mod experiment_form;
pub mod generate_panel;
pub mod heatmap;
pub mod link_panel;
pub mod mecw_panel;
pub mod memory_estimate;
pub mod model_info;
pub mod model_loader;
pub mod palette;
pub mod param_fields;
pub mod rope_panel;
pub mod rope_view;
pub mod score_panel;
pub mod share_box;
pub mod signal_select;
pub mod sweep_display;
pub mod sweep_form;
pub mod sweep_panel;
pub mod tokenizer_view;
pub mod tour_bar;
