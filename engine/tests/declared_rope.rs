//! RoPE scaling declared inside a GGUF is the model's baseline: tiny random models carrying each
//! key, checked against values computed here from the formulas (llama.cpp's semantics; see
//! `engine/src/gguf/rope_meta.rs`).

mod common;

use candle_core::quantized::gguf_file::Value;
use candle_core::quantized::GgmlDType;
use common::TinyLlama;
use ctxscope_engine::experiment::{Experiment, Plan};
use ctxscope_engine::gguf::DeclaredScaling;
use ctxscope_engine::rope::RopeMethod;
use ctxscope_engine::{Engine, Error, ModelFile};

/// TinyLlama: head_dim 16 (8 pairs), base 10 000, context 1024.
const PAIRS: usize = 8;
const BASE: f64 = 10_000.0;

fn with(keys: &[(&str, Value)], tensors: Vec<(String, Vec<f32>, GgmlDType)>) -> TinyLlama {
    TinyLlama {
        extra_metadata: keys.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
        extra_tensors: tensors,
        ..TinyLlama::default()
    }
}

fn file(t: &TinyLlama) -> Result<ModelFile, Error> {
    ModelFile::from_bytes(t.to_gguf())
}

fn theta(k: usize) -> f64 {
    BASE.powf(-2.0 * k as f64 / 16.0)
}

/// The near region's (inv_freq, attention_scaling) of the model's baseline at 100 tokens.
fn baseline(t: &TinyLlama) -> (Vec<f64>, f64) {
    resolved(t, &Experiment::default())
}

fn resolved(t: &TinyLlama, e: &Experiment) -> (Vec<f64>, f64) {
    let f = file(t).unwrap();
    let plan = Plan::new(e, f.spec()).unwrap();
    let r = plan.regions(100).remove(0);
    (r.freqs.inv_freq.iter().map(|&x| x as f64).collect(), r.freqs.attention_scaling as f64)
}

fn assert_close(got: &[f64], want: impl Fn(usize) -> f64, what: &str) {
    assert_eq!(got.len(), PAIRS);
    for (k, &g) in got.iter().enumerate() {
        let w = want(k);
        assert!(((g - w) / w).abs() < 2e-6, "{what}: pair {k}: {g} vs {w}");
    }
}

/// YaRN's frequencies from the paper's formulas (HF's truncated correction range): pairs below
/// the fast correction dimension keep θ, pairs above the slow one get θ/s, a linear ramp between.
fn yarn_expected(s: f64, l: f64, beta_fast: f64, beta_slow: f64) -> impl Fn(usize) -> f64 {
    let d = 16.0;
    let corr = move |rot: f64| d * (l / (rot * 2.0 * std::f64::consts::PI)).ln() / (2.0 * BASE.ln());
    let (low, high) = (corr(beta_fast).floor().max(0.0), corr(beta_slow).ceil().min(d - 1.0));
    move |k| {
        let ramp = ((k as f64 - low) / (high - low)).clamp(0.0, 1.0);
        theta(k) / s * ramp + theta(k) * (1.0 - ramp)
    }
}

#[test]
fn linear_scaling_is_the_baseline_under_every_spelling() {
    let spellings: [&[(&str, Value)]; 3] = [
        &[("llama.rope.scaling.type", Value::String("linear".into())), ("llama.rope.scaling.factor", Value::F32(4.0))],
        // llama.cpp's default type is linear; the older key name.
        &[("llama.rope.scaling.factor", Value::F32(4.0))],
        &[("llama.rope.scale_linear", Value::F32(4.0))],
    ];
    for keys in spellings {
        let t = with(keys, vec![]);
        assert_eq!(file(&t).unwrap().spec().rope.scaling, DeclaredScaling::Linear { factor: 4.0 });
        let (inv, scale) = baseline(&t);
        assert_close(&inv, |k| theta(k) / 4.0, "linear ×4");
        assert_eq!(scale, 1.0);
    }
    // `none`, a factor of 1 or 0: standard RoPE.
    for keys in [
        vec![("llama.rope.scaling.type", Value::String("none".into())), ("llama.rope.scaling.factor", Value::F32(4.0))],
        vec![("llama.rope.scaling.factor", Value::F32(1.0))],
        vec![("llama.rope.scaling.factor", Value::F32(0.0))],
    ] {
        let t = with(&keys, vec![]);
        assert!(file(&t).unwrap().spec().rope.is_plain());
        assert_close(&baseline(&t).0, theta, "no scaling");
    }
}

