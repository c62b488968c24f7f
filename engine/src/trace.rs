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
    /// The session position of recorded position 0 (recording may start after a prompt).
    #[serde(default)]
    pub start: usize,
}

impl EntropyTrace {
    /// An empty trace for a model of `layers` × `heads`, whose first position will be session
    /// position `start`.
    pub fn new(layers: usize, heads: usize, start: usize) -> Self {
        Self { layers, heads, values: Vec::new(), positions: 0, start }
    }

    /// Forgets every recorded position (recording stays on, from session position 0: the
    /// session was emptied).
    pub fn clear(&mut self) {
        self.values.clear();
        self.positions = 0;
        self.start = 0;
    }

    /// Keeps session positions before `n` (a session cut back to a shared prefix).
    pub fn truncate(&mut self, n: usize) {
        if n < self.start {
            // Cut back into the part before recording began: nothing recorded survives, and the
            // next position run is session position n.
            self.values.clear();
            self.positions = 0;
            self.start = n;
            return;
        }
        let n = n - self.start;
        if n >= self.positions {
            return;
        }
        let mut values = Vec::with_capacity(self.layers * self.heads * n);
        for lh in 0..self.layers * self.heads {
            values.extend_from_slice(&self.values[lh * self.positions..][..n]);
        }
        self.values = values;
        self.positions = n;
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
                    .map(|h| {
                        self.series(l, h).iter().map(|&v| v as f64).sum::<f64>() as f32 / self.positions.max(1) as f32
                    })
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

/// Most floats one [`AttentionMap`] may hold (32 MiB): a 4k-token prompt's full map, or 512
/// rows of an 8k-token prompt, but not a 32k × 32k map.
pub const MAX_MAP_FLOATS: usize = 1 << 23;

/// The attention rows of consecutive queries of one (layer, head): the full query × key map of a
/// short prompt, or a single row of a long one. Rows fill in as their positions run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttentionMap {
    pub layer: usize,
    pub head: usize,
    /// Absolute position of the first query.
    pub first: usize,
    /// How many consecutive queries were asked for.
    pub count: usize,
    /// Captured rows, in order: `rows[i]` holds p_j for keys j = 0 ..= first + i (masked keys
    /// exactly 0), summed over the key regions that hold each key.
    pub rows: Vec<Vec<f32>>,
}

impl AttentionMap {
    /// Floats the map holds once complete (a triangle of rows).
    pub fn floats(first: usize, count: usize) -> usize {
        count * (first + 1) + count * count.saturating_sub(1) / 2
    }

    /// Forgets the rows of queries at positions `n` and later (a session cut back to `n`
    /// tokens takes them again when they rerun).
    pub(crate) fn truncate(&mut self, n: usize) {
        self.rows.truncate(n.saturating_sub(self.first));
    }

    /// Whether every requested row has run.
    pub fn is_complete(&self) -> bool {
        self.rows.len() == self.count
    }

    /// The absolute query positions still to capture that fall in a chunk of `n` positions from
    /// `start` (empty when rows before the chunk were missed: a map fills in order).
    pub(crate) fn pending_in(&self, start: usize, n: usize) -> std::ops::Range<usize> {
        let next = self.first + self.rows.len();
        if self.is_complete() || next < start || next >= start + n {
            return 0..0;
        }
        next..(self.first + self.count).min(start + n)
    }

    /// The row of the query at absolute `position`, once it has run.
    pub fn row(&self, position: usize) -> Option<AttentionRow> {
        let i = position.checked_sub(self.first)?;
        let probs = self.rows.get(i)?.clone();
        Some(AttentionRow { layer: self.layer, head: self.head, position, probs: Some(probs) })
    }
}

#[cfg(test)]
mod tests {
    use super::EntropyTrace;

    /// A trace started after a 5-token prompt cut back to session position 7 keeps its first two
    /// positions; cut back into the prompt, it keeps none.
    #[test]
    fn truncate_counts_session_positions_from_the_start_of_recording() {
        let mut trace = EntropyTrace::new(1, 2, 5);
        trace.append(&[0.0, 1.0, 2.0, 3.0, 10.0, 11.0, 12.0, 13.0], 4);
        trace.truncate(7);
        assert_eq!((trace.positions, trace.values.clone()), (2, vec![0.0, 1.0, 10.0, 11.0]));
        trace.truncate(3);
        assert_eq!((trace.positions, trace.values.len(), trace.start), (0, 0, 3));
        // Positions 3 and 4 run again and are recorded from session position 3.
        trace.append(&[20.0, 21.0, 30.0, 31.0], 2);
        trace.truncate(4);
        assert_eq!((trace.positions, trace.values.clone()), (1, vec![20.0, 30.0]));
        trace.clear();
        assert_eq!(trace.start, 0);
    }
}
