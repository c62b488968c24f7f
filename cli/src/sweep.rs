//! `ctxscope sweep`, `ctxscope merge` and `ctxscope mecw`.

use std::fmt::Write as _;
use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ctxscope_engine::backend::{block_on, BackendChoice, Interrupt};
use ctxscope_engine::experiment::{Experiment, Plan};
use ctxscope_engine::probes::merge::{describe, merge as merge_results};
use ctxscope_engine::probes::sweep::{
    run_sweep_shard, sha256_hex, ModelIdentity, Progress, Shard, SweepConfig, SweepResults,
};
use ctxscope_engine::rope::RopeMethod;
use ctxscope_engine::share::{SharedModel, SharedResult, SharedState, LINK_COMFORT_CHARS};
use ctxscope_engine::TextTokenizer;
use indicatif::{ProgressBar, ProgressStyle};

use super::{err, load_engine, open_model, read_text, CliError, CliResult, ModelArg};

/// Seconds between saves of the partial results.
const SAVE_EVERY_S: f64 = 5.0;
/// Seconds between progress lines when stderr is not a terminal (a log file, a batch job).
const LOG_EVERY_S: f64 = 30.0;

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
    /// Continue from the cells already in --out (same config, model and shard).
    #[arg(long)]
    resume: bool,
    /// Run only shard INDEX of COUNT: the cells whose position in the grid is INDEX modulo
    /// COUNT (0-based). Join the shards' files with `ctxscope merge` (docs/sharding.md).
    #[arg(long, value_name = "INDEX/COUNT")]
    shard: Option<Shard>,
    /// The GPU to run on, by index among the hardware adapters (sets CTXSCOPE_GPU_ADAPTER):
    /// one shard per GPU on a multi-GPU host (docs/sharding.md).
    #[arg(long, value_name = "INDEX")]
    gpu_adapter: Option<usize>,
    /// Split the sweep over this host's GPUs: `all` (every hardware adapter) or a count N (the
    /// first N). Runs shard i/N on GPU i as child processes of this one, each writing its own
    /// file and log next to --out, then merges them into --out (docs/sharding.md). --resume
    /// resumes every shard from its file.
    #[arg(long, value_name = "all|N", conflicts_with_all = ["shard", "gpu_adapter"])]
    devices: Option<Devices>,
}

/// `--devices`: every hardware GPU, or the first N.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Devices {
    All,
    First(usize),
}

impl std::str::FromStr for Devices {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "all" => Ok(Self::All),
            n => match n.parse::<usize>() {
                Ok(n) if n > 0 => Ok(Self::First(n)),
                _ => Err(format!("expected `all` or a GPU count ≥ 1, got {s:?}")),
            },
        }
    }
}

#[derive(clap::Args)]
pub struct MergeArgs {
    /// Results files of the shards, in any order.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Merged results file to write.
    #[arg(short, long)]
    out: PathBuf,
    /// Write the merge even if cells are missing (`complete: false`); `ctxscope sweep --resume`
    /// on the merged file runs the missing cells.
    #[arg(long)]
    allow_partial: bool,
}

#[derive(clap::Args)]
pub struct MecwArgs {
    results: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Writes `results` to `path` atomically (temp file, then rename), so an interrupted run never
/// leaves a truncated file.
fn save(path: &Path, results: &SweepResults) -> Result<(), String> {
    let text = serde_json::to_string_pretty(results).map_err(|e| e.to_string())?;
    let tmp = path.with_extension("json.partial");
    std::fs::write(&tmp, text).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn read_results(path: &Path) -> Result<SweepResults, String> {
    serde_json::from_str(&read_text(path)?).map_err(|e| format!("{}: not a results file: {e}", path.display()))
}

/// A cancel flag raised by Ctrl-C, SIGTERM or SIGHUP (a batch system's time limit or
/// preemption sends SIGTERM): the sweep stops at its next checkpoint and saves what it has. A
/// second signal quits at once, keeping the last periodic save.
fn cancel_on_signals() -> Result<Arc<AtomicBool>, String> {
    // `nohup` (or a parent) may have set SIGHUP to be ignored; ctrlc would replace that, and a
    // sweep started with `nohup … &` would then stop at logout. Keep the ignore.
    let hangup_ignored = hangup_ignored();
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::Relaxed) {
            std::process::exit(130);
        }
        eprintln!("\nctxscope: stopping after the current step and saving (signal again to quit at once)");
    })
    .map_err(|e| format!("cannot handle Ctrl-C: {e}"))?;
    if hangup_ignored {
        ignore_hangup();
    }
    Ok(cancel)
}

#[cfg(unix)]
fn hangup_ignored() -> bool {
    // SAFETY: queries SIGHUP's disposition; a null new action changes nothing.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    unsafe { libc::sigaction(libc::SIGHUP, std::ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_IGN }
}

