//! RoPE arithmetic precision (docs/methods.md#rope-precision; "When Precision Meets Position: BFloat16 Breaks Down
//! RoPE", Wang et al., arXiv 2411.13476) and the probe that measures its effect.
//!
//! Modes, with the letters of docs/methods.md#precision-modes:
//! - `f32`: f32 angles (HF's fp32 product), cos/sin, vectors — the engine's default.
//! - `bf16` (A) / `f16` (B): f32 angles; cos/sin rounded to the format (HF casts them to
//!   `x.dtype`); q and k rounded before and after the rotation (bf16 activations).
//! - `bf16-angles` (C) / `f16-angles` (D): additionally the position, θ and their product are
//!   rounded to the format — the failure mode when positions or angles are held in 16 bits.
//!
//! Angles and cos/sin are computed on the host for both backends (docs/methods.md#angle-tables-and-numerics), so the table side
//! is emulated here; the vector rounding runs in `shaders/rope.wgsl` with the same
//! round-to-nearest-even rule (bf16: the bit trick of docs/methods.md#precision-modes; f16: `pack2x16float`).

use serde::{Deserialize, Serialize};

use super::RopeFrequencies;
use crate::rng::SplitMix64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum RopePrecision {
    #[default]
    F32,
    Bf16,
    F16,
    Bf16Angles,
    F16Angles,
}

impl RopePrecision {
    pub const ALL: [Self; 5] = [Self::F32, Self::Bf16, Self::F16, Self::Bf16Angles, Self::F16Angles];

    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::Bf16 => "bf16",
            Self::F16 => "f16",
            Self::Bf16Angles => "bf16-angles",
            Self::F16Angles => "f16-angles",
        }
    }

    /// Rounds to the mode's storage format (identity for f32).
    pub fn round(self, x: f32) -> f32 {
        match self {
            Self::F32 => x,
            Self::Bf16 | Self::Bf16Angles => half::bf16::from_f32(x).to_f32(),
            Self::F16 | Self::F16Angles => half::f16::from_f32(x).to_f32(),
        }
    }

    /// The vector-rounding code `shaders/rope.wgsl` takes: 0 none, 1 bf16, 2 f16.
    pub fn kernel_code(self) -> u32 {
        match self {
            Self::F32 => 0,
            Self::Bf16 | Self::Bf16Angles => 1,
            Self::F16 | Self::F16Angles => 2,
        }
    }

    fn rounds_angles(self) -> bool {
        matches!(self, Self::Bf16Angles | Self::F16Angles)
    }

    /// The rotation angle p·θ as this mode computes it.
    pub fn angle(self, position: f64, inv_freq: f32) -> f64 {
        if self.rounds_angles() {
            self.round(self.round(position as f32) * self.round(inv_freq)) as f64
        } else {
            (position as f32 * inv_freq) as f64
        }
    }

    /// cos and sin tables, row-major `[positions][pairs]`, multiplied by `attention_scaling`
    /// and rounded to the mode's format.
    pub fn tables(self, freqs: &RopeFrequencies, positions: impl IntoIterator<Item = f64>) -> (Vec<f32>, Vec<f32>) {
        let mut cos = Vec::new();
        let mut sin = Vec::new();
        let scale = freqs.attention_scaling as f64;
        for p in positions {
            for &f in &freqs.inv_freq {
                let angle = self.angle(p, f);
                cos.push(self.round((angle.cos() * scale) as f32));
                sin.push(self.round((angle.sin() * scale) as f32));
            }
        }
        (cos, sin)
    }

    /// Rotates adjacent pairs of `x` (one head, GGUF layout) by one table row, rounding the
    /// input and the result to the mode's format — exactly what `shaders/rope.wgsl` does.
    pub fn rotate(self, x: &mut [f32], cos: &[f32], sin: &[f32]) {
        for (k, (&c, &s)) in cos.iter().zip(sin).enumerate() {
            let (a, b) = (self.round(x[2 * k]), self.round(x[2 * k + 1]));
            x[2 * k] = self.round(a * c - b * s);
            x[2 * k + 1] = self.round(a * s + b * c);
        }
    }
}