#[test]
fn yarn_scaling_with_its_keys() {
    let s = 4.0f64;
    let t = with(
        &[
            ("llama.rope.scaling.type", Value::String("yarn".into())),
            ("llama.rope.scaling.factor", Value::F32(4.0)),
            ("llama.rope.scaling.original_context_length", Value::U32(256)),
        ],
        vec![],
    );
    let (inv, scale) = baseline(&t);
    assert_close(&inv, yarn_expected(s, 256.0, 32.0, 1.0), "YaRN ×4 from 256");
    assert!((scale - (0.1 * s.ln() + 1.0)).abs() < 1e-6, "temperature {scale}");

    // β keys, the log multiplier (temperature (0.1 ln s + 1) / (0.1 m ln s + 1)) and attn_factor.
    let t = with(
        &[
            ("llama.rope.scaling.type", Value::String("yarn".into())),
            ("llama.rope.scaling.factor", Value::F32(4.0)),
            ("llama.rope.scaling.original_context_length", Value::U32(256)),
            ("llama.rope.scaling.yarn_beta_fast", Value::F32(16.0)),
            ("llama.rope.scaling.yarn_beta_slow", Value::F32(2.0)),
            ("llama.rope.scaling.yarn_log_multiplier", Value::F32(0.5)),
            ("llama.rope.scaling.yarn_ext_factor", Value::F32(1.0)),
            ("llama.rope.scaling.attn_factor", Value::F32(1.25)),
        ],
        vec![],
    );
    let (inv, scale) = baseline(&t);
    assert_close(&inv, yarn_expected(s, 256.0, 16.0, 2.0), "YaRN with β 16/2");
    let want = (0.1 * s.ln() + 1.0) / (0.05 * s.ln() + 1.0) * 1.25;
    assert!((scale - want).abs() < 1e-6, "temperature {scale} vs {want}");
    // YaRN's L defaults to the context length.
    let t = with(
        &[("llama.rope.scaling.type", Value::String("yarn".into())), ("llama.rope.scaling.factor", Value::F32(2.0))],
        vec![],
    );
    assert_close(&baseline(&t).0, yarn_expected(2.0, 1024.0, 32.0, 1.0), "YaRN ×2 from the context length");
}

#[test]
fn rope_freqs_divide_theta_before_any_scaling() {
    let factors = vec![1.0f32, 1.0, 2.0, 2.0, 4.0, 4.0, 8.0, 8.0];
    let tensor = || vec![("rope_freqs.weight".to_string(), factors.clone(), GgmlDType::F32)];
    let t = with(&[], tensor());
    assert_close(&baseline(&t).0, |k| theta(k) / factors[k] as f64, "rope_freqs");
    let t = with(
        &[("llama.rope.scaling.factor", Value::F32(2.0)), ("llama.rope.scaling.attn_factor", Value::F32(1.5))],
        tensor(),
    );
    let (inv, scale) = baseline(&t);
    assert_close(&inv, |k| theta(k) / factors[k] as f64 / 2.0, "rope_freqs then linear ×2");
    assert_eq!(scale, 1.5);
    let spec = file(&t).unwrap().spec().clone();
    assert_eq!(spec.rope.describe(), "linear ×2, per-pair rope_freqs, attn_factor 1.5");
}