#[cfg(unix)]
fn ignore_hangup() {
    // SAFETY: sets SIGHUP back to the ignore disposition it had at startup.
    unsafe { libc::signal(libc::SIGHUP, libc::SIG_IGN) };
}

#[cfg(not(unix))]
fn hangup_ignored() -> bool {
    false
}

#[cfg(not(unix))]
fn ignore_hangup() {}

/// Progress on stderr: a live bar on a terminal; elsewhere a plain line per cell at most every
/// [`LOG_EVERY_S`], so logs stay readable and small.
struct ProgressReport {
    bar: Option<ProgressBar>,
    last_line: f64,
}

impl ProgressReport {
    fn new(done: usize, total: usize) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total as u64).with_position(done as u64);
            let style = ProgressStyle::with_template("{elapsed:>4} [{bar:30}] {pos}/{len} {msg}")
                .expect("a valid template")
                .progress_chars("=> ");
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_secs(1));
            bar
        });
        Self { bar, last_line: f64::NEG_INFINITY }
    }

    fn cell(&mut self, p: &Progress) {
        let k = &p.cell;
        let mark = if p.correct { "✓" } else { "✗" };
        let cell = format!("{} {} L={} depth={:.2} seed={} {mark}", k.experiment, k.task, k.length, k.depth, k.seed);
        match &self.bar {
            Some(bar) => {
                bar.set_position(p.done as u64);
                // The engine's ETA counts only the cells run now, so it holds after --resume.
                bar.set_message(format!("{cell} | ETA {:.0} s", p.eta_s));
            }
            None if p.elapsed_s - self.last_line >= LOG_EVERY_S || p.done == p.total => {
                self.last_line = p.elapsed_s;
                eprintln!(
                    "sweep: [{}/{}] {cell} | {:.0} s elapsed, ETA {:.0} s",
                    p.done, p.total, p.elapsed_s, p.eta_s
                );
            }
            None => {}
        }
    }

    fn clear(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

pub fn run(args: SweepArgs) -> CliResult {
    if let Some(devices) = args.devices {
        return run_on_devices(args, devices);
    }
    if let Some(index) = args.gpu_adapter {
        // Read once by the GPU context this process creates below.
        std::env::set_var(ctxscope_engine::gpu::ADAPTER_ENV, index.to_string());
    }
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
            )
            .into());
        }
    }
    let tokenizer = TextTokenizer::from_model(&file).map_err(err)?;
    let identity = ModelIdentity {
        name: file.spec().name.clone(),
        sha256: sha256.clone(),
        file_bytes: file.bytes().len() as u64,
        trained_ctx: file.spec().context_length,
    };
    let previous = if args.resume && args.out.exists() { Some(read_results(&args.out)?) } else { None };
    let mut engine = load_engine(&file, args.backend, &Experiment::default())?;
    for e in &config.experiments {
        if let Ok(plan) = Plan::new(&e.experiment, file.spec()) {
            if let Some(note) = plan.baseline_note().filter(|_| !matches!(e.experiment.rope, RopeMethod::Model)) {
                eprintln!("ctxscope: note: experiment {}: RoPE {note}", e.name);
            }
        }
    }
    let total = config.shard_cells(args.shard).len();
    if let Some(shard) = args.shard.filter(|_| total == 0) {
        eprintln!("ctxscope: shard {shard} of this {}-cell grid holds no cells", config.cells().len());
    }
    let cancel = cancel_on_signals()?;
    let interrupt = Interrupt { cancel: Some(cancel.clone()), pause: None };
    let t0 = Instant::now();
    let clock = move || t0.elapsed().as_secs_f64();
    let mut report = ProgressReport::new(previous.as_ref().map_or(0, |p| p.cells.len()), total);
    let mut save_error = None;
    // Rewriting the whole document after every cell would be quadratic in the grid size: save
    // at most every few seconds (an interrupted run loses at most that much work).
    let mut last_save = f64::NEG_INFINITY;
    let outcome = block_on(run_sweep_shard(
        &config,
        args.shard,
        &mut engine,
        &tokenizer,
        identity,
        previous,
        &interrupt,
        &clock,
        &mut |p, partial| {
            report.cell(p);
            if p.elapsed_s - last_save >= SAVE_EVERY_S {
                last_save = p.elapsed_s;
                if let Err(e) = save(&args.out, partial) {
                    save_error = Some(e);
                }
            }
        },
    ));
    report.clear();
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
                )
                .into());
            }
            return Err(err(stopped.error).into());
        }
    };
    // A periodic save that failed (a full disk, a moved directory) loses nothing if this one
    // succeeds: say so and go on; if this one fails too, its error is the one that matters.
    save(&args.out, &results)?;
    if let Some(e) = save_error {
        eprintln!("ctxscope: note: a periodic save failed during the run ({e}); the final save succeeded");
    }
    if !results.complete && cancel.load(Ordering::Relaxed) {
        return Err(CliError {
            message: format!(
                "interrupted: {} of {total} cells are saved in {}; run the same command with --resume to continue",
                results.cells.len(),
                args.out.display()
            ),
            code: 130,
        });
    }
    eprintln!(
        "{} cells in {:.1} s → {} (result hash {})",
        results.cells.len(),
        clock(),
        args.out.display(),
        &results.result_hash[..12]
    );
    if let Some(shard) = args.shard {
        // A shard's cells are not the sweep's: the link is printed by no one until the merge.
        eprintln!("ctxscope: shard {shard} done; join the shards with `ctxscope merge` (docs/sharding.md)");
        return Ok(());
    }
    let model_url = args.model_url.clone().or_else(|| link.as_ref().and_then(|l| l.model.as_ref()?.url.clone()));
    print_link(&results, model_url, &args.page, link.as_ref().and_then(|l| l.view.clone()))
}

