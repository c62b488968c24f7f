//! `ctxscope bench`: prefill and decode throughput on real text, measured end to end (a forward
//! pass until its logits are back on the host), on the GPU (default) or the CPU reference.

use std::path::PathBuf;
use std::time::Instant;

use ctxscope_engine::backend::{BackendChoice, Engine};
use ctxscope_engine::gpu::GpuModel;
use ctxscope_engine::score::top_k;
use ctxscope_engine::{Session, TextTokenizer};
use serde_json::json;

use super::{err, open_model, print_json, CliResult, ModelArg};

#[derive(clap::Args)]
pub struct BenchArgs {
    #[command(flatten)]
    model: ModelArg,
    /// Prompt lengths (tokens) to time prefill at.
    #[arg(long, value_delimiter = ',', default_value = "1024,4096,8192,16384")]
    lengths: Vec<usize>,
    /// Tokens to decode after a 4096-token prompt.
    #[arg(long, default_value_t = 128)]
    decode_tokens: usize,
    /// Context the decode benchmark starts from.
    #[arg(long, default_value_t = 4096)]
    decode_context: usize,
    /// Timed repetitions per length (the best is reported, after one warm-up).
    #[arg(long, default_value_t = 2)]
    repeats: usize,
    /// Text the prompts are cut from (repeated as needed); defaults to a built-in paragraph.
    #[arg(long)]
    text_file: Option<PathBuf>,
    /// Time every kernel with GPU timestamp queries and add a per-kernel breakdown (slows the
    /// run slightly: each submission waits for its timestamps).
    #[arg(long)]
    profile: bool,
    /// Print JSON (always on; kept for the documented command line).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    experiment: crate::experiment_args::ExperimentArgs,
    /// gpu (the WGSL engine) or cpu (the reference; no kernel profile or memory report).
    #[arg(long, default_value = "gpu")]
    backend: BackendChoice,
}

const DEFAULT_TEXT: &str = "The lighthouse keeper kept a log of every ship that passed, the weather at dawn and dusk, \
and the number of gulls on the rail. Over forty years the entries grew shorter, but he never missed a day. \
When the light was automated, the log went to the town museum, where children still read it aloud. ";

fn tokens(tokenizer: &TextTokenizer, text: &str, n: usize) -> Result<Vec<u32>, String> {
    let base = tokenizer.encode(text).map_err(err)?;
    if base.is_empty() {
        return Err("the benchmark text has no tokens".into());
    }
    Ok(base.iter().copied().cycle().take(n).collect())
}

