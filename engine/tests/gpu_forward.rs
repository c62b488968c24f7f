//! Whole-model GPU forward pass against the CPU reference (lavapipe in CI).

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use candle_core::quantized::GgmlDType;
use common::TinyLlama;
use ctxscope_engine::backend::{block_on, Interrupt};
use ctxscope_engine::experiment::{Experiment, KeyCache};
use ctxscope_engine::generate::generate_greedy;
use ctxscope_engine::gpu::{GpuContext, PrecisionKernels};
use ctxscope_engine::pattern::{AttentionPattern, MswaPreset, SinkPositions};
use ctxscope_engine::rope::{RopeMethod, RopePrecision};
use ctxscope_engine::score::{score, top_k};
use ctxscope_engine::{Engine, ModelFile, Session, TextTokenizer};

/// The exact f32 kernels (the tolerances below are f32's), whatever the device offers.
fn ctx() -> Arc<GpuContext> {
    let mut ctx =
        GpuContext::new_blocking().expect("GPU tests need an adapter (lavapipe: apt install mesa-vulkan-drivers)");
    ctx.set_precision_kernels(PrecisionKernels::F32);
    Arc::new(ctx)
}

/// A tiny model with head_dim 64, the size the GPU attention kernel is written for.
fn tiny(heads: usize, kv_heads: usize, seed: u64) -> TinyLlama {
    TinyLlama { d: 64 * heads, heads, kv_heads, seed, ..TinyLlama::default() }
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// GQA shapes, and one model whose V projection is stored in another format than Q and K (the
/// GPU stacks q/k/v into one matrix: mixed formats are stacked as f32).
#[test]
fn tiny_models_match_cpu_in_one_pass_and_incremental_decode() {
    let ctx = ctx();
    for (heads, kv_heads, seed, v_type) in [(4, 2, 1, None), (4, 4, 2, None), (4, 1, 3, Some(GgmlDType::Q8_0))] {
        let file = ModelFile::from_bytes(TinyLlama { v_type, ..tiny(heads, kv_heads, seed) }.to_gguf()).unwrap();
        let cpu = Engine::cpu(&file).unwrap();
        let gpu = Engine::gpu(ctx.clone(), &file).unwrap();
        let ids: Vec<u32> = (0..70).map(|i| (i * 37 + seed as u32) % 250).collect();
        let rows: Vec<usize> = (0..ids.len()).collect();
        let expected = cpu.session(80).unwrap().forward_blocking(&ids, &rows).unwrap();

        let mut one_pass = gpu.session(80).unwrap();
        let got = one_pass.forward_blocking(&ids, &rows).unwrap();
        for (i, (a, b)) in expected.iter().zip(&got).enumerate() {
            assert!(max_abs_diff(a, b) < 2e-3, "heads {heads}/{kv_heads} position {i}: {}", max_abs_diff(a, b));
        }

        let mut incremental = gpu.session(80).unwrap();
        let mut got = incremental.forward_blocking(&ids[..65], &(0..65).collect::<Vec<_>>()).unwrap();
        for &t in &ids[65..] {
            got.extend(incremental.forward_blocking(&[t], &[0]).unwrap());
        }
        for (i, (a, b)) in expected.iter().zip(&got).enumerate() {
            assert!(max_abs_diff(a, b) < 2e-3, "incremental, position {i}: {}", max_abs_diff(a, b));
        }
    }
}

/// Every RoPE method, attention pattern and precision mode of issue 4, with parameters scaled
/// to a 70-token sequence so each one changes the result (trained context taken as 32).
fn experiments() -> Vec<(&'static str, Experiment)> {
    let rope = |rope: RopeMethod| Experiment { rope, ..Experiment::default() };
    let attention = |attention: AttentionPattern| Experiment { attention, ..Experiment::default() };
    let ctx = Some(32);
    let short: Vec<f64> = (0..32).map(|k| 1.0 + 0.02 * k as f64).collect();
    let long: Vec<f64> = (0..32).map(|k| 1.0 + 0.25 * k as f64).collect();
    vec![
        ("default", Experiment::default()),
        ("linear", rope(RopeMethod::Linear { factor: 3.0 })),
        ("ntk", rope(RopeMethod::Ntk { factor: 4.0 })),
        ("dynamic", rope(RopeMethod::Dynamic { factor: 2.0, original_ctx: ctx })),
        (
            "yarn",
            rope(RopeMethod::Yarn {
                factor: 4.0,
                original_ctx: ctx,
                beta_fast: 32.0,
                beta_slow: 1.0,
                attention_factor: None,
            }),
        ),
        (
            "llama3",
            rope(RopeMethod::Llama3 { factor: 8.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_ctx: ctx }),
        ),
        (
            "longrope",
            rope(RopeMethod::LongRope {
                short_factor: short,
                long_factor: long,
                factor: 4.0,
                original_ctx: Some(64),
                attention_factor: None,
            }),
        ),
        ("abf", rope(RopeMethod::Abf { base: 1e6 })),
        ("eabf", rope(RopeMethod::Eabf { base: 5e5, log_n_ctx: Some(8), exempt_layers: 1 })),
        (
            "string",
            rope(RopeMethod::String {
                shifted_offset: Some(24),
                local_window: 4,
                attention_factor: None,
                reference_quirk: false,
            }),
        ),
        (
            "string-quirk",
            rope(RopeMethod::String {
                shifted_offset: Some(24),
                local_window: 4,
                attention_factor: None,
                reference_quirk: true,
            }),
        ),
        ("self-extend", rope(RopeMethod::SelfExtend { group_size: 3, neighbor_window: 9, log_n_ctx: Some(16) })),
        ("rerope", rope(RopeMethod::Rerope { window: 10, log_n: true, log_n_ctx: Some(16) })),
        ("leaky-rerope", rope(RopeMethod::LeakyRerope { window: 10, factor: 4.0, log_n: true, log_n_ctx: Some(16) })),
        ("window", attention(AttentionPattern::Window { window: 12 })),
        ("sinks-cache", attention(AttentionPattern::Sinks { sinks: 3, window: 10, positions: SinkPositions::Cache })),
        (
            "sinks-original",
            attention(AttentionPattern::Sinks { sinks: 3, window: 10, positions: SinkPositions::Original }),
        ),
        ("mswa", attention(AttentionPattern::mswa(16, MswaPreset::Paper))),
        ("bf16", Experiment { precision: RopePrecision::Bf16, ..Experiment::default() }),
        ("f16", Experiment { precision: RopePrecision::F16, ..Experiment::default() }),
        ("bf16-angles", Experiment { precision: RopePrecision::Bf16Angles, ..Experiment::default() }),
        (
            "yarn+sinks-original+f16-angles",
            Experiment {
                rope: RopeMethod::Yarn {
                    factor: 2.0,
                    original_ctx: ctx,
                    beta_fast: 32.0,
                    beta_slow: 1.0,
                    attention_factor: None,
                },
                attention: AttentionPattern::Sinks { sinks: 2, window: 16, positions: SinkPositions::Original },
                precision: RopePrecision::F16Angles,
                ..Experiment::default()
            },
        ),
    ]
}

/// Logits of a one-pass prefill, then of a 60-token prefill followed by 10 single-token steps.
fn one_pass_and_incremental(session: &mut Session, ids: &[u32]) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let rows: Vec<usize> = (0..ids.len()).collect();
    let one = session.forward_blocking(ids, &rows).unwrap();
    session.reset();
    let mut inc = session.forward_blocking(&ids[..60], &rows[..60]).unwrap();
    for &t in &ids[60..] {
        inc.extend(session.forward_blocking(&[t], &[0]).unwrap());
    }
    (one, inc)
}

