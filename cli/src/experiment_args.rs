//! The experiment flags shared by `score`, `generate`, `rope-table` and `bench`: `--config FILE`
//! (the engine's serde [`Experiment`]) overridden by `--rope …`, `--window …` and friends.
//!
//! RoPE flags are merged into the method's JSON form and parsed by the engine's own serde type,
//! so the CLI cannot drift from the config format: a flag is just a field name. Which flags a
//! method takes and needs is the explicit table [`method_fields`], checked first so that messages
//! name flags; a test holds the table to the engine's serde form.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use ctxscope_engine::experiment::{Experiment, KeyCache};
use ctxscope_engine::pattern::{AttentionPattern, MswaPreset, SinkPositions};
use ctxscope_engine::rope::{RopeMethod, RopePrecision};
use serde_json::{json, Map, Value};

/// The JSON fields of a method's [`RopeMethod`] variant.
struct MethodFields {
    /// Every field it takes.
    takes: &'static [&'static str],
    /// The fields without a serde default.
    needs: &'static [&'static str],
}

/// What each `--rope` method takes and needs (a test checks this against serde).
fn method_fields(name: RopeName) -> MethodFields {
    let f = |takes, needs| MethodFields { takes, needs };
    match name {
        RopeName::Model | RopeName::Default => f(&[], &[]),
        RopeName::Linear | RopeName::Ntk => f(&["factor"], &["factor"]),
        RopeName::Dynamic => f(&["factor", "original_ctx"], &["factor"]),
        RopeName::Yarn => f(&["factor", "original_ctx", "beta_fast", "beta_slow", "attention_factor"], &["factor"]),
        RopeName::Llama3 => f(&["factor", "low_freq_factor", "high_freq_factor", "original_ctx"], &["factor"]),
        RopeName::Longrope => f(
            &["short_factor", "long_factor", "factor", "original_ctx", "attention_factor"],
            &["short_factor", "long_factor"],
        ),
        RopeName::Abf => f(&["base"], &["base"]),
        RopeName::Eabf => f(&["base", "log_n_ctx", "exempt_layers"], &[]),
        RopeName::String => f(&["shifted_offset", "local_window", "attention_factor", "reference_quirk"], &[]),
        RopeName::SelfExtend => f(&["group_size", "neighbor_window", "log_n_ctx"], &[]),
        RopeName::Rerope => f(&["window", "log_n", "log_n_ctx"], &[]),
        RopeName::LeakyRerope => f(&["window", "factor", "log_n", "log_n_ctx"], &[]),
    }
}

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

    /// (flag, JSON field, value if given) for every RoPE parameter flag: the one place a flag
    /// is tied to its field.
    fn rope_fields(&self) -> Vec<(&'static str, &'static str, Option<Value>)> {
        let mut f = Vec::new();
        let mut add = |flag, field, v: Option<Value>| f.push((flag, field, v));
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
        let flags = self.rope_fields();
        let given: Vec<_> = flags.iter().filter_map(|(flag, field, v)| Some((*flag, *field, v.clone()?))).collect();
        if given.is_empty() && self.rope.is_none() {
            return Ok(base.clone());
        }
        let name = match self.rope {
            Some(name) => name,
            None => RopeName::value_variants()
                .iter()
                .copied()
                .find(|&n| method_name(n) == base.name())
                .ok_or_else(|| format!("the config's RoPE method {} has no --rope flags", base.name()))?,
        };
        let method = method_name(name);
        let MethodFields { takes, needs } = method_fields(name);
        let mut obj: Map<String, Value> = if method == base.name() {
            match serde_json::to_value(base).map_err(|e| e.to_string())? {
                Value::Object(m) => m,
                _ => unreachable!("RopeMethod serialises to an object"),
            }
        } else {
            Map::from_iter([("method".to_string(), json!(method))])
        };
        for (flag, field, v) in given {
            if !takes.contains(&field) {
                return Err(format!("{flag} does not apply to --rope {method}"));
            }
            obj.insert(field.to_string(), v);
        }
        if let Some(field) = needs.iter().find(|f| obj.get(**f).is_none_or(Value::is_null)) {
            let flag = flags.iter().find(|(_, f, _)| f == field).map_or("--config", |(flag, _, _)| flag);
            return Err(format!("--rope {method} needs {flag}"));
        }
        // The checks above leave serde only type errors, which the typed flags rule out.
        serde_json::from_value(Value::Object(obj)).map_err(|e| format!("--rope {method}: {e}"))
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// A value of the field's type (serde checks types, not ranges).
    fn sample(field: &str) -> Value {
        match field {
            "short_factor" | "long_factor" => json!([1.0, 1.0]),
            "log_n" | "reference_quirk" => json!(true),
            "factor" | "base" | "low_freq_factor" | "high_freq_factor" | "beta_fast" | "beta_slow"
            | "attention_factor" => json!(2.5),
            _ => json!(8),
        }
    }

    fn parse(method: &str, fields: &[&str]) -> Result<RopeMethod, serde_json::Error> {
        let mut obj = Map::from_iter([("method".to_string(), json!(method))]);
        obj.extend(fields.iter().map(|f| (f.to_string(), sample(f))));
        serde_json::from_value(Value::Object(obj))
    }

    /// The table agrees with serde for every method and flag, so it cannot drift from the
    /// engine's `RopeMethod`: a new required field fails the minimal parse, a new optional field
    /// shows in the serialised form, a field dropped or renamed fails its row.
    #[test]
    fn method_table_matches_the_engine() {
        let flags = ExperimentArgs::default().rope_fields();
        for &name in RopeName::value_variants() {
            let method = method_name(name);
            assert_eq!(name.to_possible_value().unwrap().get_name(), method, "--rope spells the serde tag");
            let MethodFields { takes, needs } = method_fields(name);
            let minimal = parse(method, needs).unwrap_or_else(|e| panic!("{method} with {needs:?}: {e}"));
            assert_eq!(minimal.name(), method);
            for f in needs {
                let rest: Vec<&str> = needs.iter().copied().filter(|n| n != f).collect();
                assert!(parse(method, &rest).is_err(), "{method} parses without {f}");
            }
            for (flag, field, _) in &flags {
                let mut fields = needs.to_vec();
                fields.push(field);
                // serde lets a unit variant (model, default) ignore other fields; the table is
                // what refuses a flag there.
                let accepted = parse(method, &fields).is_ok();
                assert!(accepted == takes.contains(field) || (accepted && takes.is_empty()), "{method} with {flag}");
            }
            let form = serde_json::to_value(&minimal).unwrap();
            let keys: BTreeSet<&str> = form.as_object().unwrap().keys().map(String::as_str).collect();
            let table: BTreeSet<&str> = takes.iter().copied().chain(["method"]).collect();
            assert_eq!(keys, table, "{method}: the engine's fields vs the table");
            assert!(
                takes.iter().all(|f| flags.iter().any(|(_, field, _)| field == f)),
                "{method}: a field without a flag"
            );
        }
    }

    #[test]
    fn flag_messages_name_the_flags() {
        let message = |args: ExperimentArgs| args.experiment().unwrap_err();
        let yarn = ExperimentArgs { rope: Some(RopeName::Yarn), ..Default::default() };
        assert_eq!(message(yarn), "--rope yarn needs --rope-factor");
        let ntk =
            ExperimentArgs { rope: Some(RopeName::Ntk), factor: Some(2.0), base: Some(1e6), ..Default::default() };
        assert_eq!(message(ntk), "--rope-base does not apply to --rope ntk");
        let longrope =
            ExperimentArgs { rope: Some(RopeName::Longrope), short_factor: Some(vec![1.0]), ..Default::default() };
        assert_eq!(message(longrope), "--rope longrope needs --longrope-long-factor");
        // Without --rope, flags apply to the config's method (here the default, `model`).
        let bare = ExperimentArgs { factor: Some(2.0), ..Default::default() };
        assert_eq!(message(bare), "--rope-factor does not apply to --rope model");
        let linear = ExperimentArgs { rope: Some(RopeName::Linear), factor: Some(4.0), ..Default::default() };
        assert_eq!(linear.experiment().unwrap().rope, RopeMethod::Linear { factor: 4.0 });
    }
}
