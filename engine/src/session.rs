//! The one interface scoring and generation need from a backend (CPU now, GPU next): run tokens
//! at the next positions of a KV cache and return logits for chosen rows.

use crate::error::Result;
use crate::gguf::ModelSpec;

pub trait Forward {
    fn spec(&self) -> &ModelSpec;
    /// Tokens already in the KV cache; the next token runs at this position.
    fn position(&self) -> usize;
    /// Empties the KV cache.
    fn reset(&mut self);
    /// Runs `tokens` at positions `position() ..`, appends them to the cache, and returns the
    /// logits (vocab-sized rows) at the given indices into `tokens`.
    fn forward(&mut self, tokens: &[u32], logit_rows: &[usize]) -> Result<Vec<Vec<f32>>>;
    /// Starts recording attention entropy, if this backend can (the GPU engine can).
    fn record_entropy(&mut self) -> bool {
        false
    }
    /// The entropy recorded since [`Forward::record_entropy`] (or the last reset).
    fn entropy(&self) -> Option<&crate::gpu::EntropyTrace> {
        None
    }
}