/// `<out stem>.shard-I-of-N.<ext>` beside `out`: where `--devices` keeps shard I's `ext` file.
fn shard_path(out: &Path, index: usize, count: usize, ext: &str) -> PathBuf {
    let stem = out.file_stem().map_or_else(|| "sweep".into(), |s| s.to_string_lossy().into_owned());
    out.with_file_name(format!("{stem}.shard-{index}-of-{count}.{ext}"))
}

/// Asks a shard to stop at its next step and save (SIGINT, as Ctrl-C would); elsewhere than
/// Unix, ends it.
fn interrupt_child(child: &mut std::process::Child) {
    #[cfg(unix)]
    {
        // SAFETY: sends a signal to our own child by its pid; it has not been waited for, so
        // the pid is still ours.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    }
    #[cfg(not(unix))]
    {
        let _ = child.kill();
    }
}

/// `--devices`: one child `ctxscope sweep --shard i/N --gpu-adapter i` per GPU, at once, each
/// with its own results file and log; then their merge into --out and the sweep's link, as an
/// unsharded run prints it. Child processes rather than threads: each GPU gets its own process
/// (its own wgpu instance and device), which is what `--gpu-adapter` already runs and tests,
/// and a failed shard cannot take the others down. A signal to this process is passed on to the
/// children: each saves its finished cells, and the same command with --resume goes on.
fn run_on_devices(args: SweepArgs, devices: Devices) -> CliResult {
    if args.backend != BackendChoice::Gpu {
        return Err("--devices runs shards on GPUs: use it with --backend gpu".into());
    }
    // Checked here, before any shard starts (each shard decodes it again).
    let link = args.link.as_deref().map(SharedState::decode).transpose().map_err(err)?;
    let gpus = ctxscope_engine::gpu::hardware_adapters();
    let count = match devices {
        Devices::All => gpus.len(),
        Devices::First(n) if n <= gpus.len() => n,
        Devices::First(n) => {
            return Err(format!("--devices {n}, but this host has {} hardware GPU adapter(s)", gpus.len()).into())
        }
    };
    if count == 0 {
        return Err(
            "--devices all: this host has no hardware GPU adapter (lavapipe and other software renderers do not count)"
                .into(),
        );
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program to run the shards: {e}"))?;
    let cancel = cancel_on_signals()?;
    let t0 = Instant::now();
    let mut children = Vec::with_capacity(count);
    for (i, gpu) in gpus.iter().take(count).enumerate() {
        let (file, log) = (shard_path(&args.out, i, count, "json"), shard_path(&args.out, i, count, "log"));
        let mut cmd = std::process::Command::new(&exe);
        cmd.arg("sweep").arg("--model").arg(&args.model.model);
        if let Some(config) = &args.config {
            cmd.arg("--config").arg(config);
        }
        if let Some(link) = &args.link {
            cmd.args(["--link", link]);
        }
        cmd.args(["--page", &args.page, "--backend", "gpu"]).arg("--out").arg(&file);
        cmd.args(["--shard", &format!("{i}/{count}"), "--gpu-adapter", &i.to_string()]);
        if args.resume {
            cmd.arg("--resume");
        }
        // Its own process group: a Ctrl-C at the terminal reaches this process only, which
        // passes it on once (two signals would make a shard quit without its final save).
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        // Appended to, so a --resume keeps the interrupted run's log above the new one.
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|e| format!("cannot write the shard log {}: {e}", log.display()));
        let child = log_file.and_then(|log_file| {
            cmd.stdout(std::process::Stdio::null()).stderr(log_file);
            cmd.spawn().map_err(|e| format!("cannot start shard {i}/{count}: {e}"))
        });
        let child = match child {
            Ok(child) => child,
            Err(e) => {
                // Leave no shard running unwatched: stop those already started (they save).
                for (_, _, _, started) in &mut children {
                    interrupt_child(started);
                    let _ = started.wait();
                }
                return Err(e.into());
            }
        };
        eprintln!("ctxscope: shard {i}/{count} on GPU {i} ({}) → {} (log {})", gpu.name, file.display(), log.display());
        children.push((i, file, log, child));
    }
    // Wait for every shard, polling, so that a signal to this process (Ctrl-C, `kill`, a
    // container runtime's SIGTERM) is passed on to the shards, which save their finished cells.
    let mut statuses: Vec<Option<std::process::ExitStatus>> = vec![None; children.len()];
    let mut forwarded = false;
    while statuses.iter().any(Option::is_none) {
        if cancel.load(Ordering::Relaxed) && !forwarded {
            forwarded = true;
            for ((_, _, _, child), status) in children.iter_mut().zip(&statuses) {
                if status.is_none() {
                    interrupt_child(child);
                }
            }
        }
        for ((i, _, _, child), status) in children.iter_mut().zip(statuses.iter_mut()) {
            if status.is_none() {
                *status = child.try_wait().map_err(|e| format!("shard {i}/{count}: {e}"))?;
                if status.is_some_and(|s| s.success()) {
                    eprintln!("ctxscope: shard {i}/{count} done ({:.1} s)", t0.elapsed().as_secs_f64());
                }
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut failed = Vec::new();
    let mut interrupted = false;
    for ((i, _, log, _), status) in children.iter().zip(&statuses) {
        let status = status.expect("every shard has exited");
        if status.success() {
            continue;
        }
        interrupted |= status.code() == Some(130);
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no output").to_string();
        failed.push(format!("shard {i}/{count} ({status}): {last} [log {}]", log.display()));
    }
    if !failed.is_empty() {
        let hint = if interrupted { "; the same command with --resume continues every shard" } else { "" };
        let code = if interrupted { 130 } else { 1 };
        return Err(CliError { message: format!("{}{hint}", failed.join("\n")), code });
    }
    let inputs = children
        .iter()
        .map(|(_, file, _, _)| Ok((file.display().to_string(), read_results(file)?)))
        .collect::<Result<Vec<_>, String>>()?;
    let merged = merge_results(&inputs).map_err(err)?;
    if !merged.missing.is_empty() {
        return Err(format!(
            "the shards' files lack {} cells: {}",
            merged.missing.len(),
            describe(&merged.missing[0].1)
        )
        .into());
    }
    let results = merged.results;
    save(&args.out, &results)?;
    eprintln!(
        "{} cells on {count} GPU(s) in {:.1} s → {} (result hash {})",
        results.cells.len(),
        t0.elapsed().as_secs_f64(),
        args.out.display(),
        &results.result_hash[..12]
    );
    let model_url = args.model_url.clone().or_else(|| link.as_ref().and_then(|l| l.model.as_ref()?.url.clone()));
    print_link(&results, model_url, &args.page, link.and_then(|l| l.view))
}

pub fn merge(args: MergeArgs) -> CliResult {
    let inputs = args
        .inputs
        .iter()
        .map(|p| Ok((p.display().to_string(), read_results(p)?)))
        .collect::<Result<Vec<_>, String>>()?;
    let merged = merge_results(&inputs).map_err(err)?;
    let total = merged.results.config.cells().len();
    if !merged.missing.is_empty() {
        // Name the shards the missing cells belong to when the inputs agree on a split.
        let counts: Vec<Option<usize>> = inputs.iter().map(|(_, r)| r.shard.map(|s| s.count)).collect();
        let whence = match counts[0].filter(|_| counts.iter().all(|c| *c == counts[0])) {
            Some(n) => {
                let mut shards: Vec<usize> = merged.missing.iter().map(|(i, _)| i % n).collect();
                shards.dedup();
                shards.sort_unstable();
                shards.dedup();
                let names: Vec<String> = shards.iter().map(|i| format!("{i}/{n}")).collect();
                format!("from shard {}", names.join(", "))
            }
            None => format!("first: {}", describe(&merged.missing[0].1)),
        };
        let what = format!("{} of {total} cells are missing ({whence})", merged.missing.len());
        if !args.allow_partial {
            return Err(
                format!("{what}; give every shard's file, or --allow-partial to write an incomplete merge").into()
            );
        }
        eprintln!("ctxscope: {what}; `ctxscope sweep --resume --out {}` with the config runs them", args.out.display());
    }
    save(&args.out, &merged.results)?;
    eprintln!(
        "{} files, {} of {total} cells → {} (result hash {})",
        inputs.len(),
        merged.results.cells.len(),
        args.out.display(),
        &merged.results.result_hash[..12]
    );
    Ok(())
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

pub fn mecw(args: MecwArgs) -> CliResult {
    let results = read_results(&args.results)?;
    if args.json {
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