#[test]
fn every_method_pattern_and_precision_matches_cpu() {
    let ctx = ctx();
    let file = ModelFile::from_bytes(tiny(4, 2, 11).to_gguf()).unwrap();
    let mut cpu = Engine::cpu(&file).unwrap();
    let mut gpu = Engine::gpu(ctx, &file).unwrap();
    let ids: Vec<u32> = (0..70).map(|i| (i * 41 + 5) % 250).collect();
    let (baseline, _) = one_pass_and_incremental(&mut cpu.session(80).unwrap(), &ids);
    for (name, e) in experiments() {
        cpu.set_experiment(&e).unwrap();
        gpu.set_experiment(&e).unwrap();
        let (cpu_one, cpu_inc) = one_pass_and_incremental(&mut cpu.session(80).unwrap(), &ids);
        let (gpu_one, gpu_inc) = one_pass_and_incremental(&mut gpu.session(70).unwrap(), &ids);
        // Low-precision modes round q and k: a 1e-6 difference upstream can flip a rounding.
        let tol = if e.precision == RopePrecision::F32 { 2e-3 } else { 2e-2 };
        for (what, a, b) in [("one pass", &cpu_one, &gpu_one), ("incremental", &cpu_inc, &gpu_inc)] {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                let d = max_abs_diff(x, y);
                assert!(d < tol, "{name} {what}, position {i}: GPU vs CPU max |Δlogit| {d}");
            }
        }
        // Every experiment but the default changes the logits somewhere.
        let moved = baseline.iter().zip(&cpu_one).map(|(x, y)| max_abs_diff(x, y)).fold(0.0, f32::max);
        assert!(name == "default" || moved > 1e-3, "{name} does not change anything ({moved})");
        // Methods whose frequencies do not depend on the length give the same logits however the
        // sequence is fed (position maps and masks are per token, not per call). Length-dependent
        // ones give each position the frequencies of the length at which it ran (checked against
        // one pass per prefix in cpu_forward.rs).
        if !e.rope.length_dependent() {
            for (i, (x, y)) in cpu_one.iter().zip(&cpu_inc).enumerate() {
                let d = max_abs_diff(x, y);
                assert!(d < 1e-3, "{name}: incremental position {i} differs from one pass by {d}");
            }
        }
    }
}

