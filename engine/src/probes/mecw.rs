//! The maximum effective context window (docs/methods.md#probe-mecw; Paulsen 2025, arXiv 2509.21361): per task,
//! accuracy against length with a Wilson interval over seeds, and MECW_τ = the largest length n
//! such that accuracy ≥ τ at n and at every shorter length of the grid.

use serde::{Deserialize, Serialize};

/// RULER's threshold: Llama-2-7B's 4K score (NVIDIA/RULER README).
pub const RULER_THRESHOLD: f64 = 0.856;
/// Relative preset: 0.85 × the accuracy at the shortest length.
pub const RELATIVE_FRACTION: f64 = 0.85;

/// Accuracy at one length.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccuracyPoint {
    pub length: usize,
    pub cases: usize,
    pub correct: usize,
    pub accuracy: f64,
    /// 95% Wilson score interval.
    pub ci_low: f64,
    pub ci_high: f64,
    /// Mean of the per-case scores in [0, 1].
    pub mean_score: f64,
}

/// 95% Wilson score interval for `k` successes in `n` trials.
pub fn wilson(k: usize, n: usize) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let z = 1.959_963_984_540_054_f64;
    let (n, p) = (n as f64, k as f64 / n as f64);
    let denom = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / denom;
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / denom;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// Groups (length, correct, score) outcomes into points sorted by length.
pub fn accuracy_curve(outcomes: impl IntoIterator<Item = (usize, bool, f64)>) -> Vec<AccuracyPoint> {
    let mut by_len: std::collections::BTreeMap<usize, (usize, usize, f64)> = Default::default();
    for (len, ok, score) in outcomes {
        let e = by_len.entry(len).or_default();
        e.0 += 1;
        e.1 += usize::from(ok);
        e.2 += score;
    }
    by_len
        .into_iter()
        .map(|(length, (cases, correct, score))| {
            let (ci_low, ci_high) = wilson(correct, cases);
            AccuracyPoint {
                length,
                cases,
                correct,
                accuracy: correct as f64 / cases as f64,
                ci_low,
                ci_high,
                mean_score: score / cases as f64,
            }
        })
        .collect()
}

/// MECW_τ: the largest length whose accuracy, and that of every shorter length, is ≥ τ; None if
/// even the shortest length falls below τ.
pub fn mecw(curve: &[AccuracyPoint], tau: f64) -> Option<usize> {
    curve.iter().take_while(|p| p.accuracy >= tau - 1e-12).last().map(|p| p.length)
}

/// Both presets for one curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MecwEstimate {
    pub absolute_threshold: f64,
    pub mecw_absolute: Option<usize>,
    pub relative_threshold: f64,
    pub mecw_relative: Option<usize>,
    /// MECW / trained context, for each preset.
    pub absolute_ratio: Option<f64>,
    pub relative_ratio: Option<f64>,
}

/// The relative preset is undefined (None) when the shortest length scores 0: a threshold of 0
/// would call any curve effective.
pub fn estimate(curve: &[AccuracyPoint], trained_ctx: usize) -> MecwEstimate {
    let relative_threshold = RELATIVE_FRACTION * curve.first().map_or(0.0, |p| p.accuracy);
    let a = mecw(curve, RULER_THRESHOLD);
    let r = if relative_threshold > 0.0 { mecw(curve, relative_threshold) } else { None };
    let ratio = |m: Option<usize>| m.map(|m| m as f64 / trained_ctx.max(1) as f64);
    MecwEstimate {
        absolute_threshold: RULER_THRESHOLD,
        mecw_absolute: a,
        relative_threshold,
        mecw_relative: r,
        absolute_ratio: ratio(a),
        relative_ratio: ratio(r),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve(acc: &[(usize, f64)]) -> Vec<AccuracyPoint> {
        // 20 cases per length.
        accuracy_curve(acc.iter().flat_map(|&(len, a)| {
            let k = (a * 20.0).round() as usize;
            (0..20).map(move |i| (len, i < k, if i < k { 1.0 } else { 0.0 }))
        }))
    }

    #[test]
    fn wilson_matches_known_values() {
        // 8/10: 95% Wilson interval (0.4902, 0.9433); 0/10: (0, 0.2775).
        let (lo, hi) = wilson(8, 10);
        assert!((lo - 0.4902).abs() < 1e-4 && (hi - 0.9433).abs() < 1e-4, "{lo} {hi}");
        let (lo, hi) = wilson(0, 10);
        assert!(lo == 0.0 && (hi - 0.2775).abs() < 1e-4);
    }

    #[test]
    fn mecw_on_synthetic_curves() {
        let falling = curve(&[(1024, 1.0), (2048, 0.95), (4096, 0.9), (8192, 0.6), (16384, 0.1)]);
        let e = estimate(&falling, 8192);
        assert_eq!(e.mecw_absolute, Some(4096));
        assert_eq!(e.mecw_relative, Some(4096), "τ = 0.85");
        assert_eq!(e.absolute_ratio, Some(0.5));
        // Non-monotone: a dip at 2048 ends the window even though 4096 recovers.
        let dip = curve(&[(1024, 0.9), (2048, 0.5), (4096, 0.95)]);
        assert_eq!(mecw(&dip, RULER_THRESHOLD), Some(1024));
        // Failing from the start: no absolute MECW; the relative one follows the first point.
        let weak = curve(&[(128, 0.4), (256, 0.35), (512, 0.3), (1024, 0.1)]);
        let e = estimate(&weak, 8192);
        assert_eq!(e.mecw_absolute, None);
        assert_eq!(e.mecw_relative, Some(256), "τ = 0.34: 0.35 passes, 0.30 does not");
        assert_eq!(falling[0].cases, 20);
        let zero = curve(&[(128, 0.0), (256, 0.0)]);
        assert_eq!(estimate(&zero, 8192).mecw_relative, None, "no relative MECW when nothing is right");
    }
}
