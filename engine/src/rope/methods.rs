//! Every inference-time RoPE method of docs/methods.md#rope-methods as one serde enum ([`RopeMethod`]).
//!
//! A method resolves, for a sequence of `seq_len` tokens, to one or two key [`Region`]s. A region
//! is a range of relative distances Δ = i − j with its own frequencies and its own query and key
//! position maps (docs/methods.md#the-four-knobs); the engine rotates q and K once per region and merges the
//! regions' softmax terms exactly (one softmax over the union of visible keys). Methods that also
//! rescale logits per query return a [`LogitScale`]. Both backends consume this resolved form.
//!
//! Every position map here depends only on the query index (queries) or only on the key index
//! (keys), so K can be rotated once, when it enters the cache. Only length-dependent frequencies
//! (dynamic NTK, LongRoPE's short/long switch) re-rotate cached keys, from the pre-RoPE K the
//! sessions keep for them (docs/methods.md#key-cache-policies).

use serde::{Deserialize, Serialize};

use super::positions::PositionMap;
use super::{base_power, RopeFrequencies};
use crate::error::{Error, Result};

/// What a method needs to know about the model.
#[derive(Debug, Clone, PartialEq)]
pub struct RopeContext {
    /// `rope_freq_base` b.
    pub base: f64,
    pub head_dim: usize,
    /// The context the model's unscaled frequencies were trained with: the default L (the GGUF's
    /// `rope.scaling.original_context_length` when it declares one, else `context_length`).
    pub trained_ctx: usize,
    /// The model's own RoPE, as its GGUF declares it.
    pub baseline: RopeBaseline,
}

/// The model's own RoPE: the scaling its GGUF declares (as one of the frequency methods, or
/// standard RoPE), per-pair divisors (`rope_freqs.weight`) and a cos/sin factor. [`RopeMethod::Model`]
/// resolves to it; the other frequency methods replace it; the position-map methods (STRING,
/// Self-Extend, ReRoPE) remap positions on top of it. See `gguf::DeclaredRope` for the keys.
#[derive(Debug, Clone, PartialEq)]
pub struct RopeBaseline {
    /// Default, Linear or Yarn.
    pub scaling: RopeMethod,
    /// θ_k is divided by `freq_factors[k]` before the scaling (llama.cpp's `freq_factors`).
    pub freq_factors: Option<Vec<f32>>,
    /// Multiplies cos and sin after the scaling's own factor.
    pub attn_factor: f64,
    /// A description for messages, None when the model declares nothing.
    pub label: Option<String>,
}

impl RopeBaseline {
    /// Standard RoPE: the model declares no scaling.
    pub const STANDARD: Self = Self { scaling: RopeMethod::Default, freq_factors: None, attn_factor: 1.0, label: None };

    /// The baseline's frequency table for a sequence of `seq_len` tokens.
    fn frequencies(&self, cx: &RopeContext, seq_len: usize) -> RopeFrequencies {
        let mut standard = RopeFrequencies::standard(cx.base, cx.head_dim);
        if let Some(factors) = &self.freq_factors {
            standard.inv_freq.iter_mut().zip(factors).for_each(|(t, f)| *t /= f);
        }
        let mut out = self.scaling.scaled(cx, seq_len, &standard);
        out.attention_scaling = (out.attention_scaling as f64 * self.attn_factor) as f32;
        out
    }
}

