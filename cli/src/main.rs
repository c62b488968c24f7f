//! `ctxscope`: the engine from the command line. JSON goes to stdout; errors are one line on
//! stderr and a non-zero exit.

mod bench;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use ctxscope_engine::cpu::CpuModel;
use ctxscope_engine::generate::generate_greedy;
use ctxscope_engine::gpu::{GpuContext, GpuModel};
use ctxscope_engine::rope::{RopeFrequencies, RopeScaling};
use ctxscope_engine::score::score;
use ctxscope_engine::{ModelFile, TextTokenizer, DEFAULT_MODEL_FILE};
use serde_json::json;

#[derive(Parser)]
#[command(name = "ctxscope", version, about = "Long-context playground engine: inspect, tokenize, generate, score, bench")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum Backend {
    /// The CPU reference (candle, f32).
    Cpu,
    /// The WGSL engine on the GPU (wgpu: Vulkan, Metal or DX12).
    Gpu,
    /// The GPU if an adapter exists, else the CPU.
    Auto,
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum RopeName {
    Default,
    Linear,
    Ntk,
    Dynamic,
    Yarn,
    Llama3,
}

/// RoPE frequency scaling (spec §2), applied at inference time.
#[derive(clap::Args)]
struct RopeArgs {
    #[arg(long = "rope", value_enum, default_value_t = RopeName::Default)]
    name: RopeName,
    /// Scale factor s (target length / trained length).
    #[arg(long = "rope-factor", allow_negative_numbers = true)]
    factor: Option<f64>,
    /// Trained context L (default: the model's context length).
    #[arg(long = "rope-original-ctx")]
    original_ctx: Option<usize>,
    #[arg(long = "rope-low-freq-factor", default_value_t = 1.0)]
    low_freq_factor: f64,
    #[arg(long = "rope-high-freq-factor", default_value_t = 4.0)]
    high_freq_factor: f64,
    /// YaRN β_fast and β_slow (rotations at which the ramp ends and starts).
    #[arg(long = "yarn-beta-fast", default_value_t = 32.0)]
    beta_fast: f64,
    #[arg(long = "yarn-beta-slow", default_value_t = 1.0)]
    beta_slow: f64,
}

impl RopeArgs {
    /// The frequency table for a sequence of `seq_len` tokens.
    fn frequencies(&self, spec: &ctxscope_engine::ModelSpec, seq_len: usize) -> Result<RopeFrequencies, String> {
        let original_ctx = self.original_ctx.unwrap_or(spec.context_length);
        let factor = || match self.factor {
            Some(f) if f.is_finite() && f > 0.0 => Ok(f),
            Some(f) => Err(format!("--rope-factor must be positive, got {f}")),
            None => Err("this --rope needs --rope-factor".to_string()),
        };
        let scaling = match self.name {
            RopeName::Default => RopeScaling::Default,
            RopeName::Linear => RopeScaling::Linear { factor: factor()? },
            RopeName::Ntk => RopeScaling::Ntk { factor: factor()? },
            RopeName::Dynamic => RopeScaling::Dynamic { factor: factor()?, original_ctx },
            RopeName::Yarn => RopeScaling::Yarn { factor: factor()?, original_ctx, beta_fast: self.beta_fast, beta_slow: self.beta_slow },
            RopeName::Llama3 => RopeScaling::Llama3 {
                factor: factor()?,
                low_freq_factor: self.low_freq_factor,
                high_freq_factor: self.high_freq_factor,
                original_ctx,
            },
        };
        Ok(scaling.frequencies(spec.rope_freq_base, spec.head_dim, seq_len))
    }
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
    Info {
        #[command(flatten)]
        model: ModelArg,
    },
    /// Tokenize a text file (no special tokens added) and print {"ids": [...]}.
    Tokenize {
        #[command(flatten)]
        model: ModelArg,
        #[arg(long)]
        text_file: PathBuf,
    },
    /// Greedy continuation of a prompt, streamed to stdout.
    Generate {
        #[command(flatten)]
        model: ModelArg,
        #[arg(long)]
        prompt: String,
        #[arg(long, default_value_t = 32)]
        max_tokens: usize,
        #[arg(long, value_enum, default_value_t = Backend::Cpu)]
        backend: Backend,
    },
    /// Teacher-forced log-probabilities of a continuation after a prompt, as JSON.
    Score {
        #[command(flatten)]
        model: ModelArg,
        #[arg(long)]
        prompt_file: PathBuf,
        #[arg(long)]
        continuation_file: PathBuf,
        #[arg(long, value_enum, default_value_t = Backend::Cpu)]
        backend: Backend,
        /// Add per-layer and per-head attention entropy (nats, mean over positions); GPU only.
        #[arg(long)]
        entropy: bool,
        #[command(flatten)]
        rope: RopeArgs,
        /// Add the full attention row of LAYER,HEAD,POSITION (probabilities over keys); GPU only.
        #[arg(long, value_delimiter = ',', value_name = "LAYER,HEAD,POSITION")]
        attention_row: Option<Vec<usize>>,
    },
    /// GPU throughput: prefill tokens/s per length, decode tokens/s, memory.
    Bench(bench::BenchArgs),
}

fn default_model() -> PathBuf {
    Path::new("public/models").join(DEFAULT_MODEL_FILE)
}

type CliResult = Result<(), String>;

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

