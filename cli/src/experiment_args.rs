//! The experiment flags shared by `score`, `generate`, `rope-table` and `bench`: `--config FILE`
//! (the engine's serde [`Experiment`]) overridden by `--rope …`, `--window …` and friends.
//!
//! RoPE flags are merged into the method's JSON form and parsed by the engine's own serde type,
//! so the CLI cannot drift from the config format: a flag is just a field name.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use ctxscope_engine::experiment::{Experiment, KeyCache};
use ctxscope_engine::pattern::{AttentionPattern, MswaPreset, SinkPositions};
use ctxscope_engine::rope::{RopeMethod, RopePrecision};
use serde_json::{json, Map, Value};

#[derive(Clone, Copy, PartialEq, ValueEnum)]
pub enum RopeName {
    /// The model's own RoPE, as its GGUF declares it (the default).
    Model,
    /// Standard RoPE with the model's base, replacing any scaling the model declares.
    Default,
    Linear,
    Ntk,
    Dynamic,
    Yarn,
    Llama3,
    Longrope,
    Abf,
    Eabf,
    String,
    SelfExtend,
    Rerope,
    LeakyRerope,
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
pub enum PrecisionName {
    F32,
    F16,
    Bf16,
    Bf16Angles,
    F16Angles,
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
pub enum MswaName {
    /// {w/4, w/2, w, 2w} over head groups and layer groups (the paper's description).
    Paper,
    /// The official fine-tuning code: heads {2w, w, w/2, w/2}, layers {w/2, w/2, w, 2w}.
    Code,
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
pub enum SinkPositionsName {
    Cache,
    Original,
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
pub enum KeyCacheName {
    Recompute,
    PreRope,
    PostRope,
}

/// RoPE method, attention pattern and precision (docs/methods.md#rope-methods).
#[derive(Args, Default)]
pub struct ExperimentArgs {
    /// Experiment config (JSON, `{"version": 1, "rope": {...}, "attention": {...}, ...}`);
    /// the flags below override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// RoPE method.
    #[arg(long = "rope", value_enum)]
    pub rope: Option<RopeName>,
    /// Scale factor s (linear, ntk, dynamic, yarn, llama3, longrope's s; leaky-rerope's k).
    #[arg(long = "rope-factor", allow_negative_numbers = true)]
    pub factor: Option<f64>,
    /// Trained context L the method scales from (default: the model's context length).
    #[arg(long = "rope-original-ctx")]
    pub original_ctx: Option<usize>,
    /// New RoPE base (abf, eabf).
    #[arg(long = "rope-base", allow_negative_numbers = true)]
    pub base: Option<f64>,
    #[arg(long = "rope-low-freq-factor")]
    pub low_freq_factor: Option<f64>,
    #[arg(long = "rope-high-freq-factor")]
    pub high_freq_factor: Option<f64>,
    /// YaRN β_fast and β_slow (rotations where the ramp ends and starts).
    #[arg(long = "yarn-beta-fast")]
    pub beta_fast: Option<f64>,
    #[arg(long = "yarn-beta-slow")]
    pub beta_slow: Option<f64>,
    /// Factor on cos and sin (yarn, longrope, string): overrides the method's own.
    #[arg(long = "attention-factor")]
    pub attention_factor: Option<f64>,
    /// LongRoPE per-pair factors λ_k (d/2 comma-separated values).
    #[arg(long = "longrope-short-factor", value_delimiter = ',')]
    pub short_factor: Option<Vec<f64>>,
    #[arg(long = "longrope-long-factor", value_delimiter = ',')]
    pub long_factor: Option<Vec<f64>>,
    /// Entropy-ABF: the first N layers keep unscaled logits (default 2).
    #[arg(long = "eabf-exempt-layers")]
    pub exempt_layers: Option<usize>,
    /// Length n of the log-n logit scaling max(1, ln(i+1)/ln n) (eabf, rerope, leaky-rerope;
    /// enables it for self-extend).
    #[arg(long = "log-n-ctx")]
    pub log_n_ctx: Option<usize>,
    /// ReRoPE / leaky ReRoPE without the log-n query scaling.
    #[arg(long = "no-log-n")]
    pub no_log_n: bool,
    /// STRING shifted_offset S (default 0.33·L).
    #[arg(long = "string-shifted-offset")]
    pub shifted_offset: Option<usize>,
    /// STRING small_local_value W (default 128).
    #[arg(long = "string-local-window")]
    pub local_window: Option<usize>,
    /// STRING: count key i − S in both regions, as the reference prefill code does.
    #[arg(long = "string-reference-quirk")]
    pub reference_quirk: bool,
    /// Self-Extend group size G (group_size_1; default 4).
    #[arg(long = "self-extend-group-size")]
    pub group_size: Option<usize>,
    /// Self-Extend neighbor window W (group_size_2; default 1024).
    #[arg(long = "self-extend-neighbor-window")]
    pub neighbor_window: Option<usize>,
    /// ReRoPE / leaky ReRoPE window w (default 512).
    #[arg(long = "rerope-window")]
    pub rerope_window: Option<usize>,
    /// Sliding window: keys each query sees, itself included (with --sinks: the recent keys;
    /// with --mswa: the base window w).
    #[arg(long)]
    pub window: Option<u32>,
    /// StreamingLLM attention sinks (needs --window).
    #[arg(long)]
    pub sinks: Option<u32>,
    /// StreamingLLM positions: inside the cache (the paper) or the original ones.
    #[arg(long = "sink-positions", value_enum)]
    pub sink_positions: Option<SinkPositionsName>,
    /// Multi-scale windows per layer and head (needs --window as the base w).
    #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "paper")]
    pub mswa: Option<MswaName>,
    /// RoPE arithmetic: f32, or angles-f32 with bf16/f16 cos/sin and q/k, or all-16-bit angles.
    #[arg(long = "rope-precision", value_enum)]
    pub precision: Option<PrecisionName>,
    /// Length-dependent methods, when the length changes the frequencies: run the sequence again
    /// (recompute, the default: exact), re-rotate cached pre-RoPE keys (pre-rope: cheap, exact
    /// for the first layer only) or keep HF's stale post-RoPE cache (post-rope).
    #[arg(long = "key-cache", value_enum)]
    pub key_cache: Option<KeyCacheName>,
}

fn method_name(name: RopeName) -> &'static str {
    match name {
        RopeName::Model => "model",
        RopeName::Default => "default",
        RopeName::Linear => "linear",
        RopeName::Ntk => "ntk",
        RopeName::Dynamic => "dynamic",
        RopeName::Yarn => "yarn",
        RopeName::Llama3 => "llama3",
        RopeName::Longrope => "longrope",
        RopeName::Abf => "abf",
        RopeName::Eabf => "eabf",
        RopeName::String => "string",
        RopeName::SelfExtend => "self-extend",
        RopeName::Rerope => "rerope",
        RopeName::LeakyRerope => "leaky-rerope",
    }
}

impl ExperimentArgs {
    /// The config file (or the default experiment) with every given flag applied.
    pub fn experiment(&self) -> Result<Experiment, String> {
        let mut e = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                Experiment::from_json(&text).map_err(|e| format!("{}: {e}", path.display()))?
            }
            None => Experiment::default(),
        };
        e.rope = self.rope_method(&e.rope)?;
        if let Some(p) = self.attention_pattern()? {
            e.attention = p;
        }
        if let Some(p) = self.precision {
            e.precision = match p {
                PrecisionName::F32 => RopePrecision::F32,
                PrecisionName::F16 => RopePrecision::F16,
                PrecisionName::Bf16 => RopePrecision::Bf16,
                PrecisionName::Bf16Angles => RopePrecision::Bf16Angles,
                PrecisionName::F16Angles => RopePrecision::F16Angles,
            };
        }
        if let Some(k) = self.key_cache {
            e.key_cache = match k {
                KeyCacheName::Recompute => KeyCache::Recompute,
                KeyCacheName::PreRope => KeyCache::PreRope,
                KeyCacheName::PostRope => KeyCache::PostRope,
            };
        }
        Ok(e)
    }

