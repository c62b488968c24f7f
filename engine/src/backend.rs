//! The one engine API every front end uses — the CLI, the sweep runner and the browser worker:
//! an [`Engine`] (a model loaded on one backend, with its experiment) and its [`Session`]s (a
//! KV cache and an async forward pass).
//!
//! The backend choice lives here and only here. Everything both backends share is written once in
//! [`Session::forward`]: the argument check, the key regions resolved once per call, what happens
//! to the cache when a length-dependent method's frequencies change ([`KeyCache`]), chunking with
//! a cancellation and yield point between chunks, and the check that no non-finite logit leaves
//! the engine. The backends only run a chunk, re-rotate keys and reset.
//!
//! Native callers block on the futures with [`block_on`]; the browser worker awaits them.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::cpu::{CpuModel, CpuSession};
use crate::error::{Error, Quantity, Result};
use crate::experiment::{Experiment, KeyCache, Plan};
use crate::gguf::{ModelFile, ModelSpec};
use crate::gpu::{GpuContext, GpuModel, GpuSession, GreedyEnd, PREFILL_CHUNK};
use crate::rope::Region;
use crate::trace::{AttentionMap, AttentionRow, EntropyTrace, MAX_MAP_FLOATS};

/// Where a model runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    /// The CPU reference (candle, f32): the oracle, and the fallback without a GPU.
    Cpu,
    /// The WGSL engine through wgpu (WebGPU in the browser; Vulkan, Metal or DX12 natively).
    Gpu,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::Gpu => "gpu",
        }
    }
}

/// Which backend to load on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum BackendChoice {
    /// The GPU when there is a hardware adapter that can run the model, else the CPU. A software
    /// adapter (SwiftShader, lavapipe) is not a GPU: it runs the WGSL engine 25–70× slower than
    /// the CPU path runs the model.
    #[default]
    Auto,
    Cpu,
    Gpu,
}

impl std::str::FromStr for BackendChoice {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "gpu" => Ok(Self::Gpu),
            other => Err(format!("unknown backend '{other}' (auto, cpu or gpu)")),
        }
    }
}

/// A model on one backend.
enum Model {
    Cpu(Box<CpuModel>),
    Gpu(Box<GpuModel>),
}

/// A model loaded on a backend, with the experiment its sessions run.
pub struct Engine {
    model: Model,
}

/// The result of [`Engine::load`]: the engine and, when `Auto` did not take the GPU, why.
pub struct Loaded {
    pub engine: Engine,
    pub note: Option<String>,
}

impl Engine {
    /// The CPU reference: dequantizes every weight to f32 once.
    pub fn cpu(file: &ModelFile) -> Result<Self> {
        Ok(Self { model: Model::Cpu(Box::new(CpuModel::load(file)?)) })
    }

    /// The WGSL engine on `ctx`: uploads the weights once.
    pub fn gpu(ctx: Arc<GpuContext>, file: &ModelFile) -> Result<Self> {
        Ok(Self { model: Model::Gpu(Box::new(GpuModel::load(ctx, file)?)) })
    }

    /// Loads `file` on the chosen backend. `Auto` falls back to the CPU — with the reason in
    /// [`Loaded::note`] — when there is no adapter, when the adapter is a software renderer, or
    /// when the GPU engine cannot run this model.
    // In wasm the GPU context is not `Send`; the `Arc` (which native callers share across
    // threads) is only reference counting there.
    #[allow(clippy::arc_with_non_send_sync)]
    pub async fn load(file: &ModelFile, choice: BackendChoice) -> Result<Loaded> {
        match choice {
            BackendChoice::Cpu => Ok(Loaded { engine: Self::cpu(file)?, note: None }),
            BackendChoice::Gpu => {
                let ctx = GpuContext::new().await?;
                Ok(Loaded { engine: Self::gpu(Arc::new(ctx), file)?, note: None })
            }
            BackendChoice::Auto => {
                let fallback =
                    |why: String| -> Result<Loaded> { Ok(Loaded { engine: Self::cpu(file)?, note: Some(why) }) };
                let ctx = match GpuContext::new().await {
                    Ok(ctx) => ctx,
                    Err(e) => return fallback(format!("{e}; running on the CPU")),
                };
                if ctx.is_software() {
                    return fallback(format!(
                        "the GPU adapter '{}' is a software renderer, slower than the CPU path; running on the CPU",
                        ctx.adapter_label()
                    ));
                }
                match Self::gpu(Arc::new(ctx), file) {
                    Ok(engine) => Ok(Loaded { engine, note: None }),
                    Err(e @ (Error::UnsupportedOnGpu(_) | Error::DoesNotFit { .. } | Error::Gpu(_))) => {
                        fallback(format!("{e}; running on the CPU"))
                    }
                    Err(e) => Err(e),
                }
            }
        }
    }

