//! One experiment configuration — the four knobs of docs/methods.md#the-four-knobs — and its resolved form.
//!
//! [`Experiment`] is what users write, share in links and pass with `--config`: small, versioned
//! and explicit. [`Plan`] binds it to a model; for a sequence length it resolves to the key
//! regions (frequency table θ′, query/key position maps — one table for every layer: none of the
//! methods varies θ′ by layer), a logit scale per (layer, query) and the visible-key mask per
//! (layer, head). The CPU reference and the GPU engine both consume a `Plan` and build their cos/sin
//! tables through the same functions, so they can only differ in kernel arithmetic.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::gguf::{DeclaredRope, DeclaredScaling, ModelSpec};
use crate::pattern::{AttentionPattern, HeadMask, SinkPositions};
use crate::rope::methods::{DeltaRange, RopeBaseline, RopeContext};
use crate::rope::{LogitScale, PositionMap, Region, RopeMethod, RopePrecision};

/// The config format's version; bump it when a field changes meaning.
pub const EXPERIMENT_VERSION: u32 = 1;

/// What a session does with its KV cache when the sequence length changes the frequencies of a
/// length-dependent method (dynamic NTK past L; LongRoPE crossing from its short to its long
/// factors). Methods whose frequencies do not depend on the length ignore it.
///
/// Why re-rotating keys is not enough: every layer's K and V past the first are computed from
/// hidden states that went through the earlier layers' attention *under the old frequencies*.
/// Re-rotating cached pre-RoPE keys switches their frequencies, attention factor and positions
/// correctly, yet those keys and every cached value still carry the old frequencies' history;
/// only running the sequence again reproduces one pass at the new length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum KeyCache {
    /// Run the whole sequence again whenever the frequencies change: every cached K and V is what
    /// one pass at the current length gives. HF's fixed Phi-3 behaviour for LongRoPE
    /// (transformers PR #33129 drops the cache when the sequence crosses the original context).
    /// Costs one re-prefill per change: once for LongRoPE, every token past L for dynamic NTK.
    #[default]
    Recompute,
    /// Keep pre-RoPE K and re-rotate every cached key when the frequencies change (YaRN §3.3:
    /// "the correct implementation should cache the kv-embeddings before applying RoPE"). Cheap;
    /// exact for the first layer's keys only (see above).
    PreRope,
    /// HF's dynamic-NTK behaviour: keys stay rotated with the frequencies in force when they were
    /// cached.
    PostRope,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    pub version: u32,
    #[serde(default)]
    pub rope: RopeMethod,
    #[serde(default)]
    pub attention: AttentionPattern,
    #[serde(default)]
    pub precision: RopePrecision,
    #[serde(default)]
    pub key_cache: KeyCache,
}

impl Default for Experiment {
    fn default() -> Self {
        Self {
            version: EXPERIMENT_VERSION,
            rope: RopeMethod::Model,
            attention: AttentionPattern::Full,
            precision: RopePrecision::F32,
            key_cache: KeyCache::Recompute,
        }
    }
}

impl Experiment {
    /// A one-line description for messages: the JSON form, without the version.
    pub fn describe(&self) -> String {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.remove("version");
        }
        v.to_string()
    }

    /// Parses a JSON config, with a clear message for a wrong version or a bad field.
    pub fn from_json(text: &str) -> Result<Self> {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| Error::InvalidInput(format!("experiment config is not valid JSON: {e}")))?;
        match value.get("version").and_then(serde_json::Value::as_u64) {
            Some(v) if v == EXPERIMENT_VERSION as u64 => {}
            Some(v) => {
                return Err(Error::InvalidInput(format!(
                    "experiment config version {v} is not supported (this build reads version {EXPERIMENT_VERSION})"
                )))
            }
            None => return Err(Error::InvalidInput("experiment config needs \"version\": 1".into())),
        }
        serde_json::from_value(value).map_err(|e| Error::InvalidInput(format!("experiment config: {e}")))
    }
}

/// An experiment bound to a model: validated, with its masks and logit scale resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub experiment: Experiment,
    cx: RopeContext,
    masks: Vec<HeadMask>,
    logit_scale: LogitScale,
    layers: usize,
    heads: usize,
}

