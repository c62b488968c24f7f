//! Sweeps: a grid of experiments × tasks × lengths × depths × seeds, run cell by cell with
//! progress events, cancellation between cells and resumption from partial results, whole or as
//! one [`Shard`] (docs/sharding.md); and the versioned results document (docs/results-schema.md)
//! the CLI writes and the app imports.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::haystack::Haystack;
use super::mecw::{accuracy_curve, estimate, AccuracyPoint, MecwEstimate};
use super::scoring::{generated, teacher_forced, CaseScore, Scoring};
use super::tasks::Task;
use crate::backend::{Engine, Interrupt, Session};
use crate::error::{Error, Result};
use crate::experiment::Experiment;
use crate::tokenizer::TextTokenizer;
use crate::trace::EntropyTrace;

pub const SWEEP_VERSION: u32 = 1;
pub const RESULTS_SCHEMA: &str = "ctxscope-sweep-results";
pub const RESULTS_VERSION: u32 = 1;
/// The longest context a sweep may ask for (tokens): far beyond any model this runs, so that
/// only absurd values (a typo, a hostile link) are refused here; the backend checks what fits.
pub const MAX_SWEEP_LENGTH: usize = 1 << 20;
/// The most cells one sweep may have.
pub const MAX_SWEEP_CELLS: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedTask {
    pub name: String,
    pub task: Task,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedExperiment {
    pub name: String,
    pub experiment: Experiment,
}

/// Needle depths: an explicit list in [0, 1], or `count` points spaced linearly over [0, 1] or
/// by gkamradt's sigmoid (logistic, L = 100, x0 = 50, k = 0.1, clustering near 0 and 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Depths {
    List(Vec<f64>),
    Grid { spacing: Spacing, count: usize },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Spacing {
    Linear,
    Sigmoid,
}

impl Depths {
    pub fn values(&self) -> Vec<f64> {
        match self {
            Self::List(v) => v.clone(),
            Self::Grid { spacing, count } => {
                let n = *count;
                let lin = |i: usize| if n <= 1 { 0.5 } else { i as f64 / (n - 1) as f64 };
                (0..n)
                    .map(|i| match spacing {
                        Spacing::Linear => lin(i),
                        Spacing::Sigmoid => {
                            // gkamradt: logistic(x, L=100, x0=50, k=0.1) over linear x ∈ [0, 100],
                            // rounded to 3 decimals, with the ends pinned to 0 and 100.
                            let x = lin(i) * 100.0;
                            let y = if i == 0 {
                                0.0
                            } else if i + 1 == n {
                                100.0
                            } else {
                                100.0 / (1.0 + (-0.1 * (x - 50.0)).exp())
                            };
                            (y * 1000.0).round() / 100_000.0
                        }
                    })
                    .collect()
            }
        }
    }
}

fn default_depths() -> Depths {
    Depths::List(vec![0.5])
}
fn default_seeds() -> usize {
    1
}
fn default_experiments() -> Vec<NamedExperiment> {
    vec![NamedExperiment { name: "default".into(), experiment: Experiment::default() }]
}

/// What `ctxscope sweep --config` reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepConfig {
    pub version: u32,
    pub name: String,
    pub tasks: Vec<NamedTask>,
    #[serde(default = "default_experiments")]
    pub experiments: Vec<NamedExperiment>,
    /// Context lengths in tokens (exact).
    pub lengths: Vec<usize>,
    #[serde(default = "default_depths")]
    pub depths: Depths,
    /// Seeds 0 … seeds−1 (offset by `seed_base`).
    #[serde(default = "default_seeds")]
    pub seeds: usize,
    #[serde(default)]
    pub seed_base: u64,
    #[serde(default)]
    pub haystack: Haystack,
    #[serde(default)]
    pub scoring: Scoring,
    /// Layer whose per-head entropy each cell records (all layers' means are always recorded
    /// when the backend measures entropy).
    #[serde(default)]
    pub entropy_layer: Option<usize>,
}

