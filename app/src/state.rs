//! App state that is not in the URL: the loaded model and the progress of loading it.

use std::sync::Arc;

use ctxscope_engine::{ModelFile, TextTokenizer};

/// Where a model came from (shown to the user, and the Cache API key for URLs).
#[derive(Clone, Debug, PartialEq)]
pub enum ModelSource {
    Url(String),
    LocalFile(String),
}

impl ModelSource {
    pub fn label(&self) -> String {
        match self {
            Self::Url(u) => u.clone(),
            Self::LocalFile(name) => format!("local file {name}"),
        }
    }
}

/// A parsed model with its tokenizer.
pub struct LoadedModel {
    pub source: ModelSource,
    pub file: ModelFile,
    pub tokenizer: TextTokenizer,
}

pub type SharedModel = Arc<LoadedModel>;

/// Progress of one model load, as the loader panel shows it.
#[derive(Clone, Debug, PartialEq)]
pub enum LoadState {
    Idle,
    Downloading { loaded: u64, total: Option<u64> },
    Parsing,
    Ready { from_cache: bool },
    Failed(String),
}
