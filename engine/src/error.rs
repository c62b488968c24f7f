//! One error type for the engine, grouped by cause. Variants carry the facts a user needs to act
//! (which tensor, which key, which offset) because these messages end up verbatim in the app and CLI.

use std::fmt;

/// Engine result alias.
pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    // --- the file is not a readable GGUF ---
    #[error("not a GGUF file: it starts with the bytes {} (hex), a GGUF file starts with \"GGUF\"", hex(found))]
    BadMagic { found: Vec<u8> },
    #[error("unsupported GGUF version {0}: ctxscope reads GGUF versions 2 and 3")]
    UnsupportedVersion(u32),
    #[error("GGUF file is truncated or corrupt: {what} needs {needed} bytes at offset {offset}, but the file ends at byte {file_len}")]
    Truncated { what: String, offset: u64, needed: u64, file_len: u64 },
    #[error("GGUF file is corrupt: {0}")]
    Malformed(String),
    #[error("tensor '{tensor}' has ggml type id {type_id}, which ctxscope does not know (supported: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, K-quants)")]
    UnknownTensorType { tensor: String, type_id: u32 },

    // --- the file is a GGUF, but not a model we can run ---
    #[error("unsupported architecture '{0}': ctxscope runs llama-architecture models")]
    UnsupportedArchitecture(String),
    #[error("GGUF metadata key '{0}' is missing")]
    MissingMetadata(String),
    #[error("GGUF metadata key '{key}' holds {found}, expected {expected}")]
    MetadataType { key: String, expected: &'static str, found: String },
    #[error("model metadata is inconsistent: {0}")]
    InconsistentModel(String),
    #[error("tensor '{0}' is missing from the GGUF file")]
    MissingTensor(String),
    #[error("tensor '{name}' has shape {found:?}, expected {expected:?}")]
    TensorShape { name: String, expected: Vec<usize>, found: Vec<usize> },
    #[error("unsupported tokenizer: {0}")]
    UnsupportedTokenizer(String),
    #[error("the model declares RoPE scaling ctxscope cannot honour: {0}")]
    UnsupportedRopeScaling(String),
    #[error("chat template: {0}")]
    ChatTemplate(String),
    #[error("model too large: {what} needs {needed}; {limit_of} allows {limit}")]
    TooLarge { what: String, needed: Quantity, limit: Quantity, limit_of: String },

    // --- the GPU ---
    #[error("no usable GPU: {0}")]
    NoGpu(String),
    #[error("the GPU device was lost ({0}); reload the model to continue")]
    DeviceLost(String),
    #[error("GPU error: {0}")]
    Gpu(String),
    /// A request larger than the device can hold; `max_tokens` is the largest context that fits,
    /// where a context length is what the caller can change.
    #[error("does not fit: {what} needs {needed}; {limit_of} allows {limit}{}", max_tokens.map(|m| format!(" (the largest context that fits is {m} tokens)")).unwrap_or_default())]
    DoesNotFit { what: String, needed: Quantity, limit: Quantity, limit_of: String, max_tokens: Option<usize> },
    #[error("not supported by the GPU engine yet: {0}; use the CPU backend")]
    UnsupportedOnGpu(String),

    // --- the request is wrong ---
    #[error("invalid input: {0}")]
    InvalidInput(String),
    #[error("tokenizer failed: {0}")]
    Tokenizer(String),
    #[error("cancelled")]
    Cancelled,
    #[error("the experiment {experiment} gave non-finite {what}: its parameters make the model's arithmetic overflow")]
    NonFinite { experiment: String, what: String },

    // --- something failed underneath ---
    #[error("tensor computation failed: {0}")]
    Tensor(String),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// An amount in a size error: the caller compares `needed` with `limit` in the same unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantity {
    Bytes(u64),
    Tokens(usize),
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Bytes(b) if b >= 1 << 30 => write!(f, "{:.1} GiB", b as f64 / (1u64 << 30) as f64),
            Self::Bytes(b) => write!(f, "{:.1} MiB", b as f64 / (1u64 << 20) as f64),
            Self::Tokens(t) => write!(f, "{t} tokens"),
        }
    }
}

/// "47 47 55 46", or "nothing" for an empty file.
fn hex(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "nothing (the file is empty)".into();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ")
}

