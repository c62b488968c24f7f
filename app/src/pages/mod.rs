//! One module per view of the playground; `app.rs` switches between them.

pub mod attention;
pub mod chat;
pub mod entropy;
pub mod experiment;
pub mod model;
pub mod precision;
pub mod recall;
pub mod results;
pub mod tour;
pub mod workbench;