/// A model deeper than one submission's 8 layers: a forward pass goes to the GPU in three parts
/// (the bind-group cache's uniforms flushed per part, slots reused by every decode step), and
/// with dynamic NTK the pre-RoPE keys the RoPE kernel keeps are re-rotated across those parts.
#[test]
fn forward_passes_split_over_several_submissions_match_cpu() {
    let file = ModelFile::from_bytes(TinyLlama { layers: 17, ..tiny(4, 2, 13) }.to_gguf()).unwrap();
    let mut cpu = Engine::cpu(&file).unwrap();
    let mut gpu = Engine::gpu(ctx(), &file).unwrap();
    let ids: Vec<u32> = (0..70).map(|i| (i * 29 + 3) % 250).collect();
    let dynamic = Experiment {
        rope: RopeMethod::Dynamic { factor: 4.0, original_ctx: Some(16) },
        key_cache: KeyCache::PreRope,
        ..Experiment::default()
    };
    for e in [Experiment::default(), dynamic] {
        cpu.set_experiment(&e).unwrap();
        gpu.set_experiment(&e).unwrap();
        let (cpu_one, cpu_inc) = one_pass_and_incremental(&mut cpu.session(80).unwrap(), &ids);
        let (gpu_one, gpu_inc) = one_pass_and_incremental(&mut gpu.session(70).unwrap(), &ids);
        for (what, a, b) in [("one pass", &cpu_one, &gpu_one), ("incremental", &cpu_inc, &gpu_inc)] {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                let d = max_abs_diff(x, y);
                assert!(d < 2e-3, "{:?} {what}, position {i}: GPU vs CPU max |Δlogit| {d}", e.rope);
            }
        }
    }
}

