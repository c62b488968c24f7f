//! `ctxscope`: the engine from the command line. JSON goes to stdout; errors are one line on
//! stderr and a non-zero exit.

mod bench;
mod experiment_args;
mod sweep;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ctxscope_engine::backend::{block_on, BackendChoice, Engine, Interrupt};
use ctxscope_engine::experiment::{Experiment, Plan};
use ctxscope_engine::generate::generate_greedy;
use ctxscope_engine::gpu::{PrecisionKernels, PRECISION_KERNELS_ENV};
use ctxscope_engine::probes::entropy_scan::{entropy_scan, EntropyScanConfig};
use ctxscope_engine::probes::haystack::Haystack;
use ctxscope_engine::rope::precision::{deviation_probe, ProbeConfig};
use ctxscope_engine::rope::{RopePrecision, RopeTable};
use ctxscope_engine::score::score;
use ctxscope_engine::{ModelFile, TextTokenizer, DEFAULT_MODEL_FILE};
use experiment_args::ExperimentArgs;
use serde_json::json;

#[derive(Parser)]
#[command(
    name = "ctxscope",
    version,
    about = "Long-context playground engine: inspect, tokenize, generate, score, bench, sweep"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// GPU prefill matmul and attention: f32 (exact f32 kernels everywhere, the default:
    /// results do not depend on the GPU) or fast (on the tensor cores, inputs and attention
    /// probabilities rounded to f16, sums and softmax in f32, where the device has cooperative
    /// matrices; the f32 kernels elsewhere). The same as setting CTXSCOPE_PRECISION_KERNELS.
    #[arg(long, global = true, value_name = "f32|fast")]
    precision_kernels: Option<PrecisionKernels>,
}

#[derive(clap::Args)]
struct ModelArg {
    /// GGUF model file.
    #[arg(long, default_value_os_t = default_model())]
    model: PathBuf,
}

#[derive(Subcommand)]
enum Command {
    /// Print the model's metadata as JSON.
    Info(InfoArgs),
    /// Tokenize a text file (no special tokens added) and print {"ids": [...]}.
    Tokenize(TokenizeArgs),
    /// Greedy continuation of a prompt, streamed to stdout.
    Generate(GenerateArgs),
    /// Teacher-forced log-probabilities of a continuation after a prompt, as JSON.
    Score(ScoreArgs),
    /// GPU throughput: prefill tokens/s per length, decode tokens/s, memory.
    Bench(bench::BenchArgs),
    /// The resolved RoPE tables of an experiment for a sequence of N tokens: per-pair inv_freq
    /// (k = 0..d/2−1), wavelengths, the cos/sin factor, every key region and the logit scale.
    RopeTable(RopeTableArgs),
    /// Run a probe sweep (tasks × lengths × depths × experiments × seeds), or one shard of it,
    /// and write the results JSON; progress on stderr. The partial file is saved every few
    /// seconds and on Ctrl-C, so an interrupted run resumes with --resume.
    Sweep(sweep::SweepArgs),
    /// Join the results files of a sweep's shards (docs/sharding.md) into the document an
    /// unsharded run writes.
    Merge(sweep::MergeArgs),
    /// Print the accuracy-vs-length table and MECW estimates of a results file.
    Mecw(sweep::MecwArgs),
    /// Mean attention entropy (nats) of every layer and head over the last queries of one
    /// haystack text run at each length, with ln(i+1) of uniform attention for scale, as JSON.
    EntropyScan(EntropyScanArgs),
    /// The AnchorAttention probe (docs/methods.md#rope-precision): |logit(m+Δ, m) − f64| per RoPE
    /// precision mode as the absolute position m grows, with random N(0,1) q and k, as JSON.
    PrecisionProbe(PrecisionProbeArgs),
}

#[derive(clap::Args)]
struct InfoArgs {
    #[command(flatten)]
    model: ModelArg,
}

#[derive(clap::Args)]
struct TokenizeArgs {
    #[command(flatten)]
    model: ModelArg,
    #[arg(long)]
    text_file: PathBuf,
}

#[derive(clap::Args)]
struct GenerateArgs {
    #[command(flatten)]
    model: ModelArg,
    #[arg(long)]
    prompt: String,
    #[arg(long, default_value_t = 32)]
    max_tokens: usize,
    /// cpu (the reference), gpu (the WGSL engine), or auto (the GPU when a hardware adapter
    /// can run the model, else the CPU).
    #[arg(long, default_value = "cpu")]
    backend: BackendChoice,
    #[command(flatten)]
    experiment: ExperimentArgs,
}

