//! Attention rows opened from a file: the Attention view's own JSON export, or the output of
//! `ctxscope score --attention-row L,H,P` from a GPU box. Everything in the file is untrusted:
//! shapes, finiteness and sums are checked before anything is drawn.

use ctxscope_engine::experiment::Experiment;
use ctxscope_engine::trace::{AttentionMap, MAX_MAP_FLOATS};
use serde::Deserialize;

/// Largest file opened (a 4k-token full map in JSON is about 100 MB).
pub const MAX_BYTES: usize = 256 << 20;

/// An opened attention document.
#[derive(Debug, Clone, PartialEq)]
pub struct AttentionDoc {
    pub map: AttentionMap,
    pub experiment: Experiment,
    pub backend: String,
    /// Key tokens as text; empty strings where the file has none.
    pub tokens: Vec<String>,
}

#[derive(Deserialize)]
struct Export {
    experiment: Option<Experiment>,
    backend: Option<String>,
    map: AttentionMap,
    #[serde(default)]
    tokens: Vec<String>,
}

#[derive(Deserialize)]
struct CliRow {
    layer: usize,
    head: usize,
    position: usize,
    probs: Option<Vec<f32>>,
    #[serde(default)]
    tokens: Vec<String>,
}

#[derive(Deserialize)]
struct CliScore {
    attention_row: CliRow,
    experiment: Option<Experiment>,
    backend: Option<String>,
}

/// Parses and checks `text`.
///
/// Errors: a message for people — too large, not JSON of either form, rows of the wrong
/// length, weights that are negative, not finite, or rows that do not sum to 1 (± 0.01).
pub fn parse(text: &str) -> Result<AttentionDoc, String> {
    if text.len() > MAX_BYTES {
        return Err(format!(
            "the file is {} MB; ctxscope opens attention files up to {} MB",
            text.len() >> 20,
            MAX_BYTES >> 20
        ));
    }
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let doc = if value.get("map").is_some() {
        let e: Export = serde_json::from_value(value).map_err(|e| format!("not an attention export: {e}"))?;
        AttentionDoc {
            map: e.map,
            experiment: e.experiment.unwrap_or_default(),
            backend: e.backend.unwrap_or_else(|| "?".into()),
            tokens: e.tokens,
        }
    } else if value.get("attention_row").is_some() {
        let c: CliScore =
            serde_json::from_value(value).map_err(|e| format!("not a `ctxscope score --attention-row` output: {e}"))?;
        let r = c.attention_row;
        let probs = r.probs.ok_or("the attention row was never captured (its position did not run)")?;
        let map = AttentionMap { layer: r.layer, head: r.head, first: r.position, count: 1, rows: vec![probs] };
        AttentionDoc {
            map,
            experiment: c.experiment.unwrap_or_default(),
            backend: c.backend.unwrap_or_else(|| "?".into()),
            tokens: r.tokens,
        }
    } else {
        return Err("neither an attention export (a \"map\") nor a `ctxscope score --attention-row` output (an \"attention_row\")".into());
    };
    check(&doc.map)?;
    let keys = doc.map.first + doc.map.count;
    let mut doc = doc;
    if doc.tokens.len() != keys {
        // Token labels that do not match the keys are dropped, not trusted.
        doc.tokens = vec![String::new(); keys];
    }
    Ok(doc)
}

fn check(map: &AttentionMap) -> Result<(), String> {
    if map.count == 0 || map.rows.len() != map.count {
        return Err(format!("the map says {} rows but holds {}", map.count, map.rows.len()));
    }
    let floats =
        map.first.checked_add(map.count).and_then(|_| map.rows.iter().try_fold(0usize, |a, r| a.checked_add(r.len())));
    if floats.is_none_or(|f| f > MAX_MAP_FLOATS) {
        return Err(format!("the map holds more than {MAX_MAP_FLOATS} weights"));
    }
    for (i, row) in map.rows.iter().enumerate() {
        let q = map.first + i;
        if row.len() != q + 1 {
            return Err(format!(
                "row {i} (query {q}) has {} weights; a query at position {q} has {}",
                row.len(),
                q + 1
            ));
        }
        if let Some((j, p)) = row.iter().enumerate().find(|(_, p)| !p.is_finite() || **p < 0.0) {
            return Err(format!("query {q}, key {j}: weight {p} is not a probability"));
        }
        let sum: f64 = row.iter().map(|&p| p as f64).sum();
        if (sum - 1.0).abs() > 1e-2 {
            return Err(format!("query {q}: the weights sum to {sum:.4}, not 1"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(n: usize) -> Vec<f32> {
        vec![1.0 / n as f32; n]
    }

    #[test]
    fn the_views_export_and_the_clis_output_open() {
        let export = serde_json::json!({ "backend": "gpu", "map": { "layer": 1, "head": 2, "first": 3, "count": 2, "rows": [row(4), row(5)] }, "tokens": ["a", "b", "c", "d", "e"] });
        let doc = parse(&export.to_string()).unwrap();
        assert_eq!(
            (doc.map.layer, doc.map.head, doc.map.rows.len(), doc.tokens[4].as_str(), doc.backend.as_str()),
            (1, 2, 2, "e", "gpu")
        );
        let cli = serde_json::json!({ "logprobs": [], "backend": "cpu", "attention_row": { "layer": 0, "head": 1, "position": 2, "probs": row(3), "tokens": ["x", "y", "z"] } });
        let doc = parse(&cli.to_string()).unwrap();
        assert_eq!(
            (doc.map.first, doc.map.count, doc.tokens.clone()),
            (2, 1, vec!["x".to_string(), "y".into(), "z".into()])
        );
    }

    #[test]
    fn hostile_files_are_refused_with_the_reason() {
        let bad = |map: serde_json::Value| parse(&serde_json::json!({ "map": map }).to_string()).unwrap_err();
        assert!(bad(serde_json::json!({ "layer": 0, "head": 0, "first": 0, "count": 2, "rows": [row(1)] }))
            .contains("holds 1"));
        assert!(bad(serde_json::json!({ "layer": 0, "head": 0, "first": 5, "count": 1, "rows": [row(3)] }))
            .contains("has 3 weights"));
        assert!(bad(serde_json::json!({ "layer": 0, "head": 0, "first": 1, "count": 1, "rows": [[0.5, -0.5]] }))
            .contains("not a probability"));
        assert!(bad(serde_json::json!({ "layer": 0, "head": 0, "first": 1, "count": 1, "rows": [[0.5, 0.2]] }))
            .contains("sum to"));
        assert!(bad(serde_json::json!({ "layer": 0, "head": 0, "first": usize::MAX, "count": 1, "rows": [[1.0]] }))
            .contains("more than"));
        assert!(parse("{\"attention_row\": {\"layer\": 0, \"head\": 0, \"position\": 9, \"probs\": null}}")
            .unwrap_err()
            .contains("never captured"));
        assert!(parse("[1, 2]").unwrap_err().contains("neither"));
        assert!(parse("{").unwrap_err().starts_with("not JSON"));
        // Mismatched token labels are dropped.
        let doc = parse(&serde_json::json!({ "map": { "layer": 0, "head": 0, "first": 1, "count": 1, "rows": [row(2)] }, "tokens": ["only one"] }).to_string()).unwrap();
        assert_eq!(doc.tokens, vec![String::new(), String::new()]);
    }
}