/// HF-style post-RoPE caching keeps stale frequencies: dynamic NTK's last incremental step then
/// differs from one pass, while the pre-RoPE cache re-rotates every key and reproduces it. One
/// layer, so cached pre-RoPE K and V do not depend on earlier steps' frequencies (in deeper
/// models they do: see `recompute_is_exact_where_re_rotation_is_not` in cpu_forward.rs).
#[test]
fn dynamic_ntk_post_rope_cache_drifts_and_pre_rope_cache_does_not() {
    let file = ModelFile::from_bytes(TinyLlama { layers: 1, ..tiny(4, 2, 12) }.to_gguf()).unwrap();
    let mut cpu = Engine::cpu(&file).unwrap();
    let mut gpu = Engine::gpu(ctx(), &file).unwrap();
    let ids: Vec<u32> = (0..70).map(|i| (i * 31 + 2) % 250).collect();
    let mut gaps = Vec::new();
    for key_cache in [KeyCache::PreRope, KeyCache::PostRope] {
        let e = Experiment {
            rope: RopeMethod::Dynamic { factor: 4.0, original_ctx: Some(16) },
            key_cache,
            ..Experiment::default()
        };
        cpu.set_experiment(&e).unwrap();
        gpu.set_experiment(&e).unwrap();
        let (cpu_one, cpu_inc) = one_pass_and_incremental(&mut cpu.session(80).unwrap(), &ids);
        let (_, gpu_inc) = one_pass_and_incremental(&mut gpu.session(70).unwrap(), &ids);
        assert!(max_abs_diff(&cpu_inc[69], &gpu_inc[69]) < 2e-3, "{key_cache:?}: GPU vs CPU");
        gaps.push(max_abs_diff(&cpu_one[69], &cpu_inc[69]));
    }
    assert!(gaps[0] < 1e-3 && gaps[1] > 1e-2, "pre-RoPE gap {} / post-RoPE gap {}", gaps[0], gaps[1]);
}

/// `n` greedy steps from `first` one `forward` at a time, the pick made on the host: the picks.
fn greedy_by_forward(session: &mut Session, first: u32, n: usize) -> Vec<u32> {
    let mut picks = Vec::new();
    let mut next = first;
    for _ in 0..n {
        let logits = session.forward_blocking(&[next], &[0]).unwrap();
        next = top_k(&logits[0], 1)[0] as u32;
        picks.push(next);
    }
    picks
}

/// `n` greedy steps from `first` through `decode_greedy`: the picks (the n-th is refused).
fn greedy_by_decode(session: &mut Session, first: u32, n: usize) -> Vec<u32> {
    let mut picks = Vec::new();
    session
        .decode_greedy_blocking(first, &mut |pick| {
            picks.push(pick);
            Ok(picks.len() < n)
        })
        .unwrap();
    picks
}

/// `decode_greedy` (on the GPU: the pick made there, the next step queued before the pick is
/// read) against `forward` one step at a time with the pick made on the host: the same picks
/// and history, and the cache it leaves gives the same logits afterwards, bit for bit (the step
/// queued past the refused pick was dropped). 17 layers (each step in three submissions), with
/// the default RoPE (every step pipelined), with dynamic NTK (its regions change at every
/// length past 16: every step handed to `forward`), and with entropy recorded (no pipeline).
#[test]
fn greedy_decode_on_the_gpu_matches_forward_step_by_step() {
    let file = ModelFile::from_bytes(TinyLlama { layers: 17, ..tiny(4, 2, 14) }.to_gguf()).unwrap();
    let mut gpu = Engine::gpu(ctx(), &file).unwrap();
    let prompt: Vec<u32> = (0..12).map(|i| (i * 31 + 7) % 250).collect();
    let dynamic = Experiment {
        rope: RopeMethod::Dynamic { factor: 4.0, original_ctx: Some(16) },
        key_cache: KeyCache::PreRope,
        ..Experiment::default()
    };
    for (name, e, entropy) in [
        ("default", Experiment::default(), false),
        ("dynamic", dynamic, false),
        ("entropy", Experiment::default(), true),
    ] {
        gpu.set_experiment(&e).unwrap();
        let mut by_forward = gpu.session(40).unwrap();
        let mut by_decode = gpu.session(40).unwrap();
        if entropy {
            by_forward.record_entropy();
            by_decode.record_entropy();
        }
        for s in [&mut by_forward, &mut by_decode] {
            s.forward_blocking(&prompt, &[11]).unwrap();
        }
        // Twice from the same session: the second run reuses the pick buffers.
        for (first, n) in [(5, 9), (17, 6)] {
            let want = greedy_by_forward(&mut by_forward, first, n);
            assert_eq!(greedy_by_decode(&mut by_decode, first, n), want, "{name}: picks from {first}");
            assert_eq!(by_decode.history(), by_forward.history(), "{name}: history");
        }
        // Which path ran: all 15 steps pipelined by default, none with entropy recorded, and
        // under dynamic NTK only up to its original 16-token context (its regions change at
        // every length past it).
        let pipelined = by_decode.pipelined_steps();
        match name {
            "default" => assert_eq!(pipelined, 15, "{name}: steps pipelined"),
            "entropy" => assert_eq!(pipelined, 0, "{name}: steps pipelined"),
            _ => assert!(pipelined < 15, "{name}: {pipelined} steps pipelined"),
        }
        let a = by_forward.forward_blocking(&[3], &[0]).unwrap();
        let b = by_decode.forward_blocking(&[3], &[0]).unwrap();
        assert_eq!(a, b, "{name}: logits after decoding");
        if entropy {
            assert_eq!(by_decode.entropy().unwrap().values, by_forward.entropy().unwrap().values, "{name}: entropy");
        }
    }
}