    /// [`Engine::load`] for native callers.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn load_blocking(file: &ModelFile, choice: BackendChoice) -> Result<Loaded> {
        block_on(Self::load(file, choice))
    }

    pub fn backend(&self) -> Backend {
        match self.model {
            Model::Cpu(_) => Backend::Cpu,
            Model::Gpu(_) => Backend::Gpu,
        }
    }

    pub fn spec(&self) -> &ModelSpec {
        match &self.model {
            Model::Cpu(m) => m.spec(),
            Model::Gpu(m) => m.spec(),
        }
    }

    /// The resolved experiment sessions made from now on run.
    pub fn plan(&self) -> &Plan {
        match &self.model {
            Model::Cpu(m) => m.plan(),
            Model::Gpu(m) => m.plan(),
        }
    }

    /// Switches the RoPE method, attention pattern, precision and key-cache policy for sessions
    /// made from now on. Errors name the bad parameter; the engine keeps its previous experiment.
    pub fn set_experiment(&mut self, experiment: &Experiment) -> Result<()> {
        match &mut self.model {
            Model::Cpu(m) => m.set_experiment(experiment),
            Model::Gpu(m) => m.set_experiment(experiment),
        }
    }

    /// The largest KV cache, in tokens, one session can hold under the current experiment.
    pub fn max_context(&self) -> usize {
        match &self.model {
            Model::Cpu(m) => m.max_context(),
            Model::Gpu(m) => m.max_context(),
        }
    }

    /// A human-readable name of where the model runs ("CPU (candle, f32)" or the adapter).
    pub fn device_label(&self) -> String {
        match &self.model {
            Model::Cpu(_) => "CPU (candle, f32)".into(),
            Model::Gpu(m) => m.context().adapter_label(),
        }
    }

    /// The GPU model, for GPU-only tools (the kernel profiler of `ctxscope bench`).
    pub fn gpu_model(&self) -> Option<&GpuModel> {
        match &self.model {
            Model::Gpu(m) => Some(m),
            Model::Cpu(_) => None,
        }
    }

    /// [`Engine::gpu_model`], mutable (to switch the profiler on).
    pub fn gpu_model_mut(&mut self) -> Option<&mut GpuModel> {
        match &mut self.model {
            Model::Gpu(m) => Some(m),
            Model::Cpu(_) => None,
        }
    }

    /// A fresh session whose KV cache holds up to `capacity` tokens. Fails up front with
    /// [`Error::DoesNotFit`] (and the largest capacity that fits) when it cannot.
    pub fn session(&self, capacity: usize) -> Result<Session<'_>> {
        let max = self.max_context();
        if capacity > max {
            return Err(Error::DoesNotFit {
                what: format!("a {capacity}-token context"),
                needed: Quantity::Tokens(capacity),
                limit: Quantity::Tokens(max),
                limit_of: format!("the memory of {}", self.device_label()),
                max_tokens: Some(max),
            });
        }
        let inner = match &self.model {
            Model::Cpu(m) => Inner::Cpu(m.session()),
            Model::Gpu(m) => Inner::Gpu(Box::new(m.session(capacity)?)),
        };
        Ok(Session {
            spec: self.spec(),
            plan: self.plan(),
            inner,
            capacity,
            history: Vec::new(),
            key_regions: None,
            mixed_rotation: false,
            interrupt: Interrupt::default(),
        })
    }
}

