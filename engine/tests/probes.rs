//! Task generators on the real model's tokenizer: exact token lengths, the needle really at the
//! stated depth, determinism, parseable answers. (The scoring and MECW unit tests live beside
//! their code; a real sweep runs in `cli/tests/cli.rs`.)

mod common;

use ctxscope_engine::probes::haystack::Haystack;
use ctxscope_engine::probes::tasks::{Task, ValueKind};
use ctxscope_engine::{ModelFile, TextTokenizer};

fn tokenizer() -> TextTokenizer {
    let file = ModelFile::open(common::real_model_path()).expect("the default model (scripts/fetch-model.sh)");
    TextTokenizer::from_model(&file).unwrap()
}

fn tasks() -> Vec<Task> {
    vec![
        serde_json::from_str(r#"{"task":"niah"}"#).unwrap(),
        serde_json::from_str(r#"{"task":"niah","needles":["Ada keeps her red bicycle in the bakery.","The spare key is under the blue pot."],"answers":["bakery","blue pot"],"target":" in the bakery."}"#).unwrap(),
        Task::Passkey,
        Task::RulerNiah { keys: 1, values: 1, queries: 1, value_kind: ValueKind::Numbers },
        Task::RulerNiah { keys: 4, values: 1, queries: 1, value_kind: ValueKind::Uuids },
        Task::RulerNiah { keys: 1, values: 4, queries: 1, value_kind: ValueKind::Words },
        Task::RulerNiah { keys: 4, values: 1, queries: 4, value_kind: ValueKind::Numbers },
        Task::VariableTracking { chains: 2, hops: 4 },
        Task::FindAndSort { items: 5 },
        Task::CommonWords { common: 10 },
        Task::FrequentWords { alpha: 2.0 },
    ]
}

#[test]
fn cases_have_exact_lengths_needles_at_their_depths_and_are_deterministic() {
    let tok = tokenizer();
    let haystacks =
        [Haystack::Filler, Haystack::Noise, Haystack::Text { text: "A short user text. It has two sentences.".into() }];
    for task in tasks() {
        for haystack in &haystacks {
            let list = matches!(task, Task::CommonWords { .. } | Task::FrequentWords { .. });
            for length in [300, 1000, 4097] {
                if list && length < 1000 {
                    continue;
                }
                for depth in [0.0, 0.33, 0.5, 1.0] {
                    let what = format!("{} on {} at {length}/{depth}", task.name(), haystack.name());
                    let case = task.build(haystack, &tok, length, depth, 7).unwrap_or_else(|e| panic!("{what}: {e}"));
                    assert_eq!(case.ids.len(), length, "{what}: exact length");
                    assert_eq!(case, task.build(haystack, &tok, length, depth, 7).unwrap(), "{what}: deterministic");
                    // The first needle's text sits at its recorded token position.
                    let text = tok.decode(&case.ids[case.needle_positions[0]..]).unwrap();
                    let answer_in_needle = case.answers.iter().any(|a| text.contains(a.as_str()))
                        || text.trim_start().starts_with("The best thing")
                        || text.trim_start().starts_with("Ada");
                    assert!(answer_in_needle, "{what}: needle not at {}: {:.80}", case.needle_positions[0], text);
                    // Depth: the last sentence boundary at or before the request — within one
                    // sentence (≤ 60 tokens) of it, never after it.
                    let hay = case.haystack_tokens as f64;
                    let got = case.needle_depths[0];
                    let single_depth = matches!(task, Task::Passkey | Task::RulerNiah { .. } | Task::Niah { .. });
                    if single_depth && !matches!(haystack, Haystack::Text { .. }) {
                        assert!(got <= depth + 1e-9 && (depth - got) * hay <= 60.0, "{what}: needle depth {got}");
                    }
                    // Teacher-forced target and answers parse.
                    assert!(!case.target_ids.is_empty());
                    assert!(case
                        .answers
                        .iter()
                        .all(|a| case.target.contains(a.as_str()) || matches!(task, Task::Niah { .. })));
                }
            }
        }
    }
    // Another seed gives another case.
    let a = Task::Passkey.build(&Haystack::Filler, &tok, 500, 0.5, 1).unwrap();
    let b = Task::Passkey.build(&Haystack::Filler, &tok, 500, 0.5, 2).unwrap();
    assert_ne!(a.ids, b.ids);
}

#[test]
fn answers_have_the_documented_formats() {
    let tok = tokenizer();
    for seed in 0..20 {
        let passkey = Task::Passkey.build(&Haystack::Noise, &tok, 400, 0.5, seed).unwrap();
        let key: u32 = passkey.answers[0].parse().unwrap();
        assert!((1..=50_000).contains(&key));
        assert_eq!(passkey.target, format!(" {key}"));
        let numbers = Task::RulerNiah { keys: 1, values: 1, queries: 1, value_kind: ValueKind::Numbers }
            .build(&Haystack::Filler, &tok, 400, 0.5, seed)
            .unwrap();
        assert!(numbers.answers[0].len() == 7 && numbers.answers[0].parse::<u32>().is_ok());
        let uuids = Task::RulerNiah { keys: 2, values: 1, queries: 1, value_kind: ValueKind::Uuids }
            .build(&Haystack::Filler, &tok, 600, 0.5, seed)
            .unwrap();
        let u = &uuids.answers[0];
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4", "version 4");
        assert_eq!(u.matches('-').count(), 4);
        let vt = Task::VariableTracking { chains: 1, hops: 4 }.build(&Haystack::Noise, &tok, 600, 0.2, seed).unwrap();
        assert_eq!(vt.answers.len(), 5);
        assert!(vt.answers.iter().all(|v| v.len() == 5 && v.chars().all(|c| c.is_ascii_uppercase())));
        // The chain appears in order.
        let text = tok.decode(&vt.ids).unwrap();
        let at: Vec<usize> = vt.answers.iter().map(|v| text.find(&format!("VAR {v} =")).unwrap()).collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "chain out of order");
    }
    // Common words: the answers are the most frequent entries of the list actually included.
    for seed in 0..5 {
        let cwe = Task::CommonWords { common: 10 }.build(&Haystack::Filler, &tok, 2000, 0.5, seed).unwrap();
        // Re-count from the decoded list: every answer beats every other word.
        let text =
            tok.decode(&cwe.ids[cwe.needle_positions[0]..cwe.needle_positions[0] + cwe.haystack_tokens]).unwrap();
        let mut counts = std::collections::HashMap::<&str, usize>::new();
        for w in text.split_whitespace().filter(|w| !w.ends_with('.')) {
            *counts.entry(w).or_default() += 1;
        }
        let least_answer = cwe.answers.iter().map(|w| counts.get(w.as_str()).copied().unwrap_or(0)).min().unwrap();
        let most_other =
            counts.iter().filter(|(w, _)| !cwe.answers.iter().any(|a| a == *w)).map(|(_, c)| *c).max().unwrap_or(0);
        assert!(least_answer > most_other, "seed {seed}: answers {least_answer} vs others {most_other}");
        let fwe = Task::FrequentWords { alpha: 2.0 }.build(&Haystack::Filler, &tok, 2000, 0.5, seed).unwrap();
        assert_eq!(fwe.answers.len(), 3);
        assert!(!fwe.answers.contains(&"....".to_string()));
        let fs = Task::FindAndSort { items: 5 }.build(&Haystack::Filler, &tok, 1500, 0.2, seed).unwrap();
        let values: Vec<u32> = fs.answers.iter().map(|v| v.parse().unwrap()).collect();
        assert!(values.windows(2).all(|w| w[0] < w[1]), "sorted answers");
    }
    let short = Task::CommonWords { common: 10 }.build(&Haystack::Filler, &tok, 120, 0.5, 0).unwrap_err();
    assert!(short.to_string().contains("longer length") || short.to_string().contains("too short"), "{short}");
    let err = Task::Passkey.build(&Haystack::Noise, &tok, 40, 0.5, 0).unwrap_err();
    assert!(err.to_string().contains("too short"), "{err}");
    assert!(Task::Passkey.build(&Haystack::Noise, &tok, 400, 1.5, 0).is_err());
}

/// Cancelling between cells leaves a partial, resumable document; the resumed run equals an
/// uninterrupted one. (A tiny random model: this tests the runner, not the model.)
#[test]
fn sweeps_cancel_between_cells_and_resume_to_the_same_result() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use ctxscope_engine::backend::{block_on, Interrupt};
    use ctxscope_engine::probes::sweep::{run_sweep, ModelIdentity, SweepConfig};
    use ctxscope_engine::Engine;

    let file = ModelFile::from_bytes(common::TinyLlama::default().to_gguf()).unwrap();
    let tok = TextTokenizer::from_model(&file).unwrap();
    let mut model = Engine::cpu(&file).unwrap();
    let config = SweepConfig::from_json(
        r#"{"version": 1, "name": "t", "tasks": [{"name": "p", "task": {"task": "passkey"}}],
            "experiments": [{"name": "a", "experiment": {"version": 1}}, {"name": "w", "experiment": {"version": 1, "attention": {"pattern": "window", "window": 8}}}],
            "lengths": [300, 360], "depths": [0.2, 0.8], "seeds": 1, "haystack": {"kind": "noise"}}"#,
    )
    .unwrap();
    let identity = || ModelIdentity { name: None, sha256: "tiny".into(), file_bytes: 0, trained_ctx: 1024 };
    let clock = || 0.0;
    let never = Interrupt::default();
    let full =
        block_on(run_sweep(&config, &mut model, &tok, identity(), None, &never, &clock, &mut |_, _| {})).unwrap();
    assert!(full.complete && full.cells.len() == 8);
    // The CPU records entropy too: one mean per layer in every cell.
    assert!(full.cells.iter().all(|c| c.entropy.as_ref().is_some_and(|e| e.per_layer.len() == 2)));

    let flag = Arc::new(AtomicBool::new(false));
    let cancel = Interrupt { cancel: Some(flag.clone()), pause: None };
    let mut events = Vec::new();
    let partial = block_on(run_sweep(&config, &mut model, &tok, identity(), None, &cancel, &clock, &mut |p, r| {
        events.push((p.done, p.total, r.cells.len()));
        if p.done == 3 {
            flag.store(true, Ordering::Relaxed);
        }
    }))
    .unwrap();
    assert_eq!(events, [(1, 8, 1), (2, 8, 2), (3, 8, 3)]);
    assert!(!partial.complete && partial.cells.len() == 3);
    let resumed =
        block_on(run_sweep(&config, &mut model, &tok, identity(), Some(partial), &never, &clock, &mut |_, _| {}))
            .unwrap();
    assert!(resumed.complete);
    assert_eq!(resumed.result_hash, full.result_hash);
    assert_eq!(
        resumed.cells.iter().map(|c| &c.key).collect::<Vec<_>>(),
        full.cells.iter().map(|c| &c.key).collect::<Vec<_>>()
    );
}

