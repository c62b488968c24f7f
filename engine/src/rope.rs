//! Rotary position embedding tables (Su et al. 2021, "RoFormer", arXiv 2104.09864).
//!
//! Angles are built on the host and uploaded as cos/sin tables, so every later RoPE variant
//! (spec §2–§5) only changes `inv_freq`, `attention_scaling` or the positions — never a kernel.
//! The rounding follows HF transformers (`LlamaRotaryEmbedding`): `inv_freq` is an f32 vector and
//! `position · inv_freq` is an f32 product; only sin/cos of that f32 angle are evaluated in f64
//! (spec §0.5), which keeps us within one f32 ulp of HF's fp32 tables.

use serde::{Deserialize, Serialize};

/// Per-pair rotation frequencies θ_k and the factor applied to both cos and sin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RopeFrequencies {
    /// θ_k for pair k = 0 … d/2−1 (f32, as HF holds them).
    pub inv_freq: Vec<f32>,
    /// Multiplies cos and sin (so logits scale by its square); 1 for standard RoPE.
    pub attention_scaling: f32,
}

impl RopeFrequencies {
    /// Standard RoPE: θ_k = base^(−2k/d) (spec §1; HF `_compute_default_rope_parameters`).
    pub fn standard(base: f64, head_dim: usize) -> Self {
        let inv_freq = (0..head_dim / 2)
            .map(|k| {
                // HF: 1.0 / (base ** (arange(0, d, 2).float() / d)), all in f32.
                let exponent = (2 * k) as f32 / head_dim as f32;
                let pow = (base as f32 as f64).powf(exponent as f64) as f32;
                1.0f32 / pow
            })
            .collect();
        Self { inv_freq, attention_scaling: 1.0 }
    }

    pub fn pairs(&self) -> usize {
        self.inv_freq.len()
    }

    /// cos and sin tables, row-major `[positions.len()][pairs]`, already multiplied by
    /// `attention_scaling`.
    pub fn cos_sin(&self, positions: impl IntoIterator<Item = usize>) -> (Vec<f32>, Vec<f32>) {
        let mut cos = Vec::new();
        let mut sin = Vec::new();
        let scale = self.attention_scaling as f64;
        for p in positions {
            for &f in &self.inv_freq {
                let angle = (p as f32 * f) as f64;
                cos.push((angle.cos() * scale) as f32);
                sin.push((angle.sin() * scale) as f32);
            }
        }
        (cos, sin)
    }
}

/// Frequency-rescaling methods (spec §2), with HF transformers' parameter names and formulas
/// (`modeling_rope_utils.py`). Each resolves to a [`RopeFrequencies`] for a given sequence length.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "rope", rename_all = "lowercase")]
pub enum RopeScaling {
    /// Standard RoPE (Su et al. 2021).
    Default,
    /// Position Interpolation (Chen et al. 2023, arXiv 2306.15595): θ′ = θ / s.
    Linear { factor: f64 },
    /// NTK-aware base change (bloc97 2023; YaRN Eq. 16): b′ = b · s^(d/(d−2)).
    Ntk { factor: f64 },
    /// Dynamic NTK (HF "dynamic"): the NTK base change with s recomputed from the sequence length,
    /// b′ = b · (s·ℓ/L − (s−1))^(d/(d−2)), ℓ = max(seq_len, L).
    Dynamic { factor: f64, original_ctx: usize },
    /// YaRN (Peng et al. 2023, arXiv 2309.00071 §3.2–3.4): NTK-by-parts ramp between α = β_slow
    /// and β = β_fast rotations, plus temperature 0.1·ln s + 1 on both cos and sin.
    Yarn { factor: f64, original_ctx: usize, beta_fast: f64, beta_slow: f64 },
    /// Llama 3 three-band scaling (HF `_compute_llama3_parameters`).
    Llama3 { factor: f64, low_freq_factor: f64, high_freq_factor: f64, original_ctx: usize },
}