/// A full cache while the caller still wants tokens is the same error as `forward`'s; a cancel
/// while steps are in flight leaves a session whose cache and history agree and which carries on.
#[test]
fn greedy_decode_stops_at_a_full_cache_and_on_cancel() {
    let file = ModelFile::from_bytes(tiny(4, 2, 15).to_gguf()).unwrap();
    let gpu = Engine::gpu(ctx(), &file).unwrap();
    let prompt: Vec<u32> = (0..10).map(|i| (i * 13 + 1) % 250).collect();
    let mut full = gpu.session(16).unwrap();
    full.forward_blocking(&prompt, &[9]).unwrap();
    let mut picks = 0;
    let err = full
        .decode_greedy_blocking(4, &mut |_| {
            picks += 1;
            Ok(true)
        })
        .unwrap_err();
    assert!(err.to_string().contains("exceed this session's KV cache of 16 tokens"), "{err}");
    assert_eq!((picks, full.position(), full.history().len()), (6, 16, 16));

    let cancel = Arc::new(AtomicBool::new(false));
    let mut session = gpu.session(64).unwrap();
    session.set_interrupt(Interrupt { cancel: Some(cancel.clone()), pause: None });
    session.forward_blocking(&prompt, &[9]).unwrap();
    let mut picks = Vec::new();
    let err = session
        .decode_greedy_blocking(4, &mut |pick| {
            picks.push(pick);
            cancel.store(picks.len() == 4, Ordering::Relaxed);
            Ok(true)
        })
        .unwrap_err();
    assert!(matches!(err, ctxscope_engine::Error::Cancelled), "{err}");
    cancel.store(false, Ordering::Relaxed);
    let ran = session.history()[prompt.len()..].to_vec();
    assert!(ran.len() >= 4 && ran[0] == 4 && ran[1..] == picks[..ran.len() - 1], "ran {ran:?}, picks {picks:?}");
    let mut reference = gpu.session(64).unwrap();
    reference.forward_blocking(session.history(), &[0]).unwrap();
    let a = reference.forward_blocking(&[7], &[0]).unwrap();
    let b = session.forward_blocking(&[7], &[0]).unwrap();
    assert!(max_abs_diff(&a[0], &b[0]) < 2e-3, "after the cancel: {}", max_abs_diff(&a[0], &b[0]));
}

#[test]
fn session_capacity_and_bad_input_are_errors() {
    let file = ModelFile::from_bytes(tiny(2, 1, 4).to_gguf()).unwrap();
    let gpu = Engine::gpu(ctx(), &file).unwrap();
    let mut session = gpu.session(4).unwrap();
    let err = session.forward_blocking(&[1, 2, 3, 4, 5], &[0]).unwrap_err();
    assert!(err.to_string().contains("exceed this session's KV cache"), "{err}");
    assert!(session.forward_blocking(&[100_000], &[0]).is_err());
    assert!(gpu.session(usize::MAX / 1024).is_err(), "an impossible cache is refused up front");
}

