//! [`RopeTable`]: everything an experiment's RoPE resolves to at one sequence length, as data —
//! `ctxscope rope-table` prints it, the playground's RoPE view draws it.

use serde::{Deserialize, Serialize};

use super::{LogitScale, PositionMap, RopeFrequencies};
use crate::experiment::{Experiment, Plan};

/// One key region of the table (see [`super::Region`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegionTable {
    /// Relative distances Δ = i − j the region covers: `delta_min ≤ Δ < delta_max` (None: ∞).
    pub delta_min: usize,
    pub delta_max: Option<usize>,
    /// θ_k per pair k = 0 … d/2 − 1 (radians per token).
    pub inv_freq: Vec<f32>,
    /// 2π/θ_k per pair, in tokens.
    pub wavelengths: Vec<f64>,
    /// Factor on cos and sin (logits scale by its square).
    pub attention_scaling: f32,
    pub query_position: PositionMap,
    pub key_position: PositionMap,
    /// Where the last query of the sequence is rotated.
    pub last_query_position: f64,
}

/// An experiment's RoPE resolved for a sequence of `seq_len` tokens on one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RopeTable {
    pub experiment: Experiment,
    pub seq_len: usize,
    pub head_dim: usize,
    pub base: f64,
    /// The context the unscaled frequencies were trained with.
    pub trained_ctx: usize,
    /// The near region's θ_k, wavelengths and cos/sin factor (the only region of frequency
    /// methods).
    pub inv_freq: Vec<f32>,
    pub wavelengths: Vec<f64>,
    pub attention_scaling: f32,
    /// Standard RoPE's θ_k = b^(−2k/d) with the model's base: the "before scaling" curve.
    pub standard_inv_freq: Vec<f32>,
    pub regions: Vec<RegionTable>,
    pub logit_scale: LogitScale,
    pub logit_scale_at_last_query: f32,
    /// How the experiment relates to the scaling the model declares (None when it declares none).
    pub rope_baseline: Option<String>,
    /// (Δ, effective relative position) seen by the last query, in units of the near region's
    /// rotation, for distances on a log grid from 0 to `seq_len − 1`: the identity for plain
    /// RoPE, bent by STRING, Self-Extend and ReRoPE.
    pub effective_positions: Vec<(usize, f64)>,
}

impl RopeTable {
    /// Resolves `plan` at `seq_len` (≥ 1) tokens.
    pub fn new(plan: &Plan, seq_len: usize) -> Self {
        let seq_len = seq_len.max(1);
        let cx = plan.rope_context();
        let regions = plan.regions(seq_len);
        let last = seq_len - 1;
        let near = &regions[0].freqs;
        let region_tables = regions
            .iter()
            .map(|r| RegionTable {
                delta_min: r.deltas.min,
                delta_max: (r.deltas.max != usize::MAX).then_some(r.deltas.max),
                inv_freq: r.freqs.inv_freq.clone(),
                wavelengths: r.freqs.wavelengths(),
                attention_scaling: r.freqs.attention_scaling,
                query_position: r.query,
                key_position: r.key,
                last_query_position: r.query.at(last),
            })
            .collect();
        let effective_positions = log_grid(last)
            .into_iter()
            .filter_map(|delta| {
                let r = regions.iter().find(|r| r.deltas.contains(delta))?;
                let rel = r.query.at(last) - r.key.at(last - delta);
                Some((delta, rel * (r.freqs.inv_freq[0] / near.inv_freq[0]) as f64))
            })
            .collect();
        Self {
            experiment: plan.experiment.clone(),
            seq_len,
            head_dim: cx.head_dim,
            base: cx.base,
            trained_ctx: cx.trained_ctx,
            inv_freq: near.inv_freq.clone(),
            wavelengths: near.wavelengths(),
            attention_scaling: near.attention_scaling,
            standard_inv_freq: RopeFrequencies::standard(cx.base, cx.head_dim).inv_freq,
            regions: region_tables,
            logit_scale: plan.logit_scale(),
            logit_scale_at_last_query: plan.logit_scale().value(last),
            rope_baseline: plan.baseline_note(),
            effective_positions,
        }
    }
}

/// 0, then about 96 distances spread evenly on a log scale up to `max`, plus every integer up to
/// 32 (where windows and offsets of the position-map methods usually sit), sorted, unique.
fn log_grid(max: usize) -> Vec<usize> {
    let mut v: Vec<usize> = (0..=max.min(32)).collect();
    if max > 0 {
        let steps = 96;
        for s in 0..=steps {
            v.push(((max as f64).powf(s as f64 / steps as f64)).round() as usize);
        }
    }
    v.retain(|&d| d <= max);
    v.sort_unstable();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rope::RopeMethod;

    #[test]
    fn effective_positions_follow_the_position_maps() {
        let spec = crate::rope::tests_support::spec(100_000.0, 64, 8192);
        let plan = |rope| Plan::new(&Experiment { rope, ..Experiment::default() }, &spec).unwrap();
        let t = RopeTable::new(&plan(RopeMethod::Model), 4096);
        assert!(t.effective_positions.iter().all(|&(d, p)| p == d as f64), "plain RoPE: identity");
        assert_eq!(t.standard_inv_freq, t.inv_freq);
        let rerope = RopeTable::new(&plan(RopeMethod::Rerope { window: 512, log_n: true, log_n_ctx: None }), 4096);
        assert!(rerope.effective_positions.iter().all(|&(d, p)| p == d.min(512) as f64));
        let leaky = RopeTable::new(
            &plan(RopeMethod::LeakyRerope { window: 512, factor: 16.0, log_n: true, log_n_ctx: None }),
            4096,
        );
        for &(d, p) in &leaky.effective_positions {
            let want = if d < 512 { d as f64 } else { 512.0 + (d - 512) as f64 / 16.0 };
            assert!((p - want).abs() < 1e-3, "Δ {d}: {p} vs {want}");
        }
        let linear = RopeTable::new(&plan(RopeMethod::Linear { factor: 4.0 }), 4096);
        assert!((linear.inv_freq[20] - linear.standard_inv_freq[20] / 4.0).abs() < 1e-10);
    }
}