/// The two probe cases from the bug reports, on the real model and the CPU backend.
fn run_case_file(name: &str) -> ctxscope_engine::probes::sweep::SweepResults {
    use ctxscope_engine::backend::{block_on, Interrupt};
    use ctxscope_engine::probes::sweep::{run_sweep, ModelIdentity, SweepConfig};
    use ctxscope_engine::Engine;

    let file = ModelFile::open(common::real_model_path()).unwrap();
    let tok = TextTokenizer::from_model(&file).unwrap();
    let mut engine = Engine::cpu(&file).unwrap();
    let text = std::fs::read_to_string(common::repo_root().join("tests/data/cases/probes").join(name)).unwrap();
    let config = SweepConfig::from_json(&text).unwrap();
    let identity = ModelIdentity { name: None, sha256: "real".into(), file_bytes: 0, trained_ctx: 8192 };
    block_on(run_sweep(&config, &mut engine, &tok, identity, None, &Interrupt::default(), &|| 0.0, &mut |_, _| {}))
        .unwrap()
}

/// gkamradt's format, rebuilt here the harness's way — tokenize the whole haystack, cut it,
/// walk back from the depth to the last period token, splice in the needle's tokens — must give
/// exactly the case's ids: the needle on its own line after a sentence end, no leading space at
/// the start of the context.
#[test]
fn niah_needle_sits_on_its_own_line_as_in_the_harness() {
    use ctxscope_engine::probes::haystack::NOISE;
    let tok = tokenizer();
    let task: Task = serde_json::from_str(r#"{"task":"niah"}"#).unwrap();
    let needle = "\nThe best thing to do in San Francisco is eat a sandwich and sit in Dolores Park on a sunny day.\n";
    let suffix = "\n\nQuestion: What is the best thing to do in San Francisco? Don't give information outside the document or repeat your findings.\nAnswer: The best thing to do in San Francisco is";
    let period = tok.encode(".").unwrap();
    for (length, depth) in [(200, 0.5), (200, 0.0), (200, 1.0), (600, 0.25), (1000, 0.8)] {
        let case = task.build(&Haystack::Noise, &tok, length, depth, 0).unwrap();
        let (needle_ids, suffix_ids) = (tok.encode(needle).unwrap(), tok.encode(suffix).unwrap());
        let budget = length - needle_ids.len() - suffix_ids.len();
        let haystack = NOISE.iter().cycle().take(400).copied().collect::<Vec<_>>().join(" ");
        let context = &tok.encode(&haystack).unwrap()[..budget];
        // The harness appends at depth 100 %, else walks back to a period token.
        let mut at = (budget as f64 * depth) as usize;
        while depth < 1.0 && at > 0 && !period.contains(&context[at - 1]) {
            at -= 1;
        }
        let expected: Vec<u32> =
            context[..at].iter().chain(&needle_ids).chain(&context[at..]).chain(&suffix_ids).copied().collect();
        assert_eq!(case.ids, expected, "{length} tokens at depth {depth}");
    }
    let text = tok.decode(&task.build(&Haystack::Noise, &tok, 200, 0.5, 0).unwrap().ids).unwrap();
    assert!(text.starts_with("The grass is green. The sky is blue."), "{text:.60}");
    assert!(text.contains(".\nThe best thing to do in San Francisco is eat a sandwich and sit in Dolores Park on a sunny day.\n There"), "{text}");
    // The bug report's case now scores −0.517 (it scored −0.618 with the needle glued on).
    let lp = run_case_file("niah-needle-format.json").cells[0].outcome.logprob.unwrap();
    assert!((lp - -0.517).abs() < 0.005, "teacher-forced log-probability {lp}");
}

/// Decoy keys that contain the real one must not count: every cell's verdict equals the
/// landmark protocol's (the first integer of the answer is the key) computed here.
#[test]
fn passkey_answers_are_matched_as_whole_numbers() {
    let results = run_case_file("passkey-superstring-distractors.json");
    assert_eq!(results.cells.len(), 16);
    let mut right = 0;
    for c in &results.cells {
        let generated = c.outcome.generated.as_deref().unwrap();
        let first: Option<u64> =
            generated.split(|ch: char| !ch.is_ascii_digit()).find(|s| !s.is_empty()).and_then(|s| s.parse().ok());
        let key: u64 = {
            let tok = tokenizer();
            let case =
                Task::Passkey.build(&results.config.haystack, &tok, c.key.length, c.key.depth, c.key.seed).unwrap();
            case.answers[0].parse().unwrap()
        };
        // The case file asks for "contains", now whole-value: it agrees with the first integer
        // here because the model answers with one number.
        assert_eq!(c.outcome.correct, first == Some(key), "{:?}: answered {generated:?} for key {key}", c.key);
        assert_eq!(c.outcome.rule, "contains");
        right += usize::from(c.outcome.correct);
    }
    eprintln!("passkey with superstring decoys: {right}/16 correct");
}

/// LongRoPE crossing its switch mid-generation (the bug report's setting: short factors 1, long
/// factors 1 + 15k/31, original context 48, a 41-token prompt, 24 greedy tokens). HF's fixed
/// Phi-3 behaviour drops the cache when the sequence crosses the original context, i.e. every
/// step equals a fresh pass over the whole sequence — the reference built here. The default
/// key-cache policy (recompute) reproduces it token for token.
#[test]
fn longrope_generation_across_the_switch_matches_a_fresh_pass_per_step() {
    use ctxscope_engine::experiment::{Experiment, KeyCache};
    use ctxscope_engine::rope::RopeMethod;
    use ctxscope_engine::score::top_k;
    use ctxscope_engine::Engine;

    let file = ModelFile::open(common::real_model_path()).unwrap();
    let tok = TextTokenizer::from_model(&file).unwrap();
    let mut engine = Engine::cpu(&file).unwrap();
    let long: Vec<f64> = (0..32).map(|k| 1.0 + 15.0 * k as f64 / 31.0).collect();
    let rope = RopeMethod::LongRope {
        short_factor: vec![1.0; 32],
        long_factor: long,
        factor: 1.0,
        original_ctx: Some(48),
        attention_factor: None,
    };
    let prompt = tok
        .encode("Long ago, in a small village by the sea, there lived an old astronomer who spent every single night on the windy hill behind his little house, quietly watching the stars in the dark sky above. He")
        .unwrap();
    assert_eq!(prompt.len(), 41, "the report's prompt length");
    let generate = |engine: &Engine, fresh_each_step: bool| -> Vec<u32> {
        let mut session = engine.session(80).unwrap();
        let mut ids = prompt.clone();
        let mut logits = session.forward_blocking(&ids, &[ids.len() - 1]).unwrap().remove(0);
        for _ in 0..24 {
            let next = top_k(&logits, 1)[0] as u32;
            ids.push(next);
            logits = if fresh_each_step {
                session.reset();
                session.forward_blocking(&ids, &[ids.len() - 1]).unwrap().remove(0)
            } else {
                session.forward_blocking(&[next], &[0]).unwrap().remove(0)
            };
        }
        ids[41..].to_vec()
    };
    let mut runs = Vec::new();
    for key_cache in [KeyCache::Recompute, KeyCache::PreRope, KeyCache::PostRope] {
        engine.set_experiment(&Experiment { rope: rope.clone(), key_cache, ..Experiment::default() }).unwrap();
        runs.push(generate(&engine, false));
    }
    let reference = generate(&engine, true);
    let diverge = |a: &[u32]| a.iter().zip(&reference).position(|(x, y)| x != y);
    eprintln!("reference: {:?}", tok.decode(&reference).unwrap());
    eprintln!(
        "first divergence (token index after the prompt): pre-rope {:?}, post-rope {:?}",
        diverge(&runs[1]),
        diverge(&runs[2])
    );
    assert_eq!(runs[0], reference, "recompute: {:?}", tok.decode(&runs[0]).unwrap());
    // Why recompute: re-rotated keys (pre-rope) and stale ones (post-rope) both drift after the
    // switch at token 7 (position 48).
    assert!(diverge(&runs[1]).is_some_and(|i| i >= 7) && diverge(&runs[2]).is_some_and(|i| i >= 7));
}

/// The entropy scan's points equal the entropies of a plain session over the same tokens, are
/// bounded by uniform attention, and a 4-key window caps them at ln 4.
#[test]
fn entropy_scan_points_equal_direct_measurements() {
    use ctxscope_engine::backend::{block_on, Interrupt};
    use ctxscope_engine::experiment::Experiment;
    use ctxscope_engine::pattern::AttentionPattern;
    use ctxscope_engine::probes::entropy_scan::{entropy_scan, EntropyScanConfig};
    use ctxscope_engine::Engine;

    let file = ModelFile::from_bytes(common::TinyLlama::default().to_gguf()).unwrap();
    let tokenizer = TextTokenizer::from_model(&file).unwrap();
    let mut engine = Engine::cpu(&file).unwrap();
    let config = EntropyScanConfig { haystack: Haystack::Noise, lengths: vec![8, 40, 96], tail: 6, seed: 3 };
    let mut streamed = 0;
    let points =
        block_on(entropy_scan(&engine, &tokenizer, &config, &Interrupt::default(), &|| 0.0, &mut |_| streamed += 1))
            .unwrap();
    assert_eq!((points.len(), streamed), (3, 3));
    let (ids, _) = Haystack::Noise.tokens(&tokenizer, 96, 3).unwrap();
    for p in &points {
        let mut session = engine.session(p.length).unwrap();
        session.record_entropy();
        session.forward_blocking(&ids[..p.length], &[]).unwrap();
        let trace = session.entropy().unwrap();
        assert_eq!(p.queries, 6);
        for (l, heads) in p.per_head.iter().enumerate() {
            for (h, &got) in heads.iter().enumerate() {
                let series = trace.series(l, h);
                let want = series[p.length - 6..].iter().sum::<f32>() / 6.0;
                assert!((got - want).abs() < 1e-5, "length {} layer {l} head {h}: {got} vs {want}", p.length);
            }
            let mean = heads.iter().sum::<f32>() / heads.len() as f32;
            assert!((p.per_layer[l] - mean).abs() < 1e-6);
            assert!(p.per_layer[l] <= p.uniform + 1e-4, "entropy {} above uniform {}", p.per_layer[l], p.uniform);
        }
        let uniform = (p.length - 6..p.length).map(|i| ((i + 1) as f32).ln()).sum::<f32>() / 6.0;
        assert!((p.uniform - uniform).abs() < 1e-5);
    }
    engine
        .set_experiment(&Experiment { attention: AttentionPattern::Window { window: 4 }, ..Experiment::default() })
        .unwrap();
    let windowed =
        block_on(entropy_scan(&engine, &tokenizer, &config, &Interrupt::default(), &|| 0.0, &mut |_| {})).unwrap();
    assert!(windowed.iter().flat_map(|p| p.per_head.iter().flatten()).all(|&h| h <= 4f32.ln() + 1e-4));
    let bad = EntropyScanConfig { lengths: vec![1], ..config.clone() };
    assert!(block_on(entropy_scan(&engine, &tokenizer, &bad, &Interrupt::default(), &|| 0.0, &mut |_| {})).is_err());
    let bad = EntropyScanConfig { lengths: vec![engine.max_context() + 1], ..config };
    assert!(block_on(entropy_scan(&engine, &tokenizer, &bad, &Interrupt::default(), &|| 0.0, &mut |_| {})).is_err());
}

/// Generated cases never change for a given (task, haystack, length, depth, seed): share links
/// and the tour's recorded outcomes replay them. A digest over every task family, haystack kind,
/// a few lengths, depths and seeds, recorded when the generators were split into one module per
/// family. Changing a generator on purpose means a new link version (docs/share-links.md).
#[test]
fn generated_cases_are_stable() {
    use sha2::{Digest, Sha256};
    let tok = tokenizer();
    let mut h = Sha256::new();
    for task in tasks() {
        for haystack in [Haystack::Filler, Haystack::Noise] {
            for length in [700, 2500] {
                for depth in [0.0, 0.37, 1.0] {
                    for seed in [0, 1, 12345] {
                        let case = match task.build(&haystack, &tok, length, depth, seed) {
                            Ok(case) => case,
                            Err(e) => {
                                h.update(e.to_string().as_bytes());
                                continue;
                            }
                        };
                        for id in case.ids.iter().chain(&case.target_ids) {
                            h.update(id.to_le_bytes());
                        }
                        h.update(case.answers.join("\u{1f}").as_bytes());
                        for p in &case.needle_positions {
                            h.update((*p as u64).to_le_bytes());
                        }
                    }
                }
            }
        }
    }
    let digest: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        digest, "34168269dd057b3309fcdd762702fcd60c01987f93db2016520f30c072dd507f",
        "the generated cases changed"
    );
}