pub fn run(args: BenchArgs) -> CliResult {
    let file = open_model(&args.model.model)?;
    let tokenizer = TextTokenizer::from_model(&file).map_err(err)?;
    let text = match &args.text_file {
        Some(p) => std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?,
        None => DEFAULT_TEXT.to_string(),
    };
    let load_start = Instant::now();
    let mut engine = Engine::load_blocking(&file, args.backend).map_err(err)?.engine;
    let experiment = args.experiment.experiment()?;
    engine.set_experiment(&experiment).map_err(err)?;
    // Which prefill matmul and attention ran (`coop_f16` or `f32`) and the tensor-core configurations the
    // adapter offers, so that a measurement says what it measured.
    let (adapter, kernels, profiling) = match engine.gpu_model_mut() {
        Some(model) => {
            let ctx = model.context();
            let info = &ctx.adapter_info;
            let adapter = format!("{} ({:?}, {})", info.name, info.backend, info.driver_info);
            let kernels = json!({ "matmul_kernel": ctx.matmul_kernel_name(),
                "attention_kernel": ctx.attention_kernel_name(),
                "reductions": ctx.reductions_label(),
                "cooperative_matrices": ctx.cooperative_matrix_configs() });
            (adapter, kernels, args.profile && model.enable_profiling())
        }
        None => (
            engine.device_label(),
            json!({ "matmul_kernel": null, "attention_kernel": null, "reductions": null, "cooperative_matrices": [] }),
            false,
        ),
    };
    let load_s = load_start.elapsed().as_secs_f64();
    let spec = engine.spec().clone();
    let (weight_bytes, scratch_bytes) = engine.gpu_model().map_or((0, 0), |m| (m.weight_bytes(), m.scratch_bytes()));

    let mut prefill = Vec::new();
    let mut peak = 0u64;
    for &len in &args.lengths {
        let ids = tokens(&tokenizer, &text, len)?;
        let mut best = f64::INFINITY;
        for _ in 0..=args.repeats {
            let mut session = engine.session(len).map_err(err)?;
            let t = Instant::now();
            session.forward_blocking(&ids, &[len - 1]).map_err(err)?;
            best = best.min(t.elapsed().as_secs_f64());
        }
        let kv = spec.kv_bytes_per_token() * len as u64;
        peak = peak.max(weight_bytes + kv + scratch_bytes);
        let kernels = profile_json(&engine, profiling, args.repeats + 1);
        prefill.push(json!({ "tokens": len, "seconds": best, "tokens_per_s": len as f64 / best,
            "kv_cache_bytes": kv, "kernel_ms": kernels }));
    }

    // Decode: `decode_tokens` steps after `decode_context` tokens, twice: as generation runs
    // them (`Session::decode_greedy`: on the GPU the pick is made there and two steps are in
    // flight), and one `forward` per step with the logits brought back (what a caller that
    // looks at every step's distribution pays).
    let ids = tokens(&tokenizer, &text, args.decode_context + args.decode_tokens)?;
    let steps = args.decode_tokens;
    // Returns the seconds and how many steps ran pipelined.
    let decode = |greedy: bool| -> Result<(f64, usize), String> {
        let mut session = engine.session(args.decode_context + steps + 4).map_err(err)?;
        let logits = session.forward_blocking(&ids[..args.decode_context], &[args.decode_context - 1]).map_err(err)?;
        let mut next = top_k(&logits[0], 1)[0] as u32;
        // `n` steps from `next`; returns the last pick.
        let run = |session: &mut Session, next: u32, n: usize| -> Result<u32, String> {
            let mut last = next;
            if greedy {
                let mut done = 0;
                session
                    .decode_greedy_blocking(next, &mut |pick| {
                        (done, last) = (done + 1, pick);
                        Ok(done < n)
                    })
                    .map_err(err)?;
            } else {
                for _ in 0..n {
                    let logits = session.forward_blocking(&[last], &[0]).map_err(err)?;
                    last = top_k(&logits[0], 1)[0] as u32;
                }
            }
            Ok(last)
        };
        next = run(&mut session, next, 2)?; // warm-up: the decode kernels' pipelines are built on first use
        let _ = profile_json(&engine, profiling, 1); // drop the prompt's and warm-up's kernels
        let before = session.pipelined_steps();
        let t = Instant::now();
        if steps > 0 {
            run(&mut session, next, steps)?;
        }
        Ok((t.elapsed().as_secs_f64(), session.pipelined_steps() - before))
    };
    let (decode_s, pipelined) = decode(true)?;
    let decode_kernels = profile_json(&engine, profiling, steps);
    let (logits_s, _) = decode(false)?;
    let _ = profile_json(&engine, profiling, steps);

    print_json(&json!({
        "backend": engine.backend().name(),
        "adapter": adapter,
        "matmul_kernel": kernels["matmul_kernel"],
        "attention_kernel": kernels["attention_kernel"],
        "reductions": kernels["reductions"],
        "cooperative_matrices": kernels["cooperative_matrices"],
        "experiment": experiment,
        "model": spec.name,
        "weights_load_seconds": load_s,
        "prefill": prefill,
        "decode": { "context": args.decode_context, "tokens": steps, "seconds": decode_s,
            "tokens_per_s": steps as f64 / decode_s, "kernel_ms_per_token": decode_kernels,
            "path": "Session::decode_greedy", "pipelined_steps": pipelined,
            "note": "pipelined steps pick on the GPU with the next step in flight; the others (CPU backend, --profile) run forward per step" },
        "decode_with_logits": { "context": args.decode_context, "tokens": steps, "seconds": logits_s,
            "tokens_per_s": steps as f64 / logits_s, "path": "Session::forward per step, logits read back" },
        "gpu_memory": engine.gpu_model().map(|_| json!({ "weights_bytes": weight_bytes, "peak_allocated_bytes": peak,
            "note": "bytes ctxscope allocates (weights + KV cache + one prefill chunk of scratch); WebGPU exposes no driver-side usage" })),
    }))
}

/// Per-kernel GPU milliseconds per run since the last call (null when not profiling).
fn profile_json(engine: &Engine, profiling: bool, runs: usize) -> serde_json::Value {
    let rows = engine.gpu_model().map(GpuModel::take_profile).unwrap_or_default();
    if !profiling {
        return serde_json::Value::Null;
    }
    let total: f64 = rows.iter().map(|r| r.1).sum();
    let mut out = serde_json::Map::new();
    for (kernel, ms, count) in rows {
        out.insert(kernel, json!({ "ms": ms / runs as f64, "dispatches": count as usize / runs }));
    }
    out.insert("total_gpu".into(), json!({ "ms": total / runs as f64 }));
    serde_json::Value::Object(out)
}