impl SweepConfig {
    pub fn from_json(text: &str) -> Result<Self> {
        let c: Self = serde_json::from_str(text).map_err(|e| Error::InvalidInput(format!("sweep config: {e}")))?;
        c.validate()?;
        Ok(c)
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidInput(m));
        if self.version != SWEEP_VERSION {
            return bad(format!(
                "sweep config version {} is not supported (this build reads {SWEEP_VERSION})",
                self.version
            ));
        }
        if self.tasks.is_empty() || self.lengths.is_empty() || self.experiments.is_empty() || self.seeds == 0 {
            return bad("a sweep needs at least one task, length, experiment and seed".into());
        }
        // Bounds first: every count below sizes an allocation or a loop.
        if let Some(&l) = self.lengths.iter().find(|&&l| l == 0 || l > MAX_SWEEP_LENGTH) {
            return bad(format!("a context of {l} tokens is outside 1 … {MAX_SWEEP_LENGTH} tokens"));
        }
        let depth_count = match &self.depths {
            Depths::List(v) => v.len(),
            Depths::Grid { count, .. } => *count,
        };
        let cells = [self.experiments.len(), self.tasks.len(), self.lengths.len(), depth_count, self.seeds]
            .into_iter()
            .try_fold(1usize, usize::checked_mul)
            .filter(|&n| n <= MAX_SWEEP_CELLS);
        if cells.is_none() {
            return bad(format!(
                "{} experiments × {} tasks × {} lengths × {depth_count} depths × {} seeds is over {MAX_SWEEP_CELLS} cells",
                self.experiments.len(),
                self.tasks.len(),
                self.lengths.len(),
                self.seeds
            ));
        }
        if self.seed_base.checked_add(self.seeds as u64).is_none() {
            return bad(format!("seed_base {} + {} seeds overflows", self.seed_base, self.seeds));
        }
        let depths = self.depths.values();
        if depths.is_empty() || depths.iter().any(|d| !(0.0..=1.0).contains(d)) {
            return bad("depths must be a non-empty set of values in 0 … 1".into());
        }
        // A repeated length or depth would name two cells alike: results and resumption go by
        // a cell's key.
        let mut lengths = self.lengths.clone();
        lengths.sort_unstable();
        lengths.dedup();
        let mut sorted_depths = depths.clone();
        sorted_depths.sort_by(f64::total_cmp);
        sorted_depths.dedup();
        if lengths.len() != self.lengths.len() || sorted_depths.len() != depths.len() {
            return bad("lengths and depths must not repeat".into());
        }
        for t in &self.tasks {
            t.task.validate()?;
        }
        let mut names: Vec<&str> = self.tasks.iter().map(|t| t.name.as_str()).collect();
        names.sort();
        names.dedup();
        if names.len() != self.tasks.len() {
            return bad("task names must be unique".into());
        }
        let mut names: Vec<&str> = self.experiments.iter().map(|e| e.name.as_str()).collect();
        names.sort();
        names.dedup();
        if names.len() != self.experiments.len() {
            return bad("experiment names must be unique".into());
        }
        Ok(())
    }

    /// The cells of `shard` (every cell for None), in [`Self::cells`] order.
    pub fn shard_cells(&self, shard: Option<Shard>) -> Vec<CellKey> {
        let all = self.cells();
        match shard {
            None => all,
            Some(s) => all.into_iter().enumerate().filter(|(i, _)| s.contains(*i)).map(|(_, k)| k).collect(),
        }
    }

    /// Every cell, experiment-major (one model configuration at a time), then task, length,
    /// depth, seed. Shards and merges are defined on this order, so it must not change within a
    /// results version.
    pub fn cells(&self) -> Vec<CellKey> {
        let mut out = Vec::new();
        for e in &self.experiments {
            for t in &self.tasks {
                for &length in &self.lengths {
                    for depth in self.depths.values() {
                        for s in 0..self.seeds {
                            out.push(CellKey {
                                experiment: e.name.clone(),
                                task: t.name.clone(),
                                length,
                                depth,
                                seed: self.seed_base + s as u64,
                            });
                        }
                    }
                }
            }
        }
        out
    }
}

