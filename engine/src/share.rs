//! Share links (docs/share-links.md): the whole state of an experiment — model identity,
//! experiments, sweep, view, and the recorded outcome — in a URL fragment that the page and the
//! CLI both read and write.
//!
//! Format, version 1: `#v1.` + base64url (no padding) of the raw-deflate of a JSON object
//! ([`SharedState`]) from which every value equal to the frozen v1 defaults
//! (`share_v1_defaults.json`) was removed. The defaults are frozen per version, not taken from
//! today's `Default` impls, so that a v1 link opens the same way after a default changes; a test
//! checks that today's defaults still equal them (when they stop doing so, the link version moves
//! on and v1 keeps decoding with its own file).
//!
//! Everything decoded is untrusted: the fragment's size, the base64, the deflate stream (inflated
//! with a hard output limit — a decompression bomb stops there), the JSON (unknown fields are
//! refused), and every value (bounded by [`SharedState::validate`] and the sweep's own checks).
//!
//! Compression: `miniz_oxide` (deflate) and `base64` — libraries, not ours.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{shown, Error, Result};
use crate::experiment::Experiment;
use crate::probes::sweep::{CellKey, SweepConfig, SweepResults};

/// The version this build writes; it reads every version up to it.
pub const LINK_VERSION: u32 = 1;
/// The longest fragment decoded (characters); a longer one is refused before any work.
pub const MAX_LINK_CHARS: usize = 64 * 1024;
/// The most bytes the JSON may inflate to. A link's JSON is at most a few kB; a pasted haystack
/// text is the only large value.
pub const MAX_INFLATED_BYTES: usize = 1024 * 1024;
/// Links longer than this (characters, whole URL) are offered as a JSON file instead: browsers,
/// chat apps and mail clients truncate or refuse longer URLs.
pub const LINK_COMFORT_CHARS: usize = 2000;
/// The `schema` of a link saved as a JSON file.
pub const LINK_FILE_SCHEMA: &str = "ctxscope-link";

/// The values a v1 link leaves out (frozen; see the module docs).
const V1_DEFAULTS: &str = include_str!("share_v1_defaults.json");

/// Which model a link was made with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SharedModel {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Where to download it (http(s) or a path relative to the page); None: the person opens the
    /// file, which is verified by `sha256`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// File size, bytes.
    pub bytes: u64,
    /// sha256 of the file, lower-case hex.
    pub sha256: String,
}

/// What a finished sweep recorded, so that opening the link can say "reproduced" or which cells
/// differ.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SharedResult {
    /// `engine_version` of the run.
    pub engine: String,
    /// Backend of the run ("cpu", "gpu").
    pub backend: String,
    /// The results' `result_hash`.
    pub hash: String,
    /// base64url of one [`outcome_byte`] per cell, in [`SweepConfig::cells`] order.
    pub outcomes: String,
}

/// A share link's payload.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SharedState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<SharedModel>,
    /// The page's view (a slug such as "recall"); the page checks it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view: Option<String>,
    /// Experiments A and B when there is no sweep (with a sweep, they are its experiments).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub a: Option<Experiment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub b: Option<Experiment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<SweepConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<SharedResult>,
}

/// A link saved as a file (offered when the link is too long to share as a URL).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkFile {
    pub schema: String,
    pub version: u32,
    pub state: SharedState,
}

/// One cell's outcome in one byte: `2 · round(126 · score) + correct`. Teacher-forced scores are
/// k/n (n answer tokens) and generated ones a fraction of answers found, so two runs that agree
/// on the counts give the same byte for n ≤ 126. 255 marks a cell that did not run.
pub fn outcome_byte(correct: bool, score: f64) -> u8 {
    let s = if score.is_finite() { score.clamp(0.0, 1.0) } else { 0.0 };
    (126.0 * s).round() as u8 * 2 + u8::from(correct)
}

/// The byte of a cell that did not run.
pub const MISSING_CELL: u8 = 255;

/// One byte per cell of `results.config`, in [`SweepConfig::cells`] order.
pub fn outcome_bytes(results: &SweepResults) -> Vec<u8> {
    results
        .config
        .cells()
        .iter()
        .map(|k| {
            results
                .cells
                .iter()
                .find(|c| c.key == *k)
                .map_or(MISSING_CELL, |c| outcome_byte(c.outcome.correct, c.outcome.score))
        })
        .collect()
}