/// An async pause the session awaits between chunks, so that a single-threaded host (the
/// browser worker) can handle messages — a cancel — in the middle of a long forward pass.
pub type Pause = Rc<dyn Fn() -> Pin<Box<dyn Future<Output = ()>>>>;

/// How a caller interrupts a long forward pass: a cancel flag checked before every chunk, and an
/// optional pause awaited there.
#[derive(Clone, Default)]
pub struct Interrupt {
    pub cancel: Option<Arc<AtomicBool>>,
    pub pause: Option<Pause>,
}

impl Interrupt {
    /// Awaits the pause, then fails with [`Error::Cancelled`] if cancellation was requested.
    pub async fn checkpoint(&self) -> Result<()> {
        if let Some(pause) = &self.pause {
            pause().await;
        }
        match &self.cancel {
            Some(flag) if flag.load(Ordering::Relaxed) => Err(Error::Cancelled),
            _ => Ok(()),
        }
    }
}

enum Inner<'e> {
    Cpu(CpuSession<'e>),
    Gpu(Box<GpuSession<'e>>),
}

/// One sequence: a KV cache of up to `capacity` tokens on the engine's backend.
pub struct Session<'e> {
    spec: &'e ModelSpec,
    plan: &'e Plan,
    inner: Inner<'e>,
    capacity: usize,
    /// Every token run so far (for [`KeyCache::Recompute`]).
    history: Vec<u32>,
    /// The key regions the cached keys were rotated with.
    key_regions: Option<Vec<Region>>,
    /// Whether cached keys were rotated under different regions or re-rotated (a cache kept
    /// across a length change): [`Session::reuse_prefix`] then keeps nothing, since no prefix of
    /// it is certain to be what a fresh pass computes.
    mixed_rotation: bool,
    interrupt: Interrupt,
}

