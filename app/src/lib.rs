//! ctxscope's browser side: the page (`src/main.rs`, Leptos) and the engine worker
//! (`src/bin/ctxscope-worker.rs`), which share the message types in [`protocol`].

pub mod attention_doc;
pub mod estimate;
pub mod plot;
pub mod presets;
pub mod protocol;
pub mod worker;
