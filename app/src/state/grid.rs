//! A sweep as the recall views draw it: per (experiment, task) a length × depth grid whose
//! cells aggregate their seeds. Each grid cell is its own signal, so a streamed result repaints
//! one cell, not the view.

use ctxscope_engine::probes::mecw::wilson;
use ctxscope_engine::probes::sweep::{summarize, Cell, SweepConfig, TaskSummary};
use leptos::prelude::*;

/// The seeds of one (experiment, task, length, depth).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CellAgg {
    pub trials: usize,
    pub correct: usize,
    pub score_sum: f64,
    /// Rank of the answer's first token, per trial.
    pub ranks: Vec<usize>,
    /// The cells themselves (for the detail view).
    pub cells: Vec<Cell>,
}

impl CellAgg {
    pub fn add(&mut self, cell: &Cell) {
        self.trials += 1;
        self.correct += usize::from(cell.outcome.correct);
        self.score_sum += cell.outcome.score;
        self.ranks.push(cell.outcome.answer_rank);
        self.cells.push(cell.clone());
    }

    /// Fraction of trials correct; None before any.
    pub fn accuracy(&self) -> Option<f64> {
        (self.trials > 0).then(|| self.correct as f64 / self.trials as f64)
    }

    /// 95 % Wilson interval of the accuracy.
    pub fn interval(&self) -> (f64, f64) {
        wilson(self.correct, self.trials)
    }

    /// Median answer rank.
    pub fn median_rank(&self) -> Option<usize> {
        let mut r = self.ranks.clone();
        r.sort_unstable();
        r.get(r.len() / 2).copied()
    }
}

/// One heatmap: rows are depths, columns lengths.
#[derive(Clone)]
pub struct Grid {
    pub experiment: String,
    pub task: String,
    pub lengths: Vec<usize>,
    pub depths: Vec<f64>,
    /// `cells[depth_index][length_index]`.
    pub cells: Vec<Vec<RwSignal<CellAgg>>>,
    /// (depth index, length index) of cells to outline: those that differ from a share link's
    /// record.
    pub marked: RwSignal<Vec<(usize, usize)>>,
}

impl Grid {
    fn new(experiment: &str, task: &str, lengths: &[usize], depths: &[f64]) -> Self {
        let cells =
            depths.iter().map(|_| lengths.iter().map(|_| RwSignal::new(CellAgg::default())).collect()).collect();
        Self {
            experiment: experiment.into(),
            task: task.into(),
            lengths: lengths.to_vec(),
            depths: depths.to_vec(),
            cells,
            marked: RwSignal::new(Vec::new()),
        }
    }

    pub fn cell(&self, depth_index: usize, length_index: usize) -> RwSignal<CellAgg> {
        self.cells[depth_index][length_index]
    }
}

/// A sweep's grids and every cell received.
#[derive(Clone)]
pub struct SweepView {
    pub config: SweepConfig,
    /// Keyed by (experiment, task), in the config's order.
    pub grids: Vec<Grid>,
    pub cells: RwSignal<Vec<Cell>>,
    pub trained_ctx: usize,
}

impl SweepView {
    pub fn new(config: SweepConfig, trained_ctx: usize) -> Self {
        let mut lengths = config.lengths.clone();
        lengths.sort_unstable();
        lengths.dedup();
        let depths = config.depths.values();
        let grids = config
            .experiments
            .iter()
            .flat_map(|e| config.tasks.iter().map(move |t| (e.name.clone(), t.name.clone())))
            .map(|(e, t)| Grid::new(&e, &t, &lengths, &depths))
            .collect();
        Self { config, grids, cells: RwSignal::new(Vec::new()), trained_ctx }
    }

    /// A view of finished results (an imported document).
    pub fn with_cells(config: SweepConfig, trained_ctx: usize, cells: &[Cell]) -> Self {
        let view = Self::new(config, trained_ctx);
        for c in cells {
            view.add(c.clone());
        }
        view
    }

    pub fn grid(&self, experiment: &str, task: &str) -> Option<&Grid> {
        self.grids.iter().find(|g| g.experiment == experiment && g.task == task)
    }

    /// Outlines the grid cells holding `keys` (and clears every other outline).
    pub fn mark(&self, keys: &[ctxscope_engine::probes::sweep::CellKey]) {
        for g in &self.grids {
            let spots: Vec<(usize, usize)> = keys
                .iter()
                .filter(|k| k.experiment == g.experiment && k.task == g.task)
                .filter_map(|k| {
                    let li = g.lengths.iter().position(|&l| l == k.length)?;
                    let di = g.depths.iter().position(|&d| (d - k.depth).abs() < 1e-9)?;
                    Some((di, li))
                })
                .collect();
            g.marked.set(spots);
        }
    }

    /// Files one streamed cell: its grid cell repaints, the curves recompute.
    pub fn add(&self, cell: Cell) {
        if let Some(g) = self.grid(&cell.key.experiment, &cell.key.task) {
            let li = g.lengths.iter().position(|&l| l == cell.key.length);
            let di = g.depths.iter().position(|&d| (d - cell.key.depth).abs() < 1e-9);
            if let (Some(li), Some(di)) = (li, di) {
                g.cell(di, li).update(|a| a.add(&cell));
            }
        }
        self.cells.update(|c| c.push(cell));
    }

    /// Accuracy-vs-length curves and MECW estimates of every (task, experiment) so far.
    pub fn summaries(&self) -> Vec<TaskSummary> {
        self.cells.with(|cells| summarize(&self.config, cells, self.trained_ctx))
    }

    pub fn experiments(&self) -> Vec<String> {
        self.config.experiments.iter().map(|e| e.name.clone()).collect()
    }

    pub fn tasks(&self) -> Vec<String> {
        self.config.tasks.iter().map(|t| t.name.clone()).collect()
    }
}

/// Cells as CSV: one row per cell, every field of the results document's cells.
pub fn cells_csv(cells: &[Cell]) -> String {
    let mut out = String::from(
        "experiment,task,length,depth,seed,needle_depth,correct,score,logprob,answer_rank,rule,generated,seconds\n",
    );
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    for c in cells {
        let k = &c.key;
        let o = &c.outcome;
        out.push_str(&format!(
            "{},{},{},{},{},{:.6},{},{:.6},{},{},{},{},{:.3}\n",
            quote(&k.experiment),
            quote(&k.task),
            k.length,
            k.depth,
            k.seed,
            c.needle_depth,
            u8::from(o.correct),
            o.score,
            o.logprob.map_or(String::new(), |l| format!("{l:.6}")),
            o.answer_rank,
            quote(&o.rule),
            quote(o.generated.as_deref().unwrap_or("")),
            c.seconds
        ));
    }
    out
}
