//! What a forward pass can record besides logits, in the same form on every backend: attention
//! entropy per (layer, head, position) and the full attention row of one (layer, head, query).
//! The CPU reference computes both from its explicit softmax; the GPU from its online softmax
//! and stored log-sum-exp (tested against the CPU in `engine/tests/gpu_forward.rs`).

use serde::{Deserialize, Serialize};

/// Attention entropy H = −Σ_j p_j ln p_j (nats) of every (layer, head, position) run since
/// recording started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntropyTrace {
    pub layers: usize,
    pub heads: usize,
    /// `values[(layer * heads + head) * positions + position]`, in nats.
    pub values: Vec<f32>,
    pub positions: usize,
}

impl EntropyTrace {
    /// An empty trace for a model of `layers` × `heads`.
    pub fn new(layers: usize, heads: usize) -> Self {
        Self { layers, heads, values: Vec::new(), positions: 0 }
    }

    /// Forgets every recorded position (recording stays on).
    pub fn clear(&mut self) {
        self.values.clear();
        self.positions = 0;
    }

    /// Appends a chunk of `n` positions laid out `[layer][head][n]`.
    pub fn append(&mut self, chunk: &[f32], n: usize) {
        debug_assert_eq!(chunk.len(), self.layers * self.heads * n);
        let old = std::mem::take(&mut self.values);
        let total = self.positions + n;
        let mut values = Vec::with_capacity(self.layers * self.heads * total);
        for lh in 0..self.layers * self.heads {
            values.extend_from_slice(&old[lh * self.positions..(lh + 1) * self.positions]);
            values.extend_from_slice(&chunk[lh * n..(lh + 1) * n]);
        }
        self.values = values;
        self.positions = total;
    }

    /// The entropies of one (layer, head) over every recorded position.
    pub fn series(&self, layer: usize, head: usize) -> &[f32] {
        &self.values[(layer * self.heads + head) * self.positions..][..self.positions]
    }

    /// Mean entropy of each (layer, head) over all recorded positions, `[layer][head]`.
    pub fn mean_per_head(&self) -> Vec<Vec<f32>> {
        (0..self.layers)
            .map(|l| {
                (0..self.heads)
                    .map(|h| self.series(l, h).iter().map(|&v| v as f64).sum::<f64>() as f32 / self.positions.max(1) as f32)
                    .collect()
            })
            .collect()
    }

    /// Mean over heads of [`EntropyTrace::mean_per_head`], one value per layer.
    pub fn mean_per_layer(&self) -> Vec<f32> {
        self.mean_per_head().iter().map(|h| h.iter().sum::<f32>() / h.len().max(1) as f32).collect()
    }
}

/// The attention distribution of one query over every key before it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttentionRow {
    pub layer: usize,
    pub head: usize,
    /// Absolute position of the query.
    pub position: usize,
    /// p_j for keys j = 0 … position (masked keys exactly 0); sums to 1. `None` until the
    /// position has run.
    pub probs: Option<Vec<f32>>,
}
