//! The real default model on the CPU reference path against HF transformers
//! (`shared/testdata/hf-devset.json`): same token counts, same top-1, |Δ logprob_sum| ≤ 0.05.

mod common;

use ctxscope_engine::backend::block_on;
use ctxscope_engine::generate::generate_greedy;
use ctxscope_engine::score::{score, ScoreOutput};
use ctxscope_engine::{Engine, ModelFile, TextTokenizer};

struct Loaded {
    model: Engine,
    tokenizer: TextTokenizer,
}

/// The model on the CPU (loaded per test: an `Engine` may hold GPU handles, which are not
/// `Sync`, so it cannot live in a static; dequantizing takes about a second).
fn loaded() -> Loaded {
    let file = ModelFile::open(common::real_model_path()).unwrap();
    Loaded { tokenizer: TextTokenizer::from_model(&file).unwrap(), model: Engine::cpu(&file).unwrap() }
}

fn check_case(name: &str) {
    let devset = common::devset();
    let case = devset["cases"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap();
    let reference: ScoreOutput = serde_json::from_value(devset["score"][name]["default"].clone()).unwrap();
    let m = loaded();
    let out = block_on(score(
        &mut m.model.session(16_384).unwrap(),
        &m.tokenizer,
        case["prompt"].as_str().unwrap(),
        case["continuation"].as_str().unwrap(),
    ))
    .unwrap();
    assert_eq!(out.prompt_tokens, reference.prompt_tokens, "{name}: prompt tokens");
    assert_eq!(out.continuation_ids, reference.continuation_ids, "{name}: continuation ids");
    assert_eq!(out.top5_ids[0], reference.top5_ids[0], "{name}: top-1 at the last prompt position");
    let delta = (out.logprob_sum - reference.logprob_sum).abs();
    assert!(delta <= 0.05, "{name}: logprob_sum {} vs HF {} (|Δ| {delta})", out.logprob_sum, reference.logprob_sum);
    for (i, (a, b)) in out.logprobs.iter().zip(&reference.logprobs).enumerate() {
        assert!((a - b).abs() <= 0.05, "{name}: logprob[{i}] {a} vs HF {b}");
    }
    for (a, b) in out.top5_logits.iter().zip(&reference.top5_logits) {
        assert!((a - b).abs() <= 0.05, "{name}: top-5 logits {:?} vs HF {:?}", out.top5_logits, reference.top5_logits);
    }
}

#[test]
fn matches_hf_short_sky() {
    check_case("dev-short-sky");
}

#[test]
fn matches_hf_short_chat() {
    check_case("dev-short-chat");
}

#[test]
fn matches_hf_500_tokens() {
    check_case("dev-500-d30");
}

#[test]
fn matches_hf_3k_tokens() {
    check_case("dev-3k-d60");
}

#[test]
#[ignore = "slow (8k-token forward pass on the CPU, minutes); scripts/test.sh runs it"]
fn matches_hf_8k_tokens() {
    check_case("dev-9k-d20");
}

#[test]
fn greedy_generation_knows_the_capital_of_france() {
    let m = loaded();
    let mut streamed = String::new();
    let out = block_on(generate_greedy(
        &mut m.model.session(64).unwrap(),
        &m.tokenizer,
        "The capital of France is",
        8,
        &mut |t| streamed.push_str(t),
    ))
    .unwrap();
    assert!(out.text.contains("Paris"), "generated {:?}", out.text);
    assert_eq!(streamed, out.text, "streamed pieces add up to the text");
}

#[test]
fn score_top5_contains_the_greedy_token() {
    let m = loaded();
    let prompt = "The capital of France is";
    let gen =
        block_on(generate_greedy(&mut m.model.session(64).unwrap(), &m.tokenizer, prompt, 1, &mut |_| {})).unwrap();
    let out = block_on(score(&mut m.model.session(64).unwrap(), &m.tokenizer, prompt, " Paris")).unwrap();
    assert!(out.logprob_sum.is_finite() && out.logprob_sum < 0.0);
    assert_eq!(out.top5_ids[0], gen.ids[0], "the greedy token is the top-1 logit");
    assert!(out.top5_logits.windows(2).all(|w| w[0] >= w[1]));
}