impl SharedResult {
    /// The record of a run, for its link.
    pub fn of(results: &SweepResults) -> Self {
        Self {
            engine: results.engine_version.clone(),
            backend: results.backend.clone(),
            hash: results.result_hash.clone(),
            outcomes: URL_SAFE_NO_PAD.encode(outcome_bytes(results)),
        }
    }

    /// The recorded bytes (checked by [`SharedState::validate`] to be one per cell).
    pub fn outcome_bytes(&self) -> Result<Vec<u8>> {
        URL_SAFE_NO_PAD.decode(&self.outcomes).map_err(|e| bad(format!("its recorded outcomes are not base64url: {e}")))
    }
}

/// How a new run compares with a link's record.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Same result hash.
    Reproduced,
    /// These cells have a different outcome (or one side lacks them).
    Differs { cells: Vec<CellKey>, hash_matches: bool },
}

/// Compares `results` with what the link recorded, cell by cell.
pub fn verdict(record: &SharedResult, results: &SweepResults) -> Result<Verdict> {
    let recorded = record.outcome_bytes()?;
    let now = outcome_bytes(results);
    if recorded.len() != now.len() {
        return Err(bad(format!("the link records {} cells but its sweep has {}", recorded.len(), now.len())));
    }
    let keys = results.config.cells();
    let cells: Vec<CellKey> =
        keys.into_iter().zip(recorded.iter().zip(&now)).filter(|(_, (a, b))| a != b).map(|(k, _)| k).collect();
    let hash_matches = record.hash == results.result_hash;
    Ok(if cells.is_empty() && hash_matches { Verdict::Reproduced } else { Verdict::Differs { cells, hash_matches } })
}

fn bad(message: String) -> Error {
    Error::InvalidInput(format!("share link: {message}"))
}

fn defaults() -> Value {
    serde_json::from_str(V1_DEFAULTS).expect("share_v1_defaults.json is valid JSON (tested)")
}

/// The keys that select a variant of a tagged enum: an object is pruned or filled against a
/// default only when these agree (a YaRN block is never filled from a linear default).
const TAGS: [&str; 5] = ["method", "pattern", "task", "kind", "mode"];

fn tags_agree(v: &Map<String, Value>, d: &Map<String, Value>) -> bool {
    TAGS.iter().all(|t| match (v.get(*t), d.get(*t)) {
        (Some(a), Some(b)) => a == b,
        (None, None) => true,
        // Absent in the value: pruned because equal to the default.
        (None, Some(_)) => true,
        (Some(_), None) => false,
    })
}

/// Removes from `v` every member equal to the same member of `d` (recursively).
fn prune(v: &mut Value, d: &Value) {
    let (Value::Object(vo), Value::Object(dobj)) = (v, d) else { return };
    if !tags_agree(vo, dobj) {
        return;
    }
    // Tags stay: they say which default the rest is filled from.
    vo.retain(|k, x| TAGS.contains(&k.as_str()) || dobj.get(k) != Some(x));
    for (k, x) in vo.iter_mut() {
        if let Some(dx) = dobj.get(k) {
            prune(x, dx);
        }
    }
}

/// Adds to `v` every member of `d` it lacks (recursively): the inverse of [`prune`].
fn fill(v: &mut Value, d: &Value) {
    let (Value::Object(vo), Value::Object(dobj)) = (v, d) else { return };
    if !tags_agree(vo, dobj) {
        return;
    }
    for (k, dx) in dobj {
        match vo.get_mut(k) {
            Some(x) => fill(x, dx),
            None => {
                vo.insert(k.clone(), dx.clone());
            }
        }
    }
}

/// Applies `op` (prune or fill) to every part of a link's JSON that has defaults.
fn each_part(state: &mut Value, defaults: &Value, op: fn(&mut Value, &Value)) {
    let experiment = &defaults["experiment"];
    let Some(o) = state.as_object_mut() else { return };
    for key in ["a", "b"] {
        if let Some(e) = o.get_mut(key) {
            op(e, experiment);
        }
    }
    let Some(sweep) = o.get_mut("sweep").and_then(Value::as_object_mut) else { return };
    if let Some(Value::Array(experiments)) = sweep.get_mut("experiments") {
        for e in experiments.iter_mut() {
            if let Some(x) = e.get_mut("experiment") {
                op(x, experiment);
            }
        }
    }
    if let Some(Value::Array(tasks)) = sweep.get_mut("tasks") {
        for t in tasks.iter_mut() {
            let family = t.pointer("/task/task").and_then(Value::as_str).map(str::to_string);
            if let (Some(task), Some(family)) = (t.get_mut("task"), family) {
                if let Some(d) = defaults["tasks"].get(&family) {
                    op(task, d);
                }
            }
        }
    }
    let mut sweep_value = Value::Object(std::mem::take(sweep));
    op(&mut sweep_value, &defaults["sweep"]);
    if let Value::Object(m) = sweep_value {
        *sweep = m;
    }
}