/// One slice of a sweep's grid: the cells whose index in [`SweepConfig::cells`] is `index`
/// modulo `count`. Round robin rather than contiguous blocks, so every shard gets a similar mix
/// of lengths and therefore a similar run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    pub fn new(index: usize, count: usize) -> Result<Self> {
        let s = Self { index, count };
        s.validate()?;
        Ok(s)
    }

    /// Documents are read from files, so a shard is checked wherever one arrives.
    pub fn validate(&self) -> Result<()> {
        if self.count == 0 {
            return Err(Error::InvalidInput(format!("shard {self}: the count must be at least 1")));
        }
        if self.index >= self.count {
            return Err(Error::InvalidInput(format!(
                "shard {self}: the index must be below the count (shards are numbered 0 … {})",
                self.count - 1
            )));
        }
        Ok(())
    }

    /// Whether the cell at `cell_index` in [`SweepConfig::cells`] belongs to this shard.
    pub fn contains(&self, cell_index: usize) -> bool {
        cell_index % self.count == self.index
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// `i/n`, as `ctxscope sweep --shard` takes it.
impl std::str::FromStr for Shard {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::InvalidInput(format!("shard `{s}`: expected INDEX/COUNT, e.g. 0/4"));
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let parse = |v: &str| v.trim().parse::<usize>().map_err(|_| bad());
        Self::new(parse(i)?, parse(n)?)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellKey {
    pub experiment: String,
    pub task: String,
    pub length: usize,
    pub depth: f64,
    pub seed: u64,
}

/// Attention entropy of one cell (nats): per-layer means over heads and positions, and per-head
/// means for the chosen layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntropySummary {
    pub per_layer: Vec<f32>,
    pub layer: Option<usize>,
    pub per_head: Option<Vec<f32>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    #[serde(flatten)]
    pub key: CellKey,
    /// Where the (first) needle actually went: haystack tokens before it / all haystack tokens.
    pub needle_depth: f64,
    #[serde(flatten)]
    pub outcome: CaseScore,
    pub entropy: Option<EntropySummary>,
    pub seconds: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelIdentity {
    pub name: Option<String>,
    pub sha256: String,
    pub file_bytes: u64,
    pub trained_ctx: usize,
}

/// Accuracy curve and MECW of one (task, experiment).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskSummary {
    pub task: String,
    pub experiment: String,
    pub curve: Vec<AccuracyPoint>,
    pub mecw: MecwEstimate,
}

/// The results document (docs/results-schema.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepResults {
    pub schema: String,
    pub version: u32,
    pub config: SweepConfig,
    pub model: ModelIdentity,
    pub backend: String,
    pub engine_version: String,
    /// Whether every cell of the grid (of `shard`, for a shard) is present.
    pub complete: bool,
    /// The slice of the grid this document holds; absent for a whole sweep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
    pub cells: Vec<Cell>,
    pub summaries: Vec<TaskSummary>,
    /// sha256 over the canonical cell scores (see [`result_hash`]).
    pub result_hash: String,
}

/// sha256 of one line per cell, sorted: experiment, task, length, depth (6 decimals), seed,
/// correct (0/1), score (6 decimals) — what a reproduction must match, free of timings.
pub fn result_hash(cells: &[Cell]) -> String {
    let mut lines: Vec<String> = cells
        .iter()
        .map(|c| {
            let k = &c.key;
            format!(
                "{}\t{}\t{}\t{:.6}\t{}\t{}\t{:.6}\n",
                k.experiment,
                k.task,
                k.length,
                k.depth,
                k.seed,
                u8::from(c.outcome.correct),
                c.outcome.score
            )
        })
        .collect();
    lines.sort();
    let mut h = Sha256::new();
    for l in &lines {
        h.update(l.as_bytes());
    }
    format!("{:x}", h.finalize())
}