#[test]
fn entropy_is_recorded_and_a_narrow_window_lowers_it() {
    let file = ModelFile::from_bytes(tiny(2, 1, 5).to_gguf()).unwrap();
    let mut gpu = Engine::gpu(ctx(), &file).unwrap();
    let spec = gpu.spec().clone();
    let ids: Vec<u32> = (0..120).map(|i| (i * 53 + 7) % 250).collect();
    let mut mean_entropy = |window: u32| {
        let attention = if window == 0 { AttentionPattern::Full } else { AttentionPattern::Window { window } };
        gpu.set_experiment(&Experiment { attention, ..Experiment::default() }).unwrap();
        let mut session = gpu.session(120).unwrap();
        session.record_entropy();
        session.forward_blocking(&ids, &[]).unwrap();
        let trace = session.entropy().unwrap().clone();
        assert_eq!(trace.positions, 120);
        // Position 0 attends to itself only: zero entropy.
        assert!(trace.values[0].abs() < 1e-5);
        let means = trace.mean_per_head();
        means.iter().flatten().sum::<f32>() / (spec.block_count * spec.head_count) as f32
    };
    let full = mean_entropy(0);
    let narrow = mean_entropy(4);
    // A 4-key window caps entropy at ln 4.
    assert!(narrow <= 4f32.ln() + 1e-4, "narrow-window entropy {narrow}");
    assert!(narrow < full, "window 4: {narrow} vs full: {full}");
}

#[test]
fn attention_row_capture_is_a_distribution_consistent_with_the_entropy() {
    let file = ModelFile::from_bytes(tiny(2, 1, 6).to_gguf()).unwrap();
    let mut gpu = Engine::gpu(ctx(), &file).unwrap();
    let spec = gpu.spec().clone();
    let ids: Vec<u32> = (0..90).map(|i| (i * 29 + 3) % 250).collect();
    // Layer 1 uses a window of 8 with 2 sinks; layer 0 full attention.
    let windows = vec![vec![0; spec.head_count], vec![8; spec.head_count]];
    gpu.set_experiment(&Experiment {
        attention: AttentionPattern::Custom { windows, sinks: 2 },
        ..Experiment::default()
    })
    .unwrap();
    let mut session = gpu.session(90).unwrap();
    session.record_entropy();
    session.capture_attention_row(1, 1, 70).unwrap();
    session.forward_blocking(&ids[..64], &[]).unwrap();
    assert!(session.attention_row().unwrap().probs.is_none(), "position 70 has not run yet");
    session.forward_blocking(&ids[64..], &[]).unwrap();
    let row = session.attention_row().and_then(|r| r.probs.clone()).expect("captured");
    assert_eq!(row.len(), 71);
    let sum: f64 = row.iter().map(|&p| p as f64).sum();
    assert!((sum - 1.0).abs() < 1e-4, "row sums to {sum}");
    for (j, &p) in row.iter().enumerate() {
        let visible = j < 2 || 70 - j < 8;
        assert!(visible || p == 0.0, "key {j} is masked but has p = {p}");
        assert!(!visible || p > 0.0, "key {j} is visible but has p = 0");
    }
    let h: f64 = row.iter().filter(|&&p| p > 0.0).map(|&p| -(p as f64) * (p as f64).ln()).sum();
    let trace = session.entropy().unwrap();
    let recorded = trace.values[(spec.head_count + 1) * trace.positions + 70] as f64;
    assert!((h - recorded).abs() < 1e-4, "entropy from the row {h} vs recorded {recorded}");
}