impl SharedState {
    /// Bounds every value a link carries beyond what the types check (see the module docs).
    pub fn validate(&self) -> Result<()> {
        if let Some(m) = &self.model {
            if m.name.as_ref().is_some_and(|n| n.chars().count() > 200) {
                return Err(bad("the model name is over 200 characters".into()));
            }
            if let Some(url) = &m.url {
                check_model_url(url)?;
            }
            if m.bytes == 0 || m.bytes > 64 << 30 {
                return Err(bad(format!("a model of {} bytes is not plausible", m.bytes)));
            }
            if !is_sha256(&m.sha256) {
                return Err(bad(format!("the model's sha256 \"{}\" is not 64 hex digits", shown(&m.sha256))));
            }
        }
        if let Some(v) = &self.view {
            if v.len() > 32 || !v.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
                return Err(bad(format!("\"{}\" is not a view name", shown(v))));
            }
        }
        if let Some(s) = &self.sweep {
            s.validate().map_err(|e| bad(format!("its sweep: {e}")))?;
            if s.name.chars().count() > 200 {
                return Err(bad("the sweep's name is over 200 characters".into()));
            }
        }
        if let Some(r) = &self.result {
            let Some(s) = &self.sweep else { return Err(bad("it records a result but no sweep".into())) };
            if !is_sha256(&r.hash) {
                return Err(bad(format!("the result hash \"{}\" is not 64 hex digits", shown(&r.hash))));
            }
            if r.engine.len() > 32 || r.backend.len() > 32 {
                return Err(bad("the recorded engine version or backend name is too long".into()));
            }
            let n = r.outcome_bytes()?.len();
            let cells = s.cells().len();
            if n != cells {
                return Err(bad(format!("it records {n} cell outcomes for a sweep of {cells} cells")));
            }
        }
        Ok(())
    }

    /// The fragment, `v1.…` (without the `#`).
    pub fn encode(&self) -> Result<String> {
        let mut v = serde_json::to_value(self).map_err(|e| bad(e.to_string()))?;
        each_part(&mut v, &defaults(), prune);
        let json = serde_json::to_vec(&v).map_err(|e| bad(e.to_string()))?;
        let deflated = miniz_oxide::deflate::compress_to_vec(&json, 10);
        Ok(format!("v{LINK_VERSION}.{}", URL_SAFE_NO_PAD.encode(deflated)))
    }

    /// `base` (a page URL, any fragment removed) with this state's fragment.
    pub fn url(&self, base: &str) -> Result<String> {
        let base = base.split('#').next().unwrap_or("");
        Ok(format!("{base}#{}", self.encode()?))
    }

    /// Reads a link: a whole URL, a fragment with or without `#`, or the bare `v1.…`. Every
    /// failure is an `InvalidInput` saying which layer was wrong.
    pub fn decode(link: &str) -> Result<Self> {
        let text = link.trim();
        if text.len() > MAX_LINK_CHARS {
            return Err(bad(format!("it is {} characters long; links are at most {MAX_LINK_CHARS}", text.len())));
        }
        let fragment = match text.find('#') {
            Some(i) => &text[i + 1..],
            None => text,
        };
        let Some((version, body)) = fragment.split_once('.') else {
            return Err(bad("it has no version (a ctxscope link's fragment starts with \"v1.\")".into()));
        };
        let version: u32 = match version.strip_prefix('v').map(str::parse) {
            Some(Ok(n)) => n,
            _ => return Err(bad(format!("\"{}\" is not a link version (expected \"v1\")", shown(version)))),
        };
        if version == 0 || version > LINK_VERSION {
            return Err(bad(format!(
                "version {version} is newer than this page reads (up to {LINK_VERSION}); open it with a newer ctxscope"
            )));
        }
        let deflated = URL_SAFE_NO_PAD
            .decode(body.trim_end_matches('='))
            .map_err(|e| bad(format!("its data is not base64url ({e}); was the link cut short?")))?;
        let json = miniz_oxide::inflate::decompress_to_vec_with_limit(&deflated, MAX_INFLATED_BYTES).map_err(|e| {
            match e.status {
                miniz_oxide::inflate::TINFLStatus::HasMoreOutput => bad(format!(
                    "its data expands past {} kB; refused (a decompression bomb, or not a ctxscope link)",
                    MAX_INFLATED_BYTES / 1024
                )),
                _ => bad("its data is not a deflate stream; was the link cut short or changed?".into()),
            }
        })?;
        let text = std::str::from_utf8(&json).map_err(|_| bad("its data is not UTF-8 text".into()))?;
        let mut value: Value = serde_json::from_str(text).map_err(|e| bad(format!("its data is not JSON: {e}")))?;
        if !value.is_object() {
            return Err(bad("its data is not a JSON object".into()));
        }
        each_part(&mut value, &defaults(), fill);
        let state: Self = serde_path_to_error::deserialize(value)
            .map_err(|e| bad(shown_long_error(&format!("{}: {}", e.path(), e.inner()))))?;
        state.validate()?;
        Ok(state)
    }

    /// This state as a JSON file ([`LinkFile`]).
    pub fn to_file(&self) -> String {
        serde_json::to_string_pretty(&LinkFile {
            schema: LINK_FILE_SCHEMA.into(),
            version: LINK_VERSION,
            state: self.clone(),
        })
        .unwrap_or_default()
    }

    /// Reads a link file, checked as a link is.
    pub fn from_file(text: &str) -> Result<Self> {
        if text.len() > MAX_INFLATED_BYTES {
            return Err(bad(format!("the link file is {} bytes; at most {MAX_INFLATED_BYTES}", text.len())));
        }
        let mut de = serde_json::Deserializer::from_str(text);
        let f: LinkFile = serde_path_to_error::deserialize(&mut de)
            .map_err(|e| bad(format!("not a link file: {}: {}", e.path(), shown_long_error(&e.inner().to_string()))))?;
        if f.schema != LINK_FILE_SCHEMA {
            return Err(bad(format!("schema \"{}\" is not \"{LINK_FILE_SCHEMA}\"", shown(&f.schema))));
        }
        if f.version == 0 || f.version > LINK_VERSION {
            return Err(bad(format!("link file version {} is newer than this page reads", f.version)));
        }
        f.state.validate()?;
        Ok(f.state)
    }
}