/// Per-(task, experiment) curves and MECW estimates.
pub fn summarize(config: &SweepConfig, cells: &[Cell], trained_ctx: usize) -> Vec<TaskSummary> {
    let mut out = Vec::new();
    for t in &config.tasks {
        for e in &config.experiments {
            let outcomes = cells
                .iter()
                .filter(|c| c.key.task == t.name && c.key.experiment == e.name)
                .map(|c| (c.key.length, c.outcome.correct, c.outcome.score));
            let curve = accuracy_curve(outcomes);
            if curve.is_empty() {
                continue;
            }
            let mecw = estimate(&curve, trained_ctx);
            out.push(TaskSummary { task: t.name.clone(), experiment: e.name.clone(), curve, mecw });
        }
    }
    out
}

/// A progress event, after each cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub done: usize,
    pub total: usize,
    /// The cell just finished.
    pub cell: CellKey,
    pub correct: bool,
    pub elapsed_s: f64,
    pub eta_s: f64,
    /// The cell that runs next, if any.
    pub next: Option<CellKey>,
}

/// Why a sweep stopped before its last cell, with the cells finished until then.
#[derive(Debug)]
pub struct SweepStopped {
    pub error: Error,
    /// The results so far (every finished cell), or None if the sweep never started.
    pub partial: Option<SweepResults>,
}

impl From<Error> for SweepStopped {
    fn from(error: Error) -> Self {
        Self { error, partial: None }
    }
}

/// Runs every cell of `config` not already in `previous` (resumption), in order, on `engine`:
/// [`run_sweep_shard`] with no shard.
#[allow(clippy::too_many_arguments)]
pub async fn run_sweep(
    config: &SweepConfig,
    engine: &mut Engine,
    tokenizer: &TextTokenizer,
    identity: ModelIdentity,
    previous: Option<SweepResults>,
    interrupt: &Interrupt,
    clock: &dyn Fn() -> f64,
    on_cell: &mut dyn FnMut(&Progress, &SweepResults),
) -> std::result::Result<SweepResults, SweepStopped> {
    run_sweep_shard(config, None, engine, tokenizer, identity, previous, interrupt, clock, on_cell).await
}