    /// (flag, JSON field, value) for every RoPE parameter flag given.
    fn rope_fields(&self) -> Vec<(&'static str, &'static str, Value)> {
        let mut f = Vec::new();
        let mut add = |flag, field, v: Option<Value>| {
            if let Some(v) = v {
                f.push((flag, field, v));
            }
        };
        add("--rope-factor", "factor", self.factor.map(|v| json!(v)));
        add("--rope-original-ctx", "original_ctx", self.original_ctx.map(|v| json!(v)));
        add("--rope-base", "base", self.base.map(|v| json!(v)));
        add("--rope-low-freq-factor", "low_freq_factor", self.low_freq_factor.map(|v| json!(v)));
        add("--rope-high-freq-factor", "high_freq_factor", self.high_freq_factor.map(|v| json!(v)));
        add("--yarn-beta-fast", "beta_fast", self.beta_fast.map(|v| json!(v)));
        add("--yarn-beta-slow", "beta_slow", self.beta_slow.map(|v| json!(v)));
        add("--attention-factor", "attention_factor", self.attention_factor.map(|v| json!(v)));
        add("--longrope-short-factor", "short_factor", self.short_factor.as_ref().map(|v| json!(v)));
        add("--longrope-long-factor", "long_factor", self.long_factor.as_ref().map(|v| json!(v)));
        add("--eabf-exempt-layers", "exempt_layers", self.exempt_layers.map(|v| json!(v)));
        add("--log-n-ctx", "log_n_ctx", self.log_n_ctx.map(|v| json!(v)));
        add("--no-log-n", "log_n", self.no_log_n.then_some(json!(false)));
        add("--string-shifted-offset", "shifted_offset", self.shifted_offset.map(|v| json!(v)));
        add("--string-local-window", "local_window", self.local_window.map(|v| json!(v)));
        add("--string-reference-quirk", "reference_quirk", self.reference_quirk.then_some(json!(true)));
        add("--self-extend-group-size", "group_size", self.group_size.map(|v| json!(v)));
        add("--self-extend-neighbor-window", "neighbor_window", self.neighbor_window.map(|v| json!(v)));
        add("--rerope-window", "window", self.rerope_window.map(|v| json!(v)));
        f
    }

