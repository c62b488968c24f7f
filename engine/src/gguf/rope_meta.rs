//! The RoPE scaling a GGUF declares — the model's own baseline, which `RopeMethod::Model`
//! reproduces and every other frequency method replaces.
//!
//! Keys and semantics follow llama.cpp (`src/llama-model.cpp` `load_hparams`,
//! `src/llama-context.cpp`, `ggml_rope_yarn_corr_dims` and `rope_yarn` in ggml):
//! - `{arch}.rope.scaling.type`: `none`, `linear` (the default when absent) or `yarn`;
//! - `{arch}.rope.scaling.factor` (or the older `{arch}.rope.scale_linear`): s; 0 or 1 = none;
//! - `{arch}.rope.scaling.original_context_length`: YaRN's L (else the context length);
//! - `{arch}.rope.scaling.attn_factor`: multiplies cos and sin under every type;
//! - `{arch}.rope.scaling.yarn_beta_fast` / `yarn_beta_slow` (32 / 1) and
//!   `yarn_log_multiplier` m (the temperature becomes (0.1 ln s + 1) / (0.1 m ln s + 1), HF's
//!   `get_mscale(s) / get_mscale(s, mscale_all_dim)`);
//! - the tensor `rope_freqs.weight`: θ_k is divided by its k-th value before any scaling
//!   (Llama 3.1 GGUFs carry their scaling this way).
//!
//! What ctxscope cannot honour is refused with the key named, never dropped: another scaling
//! type (`longrope`), NTK-alpha (`rope.scaling.alpha`), a YaRN mixing weight other than llama.cpp's
//! (`yarn_ext_factor`), a separate YaRN attention factor (`yarn_attn_factor`, which llama.cpp
//! itself overwrites for YaRN), and malformed divisors.

use serde::{Deserialize, Serialize};

use super::Meta;
use crate::error::{Error, Result};

/// The longest original context a file may declare (2^27 tokens, far past any model).
pub const MAX_CONTEXT: usize = 1 << 27;

/// The scaling type and its parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum DeclaredScaling {
    None,
    /// Position interpolation: θ / s.
    Linear {
        factor: f64,
    },
    /// YaRN from `original_ctx` tokens.
    Yarn {
        factor: f64,
        original_ctx: usize,
        beta_fast: f64,
        beta_slow: f64,
        log_multiplier: f64,
    },
}

/// The RoPE a GGUF declares beyond its base frequency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeclaredRope {
    pub scaling: DeclaredScaling,
    /// Multiplies cos and sin (llama.cpp's `rope_attn_factor`); 1 when not declared.
    pub attn_factor: f64,
    /// `rope.scaling.original_context_length`, when declared.
    pub original_context_length: Option<usize>,
    /// `rope.scaling.finetuned`, when declared (informational).
    pub finetuned: Option<bool>,
    /// `rope_freqs.weight`, when present: θ_k / freq_factors[k], `head_dim / 2` values.
    pub freq_factors: Option<Vec<f32>>,
}

impl DeclaredRope {
    /// No scaling at all.
    pub const NONE: Self = Self {
        scaling: DeclaredScaling::None,
        attn_factor: 1.0,
        original_context_length: None,
        finetuned: None,
        freq_factors: None,
    };

    /// Whether the file declares nothing that changes standard RoPE.
    pub fn is_plain(&self) -> bool {
        self.scaling == DeclaredScaling::None && self.attn_factor == 1.0 && self.freq_factors.is_none()
    }