/// A RoPE variant with its parameters. Parameter names follow docs/methods.md (and, where one exists, HF
/// transformers' `rope_scaling` keys); `None` lengths default to the model's trained context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "method", rename_all = "kebab-case", deny_unknown_fields)]
pub enum RopeMethod {
    /// The model's own RoPE as its GGUF declares it (see [`RopeBaseline`]): standard RoPE for a
    /// model that declares no scaling.
    #[default]
    Model,
    /// Standard RoPE (Su et al. 2021, arXiv 2104.09864) with the model's base, replacing any
    /// scaling the model declares.
    Default,
    /// Position Interpolation (Chen et al. 2023, arXiv 2306.15595): θ′ = θ / s.
    Linear { factor: f64 },
    /// NTK-aware base change (bloc97 2023; YaRN arXiv 2309.00071 Eq. 16): b′ = b · s^(d/(d−2)).
    Ntk { factor: f64 },
    /// Dynamic NTK (HF "dynamic"): b′ = b · (s·ℓ/L − (s−1))^(d/(d−2)), ℓ = max(seq_len, L).
    Dynamic {
        factor: f64,
        #[serde(default)]
        original_ctx: Option<usize>,
    },
    /// YaRN (Peng et al. 2023, arXiv 2309.00071 §3.2–3.4): NTK-by-parts ramp between β_slow and
    /// β_fast rotations (HF's truncated corr-dim form), and temperature 0.1·ln s + 1 on cos and
    /// sin. `attention_factor` overrides the temperature (1.0 turns it off).
    Yarn {
        factor: f64,
        #[serde(default)]
        original_ctx: Option<usize>,
        #[serde(default = "default_beta_fast")]
        beta_fast: f64,
        #[serde(default = "default_beta_slow")]
        beta_slow: f64,
        #[serde(default)]
        attention_factor: Option<f64>,
    },
    /// Llama 3 three-band scaling (HF `_compute_llama3_parameters`; Llama 3.1 release).
    Llama3 {
        factor: f64,
        #[serde(default = "default_low_freq_factor")]
        low_freq_factor: f64,
        #[serde(default = "default_high_freq_factor")]
        high_freq_factor: f64,
        #[serde(default)]
        original_ctx: Option<usize>,
    },
    /// LongRoPE (Ding et al. 2024, arXiv 2402.13753; HF `_compute_longrope_parameters`):
    /// θ′_k = θ_k / λ_k with user-supplied per-pair factors, `long_factor` once the sequence
    /// exceeds `original_ctx`, else `short_factor`; cos and sin × √(1 + ln s / ln L) for s > 1.
    /// The paper's n̂ un-interpolated initial positions are not in HF's or Phi-3's code, nor here.
    #[serde(rename = "longrope")]
    LongRope {
        short_factor: Vec<f64>,
        long_factor: Vec<f64>,
        #[serde(default = "one")]
        factor: f64,
        #[serde(default)]
        original_ctx: Option<usize>,
        #[serde(default)]
        attention_factor: Option<f64>,
    },
    /// Adjusted base frequency (Xiong et al. 2023, arXiv 2309.16039): a new base b′. The paper
    /// continues pretraining; applied zero-shot it is an NTK-style base change.
    Abf { base: f64 },
    /// Entropy-aware ABF (Zhang, Li & Liu 2024, arXiv 2401.07004; GAIR-NLP/Entropy-ABF
    /// `patch/EABF.py`): base 500000 in every layer and logits × max(1, ln(i+1)/ln L) for the
    /// query at 0-based position i, except in the first `exempt_layers` layers (`apply_eabf(model,
    /// count=2)`; the repo's flash path loses the exemption, so 0 reproduces that).
    Eabf {
        #[serde(default = "default_eabf_base")]
        base: f64,
        #[serde(default)]
        log_n_ctx: Option<usize>,
        #[serde(default = "default_exempt_layers")]
        exempt_layers: usize,
    },
    /// STRING (An et al. 2024, arXiv 2410.18745; HKUNLP/STRING `string_for_llama.py`): relative
    /// positions Δ ≥ S are shifted to Δ − S + W. cos and sin × `attention_factor` (the code's
    /// 0.1·ln 2 + 1). `reference_quirk` reproduces the prefill code counting key i − S in both
    /// regions; off gives the clean partition of its decode path.
    String {
        #[serde(default)]
        shifted_offset: Option<usize>,
        #[serde(default = "default_local_window")]
        local_window: usize,
        #[serde(default)]
        attention_factor: Option<f64>,
        #[serde(default)]
        reference_quirk: bool,
    },
    /// Self-Extend (Jin et al. 2024, arXiv 2401.01325; datamllab/LongLM): neighbours (Δ < W) keep
    /// exact positions; farther keys sit at ⌊j/G⌋ and their queries at ⌊i/G⌋ + W − W/G.
    /// `log_n_ctx` enables the optional query scaling max(1, ln(i+1)/ln n). W/G is a true
    /// division as in the reference prefill (`self_extend_patch/Llama.py`); its decode path uses
    /// integer division, which agrees when G divides W.
    SelfExtend {
        #[serde(default = "default_group_size")]
        group_size: usize,
        #[serde(default = "default_neighbor_window")]
        neighbor_window: usize,
        #[serde(default)]
        log_n_ctx: Option<usize>,
    },
    /// ReRoPE (Su 2023, bojone/rerope `rerope_patch.py`; kexue.fm/archives/9708): relative
    /// position min(Δ, w), plus query scaling max(1, ln(i+1)/ln L) unless `log_n` is off.
    Rerope {
        #[serde(default = "default_rerope_window")]
        window: usize,
        #[serde(default = "yes")]
        log_n: bool,
        #[serde(default)]
        log_n_ctx: Option<usize>,
    },
    /// Leaky ReRoPE (bojone/rerope `leaky_rerope_patch.py`): Δ inside the window, else
    /// w + (Δ − w)/k, i.e. the query at i + w(k − 1) with θ/k.
    LeakyRerope {
        #[serde(default = "default_rerope_window")]
        window: usize,
        #[serde(default = "default_leaky_factor")]
        factor: f64,
        #[serde(default = "yes")]
        log_n: bool,
        #[serde(default)]
        log_n_ctx: Option<usize>,
    },
}

fn default_beta_fast() -> f64 {
    32.0
}
fn default_beta_slow() -> f64 {
    1.0
}
fn default_low_freq_factor() -> f64 {
    1.0
}
fn default_high_freq_factor() -> f64 {
    4.0
}
fn one() -> f64 {
    1.0
}
fn yes() -> bool {
    true
}
fn default_eabf_base() -> f64 {
    500_000.0
}
fn default_exempt_layers() -> usize {
    2
}
fn default_local_window() -> usize {
    128
}
fn default_group_size() -> usize {
    4
}
fn default_neighbor_window() -> usize {
    1024
}
fn default_rerope_window() -> usize {
    512
}
fn default_leaky_factor() -> f64 {
    16.0
}

