//! Needle tasks: gkamradt's NIAH, passkey retrieval, and RULER's NIAH family — facts hidden in
//! a haystack, asked about at the end.

use super::{distinct, join_and, spread, value, word, Instance, ValueKind};
use crate::rng::SplitMix64;

/// gkamradt/LLMTest_NeedleInAHaystack: each needle on its own line (`separator` around it), the
/// first at `depth`, the rest spread after it; the harness's question and answer prefix.
pub(super) fn niah(
    needles: &[String],
    separator: &str,
    question: &str,
    answer_prefix: &str,
    target: &str,
    answers: &[String],
    depth: f64,
) -> Instance {
    Instance {
        prefix: String::new(),
        needles: needles.iter().map(|n| format!("{separator}{n}{separator}")).zip(spread(depth, needles.len())).collect(),
        suffix: format!(
            "\n\nQuestion: {question} Don't give information outside the document or repeat your findings.\nAnswer: {answer_prefix}"
        ),
        target: target.to_string(),
        answers: answers.to_vec(),
    }
}

/// Passkey retrieval in the landmark-attention format (epfml/landmark-attention `run_test.py`):
/// a key uniform in 1…50000.
pub(super) fn passkey(depth: f64, rng: &mut SplitMix64) -> Instance {
    let key = (1 + rng.below(50_000)).to_string();
    Instance {
        prefix: "There is an important info hidden inside a lot of irrelevant text. Find it and memorize them. I will quiz you about the important information there.\n".into(),
        needles: vec![(format!("\nThe pass key is {key}. Remember it. {key} is the pass key.\n"), depth)],
        suffix: "\nWhat is the pass key? The pass key is".into(),
        target: format!(" {key}"),
        answers: vec![key],
    }
}

/// RULER's NIAH (NVIDIA/RULER `scripts/data/synthetic/niah.py`): `keys` keys with `values`
/// values each; the first `queries` keys are asked about. The first queried needle sits at the
/// cell's depth, the others at random depths.
pub(super) fn ruler_niah(
    keys: usize,
    values: usize,
    queries: usize,
    value_kind: ValueKind,
    depth: f64,
    rng: &mut SplitMix64,
) -> Instance {
    let (plural, singular) = match value_kind {
        ValueKind::Numbers => ("numbers", "number"),
        ValueKind::Words => ("words", "word"),
        ValueKind::Uuids => ("UUIDs", "UUID"),
    };
    let key_names = distinct(keys, rng, word);
    let vals: Vec<Vec<String>> = key_names.iter().map(|_| distinct(values, rng, |r| value(value_kind, r))).collect();
    let mut needles = Vec::new();
    for (k, key) in key_names.iter().enumerate() {
        for (v, val) in vals[k].iter().enumerate() {
            let d = if k == 0 && v == 0 { depth } else { rng.uniform() };
            needles.push((format!(" One of the special magic {plural} for {key} is: {val}."), d));
        }
    }
    let asked = &key_names[..queries];
    let answers: Vec<String> = vals[..queries].iter().flatten().cloned().collect();
    let query = join_and(asked);
    let suffix = if answers.len() == 1 {
        format!("\nWhat is the special magic {singular} for {query} mentioned in the provided text? The special magic {singular} for {query} mentioned in the provided text is")
    } else {
        format!("\nWhat are all the special magic {plural} for {query} mentioned in the provided text? The special magic {plural} for {query} mentioned in the provided text are")
    };
    Instance {
        prefix: format!("Some special magic {plural} are hidden within the following text. Make sure to memorize it. I will quiz you about the {plural} afterwards.\n"),
        needles,
        suffix,
        target: format!(" {}", answers.join(", ")),
        answers,
    }
}