    /// "linear ×4", "YaRN ×4 from 2048 tokens, per-pair rope_freqs", … ("none" when plain).
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        match &self.scaling {
            DeclaredScaling::None => {}
            DeclaredScaling::Linear { factor } => parts.push(format!("linear ×{factor}")),
            DeclaredScaling::Yarn { factor, original_ctx, log_multiplier, .. } => {
                let mut s = format!("YaRN ×{factor} from {original_ctx} tokens");
                if *log_multiplier != 0.0 {
                    s.push_str(&format!(" (log multiplier {log_multiplier})"));
                }
                parts.push(s);
            }
        }
        if self.freq_factors.is_some() {
            parts.push("per-pair rope_freqs".into());
        }
        if self.attn_factor != 1.0 {
            parts.push(format!("attn_factor {}", self.attn_factor));
        }
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join(", ")
        }
    }

    /// Reads the `{arch}.rope.scaling.*` keys; `context_length` is YaRN's default L.
    pub(crate) fn read(meta: &Meta, arch: &str, context_length: usize) -> Result<Self> {
        let key = |k: &str| format!("{arch}.rope.{k}");
        let refuse = |what: String| Err(Error::UnsupportedRopeScaling(what));
        let finite = |k: &str, lo: f64| -> Result<Option<f64>> {
            match meta.opt_f64(&key(k))? {
                Some(v) if !(v.is_finite() && v >= lo) => {
                    Err(Error::UnsupportedRopeScaling(format!("'{}' = {v} is not a number ≥ {lo}", key(k))))
                }
                other => Ok(other),
            }
        };
        let kind = meta.opt_str(&key("scaling.type"))?.unwrap_or("linear").to_string();
        if !matches!(kind.as_str(), "none" | "linear" | "yarn") {
            return refuse(format!(
                "'{}' = \"{}\" (ctxscope applies none, linear and yarn; pass the method as an experiment instead)",
                key("scaling.type"),
                crate::error::shown(&kind)
            ));
        }
        let factor = match finite("scaling.factor", 0.0)? {
            Some(f) => Some(f),
            None => finite("scale_linear", 0.0)?,
        }
        .unwrap_or(0.0);
        let attn_factor = match finite("scaling.attn_factor", 0.0)? {
            Some(0.0) => {
                return refuse(format!("'{}' = 0 would zero every attention logit", key("scaling.attn_factor")))
            }
            Some(a) => a,
            None => 1.0,
        };
        let original_context_length = meta.opt_usize(&key("scaling.original_context_length"))?;
        if let Some(l) = original_context_length {
            if l == 0 || l > MAX_CONTEXT {
                return Err(Error::InconsistentModel(format!(
                    "'{}' = {l} is outside 1 … {MAX_CONTEXT}",
                    key("scaling.original_context_length")
                )));
            }
        }
        if let Some(alpha) = meta.opt_f64(&key("scaling.alpha"))? {
            if alpha != 0.0 {
                return refuse(format!("'{}' = {alpha} (NTK-alpha scaling)", key("scaling.alpha")));
            }
        }
        let yarn = kind == "yarn";
        if let Some(ext) = meta.opt_f64(&key("scaling.yarn_ext_factor"))? {
            let default = if yarn { 1.0 } else { 0.0 };
            if ext != -1.0 && ext != default {
                return refuse(format!(
                    "'{}' = {ext} (ctxscope mixes YaRN's frequencies with llama.cpp's default weight {default})",
                    key("scaling.yarn_ext_factor")
                ));
            }
        }
        if let Some(a) = meta.opt_f64(&key("scaling.yarn_attn_factor"))? {
            if a != 1.0 {
                return refuse(format!("'{}' = {a} (use rope.scaling.attn_factor)", key("scaling.yarn_attn_factor")));
            }
        }
        let beta_fast = finite("scaling.yarn_beta_fast", f64::MIN_POSITIVE)?.unwrap_or(32.0);
        let beta_slow = finite("scaling.yarn_beta_slow", f64::MIN_POSITIVE)?.unwrap_or(1.0);
        let log_multiplier = finite("scaling.yarn_log_multiplier", 0.0)?.unwrap_or(0.0);
        // llama.cpp: a factor of 0 (absent) means no scaling; so does 1.
        let scaling = if kind == "none" || factor == 0.0 || factor == 1.0 {
            DeclaredScaling::None
        } else if yarn {
            DeclaredScaling::Yarn {
                factor,
                original_ctx: original_context_length.unwrap_or(context_length),
                beta_fast,
                beta_slow,
                log_multiplier,
            }
        } else {
            DeclaredScaling::Linear { factor }
        };
        Ok(Self {
            scaling,
            attn_factor,
            original_context_length,
            finetuned: meta.opt_bool(&key("scaling.finetuned"))?,
            freq_factors: None,
        })
    }

    /// Checks `rope_freqs.weight` values (`head_dim / 2` finite positive divisors) and keeps them.
    pub(crate) fn set_freq_factors(&mut self, values: Vec<f32>, pairs: usize) -> Result<()> {
        if values.len() != pairs {
            return Err(Error::TensorShape {
                name: "rope_freqs.weight".into(),
                expected: vec![pairs],
                found: vec![values.len()],
            });
        }
        if let Some((k, v)) = values.iter().enumerate().find(|(_, v)| !(v.is_finite() && **v > 0.0)) {
            return Err(Error::UnsupportedRopeScaling(format!(
                "rope_freqs.weight[{k}] = {v} is not a positive divisor"
            )));
        }
        self.freq_factors = Some(values);
        Ok(())
    }
}