/// candle's errors carry a backtrace on following lines when `RUST_BACKTRACE` is set, and may
/// quote tensor names from the file: keep one sanitised line.
impl From<candle_core::Error> for Error {
    fn from(e: candle_core::Error) -> Self {
        Self::Tensor(shown_long(e.to_string().lines().next().unwrap_or_default(), 300))
    }
}

/// A string from a file or a link, fit for a one-line message: control characters escaped and
/// at most 60 characters (hostile files put whole headers, newlines or markup in their names).
pub fn shown(s: &str) -> String {
    shown_long(s, 60)
}

fn shown_long(s: &str, max: usize) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i == max {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

impl Error {
    pub(crate) fn malformed(msg: impl fmt::Display) -> Self {
        Self::Malformed(msg.to_string())
    }

    /// A stable, machine-readable code for the kind of failure (the browser worker's error
    /// events and the CLI's JSON errors carry it; the page chooses its remedy by it).
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadMagic { .. }
            | Self::UnsupportedVersion(_)
            | Self::Truncated { .. }
            | Self::Malformed(_)
            | Self::UnknownTensorType { .. } => "bad-file",
            Self::UnsupportedArchitecture(_)
            | Self::MissingMetadata(_)
            | Self::MetadataType { .. }
            | Self::InconsistentModel(_)
            | Self::MissingTensor(_)
            | Self::TensorShape { .. }
            | Self::UnsupportedTokenizer(_)
            | Self::UnsupportedRopeScaling(_) => "unsupported-model",
            Self::ChatTemplate(_) => "chat-template",
            Self::TooLarge { .. } => "too-large",
            Self::NoGpu(_) => "no-gpu",
            Self::DeviceLost(_) => "device-lost",
            Self::Gpu(_) | Self::UnsupportedOnGpu(_) => "gpu-error",
            Self::DoesNotFit { .. } => "does-not-fit",
            Self::InvalidInput(_) | Self::Tokenizer(_) => "bad-input",
            Self::Cancelled => "cancelled",
            Self::NonFinite { .. } => "non-finite",
            Self::Tensor(_) | Self::Io(_) => "internal",
        }
    }

    /// What a person can do about it, in one sentence.
    pub fn remedy(&self) -> String {
        match self {
            Self::BadMagic { .. } | Self::UnsupportedVersion(_) | Self::Truncated { .. } | Self::Malformed(_) | Self::UnknownTensorType { .. } => {
                "Load another GGUF file; this one cannot be read.".into()
            }
            Self::UnsupportedArchitecture(_)
            | Self::MissingMetadata(_)
            | Self::MetadataType { .. }
            | Self::InconsistentModel(_)
            | Self::MissingTensor(_)
            | Self::TensorShape { .. }
            | Self::UnsupportedTokenizer(_)
            | Self::UnsupportedRopeScaling(_) => "Load a llama-architecture GGUF with a byte-level BPE tokenizer and none, linear or YaRN RoPE scaling.".into(),
            Self::ChatTemplate(_) => "Use Generate with a prompt you write yourself, or load a GGUF whose chat template ctxscope can render (ChatML, Llama 3, Gemma…).".into(),
            Self::TooLarge { .. } => "Load a smaller model.".into(),
            Self::NoGpu(_) => "Run on the CPU backend.".into(),
            Self::DeviceLost(_) => "Retry with a shorter context, or switch to the CPU backend.".into(),
            Self::Gpu(_) | Self::UnsupportedOnGpu(_) => "Switch to the CPU backend.".into(),
            Self::DoesNotFit { max_tokens: Some(m), .. } => format!("Use at most {m} tokens of context, or the CPU backend."),
            Self::DoesNotFit { max_tokens: None, .. } => "Use a shorter context, or the CPU backend.".into(),
            Self::InvalidInput(_) | Self::Tokenizer(_) => "Correct the request and run it again.".into(),
            Self::Cancelled => "Run it again to continue (a sweep resumes from its finished cells).".into(),
            Self::NonFinite { .. } => "Change the experiment's parameters (e.g. a log-n length of at least 2, a factor in a sane range).".into(),
            Self::Tensor(_) | Self::Io(_) => "Retry; if it persists, report it with the model and the request.".into(),
        }
    }
}
