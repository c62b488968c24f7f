//! The `ctxscope` CLI contract on the real default model (later tooling parses this output).

use std::path::PathBuf;
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn ctxscope(args: &[&str]) -> Output {
    let model = root().join("public/models/smollm2-135m-instruct-q4_1.gguf");
    assert!(model.exists(), "{} is missing: run scripts/fetch-model.sh", model.display());
    // Run from the repo root so the default --model path resolves.
    Command::new(env!("CARGO_BIN_EXE_ctxscope")).args(args).current_dir(root()).output().unwrap()
}

fn json_stdout(out: &Output) -> serde_json::Value {
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("stdout is one JSON document")
}

/// This run's scratch directory, under cargo's per-target scratch space (not the system temp
/// directory: a run writes ~100 MB of patched models, which piled up there run after run). The
/// previous run's files are removed on first use, so at most one run's files are kept.
fn scratch_dir() -> &'static PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-tests");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    })
}

fn temp_file(name: &str, contents: &[u8]) -> PathBuf {
    let path = scratch_dir().join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

#[test]
fn info_reports_the_model() {
    let v = json_stdout(&ctxscope(&["info"]));
    assert_eq!(v["architecture"], "llama");
    assert_eq!(v["block_count"], 30);
    assert_eq!(v["head_count"], 9);
    assert_eq!(v["head_count_kv"], 3);
    assert_eq!(v["head_dim"], 64);
    assert_eq!(v["context_length"], 8192);
    assert_eq!(v["rope_freq_base"], 100000.0);
    assert_eq!(v["vocab_size"], 49152);
    assert_eq!(v["tensor_types"]["Q4_1"], 210);
    assert_eq!(v["tensor_types"]["Q8_0"], 1);
}

#[test]
fn tokenize_prints_ids() {
    let f = temp_file("hello.txt", b"Hello, World!");
    let v = json_stdout(&ctxscope(&["tokenize", "--text-file", f.to_str().unwrap()]));
    assert_eq!(v["ids"], serde_json::json!([19556, 28, 2260, 17]));
}

#[test]
fn score_follows_the_contract() {
    let p = temp_file("p.txt", b"The colour of a clear daytime sky is");
    let c = temp_file("c.txt", b" blue.");
    let v = json_stdout(&ctxscope(&[
        "score",
        "--prompt-file",
        p.to_str().unwrap(),
        "--continuation-file",
        c.to_str().unwrap(),
        "--backend",
        "cpu",
    ]));
    assert_eq!(v["prompt_tokens"], 8);
    assert_eq!(v["continuation_ids"], serde_json::json!([4461, 30]));
    let logprobs: Vec<f64> = v["logprobs"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
    let sum = v["logprob_sum"].as_f64().unwrap();
    assert!((logprobs.iter().sum::<f64>() - sum).abs() < 1e-9);
    assert_eq!(v["top5_ids"].as_array().unwrap().len(), 5);
    assert_eq!(v["top5_logits"].as_array().unwrap().len(), 5);
}

#[test]
fn generate_streams_paris() {
    let out = ctxscope(&["generate", "--prompt", "The capital of France is", "--max-tokens", "6"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Paris"));
}

#[test]
fn errors_are_one_line_and_nonzero() {
    let bad = temp_file("bad.gguf", b"GGUF\x03\0\0\0short");
    for args in [
        vec!["info", "--model", "/nonexistent/model.gguf"],
        vec!["info", "--model", bad.to_str().unwrap()],
        vec!["tokenize", "--text-file", "/nonexistent.txt"],
    ] {
        let out = ctxscope(&args);
        assert!(!out.status.success(), "{args:?} succeeded");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("ctxscope: "), "{stderr}");
        assert!(out.stdout.is_empty());
    }
    let empty = temp_file("empty.txt", b"");
    let cont = temp_file("cont.txt", b" x");
    let out =
        ctxscope(&["score", "--prompt-file", empty.to_str().unwrap(), "--continuation-file", cont.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("prompt is empty"));
}

#[test]
fn gpu_score_adds_entropy_and_an_attention_row() {
    let p = temp_file("gp.txt", b"The colour of a clear daytime sky is");
    let c = temp_file("gc.txt", b" blue.");
    let (p, c) = (p.to_str().unwrap(), c.to_str().unwrap());
    let out = ctxscope(&[
        "score",
        "--prompt-file",
        p,
        "--continuation-file",
        c,
        "--backend",
        "gpu",
        "--entropy",
        "--attention-row",
        "2,4,6",
    ]);
    // A run that succeeds prints nothing on stderr (no windowing-system noise from Vulkan).
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    let v = json_stdout(&out);
    assert_eq!(v["backend"], "gpu");
    assert_eq!(v["top5_ids"][0], 253, "same top-1 as HF");
    let per_layer = v["entropy"]["per_layer_mean"].as_array().unwrap();
    assert_eq!(per_layer.len(), 30);
    assert!(per_layer.iter().all(|e| e.as_f64().unwrap() >= 0.0));
    assert_eq!(v["entropy"]["per_head_mean"][0].as_array().unwrap().len(), 9);
    let probs: Vec<f64> = v["attention_row"]["probs"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
    assert_eq!(probs.len(), 7, "keys 0..=6");
    assert!((probs.iter().sum::<f64>() - 1.0).abs() < 1e-4);
    // The CPU reference records the same entropy and row (it is their oracle).
    let cpu = json_stdout(&ctxscope(&[
        "score",
        "--prompt-file",
        p,
        "--continuation-file",
        c,
        "--entropy",
        "--attention-row",
        "2,4,6",
    ]));
    assert_eq!(cpu["backend"], "cpu");
    for (a, b) in cpu["entropy"]["per_layer_mean"].as_array().unwrap().iter().zip(per_layer) {
        assert!((a.as_f64().unwrap() - b.as_f64().unwrap()).abs() < 1e-3, "entropy CPU {a} vs GPU {b}");
    }
    for (a, b) in cpu["attention_row"]["probs"].as_array().unwrap().iter().zip(&probs) {
        assert!((a.as_f64().unwrap() - b).abs() < 1e-3, "row CPU {a} vs GPU {b}");
    }
}

#[test]
fn score_applies_rope_scaling_and_validates_its_flags() {
    let p = temp_file("rp.txt", b"The colour of a clear daytime sky is");
    let c = temp_file("rc.txt", b" blue.");
    let (p, c) = (p.to_str().unwrap(), c.to_str().unwrap());
    let base = json_stdout(&ctxscope(&["score", "--prompt-file", p, "--continuation-file", c]));
    let linear = json_stdout(&ctxscope(&[
        "score",
        "--prompt-file",
        p,
        "--continuation-file",
        c,
        "--rope",
        "linear",
        "--rope-factor",
        "4",
    ]));
    let diff = (base["logprob_sum"].as_f64().unwrap() - linear["logprob_sum"].as_f64().unwrap()).abs();
    assert!(diff > 1e-3, "linear ×4 interpolation changes the scores (Δ {diff})");
    // Dynamic NTK below the trained context is the default table.
    let dynamic = json_stdout(&ctxscope(&[
        "score",
        "--prompt-file",
        p,
        "--continuation-file",
        c,
        "--rope",
        "dynamic",
        "--rope-factor",
        "4",
    ]));
    assert_eq!(dynamic["logprobs"], base["logprobs"]);
    for bad in [vec!["--rope", "yarn"], vec!["--rope", "ntk", "--rope-factor", "-2"]] {
        let mut args = vec!["score", "--prompt-file", p, "--continuation-file", c];
        args.extend(bad.iter());
        let out = ctxscope(&args);
        assert!(!out.status.success(), "{bad:?} accepted");
        assert!(String::from_utf8_lossy(&out.stderr).contains("factor"), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn experiment_flags_and_configs_reach_the_engine() {
    let p = temp_file("ep.txt", b"The colour of a clear daytime sky is blue, and the colour of grass is");
    let c = temp_file("ec.txt", b" green.");
    let (p, c) = (p.to_str().unwrap(), c.to_str().unwrap());
    let score = |extra: &[&str]| {
        let mut args = vec!["score", "--prompt-file", p, "--continuation-file", c];
        args.extend(extra);
        json_stdout(&ctxscope(&args))
    };
    let base = score(&[]);
    let window = score(&["--window", "4"]);
    assert_eq!(window["experiment"]["attention"], serde_json::json!({"pattern": "window", "window": 4}));
    assert_ne!(window["logprobs"], base["logprobs"], "a 4-key window changes the scores");
    // The same experiment from a config file gives the same numbers; flags override the file.
    let config = temp_file("exp.json", br#"{"version": 1, "attention": {"pattern": "window", "window": 4}}"#);
    let from_file = score(&["--config", config.to_str().unwrap()]);
    assert_eq!(from_file["logprobs"], window["logprobs"]);
    let overridden = score(&["--config", config.to_str().unwrap(), "--window", "1000"]);
    assert_eq!(overridden["logprobs"], base["logprobs"], "a window longer than the prompt is full attention");
    // Position-map methods act only beyond their windows: a 4-token ReRoPE window changes the
    // scores, STRING's default offset (2703) does not reach this prompt.
    let rerope = score(&["--rope", "rerope", "--rerope-window", "4", "--no-log-n"]);
    assert_ne!(rerope["logprobs"], base["logprobs"]);
    let string = score(&["--rope", "string", "--attention-factor", "1"]);
    assert_eq!(string["logprobs"], base["logprobs"]);
    let out = ctxscope(&[
        "generate",
        "--prompt",
        "The capital of France is",
        "--max-tokens",
        "3",
        "--rope",
        "self-extend",
        "--self-extend-group-size",
        "2",
        "--self-extend-neighbor-window",
        "8",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for (bad, msg) in [
        (vec!["--sinks", "4"], "need --window"),
        (vec!["--rope", "linear", "--rope-factor", "2", "--rerope-window", "3"], "does not apply"),
        (vec!["--rope", "abf"], "--rope-base"),
        (vec!["--rope", "string", "--string-shifted-offset", "10", "--string-local-window", "20"], "local_window"),
        (vec!["--rope", "rerope", "--window", "8", "--sinks", "2"], "cache positions"),
    ] {
        let mut args = vec!["score", "--prompt-file", p, "--continuation-file", c];
        args.extend(bad.iter());
        let out = ctxscope(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(msg), "{bad:?}: {err}");
    }
    let v2 = temp_file("exp2.json", br#"{"version": 2}"#);
    let out = ctxscope(&["score", "--prompt-file", p, "--continuation-file", c, "--config", v2.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("version 2"));
}

#[test]
fn rope_table_resolves_regions_and_lengths() {
    let table = |extra: &[&str]| {
        let mut args = vec!["rope-table", "--json"];
        args.extend(extra);
        json_stdout(&ctxscope(&args))
    };
    let string = table(&["--rope", "string", "--seq-len", "9000"]);
    assert_eq!(string["regions"].as_array().unwrap().len(), 2);
    assert_eq!(string["regions"][1]["delta_min"], 2703, "S = 0.33·8192");
    assert_eq!(string["regions"][1]["query_position"]["offset"], 128.0 - 2703.0);
    assert!((string["attention_scaling"].as_f64().unwrap() - 1.0693).abs() < 1e-4);
    // Dynamic NTK (s = 2) at 16384 tokens: base 310,822 (docs/methods.md#method-dynamic); at 8192 the default table.
    let dynamic = table(&["--rope", "dynamic", "--rope-factor", "2", "--seq-len", "16384"]);
    let theta1 = dynamic["inv_freq"][1].as_f64().unwrap();
    assert!((theta1 / 310_822f64.powf(-2.0 / 64.0) - 1.0).abs() < 1e-5, "θ_1 = {theta1}");
    let standard = table(&[]);
    assert_eq!(
        table(&["--rope", "dynamic", "--rope-factor", "2", "--seq-len", "8192"])["inv_freq"],
        standard["inv_freq"]
    );
    let wavelength = standard["wavelengths"][31].as_f64().unwrap();
    assert!((wavelength - 438_460.0).abs() < 50.0, "λ_31 = {wavelength} (docs/methods.md#method-default)");
    let eabf = table(&["--rope", "eabf", "--seq-len", "16384"]);
    assert!((eabf["logit_scale_at_last_query"].as_f64().unwrap() - 1.0769).abs() < 1e-4);
    let probe = json_stdout(&ctxscope(&["precision-probe", "--deltas", "16", "--starts", "0,4096", "--samples", "16"]));
    let series = probe["probe"]["series"].as_array().unwrap();
    assert_eq!(series.len(), 5, "one series per precision mode");
    let c = series.iter().find(|s| s["mode"] == "bf16-angles").unwrap();
    assert!(c["mean_abs_deviation"][1].as_f64().unwrap() > 0.1, "bf16 angles break RoPE at m = 4096");
}

/// A small real sweep on the CPU: the results parse as the documented schema, the hash and the
/// summaries recompute, resuming a partial file reproduces the full run, and recall at the
/// shortest length is high. Measured at 256 tokens (teacher-forced, every target token the
/// argmax): passkey 6/6, NIAH 5/6 (its 14-token target must be exact); the threshold is 0.8.
#[test]
fn sweep_runs_resumes_and_estimates_mecw() {
    use ctxscope_engine::probes::sweep::{result_hash, summarize, SweepResults};
    let config = temp_file(
        "sweep.json",
        br#"{"version": 1, "name": "ci", "tasks": [{"name": "passkey", "task": {"task": "passkey"}}, {"name": "niah", "task": {"task": "niah"}}],
             "lengths": [256, 512], "depths": [0.1, 0.5, 0.9], "seeds": 2, "haystack": {"kind": "filler"}}"#,
    );
    let out = temp_file("results.json", b"");
    let (c, o) = (config.to_str().unwrap(), out.to_str().unwrap());
    let run = ctxscope(&["sweep", "--config", c, "--out", o, "--backend", "cpu"]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let results: SweepResults = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(results.schema, "ctxscope-sweep-results");
    assert!(results.complete && results.cells.len() == 24);
    assert_eq!(results.model.sha256, ctxscope_engine::DEFAULT_MODEL_SHA256);
    assert_eq!(results.result_hash, result_hash(&results.cells));
    // JSON floats may lose the last ulp: compare the counts and estimates exactly.
    let recomputed = summarize(&results.config, &results.cells, 8192);
    assert_eq!(results.summaries.len(), recomputed.len());
    for (a, b) in results.summaries.iter().zip(&recomputed) {
        assert_eq!((a.mecw.mecw_absolute, a.mecw.mecw_relative), (b.mecw.mecw_absolute, b.mecw.mecw_relative));
        let counts = |s: &ctxscope_engine::probes::sweep::TaskSummary| {
            s.curve.iter().map(|p| (p.length, p.cases, p.correct)).collect::<Vec<_>>()
        };
        assert_eq!(counts(a), counts(b));
    }
    for s in &results.summaries {
        assert!(
            s.curve[0].accuracy >= 0.8,
            "{} recall at {} tokens: {}",
            s.task,
            s.curve[0].length,
            s.curve[0].accuracy
        );
    }
    // Drop the last 10 cells, mark the file partial, and resume.
    let mut partial = results.clone();
    partial.cells.truncate(14);
    partial.complete = false;
    std::fs::write(&out, serde_json::to_vec(&partial).unwrap()).unwrap();
    let resumed = ctxscope(&["sweep", "--config", c, "--out", o, "--backend", "cpu", "--resume"]);
    assert!(resumed.status.success(), "{}", String::from_utf8_lossy(&resumed.stderr));
    let again: SweepResults = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(again.result_hash, results.result_hash, "resumed run reproduces the scores");
    let table = ctxscope(&["mecw", o]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("passkey / default: MECW") && text.contains("95% CI"), "{text}");
    // A config for another model or grid is refused instead of mixing results.
    let other = temp_file("sweep2.json", br#"{"version": 1, "name": "ci", "tasks": [{"name": "passkey", "task": {"task": "passkey"}}], "lengths": [300]}"#);
    let refused = ctxscope(&["sweep", "--config", other.to_str().unwrap(), "--out", o, "--backend", "cpu", "--resume"]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("different sweep config"));
}

/// A results document as JSON with every cell's wall time removed: what two runs of one sweep
/// must agree on byte for byte.
fn without_timings(path: &std::path::Path) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    for cell in v["cells"].as_array_mut().unwrap() {
        cell.as_object_mut().unwrap().remove("seconds");
    }
    v
}

/// Two shards merged give the unsharded run's document (cells in order, summaries,
/// `result_hash`); a merge with a shard missing is refused, and with --allow-partial it is a
/// partial file that `sweep --resume` completes to the same document.
#[test]
fn sweep_shards_merge_into_the_unsharded_results() {
    let config = temp_file(
        "shard-sweep.json",
        br#"{"version": 1, "name": "shards", "tasks": [{"name": "passkey", "task": {"task": "passkey"}}, {"name": "niah", "task": {"task": "niah"}}],
             "lengths": [256], "depths": [0.3, 0.7], "seeds": 2}"#,
    );
    let c = config.to_str().unwrap();
    let path = |name: &str| temp_file(name, b"");
    let (whole, s0, s1, merged, partial) =
        (path("whole.json"), path("shard0.json"), path("shard1.json"), path("merged.json"), path("partial.json"));
    let sweep = |out: &PathBuf, extra: &[&str]| {
        let mut args = vec!["sweep", "--config", c, "--backend", "cpu", "--out", out.to_str().unwrap()];
        args.extend(extra);
        let run = ctxscope(&args);
        assert!(run.status.success(), "{extra:?}: {}", String::from_utf8_lossy(&run.stderr));
        run
    };
    sweep(&whole, &[]);
    let shard = sweep(&s0, &["--shard", "0/2"]);
    assert!(shard.stdout.is_empty(), "a shard prints no share link");
    sweep(&s1, &["--shard", "1/2"]);
    let doc = |p: &PathBuf| -> serde_json::Value { serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap() };
    assert_eq!(doc(&s1)["shard"], serde_json::json!({"index": 1, "count": 2}));
    assert_eq!(doc(&s1)["cells"].as_array().unwrap().len(), 4);
    assert!(doc(&whole).get("shard").is_none(), "an unsharded document has no shard field");

    let (s0, s1, m) = (s0.to_str().unwrap(), s1.to_str().unwrap(), merged.to_str().unwrap());
    let out = ctxscope(&["merge", s1, s0, "-o", m]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(without_timings(&merged), without_timings(&whole), "merged shards = the unsharded run");

    let out = ctxscope(&["merge", s1, "-o", m]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("4 of 8 cells are missing (from shard 0/2)"), "{stderr}");
    let out = ctxscope(&["merge", s1, s1, "-o", m]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("twice"), "{}", String::from_utf8_lossy(&out.stderr));
    let p = partial.to_str().unwrap();
    let out = ctxscope(&["merge", s1, "--allow-partial", "-o", p]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(doc(&partial)["complete"], false);
    sweep(&partial, &["--resume"]);
    assert_eq!(without_timings(&partial), without_timings(&whole), "a resumed partial merge = the unsharded run");

    let refused = ctxscope(&["sweep", "--config", c, "--out", p, "--shard", "2/2"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && stderr.contains("the index must be below the count"), "{stderr}");
}

/// `--devices 1` with lavapipe counted as a GPU (`CTXSCOPE_SOFTWARE_ADAPTERS=1`): the child
/// shard runs, writes its file and log beside --out, and the merged document is the one a
/// plain GPU run writes (same result hash), with the sweep's link on stdout.
#[test]
fn sweep_devices_runs_the_shards_and_merges_them() {
    let config = temp_file(
        "devices-run.json",
        br#"{"version": 1, "name": "devices-run", "tasks": [{"name": "passkey", "task": {"task": "passkey"}}], "lengths": [160], "depths": [0.5], "seeds": 1}"#,
    );
    let (plain, sharded) = (temp_file("devices-plain.json", b""), temp_file("devices-merged.json", b""));
    let run = |out: &PathBuf, extra: &[&str]| {
        let mut args =
            vec!["sweep", "--config", config.to_str().unwrap(), "--backend", "gpu", "--out", out.to_str().unwrap()];
        args.extend(extra);
        let model = root().join("public/models/smollm2-135m-instruct-q4_1.gguf");
        assert!(model.exists());
        let out = Command::new(env!("CARGO_BIN_EXE_ctxscope"))
            .args(&args)
            .env(ctxscope_engine::gpu::SOFTWARE_ADAPTERS_ENV, "1")
            .current_dir(root())
            .output()
            .unwrap();
        assert!(out.status.success(), "{extra:?}: {}", String::from_utf8_lossy(&out.stderr));
        out
    };
    run(&plain, &[]);
    let out = run(&sharded, &["--devices", "1"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("#v1."), "the merged sweep's link is printed");
    let hash = |p: &PathBuf| {
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
        (v["result_hash"].as_str().unwrap().to_string(), v["cells"].as_array().unwrap().len())
    };
    assert_eq!(hash(&sharded), hash(&plain));
    let beside = |ext: &str| sharded.with_file_name(format!("devices-merged.shard-0-of-1.{ext}"));
    assert!(beside("json").exists() && beside("log").exists(), "the shard's file and log are kept beside --out");
}

/// `--devices` refuses what it cannot run before starting any shard: a count of zero, another
/// backend, an explicit shard, and (on a machine with no hardware GPU, as here: lavapipe does
/// not count) `all`. The run itself is measured on the two-GPU device box (BENCHMARKS.md).
#[test]
fn sweep_devices_refuses_what_it_cannot_run() {
    let config = temp_file(
        "devices.json",
        br#"{"version": 1, "name": "devices", "tasks": [{"name": "passkey", "task": {"task": "passkey"}}], "lengths": [256], "depths": [0.5], "seeds": 1}"#,
    );
    let out = temp_file("devices-out.json", b"");
    let base = ["sweep", "--config", config.to_str().unwrap(), "--out", out.to_str().unwrap()];
    let stderr = |extra: &[&str]| {
        let run = ctxscope(&[&base[..], extra].concat());
        assert!(!run.status.success(), "{extra:?} was accepted");
        String::from_utf8_lossy(&run.stderr).into_owned()
    };
    assert!(stderr(&["--devices", "0"]).contains("expected `all` or a GPU count"));
    assert!(stderr(&["--devices", "all", "--backend", "cpu"]).contains("use it with --backend gpu"));
    assert!(stderr(&["--devices", "all", "--shard", "0/2"]).contains("cannot be used with"));
    if std::env::var(ctxscope_engine::gpu::SOFTWARE_ADAPTERS_ENV).is_err()
        && ctxscope_engine::gpu::hardware_adapters().is_empty()
    {
        assert!(stderr(&["--devices", "all"]).contains("no hardware GPU adapter"));
        assert!(stderr(&["--devices", "2"]).contains("this host has 0 hardware GPU adapter(s)"));
    }
}

/// SIGINT after the first cell: the sweep stops, saves a valid partial file, exits 130 and says
/// how to resume; --resume then completes it. (About 15 cells' time on the CPU: the signal is
/// sent as soon as the first periodic save appears, so the run cannot finish first.)
#[test]
fn an_interrupted_sweep_saves_and_resumes() {
    use ctxscope_engine::probes::sweep::{result_hash, SweepResults};
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    let config = temp_file(
        "interrupt.json",
        br#"{"version": 1, "name": "interrupt", "tasks": [{"name": "passkey", "task": {"task": "passkey"}}],
             "lengths": [256], "depths": [0.5], "seeds": 16}"#,
    );
    let out = temp_file("interrupted.json", b"");
    std::fs::remove_file(&out).unwrap();
    let args = ["sweep", "--config", config.to_str().unwrap(), "--out", out.to_str().unwrap(), "--backend", "cpu"];
    let child = Command::new(env!("CARGO_BIN_EXE_ctxscope"))
        .args(args)
        .current_dir(root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !out.exists() {
        assert!(start.elapsed() < Duration::from_secs(300), "no partial save after 300 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: kill(2) on the child's pid, which is ours and not yet reaped.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) }, 0);
    let run = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("run the same command with --resume"), "{stderr}");
    let partial: SweepResults = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert!(!partial.complete && !partial.cells.is_empty() && partial.cells.len() < 16, "{}", partial.cells.len());
    assert_eq!(partial.result_hash, result_hash(&partial.cells));

    let mut resume = args.to_vec();
    resume.push("--resume");
    let resumed = ctxscope(&resume);
    assert!(resumed.status.success(), "{}", String::from_utf8_lossy(&resumed.stderr));
    let done: SweepResults = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert!(done.complete && done.cells.len() == 16);
    assert_eq!(done.cells[..partial.cells.len()], partial.cells[..], "the saved cells are kept");
    assert_eq!(done.cells.iter().map(|c| c.key.clone()).collect::<Vec<_>>(), done.config.cells());
}

/// Every example config parses, validates and expands to its grid.
#[test]
fn example_sweeps_are_valid() {
    use ctxscope_engine::probes::sweep::SweepConfig;
    let dir = root().join("examples");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let config = SweepConfig::from_json(&std::fs::read_to_string(&path).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(!config.cells().is_empty());
            n += 1;
        }
    }
    assert!(n >= 4, "examples/ has {n} sweep configs");
}

/// `ctxscope … | head -c 10` and `… | true`: when the reader goes away, every subcommand ends
/// quietly — exit 0 or the conventional SIGPIPE status, nothing on stderr, no panic.
#[test]
fn a_closed_pipe_ends_quietly() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;

    let text = temp_file("pipe.txt", "word ".repeat(20_000).as_bytes());
    let model = root().join("public/models/smollm2-135m-instruct-q4_1.gguf");
    assert!(model.exists());
    for args in [
        vec!["info"],
        vec!["tokenize", "--text-file", text.to_str().unwrap()],
        vec!["rope-table", "--json"],
        vec!["rope-table"],
        vec!["generate", "--prompt", "Once upon a time", "--max-tokens", "40"],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ctxscope"))
            .args(&args)
            .current_dir(root())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take()); // the reader is gone before the first write
        let out = child.wait_with_output().unwrap();
        let quiet = out.status.success() || out.status.signal() == Some(13);
        assert!(quiet, "{args:?}: {:?}", out.status);
        assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{args:?}");
    }
}

/// The real model with `keys` added to its metadata (candle's GGUF writer), in a temp file.
fn patched_model(name: &str, keys: &[(&str, candle_core::quantized::gguf_file::Value)]) -> PathBuf {
    use candle_core::quantized::gguf_file::{self, Content};
    let path = root().join("public/models/smollm2-135m-instruct-q4_1.gguf");
    let mut src = std::fs::File::open(&path).unwrap();
    let content = Content::read(&mut src).unwrap();
    let mut metadata: Vec<(String, gguf_file::Value)> =
        content.metadata.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    metadata.extend(keys.iter().map(|(k, v)| (k.to_string(), v.clone())));
    let tensors: Vec<(String, candle_core::quantized::QTensor)> = content
        .tensor_infos
        .keys()
        .map(|n| (n.clone(), content.tensor(&mut src, n, &candle_core::Device::Cpu).unwrap()))
        .collect();
    let md: Vec<(&str, &gguf_file::Value)> = metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let ts: Vec<(&str, &candle_core::quantized::QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let out = temp_file(name, b"");
    let mut w = std::fs::File::create(&out).unwrap();
    gguf_file::write(&mut w, &md, &ts).unwrap();
    out
}

/// A GGUF that declares linear ×4: `info` shows it, `rope-table` with no flags reproduces it,
/// `score` runs it, and an explicit `--rope` replaces it and says so.
#[test]
fn rope_scaling_declared_in_the_gguf_is_the_baseline() {
    use candle_core::quantized::gguf_file::Value;
    let model = patched_model(
        "linear4.gguf",
        &[("llama.rope.scaling.type", Value::String("linear".into())), ("llama.rope.scaling.factor", Value::F32(4.0))],
    );
    let m = model.to_str().unwrap();
    let info = json_stdout(&ctxscope(&["info", "--model", m]));
    assert_eq!(info["rope"]["scaling"], serde_json::json!({"type": "linear", "factor": 4.0}));
    let table = json_stdout(&ctxscope(&["rope-table", "--json", "--model", m]));
    // θ_20 = 1e5^(−40/64) / 4.
    let theta20 = table["inv_freq"][20].as_f64().unwrap();
    assert!((theta20 - 1.8747e-4).abs() < 1e-8, "θ_20 = {theta20}");
    assert_eq!(table["rope_baseline"], "the model's declared linear ×4");

    let p = temp_file("dp.txt", b"The colour of a clear daytime sky is");
    let c = temp_file("dc.txt", b" blue, and at night it is black.");
    let score = |model: &str, extra: &[&str]| {
        let mut args = vec![
            "score",
            "--model",
            model,
            "--prompt-file",
            p.to_str().unwrap(),
            "--continuation-file",
            c.to_str().unwrap(),
        ];
        args.extend(extra);
        json_stdout(&ctxscope(&args))
    };
    let original = root().join("public/models/smollm2-135m-instruct-q4_1.gguf");
    let original = original.to_str().unwrap();
    let declared = score(m, &[]);
    let explicit = score(original, &["--rope", "linear", "--rope-factor", "4"]);
    let plain = score(original, &[]);
    assert_eq!(declared["logprobs"], explicit["logprobs"], "declared linear ×4 = --rope linear --rope-factor 4");
    assert_ne!(declared["logprobs"], plain["logprobs"], "and not the unscaled model");
    let replaced = score(m, &["--rope", "default"]);
    assert_eq!(replaced["rope_baseline"], "default replacing the model's declared linear ×4");
    assert_eq!(replaced["logprobs"], plain["logprobs"]);
}