impl Plan {
    pub fn new(experiment: &Experiment, spec: &ModelSpec) -> Result<Self> {
        if experiment.version != EXPERIMENT_VERSION {
            return Err(Error::InvalidInput(format!("experiment version {} is not supported", experiment.version)));
        }
        let cx = RopeContext {
            base: spec.rope_freq_base,
            head_dim: spec.head_dim,
            trained_ctx: spec.rope.original_context_length.unwrap_or(spec.context_length).max(1),
            baseline: baseline(&spec.rope),
        };
        experiment.rope.validate(&cx)?;
        let masks = experiment.attention.masks(spec.block_count, spec.head_count)?;
        if matches!(experiment.attention, AttentionPattern::Sinks { positions: SinkPositions::Cache, .. })
            && experiment.rope.region_count() > 1
        {
            return Err(Error::InvalidInput(format!(
                "StreamingLLM cache positions remap positions, and so does {}; use \"positions\": \"original\" to combine them",
                experiment.rope.name()
            )));
        }
        let logit_scale = experiment.rope.logit_scale(&cx);
        check_finite(experiment, &cx, logit_scale)?;
        Ok(Self {
            experiment: experiment.clone(),
            cx,
            masks,
            logit_scale,
            layers: spec.block_count,
            heads: spec.head_count,
        })
    }

    /// The default experiment (standard RoPE, full attention, f32) on `spec`.
    pub fn standard(spec: &ModelSpec) -> Self {
        Self::new(&Experiment::default(), spec).expect("the default experiment is valid for any model")
    }

    pub fn rope_context(&self) -> &RopeContext {
        &self.cx
    }

    /// How the experiment relates to the scaling the model declares, for the user — None when
    /// the model declares none: "the model's declared linear ×4", "replacing the model's declared
    /// linear ×4" (frequency methods) or "on top of the model's declared linear ×4" (position-map
    /// methods).
    pub fn baseline_note(&self) -> Option<String> {
        let label = self.cx.baseline.label.as_ref()?;
        Some(match &self.experiment.rope {
            RopeMethod::Model => format!("the model's declared {label}"),
            RopeMethod::String { .. }
            | RopeMethod::SelfExtend { .. }
            | RopeMethod::Rerope { .. }
            | RopeMethod::LeakyRerope { .. } => {
                format!("{} on top of the model's declared {label}", self.experiment.rope.name())
            }
            other => format!("{} replacing the model's declared {label}", other.name()),
        })
    }

    /// Key regions for a sequence of `seq_len` tokens (1 or 2, always [`Plan::region_count`]).
    pub fn regions(&self, seq_len: usize) -> Vec<Region> {
        let mut regions = self.experiment.rope.regions(&self.cx, seq_len);
        if let AttentionPattern::Sinks { sinks, window, positions: SinkPositions::Cache } = self.experiment.attention {
            // The cache holds `sinks` + `window` entries; a query at index i ≥ that sits at the
            // cache's last slot, its recent keys keep their distances (i − j), and the sinks
            // (the only visible keys beyond the window) sit at their own indices.
            let near = regions.remove(0);
            let cache_last = (sinks + window - 1) as f64;
            let far = Region {
                deltas: DeltaRange { min: window as usize, max: usize::MAX },
                freqs: near.freqs.clone(),
                query: PositionMap::ClampMax(cache_last),
                key: PositionMap::Identity,
            };
            regions = vec![Region { deltas: DeltaRange { min: 0, max: window as usize }, ..near }, far];
        }
        regions
    }

    pub fn region_count(&self) -> usize {
        match self.experiment.attention {
            AttentionPattern::Sinks { positions: SinkPositions::Cache, .. } => 2,
            _ => self.experiment.rope.region_count(),
        }
    }

    /// (window, sinks) per (layer, head), layer-major.
    pub fn masks(&self) -> &[HeadMask] {
        &self.masks
    }

    pub fn mask(&self, layer: usize, head: usize) -> HeadMask {
        self.masks[layer * self.heads + head]
    }

    pub fn logit_scale(&self) -> LogitScale {
        self.logit_scale
    }

    pub fn precision(&self) -> RopePrecision {
        self.experiment.precision
    }

    /// Whether sessions must keep pre-RoPE K and re-rotate it when the length changes the
    /// frequencies.
    pub fn rerotates_keys(&self) -> bool {
        self.experiment.rope.length_dependent() && self.experiment.key_cache == KeyCache::PreRope
    }

    /// What a session does when the frequencies change with the length (`None`: they never do).
    pub fn on_length_change(&self) -> Option<KeyCache> {
        self.experiment.rope.length_dependent().then_some(self.experiment.key_cache)
    }

    pub fn layers(&self) -> usize {
        self.layers
    }

    pub fn heads(&self) -> usize {
        self.heads
    }