/// Runs every cell of `shard` of `config` (all of them for None) not already in `previous`
/// (resumption), in order, on `engine`.
/// `interrupt` is checked between cells and between the chunks of a cell's forward pass; `on_cell`
/// gets the progress and the results so far after each cell (so a caller can save or stream
/// them). Returns the results — `complete: false` if cancelled — or, on any other error (a lost
/// device), the error with every cell finished before it.
///
/// Written once for every front end: the CLI blocks on it, the browser worker awaits it.
#[allow(clippy::too_many_arguments)]
pub async fn run_sweep_shard(
    config: &SweepConfig,
    shard: Option<Shard>,
    engine: &mut Engine,
    tokenizer: &TextTokenizer,
    identity: ModelIdentity,
    previous: Option<SweepResults>,
    interrupt: &Interrupt,
    clock: &dyn Fn() -> f64,
    on_cell: &mut dyn FnMut(&Progress, &SweepResults),
) -> std::result::Result<SweepResults, SweepStopped> {
    config.validate()?;
    if let Some(s) = shard {
        s.validate()?;
    }
    let cells: Vec<Cell> = match previous {
        Some(p) => {
            if p.config != *config || p.model.sha256 != identity.sha256 {
                return Err(Error::InvalidInput(
                    "the partial results were made with a different sweep config or model; start a new results file"
                        .into(),
                )
                .into());
            }
            if p.shard != shard {
                let name = |s: Option<Shard>| s.map_or("the whole sweep".to_string(), |s| format!("shard {s}"));
                return Err(Error::InvalidInput(format!(
                    "the partial results hold {}, not {}; start a new results file",
                    name(p.shard),
                    name(shard)
                ))
                .into());
            }
            let (backend, version) = (engine.backend().name(), env!("CARGO_PKG_VERSION"));
            if p.backend != backend || p.engine_version != version {
                return Err(Error::InvalidInput(format!(
                    "the partial results were made on {} by engine {}, not on {backend} by engine {version}: their scores would not mix; start a new results file",
                    p.backend, p.engine_version
                ))
                .into());
            }
            p.cells
        }
        None => Vec::new(),
    };
    let all = config.shard_cells(shard);
    let todo: Vec<CellKey> = all.iter().filter(|k| !cells.iter().any(|c| c.key == **k)).cloned().collect();
    let total = all.len();
    let start = clock();
    let mut ran = 0usize;
    let mut results = SweepResults {
        schema: RESULTS_SCHEMA.into(),
        version: RESULTS_VERSION,
        config: config.clone(),
        model: identity,
        backend: engine.backend().name().into(),
        engine_version: env!("CARGO_PKG_VERSION").into(),
        complete: false,
        shard,
        cells,
        summaries: Vec::new(),
        result_hash: String::new(),
    };
    let index = grid_positions(&all);
    results.cells.sort_by_key(|c| grid_index(&index, &c.key));
    finish(&mut results, total);
    let todo = reuse_order(config, todo);
    let mut i = 0;
    while i < todo.len() {
        // One experiment at a time, one session for all its cells: each cell keeps the KV cache
        // of the haystack it shares with the cell before ([`Session::reuse_prefix`]).
        let name = &todo[i].experiment;
        let group = todo[i..].iter().take_while(|k| &k.experiment == name).count();
        let e = config.experiments.iter().find(|e| &e.name == name).expect("cell from config");
        if let Err(err) = engine.set_experiment(&e.experiment) {
            let error = Error::InvalidInput(format!("experiment {}: {err}", e.name));
            return Err(SweepStopped { error, partial: Some(results) });
        }
        let mut cells = CellRunner { config, engine: &*engine, tokenizer, interrupt, clock, session: None };
        for (j, key) in todo[i..i + group].iter().enumerate() {
            let outcome = cells.run(key).await;
            match outcome {
                Ok(cell) => {
                    let correct = cell.outcome.correct;
                    // Kept in grid order (cells run in reuse order), so that every snapshot,
                    // its summaries and the final document are what a plain run writes.
                    let at = grid_index(&index, &cell.key);
                    let pos = results.cells.partition_point(|c| grid_index(&index, &c.key) < at);
                    results.cells.insert(pos, cell);
                    ran += 1;
                    let done = results.cells.len();
                    let elapsed = clock() - start;
                    let eta = elapsed / ran as f64 * (total - done) as f64;
                    let progress = Progress {
                        done,
                        total,
                        cell: key.clone(),
                        correct,
                        elapsed_s: elapsed,
                        eta_s: eta,
                        next: todo.get(i + j + 1).cloned(),
                    };
                    finish(&mut results, total);
                    on_cell(&progress, &results);
                }
                Err(Error::Cancelled) => return Ok(results),
                Err(error) => return Err(SweepStopped { error, partial: Some(results) }),
            }
        }
        i += group;
    }
    Ok(results)
}

/// Set to `0`, natively, every cell starts from an empty KV cache (for measuring what prefix
/// reuse saves, or ruling it out when two runs differ).
pub const PREFIX_REUSE_ENV: &str = "CTXSCOPE_PREFIX_REUSE";

fn prefix_reuse() -> bool {
    !matches!(std::env::var(PREFIX_REUSE_ENV).as_deref(), Ok("0"))
}

/// The order cells run in: the grid's experiments in turn (one model configuration at a time),
/// and within one, cells of the same task and seed together — they share a haystack — from the
/// deepest needle to the shallowest, so each cell's context up to its needle was already run
/// by the cell before (a cell's needle sits at about depth × length tokens). Results are still
/// written in grid order.
fn reuse_order(config: &SweepConfig, mut todo: Vec<CellKey>) -> Vec<CellKey> {
    let experiment = |k: &CellKey| config.experiments.iter().position(|e| e.name == k.experiment);
    let task = |k: &CellKey| config.tasks.iter().position(|t| t.name == k.task);
    todo.sort_by(|a, b| {
        experiment(a)
            .cmp(&experiment(b))
            .then(task(a).cmp(&task(b)))
            .then(a.seed.cmp(&b.seed))
            .then((b.depth * b.length as f64).total_cmp(&(a.depth * a.length as f64)))
    });
    todo
}