impl RopeScaling {
    /// The frequency table for a sequence of `seq_len` tokens (only Dynamic depends on it).
    pub fn frequencies(&self, base: f64, head_dim: usize, seq_len: usize) -> RopeFrequencies {
        let d = head_dim as f64;
        let standard = RopeFrequencies::standard(base, head_dim);
        let map = |f: &dyn Fn(usize, f64) -> f64| -> Vec<f32> {
            standard.inv_freq.iter().enumerate().map(|(k, &t)| f(k, t as f64) as f32).collect()
        };
        match *self {
            Self::Default => standard,
            Self::Linear { factor } => RopeFrequencies { inv_freq: map(&|_, t| t / factor), attention_scaling: 1.0 },
            Self::Ntk { factor } => RopeFrequencies::standard(base * factor.powf(d / (d - 2.0)), head_dim),
            Self::Dynamic { factor, original_ctx } => {
                let len = seq_len.max(original_ctx) as f64;
                let l = original_ctx as f64;
                RopeFrequencies::standard(base * (factor * len / l - (factor - 1.0)).powf(d / (d - 2.0)), head_dim)
            }
            Self::Yarn { factor, original_ctx, beta_fast, beta_slow } => {
                // Correction range in pair-index space, truncated as HF does by default.
                let corr_dim = |rotations: f64| d * (original_ctx as f64 / (rotations * 2.0 * std::f64::consts::PI)).ln() / (2.0 * base.ln());
                let low = corr_dim(beta_fast).floor().max(0.0);
                let mut high = corr_dim(beta_slow).ceil().min(d - 1.0);
                if high == low {
                    high += 0.001;
                }
                let inv_freq = map(&|k, t| {
                    let ramp = ((k as f64 - low) / (high - low)).clamp(0.0, 1.0);
                    let extrapolation = 1.0 - ramp;
                    (t / factor) * (1.0 - extrapolation) + t * extrapolation
                });
                let attention_scaling = if factor <= 1.0 { 1.0 } else { 0.1 * factor.ln() + 1.0 };
                RopeFrequencies { inv_freq, attention_scaling: attention_scaling as f32 }
            }
            Self::Llama3 { factor, low_freq_factor, high_freq_factor, original_ctx } => {
                let l = original_ctx as f64;
                let (low_wavelen, high_wavelen) = (l / low_freq_factor, l / high_freq_factor);
                let inv_freq = map(&|_, t| {
                    let wavelen = 2.0 * std::f64::consts::PI / t;
                    if wavelen < high_wavelen {
                        t
                    } else if wavelen > low_wavelen {
                        t / factor
                    } else {
                        let smooth = (l / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor);
                        (1.0 - smooth) * t / factor + smooth * t
                    }
                });
                RopeFrequencies { inv_freq, attention_scaling: 1.0 }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_frequencies_follow_the_formula() {
        let f = RopeFrequencies::standard(100_000.0, 64);
        assert_eq!(f.pairs(), 32);
        assert_eq!(f.inv_freq[0], 1.0);
        // spec §1: θ_31 = 1e5^(−62/64) = 1.433e−5.
        let expected = 100_000f64.powf(-62.0 / 64.0);
        assert!(((f.inv_freq[31] as f64 - expected) / expected).abs() < 1e-6);
    }

    /// Spec §2.2 (derived): NTK bases for our model.
    #[test]
    fn ntk_base_matches_the_spec() {
        for (factor, base) in [(2.0, 204_522.0), (4.0, 418_294.0), (8.0, 855_504.0)] {
            let f = RopeScaling::Ntk { factor }.frequencies(100_000.0, 64, 1);
            let expected = RopeFrequencies::standard(base, 64);
            for (a, b) in f.inv_freq.iter().zip(&expected.inv_freq) {
                assert!(((a - b) / b).abs() < 1e-5, "factor {factor}: {a} vs {b}");
            }
        }
    }

    /// Spec §2.4 (derived): at s = 2, pairs 0–10 untouched, 20–31 halved, 11–19 step by 0.05.
    #[test]
    fn yarn_ramp_matches_the_spec() {
        let scaling = RopeScaling::Yarn { factor: 2.0, original_ctx: 8192, beta_fast: 32.0, beta_slow: 1.0 };
        let f = scaling.frequencies(100_000.0, 64, 1);
        let base = RopeFrequencies::standard(100_000.0, 64);
        for k in 0..32 {
            let ratio = f.inv_freq[k] as f64 / base.inv_freq[k] as f64;
            let expected = if k <= 10 { 1.0 } else if k >= 20 { 0.5 } else { 1.0 - 0.05 * (k - 10) as f64 };
            assert!((ratio - expected).abs() < 1e-6, "pair {k}: ratio {ratio}, expected {expected}");
        }
        assert!((f.attention_scaling as f64 - (0.1 * 2f64.ln() + 1.0)).abs() < 1e-7);
    }

    /// Spec §2.5 (derived): f = 8 multiplies pairs 0–16 by 1, 17 by 0.672, 18 by 0.419,
    /// 19 by 0.242 and 20–31 by 0.125.
    #[test]
    fn llama3_bands_match_the_spec() {
        let scaling = RopeScaling::Llama3 { factor: 8.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_ctx: 8192 };
        let f = scaling.frequencies(100_000.0, 64, 1);
        let base = RopeFrequencies::standard(100_000.0, 64);
        for k in 0..32 {
            let ratio = f.inv_freq[k] as f64 / base.inv_freq[k] as f64;
            let expected = match k {
                0..=16 => 1.0,
                17 => 0.672,
                18 => 0.419,
                19 => 0.242,
                _ => 0.125,
            };
            assert!((ratio - expected).abs() < 1e-3, "pair {k}: ratio {ratio}, expected {expected}");
        }
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