/// STRING's cos/sin factor in the reference code: 0.1·ln 2 + 1.
fn string_attention_factor() -> f64 {
    0.1 * 2f64.ln() + 1.0
}

/// Relative distances a region covers: `min <= Δ < max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DeltaRange {
    pub min: usize,
    /// `usize::MAX`: unbounded.
    pub max: usize,
}

impl DeltaRange {
    pub const ALL: Self = Self { min: 0, max: usize::MAX };

    pub fn contains(&self, delta: usize) -> bool {
        delta >= self.min && delta < self.max
    }
}

/// One key region of a resolved method: for query i and key j with Δ = i − j in `deltas`, the
/// logit is ⟨R(query(i), freqs)·q_i, R(key(j), freqs)·k_j⟩ (times the logit scale).
#[derive(Debug, Clone, PartialEq)]
pub struct Region {
    pub deltas: DeltaRange,
    pub freqs: RopeFrequencies,
    pub query: PositionMap,
    pub key: PositionMap,
}

impl Region {
    fn plain(freqs: RopeFrequencies) -> Self {
        Self { deltas: DeltaRange::ALL, freqs, query: PositionMap::Identity, key: PositionMap::Identity }
    }
}

/// A per-query multiplier on the logits (applied to q).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum LogitScale {
    None,
    /// max(1, ln(i+1)/ln ctx) for the query at 0-based position i ("entropy invariance",
    /// kexue.fm/archives/8823), except in layers below `exempt_layers`.
    LogN {
        ctx: usize,
        exempt_layers: usize,
    },
}

impl LogitScale {
    /// The multiplier for the query at `position` in `layer`.
    pub fn factor(&self, layer: usize, position: usize) -> f32 {
        if self.applies_to(layer) {
            self.value(position)
        } else {
            1.0
        }
    }

    /// The multiplier at `position` in the layers it applies to.
    pub fn value(&self, position: usize) -> f32 {
        match *self {
            Self::None => 1.0,
            Self::LogN { ctx, .. } => (((position + 1) as f64).ln() / (ctx as f64).ln()).max(1.0) as f32,
        }
    }

    /// Whether `layer` scales its queries at all.
    pub fn applies_to(&self, layer: usize) -> bool {
        match *self {
            Self::None => false,
            Self::LogN { exempt_layers, .. } => layer >= exempt_layers,
        }
    }
}

/// Llama 3's band edges: both positive, the high-frequency edge above the low one.
fn llama3_band(low_freq_factor: f64, high_freq_factor: f64) -> Result<()> {
    positive("low_freq_factor", low_freq_factor)?;
    positive("high_freq_factor", high_freq_factor)?;
    if high_freq_factor <= low_freq_factor {
        return Err(Error::InvalidInput(format!(
            "high_freq_factor ({high_freq_factor}) must exceed low_freq_factor ({low_freq_factor})"
        )));
    }
    Ok(())
}

/// LongRoPE's rescale factors: one positive value per rotary pair, in each list.
fn longrope_factors(short_factor: &[f64], long_factor: &[f64], pairs: usize) -> Result<()> {
    for (name, v) in [("short_factor", short_factor), ("long_factor", long_factor)] {
        if v.len() != pairs {
            return Err(Error::InvalidInput(format!(
                "LongRoPE {name} has {} values; this model has {pairs} rotary pairs",
                v.len()
            )));
        }
        for &x in v {
            positive(name, x)?;
        }
    }
    Ok(())
}

fn positive(name: &str, v: f64) -> Result<f64> {
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(Error::InvalidInput(format!("{name} must be a positive number, got {v}")))
    }
}

/// The n of max(1, ln(i+1)/ln n) divides by ln n: n = 1 gives ln 1 = 0 and non-finite logits.
fn log_n_length(n: usize) -> Result<usize> {
    if n >= 2 {
        Ok(n)
    } else {
        Err(Error::InvalidInput(format!("log_n_ctx must be at least 2 (the log-n scale divides by ln n), got {n}")))
    }
}

fn at_least_one(name: &str, v: usize) -> Result<usize> {
    if v >= 1 {
        Ok(v)
    } else {
        Err(Error::InvalidInput(format!("{name} must be at least 1")))
    }
}

/// How far a method is designed to carry the context, for display beside the trained context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "tokens", rename_all = "kebab-case")]
pub enum Reach {
    /// A stated length in tokens: the trained context times the method's factor, or Self-Extend's
    /// (L − W)·G + W (Jin et al. 2024, §3).
    Tokens(usize),
    /// No built-in limit: dynamic NTK rescales with the length; ReRoPE caps every distance.
    Unbounded,
    /// The method sets no length (ABF and Entropy-ABF change the base; how far that carries is
    /// what the probes measure).
    Unstated,
}