impl Session<'_> {
    /// Tokens already in the KV cache; the next token runs at this position.
    pub fn position(&self) -> usize {
        self.history.len()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The tokens run so far.
    pub fn history(&self) -> &[u32] {
        &self.history
    }

    /// Empties the KV cache; recorded entropy is cleared, a requested attention row is taken
    /// again when its position runs.
    pub fn reset(&mut self) {
        match &mut self.inner {
            Inner::Cpu(s) => s.reset(),
            Inner::Gpu(s) => s.reset(),
        }
        self.history.clear();
        self.key_regions = None;
        self.mixed_rotation = false;
    }

    /// Sets how a long forward pass can be cancelled and paused.
    pub fn set_interrupt(&mut self, interrupt: Interrupt) {
        self.interrupt = interrupt;
    }

    /// Records the attention entropy of every position run from now on.
    pub fn record_entropy(&mut self) {
        match &mut self.inner {
            Inner::Cpu(s) => s.record_entropy(),
            Inner::Gpu(s) => s.record_entropy(),
        }
    }

    /// The entropy recorded so far (None unless [`Session::record_entropy`] was called).
    pub fn entropy(&self) -> Option<&EntropyTrace> {
        match &self.inner {
            Inner::Cpu(s) => s.entropy(),
            Inner::Gpu(s) => s.entropy(),
        }
    }

    /// Asks for the full attention row of (layer, head, absolute position) when that position
    /// runs (the attention-map view); read it with [`Session::attention_row`].
    ///
    /// Errors: [`Error::InvalidInput`] for a layer, head or position out of range.
    pub fn capture_attention_row(&mut self, layer: usize, head: usize, position: usize) -> Result<()> {
        self.capture_attention_map(layer, head, position..position + 1)
    }

    /// Asks for the attention rows of the queries at `positions` (absolute, consecutive) of
    /// (layer, head), captured as those positions run: the full query × key map of a short
    /// prompt when `positions` is `0..n`. Read it with [`Session::attention_map`]; a
    /// [`Session::reset`] empties it and the next pass fills it again.
    ///
    /// Errors: [`Error::InvalidInput`] for a layer, head or position out of range, an empty
    /// range, or a map over [`MAX_MAP_FLOATS`] floats.
    pub fn capture_attention_map(
        &mut self,
        layer: usize,
        head: usize,
        positions: std::ops::Range<usize>,
    ) -> Result<()> {
        let s = self.spec;
        if layer >= s.block_count || head >= s.head_count {
            return Err(Error::InvalidInput(format!(
                "attention row ({layer}, {head}) is outside {} layers × {} heads",
                s.block_count, s.head_count
            )));
        }
        if positions.is_empty() {
            return Err(Error::InvalidInput("the attention map asks for no query positions".into()));
        }
        if positions.end > self.capacity {
            return Err(Error::InvalidInput(format!(
                "attention row position {} is beyond this session's {} tokens",
                positions.end - 1,
                self.capacity
            )));
        }
        let floats = AttentionMap::floats(positions.start, positions.len());
        if floats > MAX_MAP_FLOATS {
            return Err(Error::InvalidInput(format!(
                "an attention map of queries {}..{} holds {floats} weights, over the {MAX_MAP_FLOATS} allowed; ask for fewer rows",
                positions.start, positions.end
            )));
        }
        let map = AttentionMap { layer, head, first: positions.start, count: positions.len(), rows: Vec::new() };
        match &mut self.inner {
            Inner::Cpu(s) => s.capture_attention_map(map),
            Inner::Gpu(s) => s.capture_attention_map(map),
        }
        Ok(())
    }

    /// The requested attention rows, filled in as their queries run.
    pub fn attention_map(&self) -> Option<&AttentionMap> {
        match &self.inner {
            Inner::Cpu(s) => s.attention_map(),
            Inner::Gpu(s) => s.attention_map(),
        }
    }

    /// Cuts the session back to its first `n` tokens, as if only they had run: the KV cache,
    /// the recorded entropy and any captured attention rows past `n` are dropped. Errors when
    /// `n` exceeds [`Session::position`].
    pub fn truncate(&mut self, n: usize) -> Result<()> {
        if n > self.position() {
            return Err(Error::InvalidInput(format!("cannot keep {n} tokens of {}", self.position())));
        }
        match &mut self.inner {
            Inner::Cpu(s) => s.truncate(n)?,
            Inner::Gpu(s) => s.truncate(n),
        }
        self.history.truncate(n);
        if n == 0 {
            self.reset();
        }
        Ok(())
    }

    /// Prefix reuse: keeps the longest prefix of the cached tokens that `tokens` starts with,
    /// at most `limit` tokens, rounded down to whole [`PREFILL_CHUNK`]s, and only when every
    /// cached key was rotated exactly as a fresh pass over `total` tokens would rotate it
    /// (otherwise the session is emptied). Returns how many tokens were kept: run
    /// `tokens[kept..]` next. Whole chunks make the result bit-identical to a fresh pass: every
    /// position is computed in the same chunk, with the same cache before it. A sweep's cells
    /// share their haystack up to the earlier needle, so most of a long cell's prefill is
    /// already cached.
    pub fn reuse_prefix(&mut self, tokens: &[u32], total: usize, limit: usize) -> Result<usize> {
        let same_rotation = !self.mixed_rotation && self.key_regions.as_ref() == Some(&self.plan.regions(total));
        let shared = if same_rotation {
            let common = self.history.iter().zip(tokens).take_while(|(a, b)| a == b).count().min(limit);
            common / PREFILL_CHUNK * PREFILL_CHUNK
        } else {
            0
        };
        if shared == 0 {
            self.reset();
        } else {
            self.truncate(shared)?;
        }
        Ok(shared)
    }

    /// The first requested attention row ([`Session::capture_attention_row`]); its `probs` are
    /// set once its position has run.
    pub fn attention_row(&self) -> Option<AttentionRow> {
        let map = self.attention_map()?;
        Some(map.row(map.first).unwrap_or(AttentionRow {
            layer: map.layer,
            head: map.head,
            position: map.first,
            probs: None,
        }))
    }

    /// Runs `tokens` at positions `position() ..`, appends them to the cache, and returns the
    /// logits (vocabulary-sized rows) at the given indices into `tokens`.
    ///
    /// Errors: bad arguments ([`Error::InvalidInput`]), a cache overflow, [`Error::Cancelled`]
    /// between chunks, [`Error::NonFinite`] when the experiment's arithmetic overflowed, and the
    /// backend's own (device loss). After an error the session must be [`Session::reset`].
    pub async fn forward(&mut self, tokens: &[u32], logit_rows: &[usize]) -> Result<Vec<Vec<f32>>> {
        self.check(tokens, logit_rows)?;
        let plan = self.plan;
        // One resolution for the whole call: dynamic methods see its full length, as HF's one
        // forward pass does.
        let regions = plan.regions(self.position() + tokens.len());
        if self.position() > 0 && self.key_regions.as_ref() != Some(&regions) {
            match plan.on_length_change() {
                Some(KeyCache::Recompute) => {
                    let past = std::mem::take(&mut self.history);
                    let all: Vec<u32> = past.iter().chain(tokens).copied().collect();
                    let rows: Vec<usize> = logit_rows.iter().map(|r| r + past.len()).collect();
                    self.reset();
                    return self.run(&all, &rows, regions).await;
                }
                Some(KeyCache::PreRope) => {
                    match &mut self.inner {
                        Inner::Cpu(s) => s.rerotate(&regions)?,
                        Inner::Gpu(s) => s.rerotate(&regions)?,
                    }
                    // Re-rotated keys come from another code path than a fresh pass's.
                    self.mixed_rotation = true;
                }
                Some(KeyCache::PostRope) | None => self.mixed_rotation = true,
            }
        }
        self.run(tokens, logit_rows, regions).await
    }

    /// [`Session::forward`] for native callers.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn forward_blocking(&mut self, tokens: &[u32], logit_rows: &[usize]) -> Result<Vec<Vec<f32>>> {
        block_on(self.forward(tokens, logit_rows))
    }

    /// Greedy decoding from `first` (a token not yet run, e.g. the pick after a prompt): runs it,
    /// picks the argmax of its logits (f32::total_cmp's order, ties to the lowest id, as
    /// [`crate::score::top_k`]), hands the pick to `accept`, runs it if `accept` says `true`,
    /// and so on until `accept` says `false` (that pick is not run). Every token run joins the
    /// cache and the history, exactly as [`Session::forward`] one token at a time would, with
    /// the same logits bit for bit.
    ///
    /// On the GPU the pick is made there and the next step is queued before the current one's
    /// pick reaches the host (`gpu/model/decode.rs`), unless this session records entropy, an
    /// attention row is pending, the profiler is on, or the key regions change at a position
    /// (dynamic RoPE methods): those steps, and every step on the CPU, run through
    /// [`Session::forward`] with the pick made here.
    ///
    /// Errors: as [`Session::forward`] (a full cache is one, when `accept` still wants a
    /// token), and `accept`'s own. After an error the session must be [`Session::reset`],
    /// except after [`Error::Cancelled`]: the cache and history then hold the tokens run so
    /// far and the session carries on.
    pub async fn decode_greedy(&mut self, first: u32, accept: &mut dyn FnMut(u32) -> Result<bool>) -> Result<()> {
        let mut next = first;
        loop {
            self.check(&[next], &[0])?;
            let regions = self.plan.regions(self.position() + 1);
            let same_keys = self.key_regions.as_ref() == Some(&regions);
            if let Inner::Gpu(s) = &mut self.inner {
                if same_keys && s.can_pipeline() {
                    self.interrupt.checkpoint().await?;
                    match s.decode_greedy(next, &regions, &self.interrupt, &mut self.history, accept).await? {
                        GreedyEnd::Stopped => return Ok(()),
                        // The cache is full or the regions change at its position: the
                        // loop's check says which, or `forward` runs it.
                        GreedyEnd::Handoff(pick) => {
                            next = pick;
                            continue;
                        }
                    }
                }
            }
            let logits = self.forward(&[next], &[0]).await?;
            next = crate::score::top_k(&logits[0], 1)[0] as u32;
            if !accept(next)? {
                return Ok(());
            }
        }
    }

    /// Decode steps [`Session::decode_greedy`] has run with the pick on the GPU and the next
    /// step in flight (0 on the CPU backend), so a report or a test can say which path ran.
    pub fn pipelined_steps(&self) -> usize {
        match &self.inner {
            Inner::Cpu(_) => 0,
            Inner::Gpu(s) => s.pipelined_steps(),
        }
    }

    /// [`Session::decode_greedy`] for native callers.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn decode_greedy_blocking(&mut self, first: u32, accept: &mut dyn FnMut(u32) -> Result<bool>) -> Result<()> {
        block_on(self.decode_greedy(first, accept))
    }

    /// The one argument check both backends rely on.
    fn check(&self, tokens: &[u32], logit_rows: &[usize]) -> Result<()> {
        if tokens.is_empty() {
            return Err(Error::InvalidInput("no tokens to run".into()));
        }
        let vocab = self.spec.vocab_size;
        if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= vocab) {
            return Err(Error::InvalidInput(format!("token id {bad} is outside the vocabulary of {vocab}")));
        }
        if let Some(&bad) = logit_rows.iter().find(|&&r| r >= tokens.len()) {
            return Err(Error::InvalidInput(format!("logit row {bad} is outside the {} tokens run", tokens.len())));
        }
        if self.position() + tokens.len() > self.capacity {
            return Err(Error::InvalidInput(format!(
                "{} tokens after {} exceed this session's KV cache of {} tokens",
                tokens.len(),
                self.position(),
                self.capacity
            )));
        }
        Ok(())
    }

    /// Runs `tokens` in chunks with `regions`, a checkpoint before each.
    async fn run(&mut self, tokens: &[u32], logit_rows: &[usize], regions: Vec<Region>) -> Result<Vec<Vec<f32>>> {
        let mut out = vec![Vec::new(); logit_rows.len()];
        for (c, chunk) in tokens.chunks(PREFILL_CHUNK).enumerate() {
            self.interrupt.checkpoint().await?;
            let base = c * PREFILL_CHUNK;
            let (slots, rows): (Vec<usize>, Vec<usize>) = logit_rows
                .iter()
                .enumerate()
                .filter(|(_, &r)| r >= base && r < base + chunk.len())
                .map(|(slot, &r)| (slot, r - base))
                .unzip();
            let logits = match &mut self.inner {
                Inner::Cpu(s) => s.run_chunk(chunk, &rows, &regions)?,
                Inner::Gpu(s) => s.run_chunk(chunk, &rows, &regions).await?,
            };
            self.history.extend_from_slice(chunk);
            for (slot, row) in slots.into_iter().zip(logits) {
                out[slot] = row;
            }
        }
        self.key_regions = Some(regions);
        if out.iter().flatten().any(|x| !x.is_finite()) {
            return Err(Error::NonFinite { experiment: self.plan.experiment.describe(), what: "logits".into() });
        }
        if self.entropy().is_some_and(|t| t.values.iter().any(|x| !x.is_finite())) {
            return Err(Error::NonFinite {
                experiment: self.plan.experiment.describe(),
                what: "attention entropy".into(),
            });
        }
        Ok(out)
    }
}

/// Drives a future to completion on the current thread (native callers: the CLI, tests,
/// benchmarks). wgpu's readbacks need the device polled, which the GPU backend does itself.
#[cfg(not(target_arch = "wasm32"))]
pub fn block_on<F: Future>(future: F) -> F::Output {
    pollster::block_on(future)
}
