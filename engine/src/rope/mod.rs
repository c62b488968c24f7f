//! Rotary position embedding (Su et al. 2021, "RoFormer", arXiv 2104.09864) and every
//! inference-time variant ctxscope offers.
//!
//! - this file: [`RopeFrequencies`] (θ_k and the cos/sin factor) and their cos/sin tables;
//! - [`methods`]: [`RopeMethod`], the 13 variants (docs/methods.md#rope-methods) as one serde enum, each resolving
//!   to frequencies, key regions with position maps, and a query logit scale;
//! - [`positions`]: the position maps (STRING, Self-Extend, ReRoPE, StreamingLLM);
//! - [`precision`]: f32 / f16 / bf16 RoPE arithmetic and the AnchorAttention deviation probe.
//!
//! Angles are built on the host and uploaded as cos/sin tables, so every later RoPE variant
//! (docs/methods.md#rope-methods) only changes `inv_freq`, `attention_scaling` or the positions — never a kernel.
//! The rounding follows HF transformers (`LlamaRotaryEmbedding`): `inv_freq` is an f32 vector and
//! `position · inv_freq` is an f32 product; only sin/cos of that f32 angle are evaluated in f64
//! (docs/methods.md#angle-tables-and-numerics), which keeps us within one f32 ulp of HF's fp32 tables.

pub mod methods;
pub mod positions;
pub mod precision;
pub mod table;

use serde::{Deserialize, Serialize};

pub use methods::{LogitScale, Reach, Region, RopeMethod};
pub use positions::PositionMap;
pub use precision::RopePrecision;
pub use table::RopeTable;

/// Per-pair rotation frequencies θ_k and the factor applied to both cos and sin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RopeFrequencies {
    /// θ_k for pair k = 0 … d/2−1 (f32, as HF holds them).
    pub inv_freq: Vec<f32>,
    /// Multiplies cos and sin (so logits scale by its square); 1 for standard RoPE.
    pub attention_scaling: f32,
}

impl RopeFrequencies {
    /// Standard RoPE: θ_k = base^(−2k/d) (docs/methods.md#method-default; HF `_compute_default_rope_parameters`).
    pub fn standard(base: f64, head_dim: usize) -> Self {
        let inv_freq = (0..head_dim / 2).map(|k| 1.0f32 / base_power(base, k, head_dim)).collect();
        Self { inv_freq, attention_scaling: 1.0 }
    }

    pub fn pairs(&self) -> usize {
        self.inv_freq.len()
    }

    /// Wavelength 2π/θ_k of every pair, in tokens.
    pub fn wavelengths(&self) -> Vec<f64> {
        self.inv_freq.iter().map(|&f| 2.0 * std::f64::consts::PI / f as f64).collect()
    }

    /// f32 cos and sin tables, row-major `[positions.len()][pairs]`, already multiplied by
    /// `attention_scaling`.
    pub fn cos_sin(&self, positions: impl IntoIterator<Item = usize>) -> (Vec<f32>, Vec<f32>) {
        RopePrecision::F32.tables(self, positions.into_iter().map(|p| p as f64))
    }
}

/// base^(2k/d) as HF computes it: `base ** (arange(0, d, 2).float() / d)`, all in f32.
pub(crate) fn base_power(base: f64, k: usize, head_dim: usize) -> f32 {
    let exponent = (2 * k) as f32 / head_dim as f32;
    (base as f32 as f64).powf(exponent as f64) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_frequencies_follow_the_formula() {
        let f = RopeFrequencies::standard(100_000.0, 64);
        assert_eq!(f.pairs(), 32);
        assert_eq!(f.inv_freq[0], 1.0);
        // docs/methods.md#method-default: θ_31 = 1e5^(−62/64) = 1.433e−5.
        let expected = 100_000f64.powf(-62.0 / 64.0);
        assert!(((f.inv_freq[31] as f64 - expected) / expected).abs() < 1e-6);
    }

    #[test]
    fn table_rotates_by_position_times_frequency() {
        let f = RopeFrequencies::standard(10_000.0, 8);
        let (cos, sin) = f.cos_sin([0, 3]);
        assert_eq!(&cos[..4], &[1.0; 4]);
        assert_eq!(&sin[..4], &[0.0; 4]);
        for k in 0..4 {
            let angle = 3.0 * f.inv_freq[k] as f64;
            assert!((cos[4 + k] as f64 - angle.cos()).abs() < 1e-7);
            assert!((sin[4 + k] as f64 - angle.sin()).abs() < 1e-7);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests_support {
    use crate::gguf::{DeclaredRope, ModelSpec};

    /// A model description with the given RoPE facts (2 layers of 9 heads; no tensors).
    pub fn spec(base: f64, head_dim: usize, context_length: usize) -> ModelSpec {
        ModelSpec {
            name: None,
            architecture: "llama".into(),
            block_count: 2,
            embedding_length: 9 * head_dim,
            feed_forward_length: 4 * head_dim,
            head_count: 9,
            head_count_kv: 3,
            head_dim,
            rope_dimension_count: head_dim,
            context_length,
            rope_freq_base: base,
            rope: DeclaredRope::NONE,
            rms_norm_eps: 1e-5,
            vocab_size: 10,
            tied_output: true,
            file_size: 0,
            parameter_count: 0,
            tensor_types: Default::default(),
            tensors: Vec::new(),
        }
    }
}