impl RopeMethod {
    /// The context this method is designed to reach for the model in `cx`.
    pub fn reach(&self, cx: &RopeContext) -> Reach {
        let scaled = |factor: f64, original: Option<usize>| {
            let tokens = original.unwrap_or(cx.trained_ctx) as f64 * factor.max(1.0);
            Reach::Tokens(tokens.min(usize::MAX as f64 / 2.0) as usize)
        };
        match self {
            Self::Model => match &cx.baseline.scaling {
                Self::Model => Reach::Tokens(cx.trained_ctx),
                declared => declared.reach(cx),
            },
            Self::Default | Self::String { .. } => Reach::Tokens(cx.trained_ctx),
            Self::Linear { factor } | Self::Ntk { factor } => scaled(*factor, None),
            Self::Yarn { factor, original_ctx, .. }
            | Self::Llama3 { factor, original_ctx, .. }
            | Self::LongRope { factor, original_ctx, .. } => scaled(*factor, *original_ctx),
            Self::Dynamic { .. } | Self::Rerope { .. } | Self::LeakyRerope { .. } => Reach::Unbounded,
            Self::Abf { .. } | Self::Eabf { .. } => Reach::Unstated,
            Self::SelfExtend { group_size, neighbor_window, .. } => {
                let far = cx.trained_ctx.saturating_sub(*neighbor_window);
                Reach::Tokens(far.saturating_mul(*group_size).saturating_add(*neighbor_window))
            }
        }
    }