#[test]
fn an_experiment_replaces_or_builds_on_the_declared_scaling_and_says_so() {
    let t = with(
        &[("llama.rope.scaling.type", Value::String("linear".into())), ("llama.rope.scaling.factor", Value::F32(4.0))],
        vec![],
    );
    let spec = file(&t).unwrap().spec().clone();
    let plan = |rope: RopeMethod| Plan::new(&Experiment { rope, ..Experiment::default() }, &spec).unwrap();
    assert_eq!(plan(RopeMethod::Model).baseline_note().unwrap(), "the model's declared linear ×4");
    // Frequency methods replace it.
    assert_eq!(plan(RopeMethod::Default).baseline_note().unwrap(), "default replacing the model's declared linear ×4");
    assert_close(&resolved(&t, &Experiment { rope: RopeMethod::Default, ..Experiment::default() }).0, theta, "default");
    assert_close(
        &resolved(&t, &Experiment { rope: RopeMethod::Linear { factor: 2.0 }, ..Experiment::default() }).0,
        |k| theta(k) / 2.0,
        "linear ×2",
    );
    // Position-map methods remap positions on top of the model's frequencies.
    let string = RopeMethod::String {
        shifted_offset: Some(64),
        local_window: 8,
        attention_factor: None,
        reference_quirk: false,
    };
    assert_eq!(plan(string.clone()).baseline_note().unwrap(), "string on top of the model's declared linear ×4");
    let (inv, scale) = resolved(&t, &Experiment { rope: string, ..Experiment::default() });
    assert_close(&inv, |k| theta(k) / 4.0, "STRING near region");
    assert!((scale - (0.1 * 2f64.ln() + 1.0)).abs() < 1e-6);
    // A model that declares nothing gets no note.
    let plain = file(&TinyLlama::default()).unwrap().spec().clone();
    assert_eq!(Plan::standard(&plain).baseline_note(), None);
}

/// The forward pass runs the declared baseline: a model declaring linear ×4 gives exactly the
/// logits its undeclared twin gives under an explicit linear ×4 experiment.
#[test]
fn the_forward_pass_applies_the_declared_scaling() {
    let declared = with(&[("llama.rope.scaling.factor", Value::F32(4.0))], vec![]);
    let ids: Vec<u32> = (0..40).map(|i| (i * 13 + 5) % 250).collect();
    let rows: Vec<usize> = (0..40).collect();
    let run = |t: &TinyLlama, e: &Experiment| {
        let mut engine = Engine::cpu(&file(t).unwrap()).unwrap();
        engine.set_experiment(e).unwrap();
        engine.session(40).unwrap().forward_blocking(&ids, &rows).unwrap()
    };
    let linear = Experiment { rope: RopeMethod::Linear { factor: 4.0 }, ..Experiment::default() };
    let a = run(&declared, &Experiment::default());
    let b = run(&TinyLlama::default(), &linear);
    let c = run(&TinyLlama::default(), &Experiment::default());
    assert_eq!(a, b, "declared linear ×4 = explicit linear ×4");
    assert_ne!(a, c, "and not the unscaled model");
}

#[test]
fn what_cannot_be_honoured_is_refused_naming_the_key() {
    /// (metadata, extra tensors, the key the refusal must name).
    type Case<'a> = (Vec<(&'a str, Value)>, Vec<(String, Vec<f32>, GgmlDType)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec![
                ("llama.rope.scaling.type", Value::String("longrope".into())),
                ("llama.rope.scaling.factor", Value::F32(4.0)),
            ],
            vec![],
            "longrope",
        ),
        (vec![("llama.rope.scaling.type", Value::String("su".into()))], vec![], "\"su\""),
        (vec![("llama.rope.scaling.alpha", Value::F32(1000.0))], vec![], "alpha"),
        (
            vec![
                ("llama.rope.scaling.type", Value::String("yarn".into())),
                ("llama.rope.scaling.yarn_ext_factor", Value::F32(0.5)),
            ],
            vec![],
            "yarn_ext_factor",
        ),
        (vec![("llama.rope.scaling.yarn_attn_factor", Value::F32(2.0))], vec![], "yarn_attn_factor"),
        (vec![("llama.rope.scaling.factor", Value::F32(-2.0))], vec![], "scaling.factor"),
        (vec![("llama.rope.scaling.factor", Value::F32(f32::NAN))], vec![], "scaling.factor"),
        (vec![("llama.rope.scaling.attn_factor", Value::F32(0.0))], vec![], "attn_factor"),
        (vec![("llama.rope.scaling.original_context_length", Value::U32(0))], vec![], "original_context_length"),
        (vec![], vec![("rope_freqs.weight".into(), vec![1.0; 5], GgmlDType::F32)], "rope_freqs"),
        (
            vec![],
            vec![("rope_freqs.weight".into(), vec![1.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0], GgmlDType::F32)],
            "rope_freqs.weight[1]",
        ),
        (vec![], vec![("rope_freqs.weight".into(), vec![1.0; 8], GgmlDType::F16)], "F32"),
    ];
    for (keys, tensors, needle) in cases {
        let err = file(&with(&keys, tensors)).expect_err(needle).to_string();
        assert!(err.contains(needle), "expected '{needle}' in: {err}");
    }
}
