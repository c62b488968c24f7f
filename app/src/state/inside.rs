//! State of the views that look inside the model (Entropy, Attention, Precision, Chat), kept
//! in App-level contexts so that switching views never loses a scan, a map or a conversation.

use ctxscope_app::protocol::{Input, Piece};
use ctxscope_engine::chat::ChatMessage;
use ctxscope_engine::experiment::Experiment;
use ctxscope_engine::probes::entropy_scan::EntropyPoint;
use ctxscope_engine::rope::precision::ProbeResult;
use ctxscope_engine::score::ScoreOutput;
use ctxscope_engine::trace::AttentionMap;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// Where a request of one view stands.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum Task {
    #[default]
    Idle,
    /// Running as worker request `id`; `note` says what it is doing.
    Running {
        id: u32,
        note: String,
    },
    Failed(String),
}

impl Task {
    pub fn running_id(&self) -> Option<u32> {
        match self {
            Self::Running { id, .. } => Some(*id),
            _ => None,
        }
    }
}

/// One experiment's entropy against length.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EntropyCurve {
    /// "A", "B" or the sweep's experiment name.
    pub label: String,
    pub experiment: Experiment,
    /// Sorted by length as they arrive.
    pub points: Vec<EntropyPoint>,
}

/// The exported entropy document: what was measured, how, and the values the chart shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EntropyExport {
    pub source: String,
    pub model: Option<String>,
    pub backend: Option<String>,
    pub unit: String,
    pub curves: Vec<EntropyCurve>,
}

#[derive(Clone, Copy)]
pub struct EntropyState {
    pub curves: RwSignal<Vec<EntropyCurve>>,
    /// "scan of filler text, last 64 queries" or "sweep cells, all positions".
    pub source: RwSignal<String>,
    pub task: RwSignal<Task>,
    /// The scan's lengths as typed ("128, 256").
    pub lengths: RwSignal<String>,
    /// Whether experiment B is overlaid.
    pub with_b: RwSignal<bool>,
    /// How many of the last queries each run's entropy averages.
    pub tail: RwSignal<usize>,
    /// Set by the tour: the view starts a scan as soon as it can.
    pub autorun: RwSignal<bool>,
}

/// What the Attention view shows: its input, the rows it has, and the pieces of the keys.
#[derive(Clone, Debug, PartialEq)]
pub struct AttentionResult {
    pub map: AttentionMap,
    pub pieces: Vec<Piece>,
    pub experiment: Experiment,
    pub backend: String,
    pub seconds: f64,
}

/// A request from another view to look at a conversation ("what did it look at?").
#[derive(Clone, Debug, PartialEq)]
pub struct AttentionFocus {
    pub input: Input,
    pub label: String,
    pub query: usize,
    pub tokens: usize,
}

#[derive(Clone, Copy)]
pub struct AttentionState {
    pub result: RwSignal<Option<AttentionResult>>,
    pub task: RwSignal<Task>,
    pub focus: RwSignal<Option<AttentionFocus>>,
}

/// f32 vs another precision on one prompt.
#[derive(Clone, Debug, PartialEq)]
pub struct PrecisionScores {
    pub prompt_tokens: usize,
    pub pieces: Vec<String>,
    pub reference: ScoreOutput,
    pub other: ScoreOutput,
    pub other_name: String,
}

#[derive(Clone, Copy)]
pub struct PrecisionState {
    pub probe: RwSignal<Option<ProbeResult>>,
    pub scores: RwSignal<Option<PrecisionScores>>,
    pub task: RwSignal<Task>,
    /// The probe's distances Δ as typed ("1, 16, 256").
    pub deltas: RwSignal<String>,
    /// Set by the tour: the view runs the probe as soon as it can.
    pub autorun: RwSignal<bool>,
}

/// The conversation, the turn being streamed, and the last turn's numbers.
#[derive(Clone, Copy)]
pub struct ChatState {
    pub messages: RwSignal<Vec<ChatMessage>>,
    /// The system prompt; empty leaves it to the template (SmolLM2's adds its own).
    pub system: RwSignal<String>,
    /// The answer streaming in, while a turn runs.
    pub streaming: RwSignal<Option<String>>,
    pub tokens_per_s: RwSignal<Option<f64>>,
    /// The last finished turn: conversation ids (prompt then answer), prompt tokens, whether
    /// it stopped on end-of-turn, prefill and decode rates.
    pub last: RwSignal<Option<ChatTurn>>,
    pub task: RwSignal<Task>,
    pub max_tokens: RwSignal<usize>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ChatTurn {
    pub ids: Vec<u32>,
    pub prompt_tokens: usize,
    pub answer_tokens: usize,
    pub stopped_at_eos: bool,
    pub prefill_tokens_per_s: f64,
    pub decode_tokens_per_s: f64,
    pub backend: String,
}

/// All four, provided once by App.
#[derive(Clone, Copy)]
pub struct Inside {
    pub entropy: EntropyState,
    pub attention: AttentionState,
    pub precision: PrecisionState,
    pub chat: ChatState,
}

impl Inside {
    pub fn new() -> Self {
        Self {
            entropy: EntropyState {
                curves: RwSignal::new(Vec::new()),
                source: RwSignal::new(String::new()),
                task: RwSignal::new(Task::Idle),
                lengths: RwSignal::new("128, 256, 512, 1024".into()),
                with_b: RwSignal::new(true),
                tail: RwSignal::new(64),
                autorun: RwSignal::new(false),
            },
            attention: AttentionState {
                result: RwSignal::new(None),
                task: RwSignal::new(Task::Idle),
                focus: RwSignal::new(None),
            },
            precision: PrecisionState {
                probe: RwSignal::new(None),
                scores: RwSignal::new(None),
                task: RwSignal::new(Task::Idle),
                deltas: RwSignal::new("1, 16, 256".into()),
                autorun: RwSignal::new(false),
            },
            chat: ChatState {
                messages: RwSignal::new(Vec::new()),
                system: RwSignal::new(String::new()),
                streaming: RwSignal::new(None),
                tokens_per_s: RwSignal::new(None),
                last: RwSignal::new(None),
                task: RwSignal::new(Task::Idle),
                max_tokens: RwSignal::new(200),
            },
        }
    }

    pub fn get() -> Self {
        use_context::<Self>().expect("Inside is provided by App")
    }
}

/// "[code] message. remedy" of an error event.
pub fn error_text(code: &str, message: &str, remedy: &str) -> String {
    format!("[{code}] {message}. {remedy}")
}