    /// The name used on the command line and in configs.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Model => "model",
            Self::Default => "default",
            Self::Linear { .. } => "linear",
            Self::Ntk { .. } => "ntk",
            Self::Dynamic { .. } => "dynamic",
            Self::Yarn { .. } => "yarn",
            Self::Llama3 { .. } => "llama3",
            Self::LongRope { .. } => "longrope",
            Self::Abf { .. } => "abf",
            Self::Eabf { .. } => "eabf",
            Self::String { .. } => "string",
            Self::SelfExtend { .. } => "self-extend",
            Self::Rerope { .. } => "rerope",
            Self::LeakyRerope { .. } => "leaky-rerope",
        }
    }

    /// Checks every parameter against the model, with a message naming the bad one.
    pub fn validate(&self, cx: &RopeContext) -> Result<()> {
        let ctx = |c: Option<usize>| at_least_one("original_ctx", c.unwrap_or(cx.trained_ctx));
        match self {
            Self::Model | Self::Default => {}
            Self::Linear { factor } | Self::Ntk { factor } => {
                positive("factor", *factor)?;
            }
            Self::Dynamic { factor, original_ctx } => {
                positive("factor", *factor)?;
                ctx(*original_ctx)?;
            }
            Self::Yarn { factor, original_ctx, beta_fast, beta_slow, attention_factor } => {
                positive("factor", *factor)?;
                ctx(*original_ctx)?;
                positive("beta_fast", *beta_fast)?;
                positive("beta_slow", *beta_slow)?;
                attention_factor.map(|a| positive("attention_factor", a)).transpose()?;
            }
            Self::Llama3 { factor, low_freq_factor, high_freq_factor, original_ctx } => {
                positive("factor", *factor)?;
                llama3_band(*low_freq_factor, *high_freq_factor)?;
                ctx(*original_ctx)?;
            }
            Self::LongRope { short_factor, long_factor, factor, original_ctx, attention_factor } => {
                longrope_factors(short_factor, long_factor, cx.head_dim / 2)?;
                positive("factor", *factor)?;
                ctx(*original_ctx)?;
                attention_factor.map(|a| positive("attention_factor", a)).transpose()?;
            }
            Self::Abf { base } => {
                positive("base", *base)?;
            }
            Self::Eabf { base, log_n_ctx, .. } => {
                positive("base", *base)?;
                log_n_length(log_n_ctx.unwrap_or(cx.trained_ctx))?;
            }
            Self::String { shifted_offset, local_window, attention_factor, .. } => {
                let s = self.string_offset(cx, *shifted_offset);
                at_least_one("shifted_offset", s)?;
                if *local_window >= s {
                    return Err(Error::InvalidInput(format!(
                        "STRING local_window ({local_window}) must be smaller than shifted_offset ({s})"
                    )));
                }
                attention_factor.map(|a| positive("attention_factor", a)).transpose()?;
            }
            Self::SelfExtend { group_size, neighbor_window, log_n_ctx } => {
                at_least_one("group_size", *group_size)?;
                at_least_one("neighbor_window", *neighbor_window)?;
                log_n_ctx.map(log_n_length).transpose()?;
            }
            Self::Rerope { window, log_n_ctx, .. } => {
                at_least_one("window", *window)?;
                log_n_length(log_n_ctx.unwrap_or(cx.trained_ctx))?;
            }
            Self::LeakyRerope { window, factor, log_n_ctx, .. } => {
                at_least_one("window", *window)?;
                if !(factor.is_finite() && *factor >= 1.0) {
                    return Err(Error::InvalidInput(format!("leaky ReRoPE factor must be at least 1, got {factor}")));
                }
                log_n_length(log_n_ctx.unwrap_or(cx.trained_ctx))?;
            }
        }
        Ok(())
    }

    /// STRING's S: default ⌊0.33·L⌋ (the README's example ratio).
    fn string_offset(&self, cx: &RopeContext, shifted_offset: Option<usize>) -> usize {
        shifted_offset.unwrap_or((cx.trained_ctx as f64 * 0.33) as usize)
    }

    /// Whether the frequencies depend on the sequence length (so cached keys must be re-rotated
    /// as it grows).
    pub fn length_dependent(&self) -> bool {
        matches!(self, Self::Dynamic { .. } | Self::LongRope { .. })
    }

    /// The frequency table of the near region (the only one for frequency methods), for a
    /// sequence of `seq_len` tokens.
    pub fn frequencies(&self, cx: &RopeContext, seq_len: usize) -> RopeFrequencies {
        match self {
            // Position maps remap where q and k are rotated, on top of the model's frequencies.
            Self::Model | Self::SelfExtend { .. } | Self::Rerope { .. } | Self::LeakyRerope { .. } => {
                cx.baseline.frequencies(cx, seq_len)
            }
            Self::String { attention_factor, .. } => {
                let b = cx.baseline.frequencies(cx, seq_len);
                let factor = attention_factor.unwrap_or_else(string_attention_factor);
                RopeFrequencies { attention_scaling: (b.attention_scaling as f64 * factor) as f32, ..b }
            }
            _ => self.scaled(cx, seq_len, &RopeFrequencies::standard(cx.base, cx.head_dim)),
        }
    }

    /// A frequency method applied to `standard` (θ_k = b^(−2k/d), or the model's θ_k / f_k).
    fn scaled(&self, cx: &RopeContext, seq_len: usize, standard: &RopeFrequencies) -> RopeFrequencies {
        let (base, head_dim) = (cx.base, cx.head_dim);
        let d = head_dim as f64;
        let map = |f: &dyn Fn(usize, f64) -> f64| -> Vec<f32> {
            standard.inv_freq.iter().enumerate().map(|(k, &t)| f(k, t as f64) as f32).collect()
        };
        let l_of = |c: Option<usize>| c.unwrap_or(cx.trained_ctx);
        match self {
            Self::Model
            | Self::Default
            | Self::SelfExtend { .. }
            | Self::Rerope { .. }
            | Self::LeakyRerope { .. }
            | Self::String { .. } => standard.clone(),
            Self::Linear { factor } => RopeFrequencies { inv_freq: map(&|_, t| t / factor), attention_scaling: 1.0 },
            Self::Ntk { factor } => RopeFrequencies::standard(base * factor.powf(d / (d - 2.0)), head_dim),
            Self::Dynamic { factor, original_ctx } => {
                let l = l_of(*original_ctx);
                let len = seq_len.max(l) as f64;
                RopeFrequencies::standard(
                    base * (factor * len / l as f64 - (factor - 1.0)).powf(d / (d - 2.0)),
                    head_dim,
                )
            }
            Self::Yarn { factor, original_ctx, beta_fast, beta_slow, attention_factor } => {
                let l = l_of(*original_ctx) as f64;
                // Correction range in pair-index space, truncated as HF does by default.
                let corr_dim =
                    |rotations: f64| d * (l / (rotations * 2.0 * std::f64::consts::PI)).ln() / (2.0 * base.ln());
                let low = corr_dim(*beta_fast).floor().max(0.0);
                let mut high = corr_dim(*beta_slow).ceil().min(d - 1.0);
                if high == low {
                    high += 0.001;
                }
                let inv_freq = map(&|k, t| {
                    let ramp = ((k as f64 - low) / (high - low)).clamp(0.0, 1.0);
                    let extrapolation = 1.0 - ramp;
                    (t / factor) * (1.0 - extrapolation) + t * extrapolation
                });
                let scaling = attention_factor.unwrap_or(if *factor <= 1.0 { 1.0 } else { 0.1 * factor.ln() + 1.0 });
                RopeFrequencies { inv_freq, attention_scaling: scaling as f32 }
            }
            Self::Llama3 { factor, low_freq_factor, high_freq_factor, original_ctx } => {
                let l = l_of(*original_ctx) as f64;
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
            Self::LongRope { short_factor, long_factor, factor, original_ctx, attention_factor } => {
                let l = l_of(*original_ctx);
                let ext = if seq_len > l { long_factor } else { short_factor };
                // HF: 1.0 / (ext_factors * base ** (arange(0, d, 2).float() / d)), in f32.
                let inv_freq =
                    ext.iter().enumerate().map(|(k, &e)| 1.0f32 / (e as f32 * base_power(base, k, head_dim))).collect();
                let scaling = attention_factor.unwrap_or(if *factor <= 1.0 {
                    1.0
                } else {
                    (1.0 + factor.ln() / (l as f64).ln()).sqrt()
                });
                RopeFrequencies { inv_freq, attention_scaling: scaling as f32 }
            }
            Self::Abf { base } | Self::Eabf { base, .. } => RopeFrequencies::standard(*base, head_dim),
        }
    }

    /// The key regions for a sequence of `seq_len` tokens (docs/methods.md#key-regions-and-the-merge: one pass per
    /// region, merged exactly).
    pub fn regions(&self, cx: &RopeContext, seq_len: usize) -> Vec<Region> {
        let near = self.frequencies(cx, seq_len);
        let split = |boundary: usize, far: Region| {
            let mut near = Region::plain(near.clone());
            near.deltas = DeltaRange { min: 0, max: boundary };
            vec![near, Region { deltas: DeltaRange { min: boundary, max: usize::MAX }, ..far }]
        };
        match self {
            Self::String { shifted_offset, local_window, reference_quirk, .. } => {
                let s = self.string_offset(cx, *shifted_offset);
                let far = Region {
                    deltas: DeltaRange::ALL,
                    freqs: near.clone(),
                    query: PositionMap::Offset(*local_window as f64 - s as f64),
                    key: PositionMap::Identity,
                };
                let mut regions = split(s, far);
                if *reference_quirk {
                    // string_flash_forward's prefill: pass A keeps 0 ≤ Δ ≤ S, pass B Δ ≥ S.
                    regions[0].deltas.max = s + 1;
                }
                regions
            }
            Self::SelfExtend { group_size, neighbor_window, .. } => {
                let (g, w) = (*group_size as f64, *neighbor_window as f64);
                let far = Region {
                    deltas: DeltaRange::ALL,
                    freqs: near.clone(),
                    query: PositionMap::Group { size: g, offset: w - w / g },
                    key: PositionMap::Group { size: g, offset: 0.0 },
                };
                split(*neighbor_window, far)
            }
            Self::Rerope { window, .. } => {
                let far = Region {
                    deltas: DeltaRange::ALL,
                    freqs: near.clone(),
                    query: PositionMap::Constant(*window as f64),
                    key: PositionMap::Constant(0.0),
                };
                split(*window, far)
            }
            Self::LeakyRerope { window, factor, .. } => {
                let slow = RopeFrequencies {
                    inv_freq: near.inv_freq.iter().map(|&t| (t as f64 / factor) as f32).collect(),
                    ..near.clone()
                };
                let far = Region {
                    deltas: DeltaRange::ALL,
                    freqs: slow,
                    query: PositionMap::Offset(*window as f64 * (factor - 1.0)),
                    key: PositionMap::Identity,
                };
                split(*window, far)
            }
            _ => vec![Region::plain(near)],
        }
    }

    /// Number of key regions, whatever the length.
    pub fn region_count(&self) -> usize {
        match self {
            Self::String { .. } | Self::SelfExtend { .. } | Self::Rerope { .. } | Self::LeakyRerope { .. } => 2,
            _ => 1,
        }
    }

    /// The per-query logit scale.
    pub fn logit_scale(&self, cx: &RopeContext) -> LogitScale {
        match self {
            Self::Eabf { log_n_ctx, exempt_layers, .. } => {
                LogitScale::LogN { ctx: log_n_ctx.unwrap_or(cx.trained_ctx), exempt_layers: *exempt_layers }
            }
            Self::SelfExtend { log_n_ctx: Some(c), .. } => LogitScale::LogN { ctx: *c, exempt_layers: 0 },
            Self::Rerope { log_n: true, log_n_ctx, .. } | Self::LeakyRerope { log_n: true, log_n_ctx, .. } => {
                LogitScale::LogN { ctx: log_n_ctx.unwrap_or(cx.trained_ctx), exempt_layers: 0 }
            }
            _ => LogitScale::None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CX: RopeContext =
        RopeContext { base: 100_000.0, head_dim: 64, trained_ctx: 8192, baseline: RopeBaseline::STANDARD };

    #[test]
    fn reach_follows_each_papers_definition() {
        assert_eq!(RopeMethod::Model.reach(&CX), Reach::Tokens(8192));
        assert_eq!(RopeMethod::Linear { factor: 4.0 }.reach(&CX), Reach::Tokens(32768));
        let yarn = RopeMethod::Yarn {
            factor: 2.0,
            original_ctx: Some(4096),
            beta_fast: 32.0,
            beta_slow: 1.0,
            attention_factor: None,
        };
        assert_eq!(yarn.reach(&CX), Reach::Tokens(8192));
        // Self-Extend: (L − W)·G + W.
        assert_eq!(
            RopeMethod::SelfExtend { group_size: 4, neighbor_window: 1024, log_n_ctx: None }.reach(&CX),
            Reach::Tokens(7168 * 4 + 1024)
        );
        assert_eq!(RopeMethod::Rerope { window: 512, log_n: true, log_n_ctx: None }.reach(&CX), Reach::Unbounded);
        assert_eq!(RopeMethod::Abf { base: 5e5 }.reach(&CX), Reach::Unstated);
        // A model that declares linear ×2 reaches twice its original context.
        let declared = RopeContext {
            baseline: RopeBaseline { scaling: RopeMethod::Linear { factor: 2.0 }, ..RopeBaseline::STANDARD },
            ..CX
        };
        assert_eq!(RopeMethod::Model.reach(&declared), Reach::Tokens(16384));
    }

    fn yarn(factor: f64) -> RopeMethod {
        RopeMethod::Yarn { factor, original_ctx: None, beta_fast: 32.0, beta_slow: 1.0, attention_factor: None }
    }

    /// docs/methods.md#method-ntk (derived): NTK bases for our model.
    #[test]
    fn ntk_base_matches_the_spec() {
        for (factor, base) in [(2.0, 204_522.0), (4.0, 418_294.0), (8.0, 855_504.0)] {
            let f = RopeMethod::Ntk { factor }.frequencies(&CX, 1);
            let expected = RopeFrequencies::standard(base, 64);
            for (a, b) in f.inv_freq.iter().zip(&expected.inv_freq) {
                assert!(((a - b) / b).abs() < 1e-5, "factor {factor}: {a} vs {b}");
            }
        }
    }

    /// docs/methods.md#method-dynamic (derived): dynamic NTK bases at s = 2.
    #[test]
    fn dynamic_base_matches_the_spec() {
        let m = RopeMethod::Dynamic { factor: 2.0, original_ctx: None };
        for (len, base) in [(8192, 100_000.0), (12288, 204_522.0), (16384, 310_822.0), (32768, 745_348.0)] {
            let got = m.frequencies(&CX, len);
            let expected = RopeFrequencies::standard(base, 64);
            for (a, b) in got.inv_freq.iter().zip(&expected.inv_freq) {
                assert!(((a - b) / b).abs() < 1e-5, "len {len}: {a} vs {b}");
            }
        }
    }

    /// docs/methods.md#method-yarn (derived): at s = 2, pairs 0–10 untouched, 20–31 halved, 11–19 step by 0.05;
    /// temperatures 1.0693, 1.1386, 1.2079 at s = 2, 4, 8.
    #[test]
    fn yarn_ramp_and_temperature_match_the_spec() {
        let f = yarn(2.0).frequencies(&CX, 1);
        let base = RopeFrequencies::standard(100_000.0, 64);
        for k in 0..32 {
            let ratio = f.inv_freq[k] as f64 / base.inv_freq[k] as f64;
            let expected = if k <= 10 {
                1.0
            } else if k >= 20 {
                0.5
            } else {
                1.0 - 0.05 * (k - 10) as f64
            };
            assert!((ratio - expected).abs() < 1e-6, "pair {k}: ratio {ratio}, expected {expected}");
        }
        for (s, t) in [(2.0, 1.0693), (4.0, 1.1386), (8.0, 1.2079)] {
            assert!((yarn(s).frequencies(&CX, 1).attention_scaling as f64 - t).abs() < 1e-4, "s = {s}");
        }
    }

    /// docs/methods.md#method-llama3 (derived): f = 8 multiplies pairs 0–16 by 1, 17 by 0.672, 18 by 0.419,
    /// 19 by 0.242 and 20–31 by 0.125.
    #[test]
    fn llama3_bands_match_the_spec() {
        let m = RopeMethod::Llama3 { factor: 8.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_ctx: None };
        let f = m.frequencies(&CX, 1);
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

    /// docs/methods.md#method-longrope: θ′ = θ/λ with the long factors past L; a = √(1 + ln s / ln L) (s = 32,
    /// L = 4096 → 1.190).
    #[test]
    fn longrope_switches_factors_past_the_original_context() {
        let short: Vec<f64> = (0..32).map(|k| 1.0 + k as f64 * 0.01).collect();
        let long: Vec<f64> = (0..32).map(|k| 1.0 + k as f64 * 0.5).collect();
        let m = RopeMethod::LongRope {
            short_factor: short.clone(),
            long_factor: long.clone(),
            factor: 32.0,
            original_ctx: Some(4096),
            attention_factor: None,
        };
        let base = RopeFrequencies::standard(100_000.0, 64);
        for (len, factors) in [(4096, &short), (4097, &long)] {
            let f = m.frequencies(&CX, len);
            for (k, factor) in factors.iter().enumerate().take(32) {
                let expected = base.inv_freq[k] as f64 / factor;
                assert!(((f.inv_freq[k] as f64 - expected) / expected).abs() < 1e-6, "len {len} pair {k}");
            }
            assert!((f.attention_scaling - 1.190).abs() < 1e-3);
        }
        assert!(m.length_dependent());
        let bad = RopeMethod::LongRope {
            short_factor: vec![1.0; 3],
            long_factor: long,
            factor: 1.0,
            original_ctx: None,
            attention_factor: None,
        };
        assert!(bad.validate(&CX).unwrap_err().to_string().contains("short_factor has 3 values"));
    }

    /// docs/methods.md#method-eabf (derived, L = 8192): λ at n = 16384, 32768, 65536, 131072 (1-based) is 1.0769,
    /// 1.1538, 1.2308, 1.3077; 1 up to L; exempt layers unscaled.
    #[test]
    fn eabf_scales_logits_by_log_n() {
        let m = RopeMethod::Eabf { base: 500_000.0, log_n_ctx: None, exempt_layers: 2 };
        let s = m.logit_scale(&CX);
        for (n, lambda) in [(16384, 1.0769), (32768, 1.1538), (65536, 1.2308), (131072, 1.3077)] {
            assert!((s.factor(5, n - 1) as f64 - lambda).abs() < 1e-4, "n = {n}");
            assert_eq!(s.factor(1, n - 1), 1.0, "layer 1 is exempt");
        }
        assert_eq!(s.factor(5, 8191), 1.0);
        assert_eq!(m.frequencies(&CX, 1), RopeFrequencies::standard(500_000.0, 64));
    }

    /// The relative position each method realises (query map − key map), against docs/methods.md's
    /// formulas for STRING, Self-Extend, ReRoPE and the other position maps, at every (i, j) of a small grid.
    #[test]
    fn position_maps_realise_the_spec_relative_positions() {
        type RelativePosition = Box<dyn Fn(usize, usize) -> f64>;
        let methods: Vec<(RopeMethod, RelativePosition)> = vec![
            (
                RopeMethod::String {
                    shifted_offset: Some(40),
                    local_window: 8,
                    attention_factor: None,
                    reference_quirk: false,
                },
                Box::new(|i, j| if i - j < 40 { (i - j) as f64 } else { (i - j) as f64 - 40.0 + 8.0 }),
            ),
            (
                RopeMethod::SelfExtend { group_size: 4, neighbor_window: 16, log_n_ctx: None },
                Box::new(|i, j| if i - j < 16 { (i - j) as f64 } else { (i / 4) as f64 - (j / 4) as f64 + 16.0 - 4.0 }),
            ),
            (RopeMethod::Rerope { window: 12, log_n: true, log_n_ctx: None }, Box::new(|i, j| (i - j).min(12) as f64)),
            (
                // Measured in units of the far region's θ/k: w + (Δ − w)/k becomes kw + Δ − w.
                RopeMethod::LeakyRerope { window: 12, factor: 4.0, log_n: true, log_n_ctx: None },
                Box::new(|i, j| if i - j < 12 { (i - j) as f64 } else { 4.0 * 12.0 + (i - j) as f64 - 12.0 }),
            ),
        ];
        for (m, expected) in methods {
            m.validate(&CX).unwrap();
            let regions = m.regions(&CX, 200);
            assert_eq!(regions.len(), m.region_count());
            for i in 0..200 {
                for j in 0..=i {
                    let r = regions.iter().find(|r| r.deltas.contains(i - j)).unwrap();
                    let rel = r.query.at(i) - r.key.at(j);
                    assert_eq!(rel, expected(i, j), "{} at ({i}, {j})", m.name());
                }
            }
        }
    }

    #[test]
    fn string_quirk_counts_the_boundary_key_twice() {
        let m = RopeMethod::String {
            shifted_offset: Some(40),
            local_window: 8,
            attention_factor: None,
            reference_quirk: true,
        };
        let regions = m.regions(&CX, 100);
        assert!(regions[0].deltas.contains(40) && regions[1].deltas.contains(40));
        assert!((regions[0].freqs.attention_scaling - 1.0693).abs() < 1e-4);
    }

    #[test]
    fn configs_round_trip_and_reject_bad_parameters() {
        let m: RopeMethod = serde_json::from_str(r#"{"method":"self-extend","group_size":8}"#).unwrap();
        assert_eq!(m, RopeMethod::SelfExtend { group_size: 8, neighbor_window: 1024, log_n_ctx: None });
        let back: RopeMethod = serde_json::from_str(&serde_json::to_string(&yarn(4.0)).unwrap()).unwrap();
        assert_eq!(back, yarn(4.0));
        assert!(serde_json::from_str::<RopeMethod>(r#"{"method":"warp"}"#).is_err());
        let typo = serde_json::from_str::<RopeMethod>(r#"{"method":"yarn","factor":2,"betafast":3}"#).unwrap_err();
        assert!(typo.to_string().contains("unknown field"), "{typo}");
        // Every method's serde name is its CLI name.
        let all = [
            RopeMethod::Model,
            RopeMethod::Default,
            RopeMethod::Linear { factor: 2.0 },
            RopeMethod::Ntk { factor: 2.0 },
            RopeMethod::Dynamic { factor: 2.0, original_ctx: None },
            yarn(2.0),
            RopeMethod::Llama3 { factor: 8.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_ctx: None },
            RopeMethod::LongRope {
                short_factor: vec![1.0; 32],
                long_factor: vec![2.0; 32],
                factor: 1.0,
                original_ctx: None,
                attention_factor: None,
            },
            RopeMethod::Abf { base: 5e5 },
            RopeMethod::Eabf { base: 5e5, log_n_ctx: None, exempt_layers: 2 },
            RopeMethod::String {
                shifted_offset: None,
                local_window: 128,
                attention_factor: None,
                reference_quirk: false,
            },
            RopeMethod::SelfExtend { group_size: 4, neighbor_window: 1024, log_n_ctx: None },
            RopeMethod::Rerope { window: 512, log_n: true, log_n_ctx: None },
            RopeMethod::LeakyRerope { window: 512, factor: 16.0, log_n: true, log_n_ctx: None },
        ];
        for m in all {
            let v = serde_json::to_value(&m).unwrap();
            assert_eq!(v["method"], m.name());
            m.validate(&CX).unwrap();
        }
        assert!(RopeMethod::Linear { factor: -1.0 }.validate(&CX).is_err());
        let s = RopeMethod::String {
            shifted_offset: Some(100),
            local_window: 128,
            attention_factor: None,
            reference_quirk: false,
        };
        assert!(s.validate(&CX).unwrap_err().to_string().contains("local_window"));
    }
}
