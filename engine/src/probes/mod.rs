//! Probes: how well the model finds and uses information at each position as context grows
//! (docs/methods.md#probes).
//!
//! - [`entropy_scan`]: attention entropy per (layer, head) at growing context lengths
//! - [`haystack`]: filler text (our own sentence grammar, RULER's noise, or the user's text)
//! - [`tasks`]: NIAH, passkey, RULER NIAH variants and variable tracking, built to an exact
//!   token length from a seed
//! - [`scoring`]: teacher-forced and generated scoring
//! - [`sweep`]: grids of cells, shards, progress, cancel/resume, and the results document
//! - [`merge`]: shards' results documents joined into the unsharded one
//! - [`mecw`]: accuracy curves with Wilson intervals and the MECW estimate

pub mod entropy_scan;
pub mod haystack;
pub mod mecw;
pub mod merge;
pub mod scoring;
pub mod sweep;
pub mod tasks;