/// Each grid cell's position in `grid`, by key (depth by its bits: the grid's own values).
type GridIndex<'a> = HashMap<(&'a str, &'a str, usize, u64, u64), usize>;

fn grid_positions(grid: &[CellKey]) -> GridIndex<'_> {
    grid.iter()
        .enumerate()
        .map(|(i, k)| ((k.experiment.as_str(), k.task.as_str(), k.length, k.depth.to_bits(), k.seed), i))
        .collect()
}

/// A cell's position in the grid; cells from outside it (none reach here) sort last.
fn grid_index(index: &GridIndex, k: &CellKey) -> usize {
    index
        .get(&(k.experiment.as_str(), k.task.as_str(), k.length, k.depth.to_bits(), k.seed))
        .copied()
        .unwrap_or(usize::MAX)
}

/// Builds and scores the cells of one experiment (set on the engine by the caller) in one
/// session, grown when a cell needs more room.
struct CellRunner<'a, 'e> {
    config: &'a SweepConfig,
    engine: &'e Engine,
    tokenizer: &'a TextTokenizer,
    interrupt: &'a Interrupt,
    clock: &'a dyn Fn() -> f64,
    session: Option<Session<'e>>,
}

impl CellRunner<'_, '_> {
    async fn run(&mut self, key: &CellKey) -> Result<Cell> {
        let config = self.config;
        self.interrupt.checkpoint().await?;
        let task = &config.tasks.iter().find(|t| t.name == key.task).expect("cell from config").task;
        let t0 = (self.clock)();
        let case = task.build(&config.haystack, self.tokenizer, key.length, key.depth, key.seed)?;
        let answer = match &config.scoring {
            Scoring::TeacherForced => case.target_ids.len(),
            Scoring::Generated { max_tokens, .. } => *max_tokens,
        };
        let needed = case.ids.len() + answer + 64;
        if self.session.as_ref().is_none_or(|s| s.capacity() < needed) {
            // Room for the longest cell of the sweep, so the session is made once; if that does
            // not fit, room for this cell (the cells that fit still run, as without reuse).
            let longest = config.lengths.iter().copied().max().unwrap_or(key.length);
            self.session = None;
            let mut session = match self.engine.session(needed.max(longest + answer + 64)) {
                Err(Error::DoesNotFit { .. }) => self.engine.session(needed)?,
                other => other?,
            };
            session.set_interrupt(self.interrupt.clone());
            session.record_entropy();
            self.session = Some(session);
        }
        let session = self.session.as_mut().expect("made above");
        if !prefix_reuse() {
            session.reset();
        }
        let outcome = match &config.scoring {
            Scoring::TeacherForced => teacher_forced(session, &case).await,
            Scoring::Generated { max_tokens, match_mode } => {
                let rule = match_mode.unwrap_or_else(|| task.default_match());
                generated(session, self.tokenizer, &case, *max_tokens, rule).await
            }
        };
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(e) => {
                // After an error a session must be reset before it is used again.
                session.reset();
                return Err(e);
            }
        };
        let entropy = session.entropy().map(|t| summarize_entropy(t, config.entropy_layer));
        Ok(Cell {
            key: key.clone(),
            needle_depth: case.needle_depths[0],
            outcome,
            entropy,
            seconds: (self.clock)() - t0,
        })
    }
}

/// Recomputes the derived fields (O(cells)) after cells were added; `total` is the number of
/// cells a complete document holds.
pub(super) fn finish(results: &mut SweepResults, total: usize) {
    results.complete = results.cells.len() == total;
    results.summaries = summarize(&results.config, &results.cells, results.model.trained_ctx);
    results.result_hash = result_hash(&results.cells);
}

fn summarize_entropy(trace: &EntropyTrace, layer: Option<usize>) -> EntropySummary {
    let per_head = trace.mean_per_head();
    let per_layer = per_head.iter().map(|h| h.iter().sum::<f32>() / h.len().max(1) as f32).collect();
    let layer = layer.filter(|&l| l < per_head.len());
    EntropySummary { per_layer, layer, per_head: layer.map(|l| per_head[l].clone()) }
}

/// sha256 of a model file, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}