/// A full attention map (consecutive query rows captured across a chunk boundary) on the GPU
/// equals the CPU's, each row is a distribution, and each equals the single-row capture.
#[test]
fn gpu_attention_map_matches_the_cpu_reference() {
    let file = ModelFile::from_bytes(tiny(4, 2, 22).to_gguf()).unwrap();
    let mut cpu = Engine::cpu(&file).unwrap();
    let mut gpu = Engine::gpu(ctx(), &file).unwrap();
    let ids: Vec<u32> = (0..60).map(|i| (i * 31 + 7) % 250).collect();
    let e = Experiment {
        rope: RopeMethod::SelfExtend { group_size: 4, neighbor_window: 16, log_n_ctx: None },
        attention: AttentionPattern::Sinks { sinks: 2, window: 24, positions: SinkPositions::Original },
        ..Experiment::default()
    };
    let run = |engine: &mut Engine, rows: std::ops::Range<usize>| {
        engine.set_experiment(&e).unwrap();
        let mut session = engine.session(60).unwrap();
        session.capture_attention_map(1, 2, rows).unwrap();
        session.forward_blocking(&ids[..33], &[]).unwrap();
        session.forward_blocking(&ids[33..], &[]).unwrap();
        session.attention_map().unwrap().clone()
    };
    let cpu_map = run(&mut cpu, 20..60);
    let gpu_map = run(&mut gpu, 20..60);
    assert!(cpu_map.is_complete() && gpu_map.is_complete());
    for (i, (c, g)) in cpu_map.rows.iter().zip(&gpu_map.rows).enumerate() {
        assert_eq!((c.len(), g.len()), (21 + i, 21 + i), "row {i} length");
        let d = max_abs_diff(c, g);
        assert!(d < 1e-4, "map row {i}: GPU vs CPU max |Δ| {d}");
        let sum: f64 = g.iter().map(|&p| p as f64).sum();
        assert!((sum - 1.0).abs() < 1e-4, "row {i} sums to {sum}");
    }
    for position in [20, 33, 59] {
        let single = run(&mut gpu, position..position + 1);
        assert_eq!(single.rows[0], gpu_map.row(position).unwrap().probs.unwrap(), "position {position}");
    }
    // Too many weights are refused before anything runs.
    let mut session = gpu.session(60).unwrap();
    assert!(session.capture_attention_map(0, 0, 0..0).is_err());
    assert!(session.capture_attention_map(0, 0, 50..61).is_err());
}

#[test]
fn other_head_sizes_are_refused_with_a_clear_error() {
    let file = ModelFile::from_bytes(TinyLlama::default().to_gguf()).unwrap(); // head_dim 16
    let err = Engine::gpu(ctx(), &file).err().expect("head_dim 16 is refused");
    assert!(err.to_string().contains("head_dim 16"), "{err}");
}