#[derive(clap::Args)]
struct ScoreArgs {
    #[command(flatten)]
    model: ModelArg,
    #[arg(long)]
    prompt_file: PathBuf,
    #[arg(long)]
    continuation_file: PathBuf,
    /// cpu, gpu or auto (see `generate --help`).
    #[arg(long, default_value = "cpu")]
    backend: BackendChoice,
    /// Add per-layer and per-head attention entropy (nats, mean over positions).
    #[arg(long)]
    entropy: bool,
    #[command(flatten)]
    experiment: ExperimentArgs,
    /// Add the full attention row of LAYER,HEAD,POSITION (probabilities over keys).
    #[arg(long, value_delimiter = ',', value_name = "LAYER,HEAD,POSITION")]
    attention_row: Option<Vec<usize>>,
}

#[derive(clap::Args)]
struct RopeTableArgs {
    #[command(flatten)]
    model: ModelArg,
    #[command(flatten)]
    experiment: ExperimentArgs,
    /// Sequence length to resolve for (dynamic methods depend on it; default: the model's
    /// context length).
    #[arg(long)]
    seq_len: Option<usize>,
    /// Print JSON (the default prints a table).
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct EntropyScanArgs {
    #[command(flatten)]
    model: ModelArg,
    #[command(flatten)]
    experiment: ExperimentArgs,
    #[arg(long, default_value = "cpu")]
    backend: BackendChoice,
    /// Context lengths in tokens.
    #[arg(long, value_delimiter = ',', default_value = "256,512,1024,2048")]
    lengths: Vec<usize>,
    /// How many of each run's last queries are averaged.
    #[arg(long, default_value_t = 64)]
    tail: usize,
    /// filler or noise (or --haystack-file for your own text).
    #[arg(long, default_value = "filler")]
    haystack: String,
    #[arg(long)]
    haystack_file: Option<PathBuf>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

#[derive(clap::Args)]
struct PrecisionProbeArgs {
    #[command(flatten)]
    model: ModelArg,
    #[command(flatten)]
    experiment: ExperimentArgs,
    #[arg(long, value_delimiter = ',', default_value = "1,16,256")]
    deltas: Vec<usize>,
    /// Absolute positions m (default 0 and 64, 128, …, 32768).
    #[arg(long, value_delimiter = ',')]
    starts: Option<Vec<usize>>,
    #[arg(long, default_value_t = 256)]
    samples: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// Rust ignores SIGPIPE, which turns a closed stdout (`ctxscope info | head -c 10`) into a
/// "Broken pipe" panic at the next `println!`. A command-line filter should instead end quietly
/// when its reader goes away, as C tools do: restore the default disposition, so the write that
/// finds the pipe closed ends the process with the conventional SIGPIPE status.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called once at startup, before any thread exists; it only changes the
    // disposition of SIGPIPE back to the OS default.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn default_model() -> PathBuf {
    Path::new("public/models").join(DEFAULT_MODEL_FILE)
}

/// A one-line message for stderr and the exit status (1, or 130 for an interrupted sweep, as a
/// shell reports a Ctrl-C, so scripts can tell "stopped, resumable" from "failed").
#[derive(Debug)]
struct CliError {
    message: String,
    code: u8,
}

impl From<String> for CliError {
    fn from(message: String) -> Self {
        Self { message, code: 1 }
    }
}

impl From<&str> for CliError {
    fn from(message: &str) -> Self {
        message.to_string().into()
    }
}

type CliResult = Result<(), CliError>;

fn err(e: ctxscope_engine::Error) -> String {
    e.to_string()
}

fn open_model(path: &Path) -> Result<ModelFile, String> {
    ModelFile::open(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn read_text(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn print_json(value: &serde_json::Value) -> CliResult {
    let text = serde_json::to_string(value).map_err(|e| e.to_string())?;
    println!("{text}");
    Ok(())
}

/// Loads `file` on `backend` with `experiment`; says on stderr why `auto` took the CPU.
fn load_engine(file: &ModelFile, backend: BackendChoice, experiment: &Experiment) -> Result<Engine, String> {
    let loaded = Engine::load_blocking(file, backend).map_err(err)?;
    if let Some(note) = loaded.note {
        eprintln!("ctxscope: {note}");
    }
    let mut engine = loaded.engine;
    engine.set_experiment(experiment).map_err(err)?;
    Ok(engine)
}

/// Says on stderr when an experiment replaces (or builds on) the RoPE scaling the model declares.
fn note_baseline(plan: &Plan) {
    if let Some(note) =
        plan.baseline_note().filter(|_| !matches!(plan.experiment.rope, ctxscope_engine::rope::RopeMethod::Model))
    {
        eprintln!("ctxscope: note: RoPE {note}");
    }
}

fn run(cli: Cli) -> CliResult {
    match cli.command {
        Command::Info(args) => info(args),
        Command::Tokenize(args) => tokenize(args),
        Command::Generate(args) => generate(args),
        Command::Score(args) => score_command(args),
        Command::Bench(args) => bench::run(args),
        Command::RopeTable(args) => rope_table(args),
        Command::Sweep(args) => sweep::run(args),
        Command::Merge(args) => sweep::merge(args),
        Command::Mecw(args) => sweep::mecw(args),
        Command::EntropyScan(args) => entropy_scan_command(args),
        Command::PrecisionProbe(args) => precision_probe(args),
    }
}

fn info(args: InfoArgs) -> CliResult {
    let file = open_model(&args.model.model)?;
    let mut value = serde_json::to_value(file.spec()).map_err(|e| e.to_string())?;
    value["path"] = json!(args.model.model.display().to_string());
    print_json(&value)
}

fn tokenize(args: TokenizeArgs) -> CliResult {
    let file = open_model(&args.model.model)?;
    let tokenizer = TextTokenizer::from_model(&file).map_err(err)?;
    let ids = tokenizer.encode(&read_text(&args.text_file)?).map_err(err)?;
    print_json(&json!({ "ids": ids }))
}

fn generate(args: GenerateArgs) -> CliResult {
    let experiment = args.experiment.experiment()?;
    let file = open_model(&args.model.model)?;
    let tokenizer = TextTokenizer::from_model(&file).map_err(err)?;
    let capacity = tokenizer.encode_prompt(&args.prompt).map_err(err)?.len() + args.max_tokens;
    let engine = load_engine(&file, args.backend, &experiment)?;
    note_baseline(engine.plan());
    let mut session = engine.session(capacity).map_err(err)?;
    let mut stdout = std::io::stdout();
    let mut on_text = |piece: &str| {
        // A closed pipe ends the process by SIGPIPE (see main); other write errors are not
        // worth stopping a generation for.
        let _ = write!(stdout, "{piece}").and_then(|_| stdout.flush());
    };
    block_on(generate_greedy(&mut session, &tokenizer, &args.prompt, args.max_tokens, &mut on_text)).map_err(err)?;
    println!();
    Ok(())
}

fn score_command(args: ScoreArgs) -> CliResult {
    let experiment = args.experiment.experiment()?;
    let prompt = read_text(&args.prompt_file)?;
    let continuation = read_text(&args.continuation_file)?;
    let file = open_model(&args.model.model)?;
    let tokenizer = TextTokenizer::from_model(&file).map_err(err)?;
    let prompt_ids = tokenizer.encode_prompt(&prompt).map_err(err)?;
    let continuation_ids = tokenizer.encode(&continuation).map_err(err)?;
    let total = prompt_ids.len() + continuation_ids.len();
    let engine = load_engine(&file, args.backend, &experiment)?;
    // One forward pass over the whole sequence: dynamic methods see its full length.
    let mut session = engine.session(total.max(1)).map_err(err)?;
    if args.entropy {
        session.record_entropy();
    }
    if let Some(r) = &args.attention_row {
        if r.len() != 3 {
            return Err("--attention-row takes LAYER,HEAD,POSITION".into());
        }
        if r[2] >= total {
            return Err(format!("--attention-row position {} is beyond the {total} tokens scored", r[2]).into());
        }
        session.capture_attention_row(r[0], r[1], r[2]).map_err(err)?;
    }
    let out = block_on(score(&mut session, &tokenizer, &prompt, &continuation)).map_err(err)?;
    let mut value = serde_json::to_value(&out).map_err(|e| e.to_string())?;
    value["experiment"] = json!(experiment);
    value["backend"] = json!(engine.backend().name());
    if let Some(note) = engine.plan().baseline_note() {
        value["rope_baseline"] = json!(note);
    }
    if let Some(trace) = session.entropy() {
        value["entropy"] = json!({ "unit": "nats", "positions": trace.positions, "per_layer_mean": trace.mean_per_layer(), "per_head_mean": trace.mean_per_head() });
    }
    if let Some(row) = session.attention_row() {
        // The key tokens travel with the row, so the page's Attention view can label them.
        let tokens: Vec<String> =
            prompt_ids.iter().chain(&continuation_ids).take(row.position + 1).map(|&id| tokenizer.piece(id)).collect();
        value["attention_row"] = json!({ "layer": row.layer, "head": row.head, "position": row.position, "probs": row.probs, "tokens": tokens });
    }
    print_json(&value)
}

fn rope_table(args: RopeTableArgs) -> CliResult {
    let experiment = args.experiment.experiment()?;
    let file = open_model(&args.model.model)?;
    let plan = Plan::new(&experiment, file.spec()).map_err(err)?;
    let seq_len = args.seq_len.unwrap_or(file.spec().context_length).max(1);
    let table = RopeTable::new(&plan, seq_len);
    if args.json {
        print_json(&serde_json::to_value(&table).map_err(|e| e.to_string())?)
    } else {
        print_rope_table(&table);
        Ok(())
    }
}

fn entropy_scan_command(args: EntropyScanArgs) -> CliResult {
    let experiment = args.experiment.experiment()?;
    let haystack = match (args.haystack.as_str(), args.haystack_file) {
        (_, Some(path)) => Haystack::Text { text: read_text(&path)? },
        ("filler", None) => Haystack::Filler,
        ("noise", None) => Haystack::Noise,
        (other, None) => return Err(format!("--haystack {other}: use filler, noise or --haystack-file").into()),
    };
    let file = open_model(&args.model.model)?;
    let tokenizer = TextTokenizer::from_model(&file).map_err(err)?;
    let engine = load_engine(&file, args.backend, &experiment)?;
    let config = EntropyScanConfig { haystack, lengths: args.lengths, tail: args.tail, seed: args.seed };
    let t0 = std::time::Instant::now();
    let clock = move || t0.elapsed().as_secs_f64();
    let points = block_on(entropy_scan(&engine, &tokenizer, &config, &Interrupt::default(), &clock, &mut |p| {
        eprintln!("entropy-scan: {} tokens in {:.1} s", p.length, p.seconds);
    }))
    .map_err(err)?;
    print_json(
        &json!({ "experiment": experiment, "backend": engine.backend().name(), "config": config, "points": points }),
    )
}

fn precision_probe(args: PrecisionProbeArgs) -> CliResult {
    let experiment = args.experiment.experiment()?;
    let file = open_model(&args.model.model)?;
    let plan = Plan::new(&experiment, file.spec()).map_err(err)?;
    let starts = args.starts.unwrap_or_else(|| ProbeConfig::default().starts);
    let deltas = args.deltas;
    if deltas.is_empty() || starts.is_empty() || args.samples == 0 {
        return Err("--deltas, --starts and --samples must be non-empty".into());
    }
    let seq_len = starts.iter().max().unwrap_or(&0) + deltas.iter().max().unwrap_or(&0) + 1;
    let freqs = plan.regions(seq_len).remove(0).freqs;
    let config =
        ProbeConfig { deltas, starts, samples: args.samples, seed: args.seed, modes: RopePrecision::ALL.to_vec() };
    let result = deviation_probe(&freqs, &config);
    print_json(&json!({ "experiment": experiment, "probe": result }))
}

fn print_rope_table(t: &RopeTable) {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} at {} tokens (head_dim {}, base {})",
        t.experiment.rope.name(),
        t.seq_len,
        t.head_dim,
        t.base
    );
    for (r, region) in t.regions.iter().enumerate() {
        let _ = writeln!(
            out,
            "region {r}: Δ in [{}, {}), cos/sin × {}, query at {:?}, key at {:?}",
            region.delta_min,
            region.delta_max.map_or("∞".to_string(), |m| m.to_string()),
            region.attention_scaling,
            region.query_position,
            region.key_position
        );
        let _ = writeln!(out, "  {:>4} {:>14} {:>16}", "k", "inv_freq", "wavelength");
        for (k, (f, w)) in region.inv_freq.iter().zip(&region.wavelengths).enumerate() {
            let _ = writeln!(out, "  {k:>4} {f:>14.6e} {w:>16.1}");
        }
    }
    let _ = writeln!(out, "logit scale: {:?} (at the last query: {})", t.logit_scale, t.logit_scale_at_last_query);
    if let Some(note) = &t.rope_baseline {
        let _ = writeln!(out, "RoPE: {note}");
    }
    // A closed pipe ends the process quietly (see main).
    let _ = std::io::stdout().write_all(out.as_bytes());
}

fn main() -> ExitCode {
    restore_sigpipe();
    let cli = Cli::parse();
    if let Some(choice) = cli.precision_kernels {
        // The engine reads its GPU options from the environment when it creates the device;
        // the flag is that variable's command-line spelling. Set here, before any thread or
        // device exists.
        std::env::set_var(PRECISION_KERNELS_ENV, choice.name());
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ctxscope: {}", e.message);
            ExitCode::from(e.code)
        }
    }
}
