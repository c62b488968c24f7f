//! CPU reference forward pass: internal consistency on tiny random models (KV cache,
//! query chunking, GQA layouts, quant types) — the HF comparison lives in `real_model_hf.rs`.

mod common;

use candle_core::quantized::GgmlDType;
use common::TinyLlama;
use ctxscope_engine::{Engine, ModelFile};

fn tokens(n: usize, vocab: u32, seed: u64) -> Vec<u32> {
    common::random_values(seed, n, 1.0).iter().map(|x| ((x + 1.0) * 0.5 * (vocab - 1) as f32) as u32).collect()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Logits of every position, from one forward pass.
fn one_pass(model: &Engine, ids: &[u32]) -> Vec<Vec<f32>> {
    let rows: Vec<usize> = (0..ids.len()).collect();
    model.session(ids.len()).unwrap().forward_blocking(ids, &rows).unwrap()
}

fn cpu(bytes: Vec<u8>) -> Engine {
    Engine::cpu(&ModelFile::from_bytes(bytes).unwrap()).unwrap()
}

#[test]
fn incremental_decoding_matches_one_pass() {
    for (heads, kv_heads) in [(4, 2), (4, 4), (4, 1)] {
        let tiny = TinyLlama { heads, kv_heads, ..TinyLlama::default() };
        let model = cpu(tiny.to_gguf());
        let ids = tokens(40, 250, heads as u64 * 10 + kv_heads as u64);
        let full = one_pass(&model, &ids);
        let mut session = model.session(400).unwrap();
        // A prefix in one call, then token by token, then a short chunk.
        let mut got = session.forward_blocking(&ids[..17], &(0..17).collect::<Vec<_>>()).unwrap();
        for &t in &ids[17..30] {
            got.extend(session.forward_blocking(&[t], &[0]).unwrap());
        }
        got.extend(session.forward_blocking(&ids[30..], &(0..10).collect::<Vec<_>>()).unwrap());
        assert_eq!(session.position(), 40);
        for (i, (a, b)) in full.iter().zip(&got).enumerate() {
            let d = max_abs_diff(a, b);
            assert!(d < 1e-4, "heads {heads}/{kv_heads}, position {i}: max |Δlogit| {d}");
        }
    }
}

#[test]
fn query_chunking_does_not_change_results() {
    // 300 tokens cross the 256-query chunk boundary of the attention.
    let model = cpu(TinyLlama::default().to_gguf());
    let ids = tokens(300, 250, 99);
    let full = one_pass(&model, &ids);
    let mut session = model.session(400).unwrap();
    let first = session.forward_blocking(&ids[..200], &[199]).unwrap();
    let rest = session.forward_blocking(&ids[200..], &(0..100).collect::<Vec<_>>()).unwrap();
    assert!(max_abs_diff(&full[199], &first[0]) < 1e-4);
    for i in 0..100 {
        assert!(max_abs_diff(&full[200 + i], &rest[i]) < 1e-4, "position {}", 200 + i);
    }
}

#[test]
fn causality_future_tokens_do_not_change_past_logits() {
    let model = cpu(TinyLlama::default().to_gguf());
    let mut ids = tokens(24, 250, 5);
    let before = one_pass(&model, &ids);
    ids[20] = (ids[20] + 1) % 250;
    let after = one_pass(&model, &ids);
    for i in 0..20 {
        assert!(max_abs_diff(&before[i], &after[i]) < 1e-5, "position {i} saw a future token");
    }
    assert!(max_abs_diff(&before[20], &after[20]) > 1e-3, "position 20 must depend on its own token");
}

#[test]
fn every_supported_weight_type_runs_and_agrees_with_f32() {
    let reference = TinyLlama { weight_type: GgmlDType::F32, embedding_type: GgmlDType::F32, ..TinyLlama::default() };
    let ids = tokens(12, 250, 3);
    let f32_logits = one_pass(&cpu(reference.to_gguf()), &ids);
    // Same random weights, quantized: logits move only by quantization error. Logits here span
    // about 35; measured max |Δ|: F16 0.012, Q8_0 0.29, Q4_0 3.9, Q4_1 4.3 (random weights
    // amplify 4-bit error; the real model's Q4_1/Q8_0 path is checked exactly against HF).
    for (dtype, tol) in [(GgmlDType::F16, 0.05), (GgmlDType::Q8_0, 0.6), (GgmlDType::Q4_0, 6.0), (GgmlDType::Q4_1, 6.0)]
    {
        let tiny = TinyLlama { weight_type: dtype, embedding_type: dtype, ..reference.clone() };
        let quant_logits = one_pass(&cpu(tiny.to_gguf()), &ids);
        assert!(quant_logits.iter().flatten().all(|x| x.is_finite()), "{dtype:?}");
        let d = max_abs_diff(&f32_logits[11], &quant_logits[11]);
        assert!(d < tol, "{dtype:?}: max |Δlogit| {d}");
    }
}

#[test]
fn out_of_vocabulary_tokens_and_bad_rows_are_errors() {
    let model = cpu(TinyLlama::default().to_gguf());
    let err = model.session(8).unwrap().forward_blocking(&[5, 100_000], &[1]).unwrap_err();
    assert!(err.to_string().contains("outside the vocabulary"), "{err}");
    let err = model.session(8).unwrap().forward_blocking(&[5, 6], &[2]).unwrap_err();
    assert!(err.to_string().contains("logit row 2"), "{err}");
    assert!(model.session(8).unwrap().forward_blocking(&[], &[]).is_err());
}

/// A length-dependent method must give, at every step of incremental decoding, what one pass
/// over the sequence so far gives at its last position. With several layers only recomputing the cache does (the
/// default): re-rotating pre-RoPE keys leaves every V and the deeper layers' K computed under the
/// old frequencies, and HF's post-RoPE cache keeps even the first layer's keys stale.
#[test]
fn recompute_is_exact_where_re_rotation_is_not() {
    use ctxscope_engine::experiment::{Experiment, KeyCache};
    use ctxscope_engine::rope::RopeMethod;

    let mut model = cpu(TinyLlama { layers: 3, ..TinyLlama::default() }.to_gguf());
    let ids = tokens(60, 250, 21);
    let short: Vec<f64> = vec![1.0; 8];
    let long: Vec<f64> = (0..8).map(|k| 1.0 + 15.0 * k as f64 / 7.0).collect();
    let methods = [
        RopeMethod::Dynamic { factor: 4.0, original_ctx: Some(16) },
        RopeMethod::LongRope {
            short_factor: short,
            long_factor: long,
            factor: 1.0,
            original_ctx: Some(40),
            attention_factor: None,
        },
    ];
    for rope in methods {
        let mut gaps = Vec::new();
        for key_cache in [KeyCache::Recompute, KeyCache::PreRope, KeyCache::PostRope] {
            model.set_experiment(&Experiment { rope: rope.clone(), key_cache, ..Experiment::default() }).unwrap();
            let mut session = model.session(60).unwrap();
            session.forward_blocking(&ids[..12], &[]).unwrap();
            let mut gap = 0.0f32;
            for n in 13..=60 {
                let step = session.forward_blocking(&ids[n - 1..n], &[0]).unwrap();
                let reference = one_pass(&model, &ids[..n]);
                gap = gap.max(max_abs_diff(&step[0], &reference[n - 1]));
            }
            gaps.push(gap);
        }
        let name = rope.name();
        assert!(gaps[0] < 1e-4, "{name}: recompute differs from one pass by {}", gaps[0]);
        assert!(gaps[1] > 1e-3, "{name}: re-rotation alone was expected to drift ({})", gaps[1]);
        assert!(gaps[2] > gaps[1], "{name}: post-RoPE ({}) should drift more than pre-RoPE ({})", gaps[2], gaps[1]);
    }
}

/// A non-finite logit never leaves the engine as a result: degenerate parameters are refused up
/// front, and arithmetic that still overflows is an error naming the experiment.
#[test]
fn non_finite_results_are_errors() {
    use ctxscope_engine::experiment::Experiment;
    use ctxscope_engine::rope::RopeMethod;
    use ctxscope_engine::Error;

    let mut model = cpu(TinyLlama::default().to_gguf());
    for rope in [
        RopeMethod::Eabf { base: 5e5, log_n_ctx: Some(1), exempt_layers: 2 },
        RopeMethod::Rerope { window: 8, log_n: true, log_n_ctx: Some(1) },
        RopeMethod::SelfExtend { group_size: 2, neighbor_window: 8, log_n_ctx: Some(0) },
    ] {
        let err = model.set_experiment(&Experiment { rope, ..Experiment::default() }).unwrap_err();
        assert!(err.to_string().contains("log_n_ctx must be at least 2"), "{err}");
    }
    let err = model
        .set_experiment(&Experiment { rope: RopeMethod::Linear { factor: 1e-300 }, ..Experiment::default() })
        .unwrap_err();
    assert!(err.to_string().contains("RoPE frequency of inf"), "{err}");
    // Weights that overflow f32: the forward pass reports it instead of returning NaN.
    let huge = cpu(TinyLlama {
        weight_type: candle_core::quantized::GgmlDType::F32,
        weight_scale: 1e30,
        ..TinyLlama::default()
    }
    .to_gguf());
    let err = huge.session(8).unwrap().forward_blocking(&[5, 6, 7], &[2]).unwrap_err();
    assert!(matches!(err, Error::NonFinite { .. }), "{err}");
    assert!(err.to_string().contains("non-finite logits"), "{err}");
}

/// A map whose rows straddle the CPU's 256-query chunk equals single-row captures, and a map
/// asked for after its positions ran stays empty instead of misaligning rows.
#[test]
fn attention_map_rows_cross_query_chunks() {
    let model = cpu(TinyLlama::default().to_gguf());
    let ids = tokens(300, 250, 5);
    let capture = |rows: std::ops::Range<usize>| {
        let mut session = model.session(300).unwrap();
        session.capture_attention_map(1, 0, rows).unwrap();
        session.forward_blocking(&ids, &[]).unwrap();
        session.attention_map().unwrap().clone()
    };
    let map = capture(250..262);
    assert!(map.is_complete());
    for position in [250, 255, 256, 261] {
        let single = capture(position..position + 1);
        assert_eq!(single.rows[0], map.row(position).unwrap().probs.unwrap(), "position {position}");
    }
    let mut session = model.session(300).unwrap();
    session.forward_blocking(&ids[..10], &[]).unwrap();
    session.capture_attention_map(0, 0, 5..20).unwrap();
    session.forward_blocking(&ids[10..], &[]).unwrap();
    assert!(session.attention_map().unwrap().rows.is_empty());
}

#[test]
fn prefix_reuse_matches_a_fresh_pass() {
    let mut model = cpu(TinyLlama::default().to_gguf());
    common::check_prefix_reuse(&mut model, 1e-4);
}
