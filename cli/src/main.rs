//! `ctxscope`: the engine from the command line. JSON goes to stdout; errors are one line on
//! stderr and a non-zero exit.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use ctxscope_engine::cpu::CpuModel;
use ctxscope_engine::generate::generate_greedy;
use ctxscope_engine::score::score;
use ctxscope_engine::{ModelFile, TextTokenizer, DEFAULT_MODEL_FILE};
use serde_json::json;

#[derive(Parser)]
#[command(name = "ctxscope", version, about = "Long-context playground engine: inspect, tokenize, generate, score")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Backend {
    Cpu,
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
    },
}

fn default_model() -> PathBuf {
    Path::new("public/models").join(DEFAULT_MODEL_FILE)
}

type CliResult = Result<(), String>;

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

fn run(cli: Cli) -> CliResult {
    let err = |e: ctxscope_engine::Error| e.to_string();
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
        Command::Generate { model, prompt, max_tokens, backend: Backend::Cpu } => {
            let file = open_model(&model.model)?;
            let tokenizer = TextTokenizer::from_model(&file).map_err(err)?;
            let cpu = CpuModel::load(&file).map_err(err)?;
            let mut stdout = std::io::stdout();
            let mut session = cpu.session();
            generate_greedy(&mut session, &tokenizer, &prompt, max_tokens, &mut |piece| {
                // A closed pipe (e.g. `| head`) is not an error worth reporting mid-stream.
                let _ = write!(stdout, "{piece}").and_then(|_| stdout.flush());
            })
            .map_err(err)?;
            println!();
            Ok(())
        }
        Command::Score { model, prompt_file, continuation_file, backend: Backend::Cpu } => {
            let prompt = read_text(&prompt_file)?;
            let continuation = read_text(&continuation_file)?;
            let file = open_model(&model.model)?;
            let tokenizer = TextTokenizer::from_model(&file).map_err(err)?;
            let cpu = CpuModel::load(&file).map_err(err)?;
            let out = score(&mut cpu.session(), &tokenizer, &prompt, &continuation).map_err(err)?;
            print_json(&serde_json::to_value(out).map_err(|e| e.to_string())?)
        }
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
