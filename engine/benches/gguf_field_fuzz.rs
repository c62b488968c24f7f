//! The long run of the structured GGUF field fuzzer (`engine/tests/common/field_fuzz.rs`):
//! millions of mutated tiny models, each must load or fail with a one-line error, never panic,
//! never abort, and stay within the memory bound. Prints the count, the rate and any failure.
//!
//!     cargo bench -p ctxscope-engine --bench gguf_field_fuzz -- --cases 10000000 --threads 2
//!
//! `--forward-every K`: every K-th case, when it parses, is also loaded on the CPU and runs two tokens
//! (default 8); `--seed S` picks another stream of cases.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/common/field_fuzz.rs"]
mod field_fuzz;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use candle_core::quantized::gguf_file::Value;
use candle_core::quantized::GgmlDType;
use field_fuzz::{fields, random_case, run_case, violation, Counting, Outcome, Rng};

#[global_allocator]
static ALLOC: Counting = Counting;

fn fuzz_model() -> Vec<u8> {
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
    common::TinyLlama {
        extra_metadata: keys.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
        extra_tensors: vec![("rope_freqs.weight".into(), vec![1.0; 8], GgmlDType::F32)],
        ..common::TinyLlama::default()
    }
    .to_gguf()
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let cases = arg("--cases", 1_000_000) as usize;
    let threads = arg("--threads", 2).max(1) as usize;
    let forward_every = arg("--forward-every", 8).max(1) as usize;
    let seed = arg("--seed", 1);
    field_fuzz::silence_panics();
    let valid = fuzz_model();
    let fields = fields(&valid);
    let (ran, refused, max_ratio_permille) = (AtomicUsize::new(0), AtomicUsize::new(0), AtomicUsize::new(0));
    let failures = std::sync::Mutex::new(Vec::new());
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let (valid, fields, ran, refused, failures, ratio) =
                (&valid, &fields, &ran, &refused, &failures, &max_ratio_permille);
            s.spawn(move || {
                let mut rng = Rng::new(seed.wrapping_mul(0x1000_0000_0000) ^ t as u64);
                let mut parsed = 0usize;
                for i in (t..cases).step_by(threads) {
                    let (b, what) = random_case(valid, fields, &mut rng);
                    let len = b.len();
                    parsed += 1;
                    let (outcome, peak) = run_case(b, parsed.is_multiple_of(forward_every));
                    match &outcome {
                        Outcome::Ran => ran.fetch_add(1, Ordering::Relaxed),
                        _ => refused.fetch_add(1, Ordering::Relaxed),
                    };
                    ratio.fetch_max(peak * 1000 / len.max(1), Ordering::Relaxed);
                    if let Some(v) = violation(&outcome, peak, len) {
                        failures
                            .lock()
                            .unwrap()
                            .push(format!("case {i} ({what}): {}", v.chars().take(300).collect::<String>()));
                    }
                }
            });
        }
    });
    let secs = start.elapsed().as_secs_f64();
    let failures = failures.into_inner().unwrap();
    println!(
        "{cases} cases in {secs:.1} s ({:.0} cases/s, {threads} threads): {} loaded and ran, {} refused cleanly, {} failures; largest peak allocation {:.1}× the file",
        cases as f64 / secs,
        ran.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed),
        failures.len(),
        max_ratio_permille.load(Ordering::Relaxed) as f64 / 1000.0
    );
    for f in failures.iter().take(20) {
        println!("  {f}");
    }
    if !failures.is_empty() {
        std::process::exit(1);
    }
}
