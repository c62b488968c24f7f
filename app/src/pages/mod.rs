//! One module per view of the playground; `app.rs` switches between them.

pub mod experiment;
pub mod model;
pub mod recall;
pub mod results;
pub mod workbench;