    /// Query-side cos/sin of `region` for token indices `positions`.
    pub fn query_tables(&self, region: &Region, positions: std::ops::Range<usize>) -> (Vec<f32>, Vec<f32>) {
        self.precision().tables(&region.freqs, positions.map(|p| region.query.at(p)))
    }

    /// Key-side cos/sin of `region` for token indices `positions`.
    pub fn key_tables(&self, region: &Region, positions: std::ops::Range<usize>) -> (Vec<f32>, Vec<f32>) {
        self.precision().tables(&region.freqs, positions.map(|p| region.key.at(p)))
    }

    /// Per-query logit multipliers for token indices `positions`, in the layers
    /// [`LogitScale::applies_to`].
    pub fn query_scales(&self, positions: std::ops::Range<usize>) -> Vec<f32> {
        positions.map(|p| self.logit_scale.value(p)).collect()
    }
}

/// Parameters that pass their own checks can still combine into overflow (a factor of 1e-300
/// makes θ/s infinite): every table a session could use must be finite, with positive
/// frequencies and cos/sin factors, at the trained length and at the longest context.
fn check_finite(experiment: &Experiment, cx: &RopeContext, logit_scale: LogitScale) -> Result<()> {
    let bad = |what: String| Err(Error::InvalidInput(format!("the experiment {} gives {what}", experiment.describe())));
    for len in [1, cx.trained_ctx, crate::gguf::MAX_CONTEXT] {
        for r in experiment.rope.regions(cx, len) {
            if let Some(f) = r.freqs.inv_freq.iter().find(|f| !(f.is_finite() && **f > 0.0)) {
                return bad(format!("a RoPE frequency of {f} at {len} tokens"));
            }
            let a = r.freqs.attention_scaling;
            if !(a.is_finite() && a > 0.0) {
                return bad(format!("a cos/sin factor of {a} at {len} tokens"));
            }
        }
        let scale = logit_scale.value(len - 1);
        if !(scale.is_finite() && scale > 0.0) {
            return bad(format!("a logit scale of {scale} at {len} tokens"));
        }
    }
    Ok(())
}

/// The model's declared RoPE as the baseline the methods resolve against.
fn baseline(declared: &DeclaredRope) -> RopeBaseline {
    let scaling = match &declared.scaling {
        DeclaredScaling::None => RopeMethod::Default,
        DeclaredScaling::Linear { factor } => RopeMethod::Linear { factor: *factor },
        DeclaredScaling::Yarn { factor, original_ctx, beta_fast, beta_slow, log_multiplier } => {
            // llama.cpp / HF: get_mscale(s) / get_mscale(s, m), with get_mscale(s, m) = 0.1·m·ln s + 1.
            let mscale = |m: f64| 0.1 * m * factor.ln() + 1.0;
            RopeMethod::Yarn {
                factor: *factor,
                original_ctx: Some(*original_ctx),
                beta_fast: *beta_fast,
                beta_slow: *beta_slow,
                attention_factor: (*log_multiplier != 0.0).then(|| mscale(1.0) / mscale(*log_multiplier)),
            }
        }
    };
    RopeBaseline {
        scaling,
        freq_factors: declared.freq_factors.clone(),
        attn_factor: declared.attn_factor,
        label: (!declared.is_plain()).then(|| declared.describe()),
    }
}

/// Visibility of key j to query i in `region` for a head with `mask`: the region's Δ range and
/// the head's mask together (the definition the kernels and the CPU reference implement).
pub fn visible(region: &Region, mask: HeadMask, i: usize, j: usize) -> bool {
    mask.visible(i, j) && region.deltas.contains(i - j)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_parse_with_defaults_and_reject_unknown_versions() {
        let e = Experiment::from_json(r#"{"version":1,"rope":{"method":"yarn","factor":4}}"#).unwrap();
        assert_eq!(e.attention, AttentionPattern::Full);
        assert_eq!(e.precision, RopePrecision::F32);
        assert!(Experiment::from_json(r#"{"version":2}"#).unwrap_err().to_string().contains("version 2"));
        assert!(Experiment::from_json(r#"{"rope":{"method":"default"}}"#).unwrap_err().to_string().contains("version"));
        assert!(Experiment::from_json(r#"{"version":1,"ropes":{}}"#)
            .unwrap_err()
            .to_string()
            .contains("unknown field"));
        assert!(Experiment::from_json("{").is_err());
        let text = serde_json::to_string(&e).unwrap();
        assert_eq!(Experiment::from_json(&text).unwrap(), e);
    }
}
