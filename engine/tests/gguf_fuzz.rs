//! Every number read from a GGUF is untrusted until checked: the structured field fuzzer (see
//! `common/field_fuzz.rs`), briefly — every field at every boundary value, then random
//! multi-field mutations. The long run is `cargo bench -p ctxscope-engine --bench
//! gguf_field_fuzz` (BENCHMARKS.md).

mod common;
#[path = "common/field_fuzz.rs"]
mod field_fuzz;

use candle_core::quantized::gguf_file::Value;
use candle_core::quantized::GgmlDType;
use common::TinyLlama;
use field_fuzz::{fields, get, random_case, run_case, set, special_values, violation, Counting, Outcome, Rng};

#[global_allocator]
static ALLOC: Counting = Counting;

/// The tiny model with every optional key the engine reads, so that each can be mutated.
pub fn fuzz_model() -> Vec<u8> {
    let keys = [
        ("general.alignment", Value::U32(32)),
        ("llama.vocab_size", Value::U32(common::tiny_vocab().0.len() as u32)),
        ("llama.attention.key_length", Value::U32(16)),
        ("llama.rope.scaling.type", Value::String("yarn".into())),
        ("llama.rope.scaling.factor", Value::F32(2.0)),
        ("llama.rope.scaling.original_context_length", Value::U32(512)),
        ("llama.rope.scaling.attn_factor", Value::F32(1.0)),
        ("llama.rope.scaling.yarn_log_multiplier", Value::F32(0.0)),
        ("tokenizer.ggml.eot_token_id", Value::U32(2)),
    ];
    TinyLlama {
        extra_metadata: keys.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
        extra_tensors: vec![("rope_freqs.weight".into(), vec![1.0; 8], GgmlDType::F32)],
        ..TinyLlama::default()
    }
    .to_gguf()
}

#[test]
fn every_field_at_every_boundary_value_loads_or_fails_cleanly() {
    field_fuzz::silence_panics();
    let valid = fuzz_model();
    let unmutated = run_case(valid.clone(), true).0;
    assert!(matches!(unmutated, Outcome::Ran), "the unmutated model runs: {unmutated:?}");
    let fields = fields(&valid);
    assert!(fields.len() > 80, "{} fields", fields.len());
    let (mut cases, mut ran, mut failures) = (0, 0, Vec::new());
    for f in &fields {
        for value in special_values(f.width, get(&valid, f)) {
            let mut b = valid.clone();
            set(&mut b, f, value);
            let len = b.len();
            let (outcome, peak) = run_case(b, true);
            cases += 1;
            ran += usize::from(matches!(outcome, Outcome::Ran));
            if let Some(v) = violation(&outcome, peak, len) {
                failures.push(format!("{} = {value:#x}: {}", f.what, v.chars().take(300).collect::<String>()));
            }
        }
    }
    assert!(failures.is_empty(), "{} of {cases} cases failed:\n{}", failures.len(), failures.join("\n"));
    assert!(ran > 0 && ran < cases, "{ran} of {cases} cases still ran");
}

#[test]
fn random_multi_field_mutations_load_or_fail_cleanly() {
    field_fuzz::silence_panics();
    let valid = fuzz_model();
    let fields = fields(&valid);
    let mut rng = Rng::new(0x5EED);
    let mut failures = Vec::new();
    for i in 0..3000 {
        let (b, what) = random_case(&valid, &fields, &mut rng);
        let len = b.len();
        let (outcome, peak) = run_case(b, i % 4 == 0);
        if let Some(v) = violation(&outcome, peak, len) {
            failures.push(format!("case {i} ({what}): {}", v.chars().take(300).collect::<String>()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