/// What [`deviation_probe`] measures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeConfig {
    /// Relative distances Δ between query and key.
    pub deltas: Vec<usize>,
    /// Absolute key positions m (the query sits at m + Δ).
    pub starts: Vec<usize>,
    /// Random (q, k) pairs averaged over.
    pub samples: usize,
    pub seed: u64,
    pub modes: Vec<RopePrecision>,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        let mut starts = vec![0];
        let mut m = 64;
        while m <= 32768 {
            starts.push(m);
            m *= 2;
        }
        Self { deltas: vec![1, 16, 256], starts, samples: 256, seed: 0, modes: RopePrecision::ALL.to_vec() }
    }
}

/// One curve of the probe: a mode at one Δ.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeSeries {
    pub mode: RopePrecision,
    pub delta: usize,
    /// Mean over samples of |logit_mode(m+Δ, m) − logit_f64(m+Δ, m)|, one value per start m.
    pub mean_abs_deviation: Vec<f64>,
    /// Mean over samples of the standard deviation over m of logit_mode(m+Δ, m): exactly 0 for
    /// ideal (purely relative) RoPE.
    pub spread_over_starts: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeResult {
    pub config: ProbeConfig,
    pub series: Vec<ProbeSeries>,
}

/// The AnchorAttention pairwise probe (docs/methods.md#anchorattention-probe): how far logit(m+Δ, m) = ⟨R(m+Δ)q, R(m)k⟩/√d
/// drifts from its f64 value as the absolute position m grows, with q and k drawn from N(0, 1)
/// per entry (logit std ≈ 1). `freqs` gives θ (the f64 reference uses the same θ in f64).
pub fn deviation_probe(freqs: &RopeFrequencies, config: &ProbeConfig) -> ProbeResult {
    let pairs = freqs.pairs();
    let d = 2 * pairs;
    let mut rng = SplitMix64(config.seed);
    let vectors: Vec<(Vec<f32>, Vec<f32>)> = (0..config.samples)
        .map(|_| ((0..d).map(|_| rng.normal()).collect(), (0..d).map(|_| rng.normal()).collect()))
        .collect();
    let inv_sqrt_d = 1.0 / (d as f64).sqrt();
    let exact = |q: &[f32], k: &[f32], i: usize, j: usize| -> f64 {
        let mut s = 0.0;
        for (p, &f) in freqs.inv_freq.iter().enumerate() {
            let (ci, si) = ((i as f64 * f as f64).cos(), (i as f64 * f as f64).sin());
            let (cj, sj) = ((j as f64 * f as f64).cos(), (j as f64 * f as f64).sin());
            let scale = freqs.attention_scaling as f64;
            let (qa, qb) = (q[2 * p] as f64, q[2 * p + 1] as f64);
            let (ka, kb) = (k[2 * p] as f64, k[2 * p + 1] as f64);
            let (rqa, rqb) = (qa * ci - qb * si, qa * si + qb * ci);
            let (rka, rkb) = (ka * cj - kb * sj, ka * sj + kb * cj);
            s += (rqa * rka + rqb * rkb) * scale * scale;
        }
        s * inv_sqrt_d
    };
    let mut series = Vec::new();
    for &mode in &config.modes {
        for &delta in &config.deltas {
            let mut dev = vec![0.0; config.starts.len()];
            let mut spread = 0.0;
            for (q, k) in &vectors {
                let logits: Vec<f64> = config
                    .starts
                    .iter()
                    .enumerate()
                    .map(|(si, &m)| {
                        let (i, j) = (m + delta, m);
                        let (qc, qs) = mode.tables(freqs, [i as f64]);
                        let (kc, ks) = mode.tables(freqs, [j as f64]);
                        let (mut rq, mut rk) = (q.clone(), k.clone());
                        mode.rotate(&mut rq, &qc, &qs);
                        mode.rotate(&mut rk, &kc, &ks);
                        let got = rq.iter().zip(&rk).map(|(a, b)| *a as f64 * *b as f64).sum::<f64>() * inv_sqrt_d;
                        dev[si] += (got - exact(q, k, i, j)).abs();
                        got
                    })
                    .collect();
                let mean = logits.iter().sum::<f64>() / logits.len() as f64;
                spread += (logits.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / logits.len() as f64).sqrt();
            }
            let n = config.samples.max(1) as f64;
            series.push(ProbeSeries {
                mode,
                delta,
                mean_abs_deviation: dev.into_iter().map(|v| v / n).collect(),
                spread_over_starts: spread / n,
            });
        }
    }
    ProbeResult { config: config.clone(), series }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_matches_the_bit_trick_and_half() {
        // bf16 round-to-nearest-even (docs/methods.md#precision-modes): 1 + 2^-8 is a tie → 1; 1 + 3·2^-8 → 1 + 2^-6.
        assert_eq!(RopePrecision::Bf16.round(1.0 + 1.0 / 256.0), 1.0);
        assert_eq!(RopePrecision::Bf16.round(1.0 + 3.0 / 256.0), 1.0 + 1.0 / 64.0);
        assert_eq!(RopePrecision::F16.round(2049.0), 2048.0);
        assert_eq!(RopePrecision::F32.round(1.0 + 1e-7), 1.0 + 1e-7);
        // Positions: bf16 is exact to 256, f16 to 2048 (docs/methods.md#angle-tables-and-numerics).
        assert_eq!(RopePrecision::Bf16Angles.angle(257.0, 1.0), 256.0);
        assert_eq!(RopePrecision::F16Angles.angle(2047.0, 1.0), 2047.0);
    }

    /// The docs/methods.md#rope-precision reference numbers (NumPy simulation, 256 random pairs): mode A ≈ 0.0023–0.0038,
    /// B ≈ 4e-4 flat, C at Δ = 1 ≈ 0.186 from m ≥ 512, D at Δ = 16 ≈ 0.0003 at 0 and 0.59 at
    /// 32768. Tolerances allow for different random draws (and our rounding of the inputs).
    #[test]
    fn probe_reproduces_the_spec_reference_numbers() {
        let freqs = RopeFrequencies::standard(100_000.0, 64);
        let config = ProbeConfig {
            deltas: vec![1, 16],
            starts: vec![0, 512, 2048, 32768],
            samples: 256,
            seed: 7,
            modes: RopePrecision::ALL.to_vec(),
        };
        let r = deviation_probe(&freqs, &config);
        let get = |mode, delta| r.series.iter().find(|s| s.mode == mode && s.delta == delta).unwrap();
        let a = get(RopePrecision::Bf16, 16);
        assert!(a.mean_abs_deviation.iter().all(|&v| (0.0015..0.006).contains(&v)), "A: {:?}", a.mean_abs_deviation);
        let b = get(RopePrecision::F16, 16);
        assert!(b.mean_abs_deviation.iter().all(|&v| (1e-4..1.2e-3).contains(&v)), "B: {:?}", b.mean_abs_deviation);
        let c = get(RopePrecision::Bf16Angles, 1);
        assert!(
            c.mean_abs_deviation[0] < 0.01 && (0.1..0.3).contains(&c.mean_abs_deviation[1]),
            "C: {:?}",
            c.mean_abs_deviation
        );
        let dd = get(RopePrecision::F16Angles, 16);
        assert!(
            dd.mean_abs_deviation[0] < 2e-3 && (0.4..0.8).contains(&dd.mean_abs_deviation[3]),
            "D: {:?}",
            dd.mean_abs_deviation
        );
        // f32 is nearly relative: tiny deviation and spread.
        let f = get(RopePrecision::F32, 16);
        assert!(f.mean_abs_deviation.iter().all(|&v| v < 1e-3) && f.spread_over_starts < 1e-3, "f32: {f:?}");
        assert!(c.spread_over_starts > 10.0 * f.spread_over_starts);
    }
}
