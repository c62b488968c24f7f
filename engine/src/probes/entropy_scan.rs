//! The entropy scan: one text run at growing context lengths, recording the mean attention
//! entropy of every (layer, head) over the last queries of each run — the measurement behind
//! Entropy-ABF's argument that attention entropy must stay stable as context grows (Zhang et
//! al. 2024, "Extending LLMs' Context Window with 100 Samples", §3; GAIR-NLP/Entropy-ABF).
//!
//! Each length is its own forward pass over the first `length` tokens of the same haystack, so
//! length-dependent methods (dynamic NTK, LongRoPE's switch, YaRN's factor) see the length they
//! would see in use; a query near the end of a run of length L attends over ≈ L keys.

use serde::{Deserialize, Serialize};

use super::haystack::Haystack;
use crate::backend::{Engine, Interrupt};
use crate::error::{Error, Result};
use crate::tokenizer::TextTokenizer;

/// Most lengths one scan may ask for.
pub const MAX_LENGTHS: usize = 64;

/// What to scan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntropyScanConfig {
    pub haystack: Haystack,
    /// Context lengths in tokens (BOS included when the model adds one), each ≥ 2.
    pub lengths: Vec<usize>,
    /// How many of the last queries of each run are averaged (fewer when the run is shorter).
    pub tail: usize,
    pub seed: u64,
}

/// The entropies of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntropyPoint {
    pub length: usize,
    /// Queries averaged: positions `length − queries .. length`.
    pub queries: usize,
    /// Mean entropy (nats) of each (layer, head) over those queries, `[layer][head]`.
    pub per_head: Vec<Vec<f32>>,
    /// Mean over heads of `per_head`, one per layer.
    pub per_layer: Vec<f32>,
    /// The entropy of uniform attention over every earlier key, ln(i + 1), averaged over the
    /// same queries: the ceiling a head reaches when it stops focusing.
    pub uniform: f32,
    pub seconds: f64,
}

impl EntropyScanConfig {
    /// Errors: [`Error::InvalidInput`] for no lengths, too many, a length under 2 or over
    /// `max_context`, or a tail of 0.
    pub fn validate(&self, max_context: usize) -> Result<()> {
        if self.lengths.is_empty() || self.lengths.len() > MAX_LENGTHS {
            return Err(Error::InvalidInput(format!("an entropy scan needs 1 … {MAX_LENGTHS} lengths")));
        }
        if let Some(&bad) = self.lengths.iter().find(|&&l| l < 2 || l > max_context) {
            return Err(Error::InvalidInput(format!(
                "length {bad} is outside 2 … {max_context} tokens (this backend's limit)"
            )));
        }
        if self.tail == 0 {
            return Err(Error::InvalidInput("the entropy scan averages at least one query (tail ≥ 1)".into()));
        }
        Ok(())
    }
}

/// Runs the scan under the engine's current experiment, lengths in the order given; calls
/// `on_point` after each. `clock` gives seconds.
///
/// Errors: an invalid config, the tokenizer's, and the forward pass's (cancel, device loss).
pub async fn entropy_scan(
    engine: &Engine,
    tokenizer: &TextTokenizer,
    config: &EntropyScanConfig,
    interrupt: &Interrupt,
    clock: &dyn Fn() -> f64,
    on_point: &mut dyn FnMut(&EntropyPoint),
) -> Result<Vec<EntropyPoint>> {
    config.validate(engine.max_context())?;
    let longest = *config.lengths.iter().max().expect("validated non-empty");
    let bos: Vec<u32> = if tokenizer.add_bos { tokenizer.bos_id.into_iter().collect() } else { Vec::new() };
    let (hay, _) = config.haystack.tokens(tokenizer, longest.saturating_sub(bos.len()), config.seed)?;
    let ids: Vec<u32> = bos.into_iter().chain(hay).collect();
    let mut points = Vec::with_capacity(config.lengths.len());
    for &length in &config.lengths {
        interrupt.checkpoint().await?;
        let t0 = clock();
        let mut session = engine.session(length)?;
        session.set_interrupt(interrupt.clone());
        session.record_entropy();
        session.forward(&ids[..length], &[]).await?;
        let trace = session.entropy().expect("recording");
        let queries = config.tail.min(length);
        let from = length - queries;
        let per_head: Vec<Vec<f32>> = (0..trace.layers)
            .map(|l| {
                (0..trace.heads)
                    .map(|h| {
                        (trace.series(l, h)[from..].iter().map(|&v| v as f64).sum::<f64>() / queries as f64) as f32
                    })
                    .collect()
            })
            .collect();
        let per_layer = per_head.iter().map(|h| h.iter().sum::<f32>() / h.len().max(1) as f32).collect();
        let uniform = ((from..length).map(|i| ((i + 1) as f64).ln()).sum::<f64>() / queries as f64) as f32;
        let point = EntropyPoint { length, queries, per_head, per_layer, uniform, seconds: clock() - t0 };
        on_point(&point);
        points.push(point);
    }
    Ok(points)
}