    /// `base` with `--rope` (a fresh method) and the parameter flags merged in.
    fn rope_method(&self, base: &RopeMethod) -> Result<RopeMethod, String> {
        let fields = self.rope_fields();
        let mut obj: Map<String, Value> = match self.rope {
            Some(name) if method_name(name) != base.name() => {
                Map::from_iter([("method".to_string(), json!(method_name(name)))])
            }
            _ => match serde_json::to_value(base).map_err(|e| e.to_string())? {
                Value::Object(m) => m,
                _ => unreachable!("RopeMethod serialises to an object"),
            },
        };
        if fields.is_empty() && self.rope.is_none() {
            return Ok(base.clone());
        }
        let method = obj["method"].as_str().unwrap_or("model").to_string();
        for (_, field, v) in &fields {
            obj.insert(field.to_string(), v.clone());
        }
        let parsed: RopeMethod = serde_json::from_value(Value::Object(obj)).map_err(|e| {
            let msg = e.to_string();
            let quoted = |prefix: &str| msg.strip_prefix(prefix).and_then(|m| m.split('`').next()).map(str::to_string);
            if let Some(field) = quoted("unknown field `") {
                // The config format refuses unknown fields; name the flag that set it.
                if let Some((flag, _, _)) = fields.iter().find(|(_, f, _)| *f == field) {
                    return format!("{flag} does not apply to --rope {method}");
                }
            }
            match quoted("missing field `") {
                Some(field) => match fields_flag(&field) {
                    Some(flag) => format!("--rope {method} needs {flag}"),
                    None => format!("--rope {method} needs `{field}` (set it with --config)"),
                },
                None => format!("--rope {method}: {msg}"),
            }
        })?;
        Ok(parsed)
    }

    fn attention_pattern(&self) -> Result<Option<AttentionPattern>, String> {
        Ok(match (self.window, self.sinks, self.mswa) {
            (None, None, None) => {
                if self.sink_positions.is_some() {
                    return Err("--sink-positions needs --sinks and --window".into());
                }
                None
            }
            (Some(_), Some(_), Some(_)) => return Err("--mswa and --sinks cannot be combined; pick one pattern".into()),
            (Some(window), None, None) => Some(AttentionPattern::Window { window }),
            (Some(window), Some(sinks), None) => Some(AttentionPattern::Sinks {
                sinks,
                window,
                positions: match self.sink_positions {
                    Some(SinkPositionsName::Original) => SinkPositions::Original,
                    _ => SinkPositions::Cache,
                },
            }),
            (Some(window), None, Some(preset)) => Some(AttentionPattern::mswa(
                window,
                match preset {
                    MswaName::Paper => MswaPreset::Paper,
                    MswaName::Code => MswaPreset::Code,
                },
            )),
            (None, _, _) => return Err("--sinks and --mswa need --window".into()),
        })
    }
}

/// The flag that sets each field a method may require.
const REQUIRED_FIELD_FLAGS: [(&str, &str); 5] = [
    ("factor", "--rope-factor"),
    ("base", "--rope-base"),
    ("short_factor", "--longrope-short-factor"),
    ("long_factor", "--longrope-long-factor"),
    ("original_ctx", "--rope-original-ctx"),
];

fn fields_flag(field: &str) -> Option<&'static str> {
    REQUIRED_FIELD_FLAGS.iter().find(|(f, _)| *f == field).map(|(_, flag)| *flag)
}