/// serde's messages quote the offending value; keep them, but bounded and without control
/// characters.
fn shown_long_error(s: &str) -> String {
    let s: String = s.chars().take(300).map(|c| if c.is_control() { ' ' } else { c }).collect();
    s
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A model URL must be http(s) or a relative path: never `javascript:`, `data:` or `file:`.
fn check_model_url(url: &str) -> Result<()> {
    let lower = url.trim().to_ascii_lowercase();
    let scheme = lower.split_once(':').map(|(s, _)| s).filter(|s| !s.contains('/'));
    let ok = match scheme {
        Some("http" | "https") => true,
        Some(_) => false,
        None => !lower.starts_with("//"),
    };
    if !ok || url.len() > 2048 || url.chars().any(char::is_control) {
        return Err(bad(format!("the model URL \"{}\" is not an http(s) or relative address", shown(url))));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probes::sweep::{NamedExperiment, NamedTask, SWEEP_VERSION};
    use crate::probes::tasks::Task;

    /// The frozen v1 defaults are today's defaults; if this fails, a default changed: add
    /// share_v2_defaults.json and LINK_VERSION 2, and keep v1 decoding with its file.
    #[test]
    fn frozen_defaults_equal_todays() {
        let d = defaults();
        assert_eq!(d["experiment"], serde_json::to_value(Experiment::default()).unwrap());
        let minimal: SweepConfig = serde_json::from_value(
            serde_json::json!({"version": SWEEP_VERSION, "name": "", "tasks": [], "lengths": []}),
        )
        .unwrap();
        let mut sweep = serde_json::to_value(&minimal).unwrap();
        for k in ["name", "tasks", "lengths"] {
            sweep.as_object_mut().unwrap().remove(k);
        }
        assert_eq!(d["sweep"], sweep);
        for (family, task) in d["tasks"].as_object().unwrap() {
            let today: Task = serde_json::from_value(serde_json::json!({ "task": family })).unwrap();
            assert_eq!(*task, serde_json::to_value(today).unwrap(), "{family}");
        }
        assert_eq!(d["tasks"].as_object().unwrap().len(), 7);
    }

    fn sample() -> SharedState {
        let yarn = Experiment {
            rope: serde_json::from_value(serde_json::json!({"method": "yarn", "factor": 4.0})).unwrap(),
            ..Experiment::default()
        };
        let sweep = SweepConfig {
            version: SWEEP_VERSION,
            name: "playground sweep".into(),
            tasks: vec![NamedTask { name: "passkey".into(), task: Task::Passkey }],
            experiments: vec![
                NamedExperiment { name: "A".into(), experiment: Experiment::default() },
                NamedExperiment { name: "B".into(), experiment: yarn },
            ],
            lengths: vec![128, 256],
            depths: crate::probes::sweep::Depths::List(vec![0.25, 0.75]),
            seeds: 1,
            seed_base: 0,
            haystack: Default::default(),
            scoring: Default::default(),
            entropy_layer: None,
        };
        SharedState {
            model: Some(SharedModel {
                name: Some("SmolLM2".into()),
                url: Some("models/m.gguf".into()),
                bytes: 98346240,
                sha256: "ab".repeat(32),
            }),
            view: Some("recall".into()),
            a: None,
            b: None,
            sweep: Some(sweep),
            result: Some(SharedResult {
                engine: "0.1.0".into(),
                backend: "cpu".into(),
                hash: "cd".repeat(32),
                outcomes: URL_SAFE_NO_PAD.encode([1u8, 253, 0, 255, 1, 1, 1, 1]),
            }),
        }
    }

    #[test]
    fn round_trip_keeps_everything_and_leaves_defaults_out() {
        let s = sample();
        let link = s.encode().unwrap();
        assert!(link.starts_with("v1."));
        assert_eq!(SharedState::decode(&link).unwrap(), s);
        assert_eq!(SharedState::decode(&format!("https://x.org/app/?q=1#{link}")).unwrap(), s);
        // Defaults are left out of the JSON.
        let mut v = serde_json::to_value(&s).unwrap();
        each_part(&mut v, &defaults(), prune);
        let json = v.to_string();
        for absent in ["\"precision\"", "\"key_cache\"", "\"seed_base\"", "\"haystack\"", "\"scoring\""] {
            assert!(!json.contains(absent), "{absent} in {json}");
        }
        assert!(json.contains("\"yarn\""));
        assert_eq!(SharedState::from_file(&s.to_file()).unwrap(), s);
    }

    #[test]
    fn empty_state_is_short() {
        let link = SharedState::default().encode().unwrap();
        assert!(link.len() < 16, "{link}");
        assert_eq!(SharedState::decode(&link).unwrap(), SharedState::default());
    }

    #[test]
    fn outcome_bytes_separate_counts() {
        assert_eq!(outcome_byte(true, 1.0), 253);
        assert_eq!(outcome_byte(false, 0.0), 0);
        // k/n for n ≤ 126 never collide.
        for n in 1..=126u32 {
            let bytes: Vec<u8> = (0..=n).map(|k| outcome_byte(false, k as f64 / n as f64)).collect();
            assert!(bytes.windows(2).all(|w| w[0] < w[1]), "n = {n}");
        }
        assert_eq!(outcome_byte(true, f64::NAN), 1);
    }

    /// Measured link lengths (docs/share-links.md quotes them): `cargo test -p ctxscope-engine
    /// share::tests::typical -- --nocapture`.
    #[test]
    fn typical_links_are_short() {
        let base = "https://example.org/ctxscope/";
        let defaults = SharedState::default().url(base).unwrap().len();
        let sample = sample().url(base).unwrap().len();
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/results/niah-grid-h200.json");
        let results: SweepResults = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let grid = SharedState {
            model: Some(SharedModel {
                name: results.model.name.clone(),
                url: Some("models/smollm2-135m-instruct-q4_1.gguf".into()),
                bytes: results.model.file_bytes,
                sha256: results.model.sha256.clone(),
            }),
            view: Some("recall".into()),
            sweep: Some(results.config.clone()),
            result: Some(SharedResult::of(&results)),
            ..Default::default()
        };
        let grid_link = grid.url(base).unwrap();
        assert_eq!(SharedState::decode(&grid_link).unwrap(), grid);
        println!("link lengths with base {base} ({} chars): defaults {defaults}, passkey A/B 2×2 with result {sample}, H200 NIAH grid (270 cells, 3 experiments) with result {}", base.len(), grid_link.len());
        assert!(sample < LINK_COMFORT_CHARS && grid_link.len() < LINK_COMFORT_CHARS);
    }

    fn link_of(json: &str) -> String {
        format!("v1.{}", URL_SAFE_NO_PAD.encode(miniz_oxide::deflate::compress_to_vec(json.as_bytes(), 6)))
    }

    /// Each layer of a bad link gets its own message, and nothing panics.
    #[test]
    fn hostile_links_are_refused_with_the_reason() {
        let cases: Vec<(String, &str)> = vec![
            ("".into(), "no version"),
            ("v2.AAAA".into(), "newer"),
            ("vx.AAAA".into(), "not a link version"),
            ("v1.@@@@".into(), "base64url"),
            ("v1.AAAA".into(), "deflate"),
            (link_of("[1,2]"), "not a JSON object"),
            (link_of("{\"x\":1}"), "unknown field"),
            (link_of("{"), "not JSON"),
            (link_of("{\"sweep\":{\"version\":1,\"name\":\"x\",\"tasks\":[{\"name\":\"p\",\"task\":{\"task\":\"passkey\"}}],\"lengths\":[1000000000]}}"), "tokens"),
            (link_of("{\"sweep\":{\"version\":1,\"name\":\"x\",\"tasks\":[{\"name\":\"p\",\"task\":{\"task\":\"passkey\"}}],\"lengths\":[128],\"seeds\":1000000}}"), "cells"),
            (link_of("{\"sweep\":{\"version\":1,\"name\":\"x\",\"tasks\":[{\"name\":\"p\",\"task\":{\"task\":\"passkey\"}}],\"lengths\":[128],\"seed_base\":-1}}"), "seed_base"),
            (link_of("{\"model\":{\"url\":\"javascript:alert(1)\",\"bytes\":1,\"sha256\":\"00\"}}"), "model URL"),
            (link_of(&format!("{{\"model\":{{\"bytes\":1,\"sha256\":\"{}\"}}}}", "Z".repeat(64))), "hex"),
            (link_of("{\"view\":\"<script>alert(1)</script>\"}"), "view name"),
            (link_of("{\"result\":{\"engine\":\"0\",\"backend\":\"cpu\",\"hash\":\"x\",\"outcomes\":\"\"}}"), "no sweep"),
        ];
        for (link, expect) in cases {
            let e = SharedState::decode(&link).unwrap_err().to_string();
            assert!(e.contains(expect), "{link}: {e}");
        }
        // A decompression bomb: 100 MB of zeros deflates to ~100 kB, over the fragment limit;
        // one that fits the fragment but expands past the output limit is stopped there.
        let bomb = link_of(&" ".repeat(4 * MAX_INFLATED_BYTES));
        assert!(bomb.len() < MAX_LINK_CHARS, "{}", bomb.len());
        assert!(SharedState::decode(&bomb).unwrap_err().to_string().contains("expands past"));
    }

    /// A generated corpus of malformed links: truncations, bit flips and splices of a valid link,
    /// and random text. None panics; each is either refused with a message or decodes to a state
    /// that passes validation.
    #[test]
    fn malformed_link_corpus_never_panics() {
        let good = sample().encode().unwrap();
        let mut rng = crate::rng::SplitMix64(7);
        let mut corpus: Vec<String> = Vec::new();
        for cut in 0..good.len() {
            corpus.push(good[..cut].to_string());
        }
        let bytes = good.as_bytes();
        for _ in 0..400 {
            let mut b = bytes.to_vec();
            let i = 3 + (rng.next_u64() as usize) % (b.len() - 3);
            b[i] =
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=.#%"[(rng.next_u64() % 68) as usize];
            corpus.push(String::from_utf8(b).unwrap());
        }
        for _ in 0..200 {
            let n = (rng.next_u64() % 300) as usize;
            let raw: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
            corpus.push(format!("v1.{}", URL_SAFE_NO_PAD.encode(&raw)));
            corpus.push(link_of(&String::from_utf8_lossy(&raw)));
        }
        assert!(corpus.len() >= 500);
        let mut refused = 0;
        for link in &corpus {
            match SharedState::decode(link) {
                Ok(s) => s.validate().unwrap(),
                Err(e) => {
                    assert!(
                        e.to_string().starts_with("invalid input: share link:")
                            || e.to_string().contains("share link:"),
                        "{e}"
                    );
                    refused += 1;
                }
            }
        }
        assert!(refused > corpus.len() / 2, "{refused} of {}", corpus.len());
    }
}