/// The real model on the GPU: same greedy tokens as the CPU and |Δ logprob| ≤ 0.02 on short
/// prompts (lavapipe is slow; long prompts run on the device box, see BENCHMARKS.md).
#[test]
fn real_model_short_prompts_match_cpu() {
    let file = ModelFile::open(common::real_model_path()).unwrap();
    let tokenizer = TextTokenizer::from_model(&file).unwrap();
    let cpu = Engine::cpu(&file).unwrap();
    let gpu = Engine::gpu(ctx(), &file).unwrap();
    let devset = common::devset();
    for name in ["dev-short-sky", "dev-short-chat"] {
        let case = devset["cases"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap();
        let (p, c) = (case["prompt"].as_str().unwrap(), case["continuation"].as_str().unwrap());
        let on_cpu = block_on(score(&mut cpu.session(80).unwrap(), &tokenizer, p, c)).unwrap();
        let on_gpu = block_on(score(&mut gpu.session(64).unwrap(), &tokenizer, p, c)).unwrap();
        let hf = &devset["score"][name]["default"];
        assert_eq!(on_gpu.top5_ids[0] as u64, hf["top5_ids"][0].as_u64().unwrap(), "{name}: top-1 vs HF");
        assert!((on_gpu.logprob_sum - hf["logprob_sum"].as_f64().unwrap()).abs() <= 0.05, "{name}: vs HF");
        for (a, b) in on_cpu.logprobs.iter().zip(&on_gpu.logprobs) {
            assert!((a - b).abs() <= 0.02, "{name}: CPU {a} vs GPU {b}");
        }
    }
    let prompt = "The capital of France is";
    let on_cpu = block_on(generate_greedy(&mut cpu.session(80).unwrap(), &tokenizer, prompt, 4, &mut |_| {})).unwrap();
    let on_gpu = block_on(generate_greedy(&mut gpu.session(32).unwrap(), &tokenizer, prompt, 4, &mut |_| {})).unwrap();
    assert_eq!(on_cpu.ids, on_gpu.ids);
}

/// The CPU reference records entropy and attention rows too; the GPU's must equal them — every
/// (layer, head, position), under a two-region method with the boundary key counted twice and a
/// mask with a window and sinks.
#[test]
fn gpu_entropy_and_rows_match_the_cpu_reference() {
    let file = ModelFile::from_bytes(tiny(4, 2, 21).to_gguf()).unwrap();
    let mut cpu = Engine::cpu(&file).unwrap();
    let mut gpu = Engine::gpu(ctx(), &file).unwrap();
    let ids: Vec<u32> = (0..90).map(|i| (i * 43 + 11) % 250).collect();
    let experiments = [
        Experiment::default(),
        Experiment {
            rope: RopeMethod::String {
                shifted_offset: Some(30),
                local_window: 4,
                attention_factor: None,
                reference_quirk: true,
            },
            attention: AttentionPattern::Sinks { sinks: 2, window: 40, positions: SinkPositions::Original },
            ..Experiment::default()
        },
    ];
    for e in experiments {
        let run = |engine: &mut Engine| {
            engine.set_experiment(&e).unwrap();
            let mut session = engine.session(90).unwrap();
            session.record_entropy();
            session.capture_attention_row(1, 3, 77).unwrap();
            session.forward_blocking(&ids[..50], &[]).unwrap();
            session.forward_blocking(&ids[50..], &[]).unwrap();
            (session.entropy().unwrap().clone(), session.attention_row().unwrap().probs.clone().unwrap())
        };
        let (cpu_trace, cpu_row) = run(&mut cpu);
        let (gpu_trace, gpu_row) = run(&mut gpu);
        assert_eq!(
            (cpu_trace.layers, cpu_trace.heads, cpu_trace.positions),
            (gpu_trace.layers, gpu_trace.heads, gpu_trace.positions)
        );
        let d = max_abs_diff(&cpu_trace.values, &gpu_trace.values);
        assert!(d < 1e-3, "{}: entropy GPU vs CPU max |Δ| {d}", e.rope.name());
        assert_eq!(cpu_row.len(), 78);
        let d = max_abs_diff(&cpu_row, &gpu_row);
        assert!(d < 1e-4, "{}: attention row GPU vs CPU max |Δ| {d}", e.rope.name());
    }
}

/// A share link's record must not depend on the backend: the same sweep on the CPU and the GPU
/// gives the same result hash and the same outcome byte in every cell (docs/share-links.md).
/// Real model, passkey at 96 and 128 tokens on noise, two depths (lavapipe is slow).
#[test]
fn sweep_result_hash_is_the_same_on_cpu_and_gpu() {
    use ctxscope_engine::backend::Interrupt;
    use ctxscope_engine::probes::sweep::{run_sweep, ModelIdentity, SweepConfig};
    use ctxscope_engine::share::outcome_bytes;

    let file = ModelFile::open(common::real_model_path()).unwrap();
    let tokenizer = TextTokenizer::from_model(&file).unwrap();
    let config = SweepConfig::from_json(
        r#"{"version": 1, "name": "hash", "tasks": [{"name": "p", "task": {"task": "passkey"}}],
            "lengths": [96, 128], "depths": [0.2, 0.8], "haystack": {"kind": "noise"}}"#,
    )
    .unwrap();
    let identity = || ModelIdentity { name: None, sha256: "m".into(), file_bytes: 0, trained_ctx: 8192 };
    let run = |mut engine: Engine| {
        block_on(run_sweep(
            &config,
            &mut engine,
            &tokenizer,
            identity(),
            None,
            &Interrupt::default(),
            &|| 0.0,
            &mut |_, _| {},
        ))
        .unwrap()
    };
    let on_cpu = run(Engine::cpu(&file).unwrap());
    let on_gpu = run(Engine::gpu(ctx(), &file).unwrap());
    assert!(
        on_cpu.cells.iter().any(|c| c.outcome.correct),
        "all-wrong cells on both backends would make the comparison vacuous"
    );
    assert_eq!(outcome_bytes(&on_cpu), outcome_bytes(&on_gpu));
    assert_eq!(on_cpu.result_hash, on_gpu.result_hash);
}

#[test]
fn prefix_reuse_matches_a_fresh_pass() {
    let file = ModelFile::from_bytes(tiny(2, 1, 9).to_gguf()).unwrap();
    let mut gpu = Engine::gpu(ctx(), &file).unwrap();
    common::check_prefix_reuse(&mut gpu, 1e-4);
}
