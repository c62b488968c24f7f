//! RoPE tables against values computed independently in float64 with NumPy from the published
//! formulas (`tests/data/rope_reference.py` → `rope_reference.json`), to 1e-6 relative.

use ctxscope_engine::rope::methods::{RopeBaseline, RopeContext};
use ctxscope_engine::rope::RopeMethod;
use serde_json::Value;

fn reference() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/rope_reference.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("tests/data/rope_reference.json")).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

fn check(case: &Value, cx: &RopeContext, region: usize) {
    let name = case["name"].as_str().unwrap();
    let method: RopeMethod = serde_json::from_value(case["method"].clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
    method.validate(cx).unwrap();
    let seq_len = case["seq_len"].as_u64().unwrap() as usize;
    let freqs = &method.regions(cx, seq_len)[region].freqs;
    let expected = floats(&case["inv_freq"]);
    assert_eq!(freqs.inv_freq.len(), expected.len(), "{name}");
    for (k, (got, want)) in freqs.inv_freq.iter().zip(&expected).enumerate() {
        let rel = ((*got as f64 - want) / want).abs();
        assert!(rel < 1e-6, "{name}: pair {k}: {got} vs NumPy {want} (relative {rel:.2e})");
    }
    let scaling = case["attention_scaling"].as_f64().unwrap();
    assert!(((freqs.attention_scaling as f64 - scaling) / scaling).abs() < 1e-6, "{name}: attention scaling");
}

#[test]
fn every_frequency_table_matches_numpy() {
    let r = reference();
    let cx = RopeContext {
        base: r["base"].as_f64().unwrap(),
        head_dim: r["head_dim"].as_u64().unwrap() as usize,
        trained_ctx: r["trained_ctx"].as_u64().unwrap() as usize,
        baseline: RopeBaseline::STANDARD,
    };
    let cases = r["cases"].as_array().unwrap();
    assert!(cases.len() >= 14);
    for case in cases {
        check(case, &cx, 0);
    }
    for case in r["far_regions"].as_array().unwrap() {
        check(case, &cx, 1);
    }
}

#[test]
fn log_n_scales_match_numpy() {
    let r = reference();
    let cx = RopeContext { base: 1e5, head_dim: 64, trained_ctx: 8192, baseline: RopeBaseline::STANDARD };
    let eabf = RopeMethod::Eabf { base: 5e5, log_n_ctx: None, exempt_layers: 2 }.logit_scale(&cx);
    let rerope = RopeMethod::Rerope { window: 512, log_n: true, log_n_ctx: Some(4096) }.logit_scale(&cx);
    for (scale, key) in [(eabf, "eabf"), (rerope, "rerope_ctx4096")] {
        for pair in r["log_n_scales"][key].as_array().unwrap() {
            let (pos, want) = (pair[0].as_u64().unwrap() as usize, pair[1].as_f64().unwrap());
            let got = scale.factor(5, pos) as f64;
            assert!(((got - want) / want).abs() < 1e-6, "{key} at {pos}: {got} vs {want}");
        }
    }
}
