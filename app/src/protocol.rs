//! The typed messages between the page and the engine worker (`worker/`). The page sends a
//! [`Request`]; the worker answers with [`Event`]s carrying the same `id`: progress while it
//! works, streamed tokens or cells, then exactly one terminal event (a result, or `Error`).
//!
//! Messages travel through gloo-worker with the [`Codec`] below (serde-wasm-bindgen), so a
//! `File` from the page reaches the worker as a handle: the model's bytes are read, downloaded
//! and cached in the worker and never exist on the page thread.

use ctxscope_engine::backend::{Backend, BackendChoice};
use ctxscope_engine::chat::ChatMessage;
use ctxscope_engine::experiment::Experiment;
use ctxscope_engine::generate::Generation;
use ctxscope_engine::gguf::ModelSpec;
use ctxscope_engine::probes::entropy_scan::{EntropyPoint, EntropyScanConfig};
use ctxscope_engine::probes::haystack::Haystack;
use ctxscope_engine::probes::sweep::{Cell, Progress as SweepProgress, SweepConfig, SweepResults};
use ctxscope_engine::probes::tasks::Task;
use ctxscope_engine::rope::precision::{ProbeConfig, ProbeResult};
use ctxscope_engine::rope::RopeTable;
use ctxscope_engine::score::ScoreOutput;
use ctxscope_engine::trace::{AttentionMap, AttentionRow, EntropyTrace};
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsValue;

/// The URL of the worker's loader script, relative to the page (Trunk's `data-loader-shim`).
pub const WORKER_SCRIPT: &str = "./ctxscope-worker_loader.js";

/// Where a model comes from. (Externally tagged, like [`RequestBody`]: serde buffers internally
/// tagged enums, which would lose the `File` handle `serde_wasm_bindgen::preserve` carries.)
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// A URL (relative to the page or absolute), cached with the Cache API.
    Url { url: String },
    /// A file the user picked; only its handle crosses to the worker.
    File {
        #[serde(with = "serde_wasm_bindgen::preserve")]
        file: web_sys::File,
    },
}

/// What the page asks for. Every request that runs the model names its experiment and, when it
/// matters, its backend (`None`: the one chosen at load).
// Requests cross the worker boundary serialized and live only while they run: their size in
// memory does not matter, and boxing the experiment would only add noise to every handler.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RequestBody {
    /// Loads a model; the previous one stays in use if this one fails.
    Load { source: Source, backend: BackendChoice },
    /// Token ids and their pieces.
    Tokenize { text: String },
    /// Teacher-forced log-probabilities of `continuation` after `prompt`.
    Score {
        backend: Option<Backend>,
        experiment: Experiment,
        prompt: String,
        continuation: String,
        entropy: bool,
        attention_row: Option<(usize, usize, usize)>,
    },
    /// Greedy generation, streamed as `Token` events, stopping at end-of-turn.
    Generate { backend: Option<Backend>, experiment: Experiment, prompt: String, max_tokens: usize },
    /// A probe sweep, streamed as `Cell` events; `resume` continues a partial result.
    Sweep { backend: Option<Backend>, config: SweepConfig, resume: Option<SweepResults> },
    /// Attention rows of (layer, head) over `input` (one row of a long prompt, or the full map
    /// of a short one), answered by `Map`.
    AttentionMap {
        backend: Option<Backend>,
        experiment: Experiment,
        input: Input,
        layer: usize,
        head: usize,
        rows: Rows,
    },
    /// Mean attention entropy per (layer, head) at growing lengths of one text, once per
    /// experiment, streamed as `EntropyPoint` events, then `EntropyScanDone`.
    EntropyScan { backend: Option<Backend>, experiments: Vec<Experiment>, config: EntropyScanConfig },
    /// The next assistant turn of `messages` through the model's chat template, streamed as
    /// `Token` events, then `ChatDone`.
    Chat { backend: Option<Backend>, experiment: Experiment, messages: Vec<ChatMessage>, max_tokens: usize },
    /// The experiment's RoPE at `seq_len` tokens.
    RopeTable { experiment: Experiment, seq_len: usize },
    /// The AnchorAttention precision probe under the experiment's frequencies.
    PrecisionProbe { experiment: Experiment, config: ProbeConfig },
    /// One sweep cell's prompt, rebuilt: its text with the needles marked and, when `generate`
    /// is set, the model's greedy answer under `experiment` (up to that many tokens).
    Case {
        task: Task,
        haystack: Haystack,
        length: usize,
        depth: f64,
        seed: u64,
        experiment: Experiment,
        backend: Option<Backend>,
        generate: Option<usize>,
    },
    /// The text of an input (a haystack of N tokens as text, for prompts the user can edit).
    Text { input: Input },
    /// Stops request `target` at its next chunk boundary (a sweep keeps its finished cells).
    Cancel { target: u32 },
}

/// The tokens a request runs over.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Input {
    /// Text, tokenized as a prompt (BOS first when the model asks for it).
    Text { text: String },
    /// Token ids as they are (a chat conversation with its answer).
    Ids { ids: Vec<u32> },
    /// Exactly `tokens` tokens of a haystack (BOS first when the model asks for it).
    Haystack { haystack: Haystack, tokens: usize, seed: u64 },
}

/// Which queries' attention rows to capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rows {
    /// The last token's row.
    Last,
    /// The row of the query at this absolute position.
    At { position: usize },
    /// Every row: the full query × key map.
    All,
}

/// A stretch of a case's prompt: haystack or needle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    pub text: String,
    pub needle: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Request {
    pub id: u32,
    pub body: RequestBody,
}