/// A loaded model on the chosen backend.
enum Engine {
    Cpu(CpuModel),
    Gpu(GpuModel),
}

impl Engine {
    fn load(file: &ModelFile, backend: Backend) -> Result<Self, String> {
        let gpu = match backend {
            Backend::Cpu => None,
            Backend::Gpu => Some(GpuContext::new_blocking().map_err(err)?),
            Backend::Auto => match GpuContext::new_blocking() {
                Ok(ctx) => Some(ctx),
                Err(e) => {
                    eprintln!("ctxscope: {e}; using the CPU");
                    None
                }
            },
        };
        Ok(match gpu {
            Some(ctx) => Self::Gpu(GpuModel::load(Arc::new(ctx), file).map_err(err)?),
            None => Self::Cpu(CpuModel::load(file).map_err(err)?),
        })
    }
}

fn run(cli: Cli) -> CliResult {
    match cli.command {
        Command::Info { model } => {
            let file = open_model(&model.model)?;
            let mut value = serde_json::to_value(file.spec()).map_err(|e| e.to_string())?;
            value["path"] = json!(model.model.display().to_string());
            print_json(&value)
        }
        Command::Tokenize { model, text_file } => {
            let file = open_model(&model.model)?;
            let tokenizer = TextTokenizer::from_model(&file).map_err(err)?;
            let ids = tokenizer.encode(&read_text(&text_file)?).map_err(err)?;
            print_json(&json!({ "ids": ids }))
        }
        Command::Generate { model, prompt, max_tokens, backend } => {
            let file = open_model(&model.model)?;
            let tokenizer = TextTokenizer::from_model(&file).map_err(err)?;
            let capacity = tokenizer.encode_prompt(&prompt).map_err(err)?.len() + max_tokens;
            let mut stdout = std::io::stdout();
            let mut on_text = |piece: &str| {
                // A closed pipe (e.g. `| head`) is not an error worth reporting mid-stream.
                let _ = write!(stdout, "{piece}").and_then(|_| stdout.flush());
            };
            match Engine::load(&file, backend)? {
                Engine::Cpu(m) => generate_greedy(&mut m.session(), &tokenizer, &prompt, max_tokens, &mut on_text),
                Engine::Gpu(m) => {
                    generate_greedy(&mut m.session(capacity).map_err(err)?, &tokenizer, &prompt, max_tokens, &mut on_text)
                }
            }
            .map_err(err)?;
            println!();
            Ok(())
        }
        Command::Score { model, prompt_file, continuation_file, backend, entropy, rope, attention_row } => {
            let prompt = read_text(&prompt_file)?;
            let continuation = read_text(&continuation_file)?;
            let file = open_model(&model.model)?;
            let tokenizer = TextTokenizer::from_model(&file).map_err(err)?;
            let total = tokenizer.encode_prompt(&prompt).map_err(err)?.len() + tokenizer.encode(&continuation).map_err(err)?.len();
            // One forward pass over the whole sequence: dynamic methods see its full length.
            let freqs = rope.frequencies(file.spec(), total)?;
            let mut engine = Engine::load(&file, backend)?;
            match &mut engine {
                Engine::Cpu(m) => m.set_rope(freqs).map_err(err)?,
                Engine::Gpu(m) => m.set_rope(freqs).map_err(err)?,
            }
            if (entropy || attention_row.is_some()) && matches!(engine, Engine::Cpu(_)) {
                return Err("--entropy and --attention-row need the GPU engine (--backend gpu, or auto with a GPU present)".into());
            }
            let mut row = None;
            let (out, trace) = match &engine {
                Engine::Cpu(m) => (score(&mut m.session(), &tokenizer, &prompt, &continuation).map_err(err)?, None),
                Engine::Gpu(m) => {
                    let mut session = m.session(total.max(1)).map_err(err)?;
                    if entropy {
                        session.record_entropy();
                    }
                    if let Some(r) = &attention_row {
                        if r.len() != 3 {
                            return Err("--attention-row takes LAYER,HEAD,POSITION".into());
                        }
                        if r[2] >= total {
                            return Err(format!("--attention-row position {} is beyond the {total} tokens scored", r[2]));
                        }
                        session.capture_attention_row(r[0], r[1], r[2]).map_err(err)?;
                    }
                    let out = score(&mut session, &tokenizer, &prompt, &continuation).map_err(err)?;
                    row = session.attention_row().map(<[f32]>::to_vec);
                    (out, session.entropy().cloned())
                }
            };
            let mut value = serde_json::to_value(&out).map_err(|e| e.to_string())?;
            value["backend"] = json!(match engine {
                Engine::Cpu(_) => "cpu",
                Engine::Gpu(_) => "gpu",
            });
            if let Some(trace) = trace {
                let per_head = trace.mean_per_head();
                let per_layer: Vec<f32> = per_head.iter().map(|h| h.iter().sum::<f32>() / h.len() as f32).collect();
                value["entropy"] = json!({ "unit": "nats", "positions": trace.positions, "per_layer_mean": per_layer, "per_head_mean": per_head });
            }
            if let (Some(r), Some(probs)) = (attention_row, row) {
                value["attention_row"] = json!({ "layer": r[0], "head": r[1], "position": r[2], "probs": probs });
            }
            print_json(&value)
        }
        Command::Bench(args) => bench::run(args),
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("ctxscope: {msg}");
            ExitCode::FAILURE
        }
    }
}
