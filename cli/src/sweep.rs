//! `ctxscope sweep` and `ctxscope mecw`.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use ctxscope_engine::backend::{block_on, BackendChoice, Interrupt};
use ctxscope_engine::experiment::{Experiment, Plan};
use ctxscope_engine::probes::sweep::{run_sweep, sha256_hex, ModelIdentity, SweepConfig, SweepResults};
use ctxscope_engine::rope::RopeMethod;
use ctxscope_engine::share::{SharedModel, SharedResult, SharedState, LINK_COMFORT_CHARS};
use ctxscope_engine::TextTokenizer;

use super::{err, load_engine, open_model, read_text, CliResult, ModelArg};

/// Seconds between saves of the partial results.
const SAVE_EVERY_S: f64 = 5.0;

#[derive(clap::Args)]
pub struct SweepArgs {
    #[command(flatten)]
    model: ModelArg,
    /// Sweep config (JSON; see examples/ and docs/results-schema.md).
    #[arg(long, required_unless_present = "link", conflicts_with = "link")]
    config: Option<PathBuf>,
    /// Run the sweep of a share link (a page URL with `#v1.…`, or the fragment): the page's
    /// experiment, on this machine. The model must be the link's (checked by sha256).
    #[arg(long)]
    link: Option<String>,
    /// The page the printed share link opens (docs/share-links.md).
    #[arg(long, env = "CTXSCOPE_PAGE", default_value = "http://127.0.0.1:8080/")]
    page: String,
    /// Where the page downloads the model from, recorded in the share link (default: the link's
    /// own URL with --link, else none — the page then asks for the file and checks its sha256).
    #[arg(long)]
    model_url: Option<String>,
    /// Results file to write.
    #[arg(long)]
    out: PathBuf,
    /// cpu, gpu or auto (see `generate --help`).
    #[arg(long, default_value = "gpu")]
    backend: BackendChoice,
    /// Continue from the cells already in --out (same config and model).
    #[arg(long)]
    resume: bool,
}

