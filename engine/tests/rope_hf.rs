//! RoPE frequency tables against HF transformers' (`shared/testdata/hf-devset.json`).

mod common;

use ctxscope_engine::rope::methods::{RopeBaseline, RopeContext};
use ctxscope_engine::rope::{RopeFrequencies, RopeMethod};

fn table(devset: &serde_json::Value, variant: &str, key: &str) -> Vec<f64> {
    devset["rope_tables"][variant][key].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect()
}

fn assert_table(got: &RopeFrequencies, hf: &[f64], hf_scaling: f64, what: &str) {
    assert_eq!(got.inv_freq.len(), hf.len(), "{what}");
    for (k, (a, b)) in got.inv_freq.iter().zip(hf).enumerate() {
        let rel = ((*a as f64 - b) / b).abs();
        assert!(rel < 1e-6, "{what}: pair {k}: ours {a} vs HF {b} (relative {rel:.2e})");
    }
    assert!((got.attention_scaling as f64 - hf_scaling).abs() < 1e-6, "{what}: attention scaling");
}

#[test]
fn every_variant_matches_hf_at_every_recorded_length() {
    let devset = common::devset();
    let cx = RopeContext { base: 100_000.0, head_dim: 64, trained_ctx: 8192, baseline: RopeBaseline::STANDARD };
    let variants = [
        ("default", RopeMethod::Default),
        ("linear4", RopeMethod::Linear { factor: 4.0 }),
        ("dynamic4", RopeMethod::Dynamic { factor: 4.0, original_ctx: None }),
        (
            "yarn4",
            RopeMethod::Yarn {
                factor: 4.0,
                original_ctx: None,
                beta_fast: 32.0,
                beta_slow: 1.0,
                attention_factor: None,
            },
        ),
        (
            "llama3_8",
            RopeMethod::Llama3 { factor: 8.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_ctx: None },
        ),
    ];
    let l = cx.trained_ctx;
    for (name, scaling) in variants {
        let hf_scaling = devset["rope_tables"][name]["attention_scaling"].as_f64().unwrap();
        for (key, seq_len) in
            [("inv_freq", l), ("inv_freq_at_seq_len_9000", 9000), ("inv_freq_at_seq_len_20000", 20_000)]
        {
            assert_table(
                &scaling.frequencies(&cx, seq_len),
                &table(&devset, name, key),
                hf_scaling,
                &format!("{name} {key}"),
            );
        }
    }
}

#[test]
fn dynamic_ntk_changes_only_past_the_trained_context() {
    let cx = RopeContext { base: 100_000.0, head_dim: 64, trained_ctx: 8192, baseline: RopeBaseline::STANDARD };
    let dynamic = RopeMethod::Dynamic { factor: 4.0, original_ctx: None };
    let standard = RopeFrequencies::standard(100_000.0, 64);
    assert_eq!(dynamic.frequencies(&cx, 100).inv_freq, standard.inv_freq);
    assert_ne!(dynamic.frequencies(&cx, 9000).inv_freq, standard.inv_freq);
}