/// What WebGPU offers in the worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuInfo {
    pub available: bool,
    /// The adapter ("unnamed software adapter (BrowserWebGpu)") or why there is none.
    pub description: String,
    pub software: bool,
    pub max_storage_binding: u64,
    pub max_buffer_size: u64,
    pub subgroups: bool,
    pub shader_f16: bool,
}

/// A loaded model as the page sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub spec: ModelSpec,
    /// What the user loaded: the URL, or "local file NAME".
    pub source: String,
    pub from_cache: bool,
    pub sha256: String,
    /// Size of the GGUF file, bytes.
    pub file_bytes: u64,
    /// The backend requests use by default, and why when `auto` did not pick the GPU.
    pub backend: Backend,
    pub backend_note: Option<String>,
    pub device: String,
    /// The largest context a session can hold on the default backend.
    pub max_context: usize,
    /// The model's chat template (`tokenizer.chat_template`), if any.
    pub chat_template: Option<String>,
    /// Why chat is unavailable (no template, or one the app cannot render); None when it works.
    pub chat_error: Option<String>,
}

/// One token for display: its id, its text, and its bytes when the text is not whole
/// characters (a byte-level token holding part of a UTF-8 character).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Piece {
    pub id: u32,
    pub text: String,
    pub bytes: Option<Vec<u8>>,
}

/// Stages of a long request, for progress displays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    Download,
    ReadFile,
    Parse,
    Hash,
    CpuWeights,
    GpuUpload,
    Prefill,
    Decode,
    Sweep,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum EventBody {
    /// Sent once when the worker starts (id 0).
    Ready {
        gpu: GpuInfo,
    },
    Progress {
        stage: Stage,
        done: u64,
        total: Option<u64>,
    },
    Loaded {
        model: ModelInfo,
    },
    Tokenized {
        pieces: Vec<Piece>,
    },
    Scored {
        backend: Backend,
        output: ScoreOutput,
        entropy: Option<EntropyTrace>,
        row: Option<AttentionRow>,
        seconds: f64,
    },
    /// A generated token and the text it completed; `tokens_per_s` is the decode rate so far.
    Token {
        id: u32,
        text: String,
        index: usize,
        tokens_per_s: f64,
    },
    Generated {
        backend: Backend,
        generation: Generation,
        prefill_tokens_per_s: f64,
        decode_tokens_per_s: f64,
    },
    /// A finished sweep cell and the progress.
    Cell {
        cell: Cell,
        progress: SweepProgress,
    },
    /// The sweep's results document (`complete: false` when it was cancelled).
    SweepDone {
        results: SweepResults,
    },
    /// An input as text, and its length in tokens.
    Text {
        text: String,
        tokens: usize,
    },
    /// The rows asked for, and the pieces of every key up to the last query.
    Map {
        backend: Backend,
        map: AttentionMap,
        pieces: Vec<Piece>,
        seconds: f64,
    },
    /// One length of an entropy scan under `experiments[experiment]`.
    EntropyPoint {
        experiment: usize,
        point: EntropyPoint,
    },
    EntropyScanDone {
        backend: Backend,
    },
    /// A chat turn finished: the conversation's ids (prompt then answer, for the attention
    /// view), the prompt's length, and the rates.
    ChatDone {
        backend: Backend,
        generation: Generation,
        ids: Vec<u32>,
        prefill_tokens_per_s: f64,
        decode_tokens_per_s: f64,
    },
    RopeTable {
        table: RopeTable,
    },
    PrecisionProbe {
        result: ProbeResult,
    },
    Case {
        segments: Vec<Segment>,
        tokens: usize,
        target: String,
        answers: Vec<String>,
        generated: Option<String>,
    },
    /// The request failed; `code` is stable (`ctxscope_engine::Error::code`), `remedy` is for
    /// people. A sweep's finished cells come back in `partial`.
    Error {
        code: String,
        message: String,
        remedy: String,
        partial: Option<SweepResults>,
    },
}

impl EventBody {
    /// Whether this event ends its request (every request gets exactly one such event). The
    /// match is exhaustive so that a new event kind must say which it is.
    pub fn is_terminal(&self) -> bool {
        match self {
            Self::Ready { .. }
            | Self::Progress { .. }
            | Self::Token { .. }
            | Self::Cell { .. }
            | Self::EntropyPoint { .. } => false,
            Self::Loaded { .. }
            | Self::Tokenized { .. }
            | Self::Scored { .. }
            | Self::Generated { .. }
            | Self::SweepDone { .. }
            | Self::Text { .. }
            | Self::Map { .. }
            | Self::EntropyScanDone { .. }
            | Self::ChatDone { .. }
            | Self::RopeTable { .. }
            | Self::PrecisionProbe { .. }
            | Self::Case { .. }
            | Self::Error { .. } => true,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    pub id: u32,
    pub body: EventBody,
}

/// gloo-worker's message encoding: serde-wasm-bindgen, JSON-compatible (plain objects, numbers),
/// so `File` handles pass through unchanged (bincode, gloo's default, would need bytes).
pub struct Codec;

impl gloo_worker::Codec for Codec {
    fn encode<I: Serialize>(input: I) -> JsValue {
        let serializer = serde_wasm_bindgen::Serializer::json_compatible();
        // Every message type is plain data; a failure here is a bug in this file.
        input.serialize(&serializer).expect("a worker message serializes")
    }

    fn decode<O: for<'de> Deserialize<'de>>(input: JsValue) -> O {
        serde_wasm_bindgen::from_value(input).expect("a worker message deserializes")
    }
}