/// Writes `results` to `path` atomically (temp file, then rename), so an interrupted run never
/// leaves a truncated file.
fn save(path: &Path, results: &SweepResults) -> Result<(), String> {
    let text = serde_json::to_string_pretty(results).map_err(|e| e.to_string())?;
    let tmp = path.with_extension("json.partial");
    std::fs::write(&tmp, text).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

pub fn run(args: SweepArgs) -> CliResult {
    let link = args.link.as_deref().map(SharedState::decode).transpose().map_err(err)?;
    let config = match (&args.config, &link) {
        (Some(path), _) => SweepConfig::from_json(&read_text(path)?).map_err(|e| format!("{}: {e}", path.display()))?,
        (None, Some(l)) => {
            l.sweep.clone().ok_or("the link holds no sweep (open it in the page, run one, and share that)")?
        }
        (None, None) => return Err("give --config or --link".into()),
    };
    let file = open_model(&args.model.model)?;
    let sha256 = sha256_hex(file.bytes());
    if let Some(m) = link.as_ref().and_then(|l| l.model.as_ref()) {
        if m.sha256 != sha256 {
            return Err(format!(
                "the link was made with another model file: its sha256 is {}, {} has {sha256}{}",
                m.sha256,
                args.model.model.display(),
                m.url.as_ref().map_or(String::new(), |u| format!(" (the link's model: {u})"))
            ));
        }
    }
    let tokenizer = TextTokenizer::from_model(&file).map_err(err)?;
    let identity = ModelIdentity {
        name: file.spec().name.clone(),
        sha256: sha256.clone(),
        file_bytes: file.bytes().len() as u64,
        trained_ctx: file.spec().context_length,
    };
    let previous = if args.resume && args.out.exists() {
        let text = read_text(&args.out)?;
        Some(
            serde_json::from_str::<SweepResults>(&text)
                .map_err(|e| format!("{}: not a results file: {e}", args.out.display()))?,
        )
    } else {
        None
    };
    let mut engine = load_engine(&file, args.backend, &Experiment::default())?;
    for e in &config.experiments {
        if let Ok(plan) = Plan::new(&e.experiment, file.spec()) {
            if let Some(note) = plan.baseline_note().filter(|_| !matches!(e.experiment.rope, RopeMethod::Model)) {
                eprintln!("ctxscope: note: experiment {}: RoPE {note}", e.name);
            }
        }
    }
    let t0 = Instant::now();
    let clock = move || t0.elapsed().as_secs_f64();
    let interrupt = Interrupt::default();
    let mut save_error = None;
    // Rewriting the whole document after every cell would be quadratic in the grid size: save
    // at most every few seconds (an interrupted run loses at most that much work).
    let mut last_save = f64::NEG_INFINITY;
    let outcome = block_on(run_sweep(
        &config,
        &mut engine,
        &tokenizer,
        identity,
        previous,
        &interrupt,
        &clock,
        &mut |p, partial| {
            let k = &p.cell;
            eprint!(
                "\r[{}/{}] {} {} L={} depth={:.2} seed={} {} | {:.0} s elapsed, ETA {:.0} s   ",
                p.done,
                p.total,
                k.experiment,
                k.task,
                k.length,
                k.depth,
                k.seed,
                if p.correct { "✓" } else { "✗" },
                p.elapsed_s,
                p.eta_s
            );
            if p.elapsed_s - last_save >= SAVE_EVERY_S {
                last_save = p.elapsed_s;
                if let Err(e) = save(&args.out, partial) {
                    save_error = Some(e);
                }
            }
        },
    ));
    eprintln!();
    let results = match outcome {
        Ok(results) => results,
        Err(stopped) => {
            // Keep every finished cell: a rerun with --resume continues from them.
            if let Some(partial) = &stopped.partial {
                save(&args.out, partial)?;
                return Err(format!(
                    "{} (the {} finished cells are saved in {}; --resume continues)",
                    stopped.error,
                    partial.cells.len(),
                    args.out.display()
                ));
            }
            return Err(err(stopped.error));
        }
    };
    if let Some(e) = save_error {
        return Err(e);
    }
    save(&args.out, &results)?;
    eprintln!(
        "{} cells in {:.1} s → {} (result hash {})",
        results.cells.len(),
        clock(),
        args.out.display(),
        &results.result_hash[..12]
    );
    let model_url = args.model_url.clone().or_else(|| link.as_ref().and_then(|l| l.model.as_ref()?.url.clone()));
    print_link(&results, model_url, &args.page, link.as_ref().and_then(|l| l.view.clone()))
}

/// Prints the share link of `results` (stdout), or says why it is offered as a file.
fn print_link(results: &SweepResults, model_url: Option<String>, page: &str, view: Option<String>) -> CliResult {
    let state = SharedState {
        model: Some(SharedModel {
            name: results.model.name.clone(),
            url: model_url,
            bytes: results.model.file_bytes,
            sha256: results.model.sha256.clone(),
        }),
        view: Some(view.unwrap_or_else(|| "recall".into())),
        a: None,
        b: None,
        sweep: Some(results.config.clone()),
        result: results.complete.then(|| SharedResult::of(results)),
    };
    state.validate().map_err(err)?;
    let url = state.url(page).map_err(err)?;
    if url.len() > LINK_COMFORT_CHARS {
        eprintln!("ctxscope: the share link is {} characters (over {LINK_COMFORT_CHARS}, which some apps cut); the page also opens the results file itself", url.len());
    }
    println!("{url}");
    Ok(())
}

pub fn mecw(path: &Path, json: bool) -> CliResult {
    let text = read_text(path)?;
    let results: SweepResults =
        serde_json::from_str(&text).map_err(|e| format!("{}: not a results file: {e}", path.display()))?;
    if json {
        let text = serde_json::to_string(&results.summaries).map_err(|e| e.to_string())?;
        println!("{text}");
        return Ok(());
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} on {} ({} cells{})",
        results.config.name,
        results.model.name.as_deref().unwrap_or("model"),
        results.cells.len(),
        if results.complete { "" } else { ", incomplete" }
    );
    for s in &results.summaries {
        let fmt = |m: Option<usize>, r: Option<f64>| match (m, r) {
            (Some(m), Some(r)) => format!("{m} ({:.0}% of L)", r * 100.0),
            _ => "none".to_string(),
        };
        let _ = writeln!(
            out,
            "\n{} / {}: MECW {} at τ = {:.3} (absolute), {} at τ = {:.3} (relative)",
            s.task,
            s.experiment,
            fmt(s.mecw.mecw_absolute, s.mecw.absolute_ratio),
            s.mecw.absolute_threshold,
            fmt(s.mecw.mecw_relative, s.mecw.relative_ratio),
            s.mecw.relative_threshold
        );
        let _ =
            writeln!(out, "  {:>8} {:>6} {:>9} {:>17} {:>10}", "length", "cases", "accuracy", "95% CI", "mean score");
        for p in &s.curve {
            let _ = writeln!(
                out,
                "  {:>8} {:>6} {:>9.3} {:>8.3} – {:<6.3} {:>10.3}",
                p.length, p.cases, p.accuracy, p.ci_low, p.ci_high, p.mean_score
            );
        }
    }
    let _ = std::io::stdout().write_all(out.as_bytes());
    Ok(())
}
