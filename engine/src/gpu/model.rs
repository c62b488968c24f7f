//! The llama forward pass on the GPU: weights uploaded once, a KV cache per session, prefill in
//! chunks (each chunk one submission, short enough for GPU watchdogs) and token-by-token decode.

use std::sync::Arc;

use super::buffers::{self, read_f32};
use super::context::GpuContext;
use super::kernels::{BindCache, Pipelines, ATTENTION_HEAD_DIM};
use super::ops::attention::{max_splits, AttentionIo, AttentionShape};
use super::ops::matmul::LINEAR_IN_MULTIPLE;
use super::ops::rope::{CacheSlot, QkvLayout, RopeShape, RopeTables};
use super::ops::Ops;
use super::profiler::Profiler;
use super::recorder::Recorder;
use super::weights::GpuWeight;
use crate::error::{Error, Quantity, Result};
use crate::experiment::{Experiment, Plan};
use crate::gguf::{ModelFile, ModelSpec};
use crate::rope::Region;
use crate::trace::{AttentionMap, EntropyTrace};

mod decode;

pub(crate) use decode::GreedyEnd;

/// Tokens per prefill submission (the largest chunk [`crate::engine::Session`] hands over).
pub(crate) const PREFILL_CHUNK: usize = 512;

/// Layers recorded per submission of a forward pass (see `GpuSession::record_chunk`). Each
/// submission costs a queue submit (tens of µs); 8 keeps that small against a decode step's
/// ~10 ms while letting the GPU start after a quarter of SmolLM2's 30 layers.
const LAYERS_PER_SUBMISSION: usize = 8;

struct LayerWeights {
    attn_norm: wgpu::Buffer,
    /// attn_q, attn_k and attn_v stacked: [heads·d + 2·kv_heads·d, embedding].
    attn_qkv: GpuWeight,
    attn_output: GpuWeight,
    ffn_norm: wgpu::Buffer,
    /// ffn_gate and ffn_up stacked: [2·feed_forward_length, embedding].
    ffn_gate_up: GpuWeight,
    ffn_down: GpuWeight,
}

impl LayerWeights {
    fn matrices(&self) -> [&GpuWeight; 4] {
        [&self.attn_qkv, &self.attn_output, &self.ffn_gate_up, &self.ffn_down]
    }
}

/// A model's weights on the GPU.
pub struct GpuModel {
    ctx: Arc<GpuContext>,
    pipes: Pipelines,
    spec: ModelSpec,
    token_embd: GpuWeight,
    output: Option<GpuWeight>,
    output_norm: wgpu::Buffer,
    layers: Vec<LayerWeights>,
    plan: Plan,
    weight_bytes: u64,
    profiler: Option<Profiler>,
}

impl GpuModel {
    pub fn load(ctx: Arc<GpuContext>, file: &ModelFile) -> Result<Self> {
        let spec = file.spec().clone();
        if spec.head_dim != ATTENTION_HEAD_DIM {
            return Err(Error::UnsupportedOnGpu(format!(
                "the attention kernel keeps a query row in registers for head_dim {ATTENTION_HEAD_DIM}; this model has head_dim {}",
                spec.head_dim
            )));
        }
        let w = |name: &str| GpuWeight::load(&ctx, file, name);
        let f = |name: &str| GpuWeight::load_f32(&ctx, file, name);
        let layers = (0..spec.block_count)
            .map(|l| {
                let n = |t: &str| format!("blk.{l}.{t}.weight");
                let stacked = |names: &[&str]| {
                    let names: Vec<String> = names.iter().map(|t| n(t)).collect();
                    GpuWeight::load_stacked(&ctx, file, &names.iter().map(String::as_str).collect::<Vec<_>>())
                };
                Ok(LayerWeights {
                    attn_norm: f(&n("attn_norm"))?,
                    attn_qkv: stacked(&["attn_q", "attn_k", "attn_v"])?,
                    attn_output: w(&n("attn_output"))?,
                    ffn_norm: f(&n("ffn_norm"))?,
                    ffn_gate_up: stacked(&["ffn_gate", "ffn_up"])?,
                    ffn_down: w(&n("ffn_down"))?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let token_embd = w("token_embd.weight")?;
        let output = if spec.tied_output { None } else { Some(w("output.weight")?) };
        let output_norm = f("output_norm.weight")?;
        ctx.check()?;
        // The linear kernels read whole 32-element blocks of each row (`ops::matmul`); refuse
        // other row lengths here, where `Auto` can still fall back to the CPU.
        let linear = layers.iter().flat_map(LayerWeights::matrices);
        let projection = output.as_ref().unwrap_or(&token_embd);
        if let Some(w) = linear.chain([projection]).find(|w| !w.cols.is_multiple_of(LINEAR_IN_MULTIPLE)) {
            return Err(Error::UnsupportedOnGpu(format!(
                "the GPU's linear kernels need rows of a multiple of {LINEAR_IN_MULTIPLE} weights; this model has a [{}, {}] matrix",
                w.rows, w.cols
            )));
        }
        let mut weight_bytes =
            token_embd.buffer.size() + output.as_ref().map_or(0, |o| o.buffer.size()) + output_norm.size();
        for l in &layers {
            weight_bytes +=
                l.matrices().iter().map(|w| w.buffer.size()).sum::<u64>() + l.attn_norm.size() + l.ffn_norm.size();
        }
        let plan = Plan::standard(&spec);
        Ok(Self {
            pipes: Pipelines::new(spec.head_dim),
            ctx,
            spec,
            token_embd,
            output,
            output_norm,
            layers,
            plan,
            weight_bytes,
            profiler: None,
        })
    }

    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// Switches the RoPE method, attention pattern and precision for sessions made from now on.
    pub fn set_experiment(&mut self, experiment: &Experiment) -> Result<()> {
        self.plan = Plan::new(experiment, &self.spec)?;
        Ok(())
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Times every kernel with timestamp queries from now on; false if the adapter cannot.
    pub fn enable_profiling(&mut self) -> bool {
        self.profiler = Profiler::new(&self.ctx);
        self.profiler.is_some()
    }

    /// GPU milliseconds and dispatch counts per kernel since the last call, largest first.
    pub fn take_profile(&self) -> Vec<(String, f64, u64)> {
        self.profiler.as_ref().map(Profiler::take_report).unwrap_or_default()
    }

    pub fn context(&self) -> &GpuContext {
        &self.ctx
    }

    /// Bytes of weights resident on the GPU.
    pub fn weight_bytes(&self) -> u64 {
        self.weight_bytes
    }

    /// Bytes of scratch activations for one full prefill chunk (the per-chunk peak besides the
    /// weights and the KV cache).
    pub fn scratch_bytes(&self) -> u64 {
        let s = &self.spec;
        let n = PREFILL_CHUNK;
        let regions = self.plan.region_count();
        let splits = max_splits(n, s.head_count, regions);
        let floats = n
            * (1 + 3 * s.embedding_length
                + (1 + regions) * s.head_count * s.head_dim
                + 2 * s.head_count_kv * s.head_dim
                + 2 * (2 * regions + 1) * s.head_dim / 2
                + 3 * s.feed_forward_length
                + s.head_dim
                + 2 * s.block_count * s.head_count
                + splits * s.head_count * (s.head_dim + 4));
        (floats * 4) as u64
    }

    /// The largest KV cache (tokens) one session can have under the current experiment: one
    /// layer's K for every key region must fit in one storage binding.
    pub fn max_context(&self) -> usize {
        let s = &self.spec;
        let per_token = (s.head_count_kv * s.head_dim * 4 * self.plan.region_count()) as u64;
        (self.ctx.max_binding() / per_token.max(1)).min(u32::MAX as u64) as usize
    }

    /// A session whose KV cache holds up to `capacity` tokens, under the current experiment.
    /// Fails up front, with the numbers, if one layer's cache would exceed the device's binding
    /// limit.
    pub(crate) fn session(&self, capacity: usize) -> Result<GpuSession<'_>> {
        let s = &self.spec;
        let regions = self.plan.region_count() as u64;
        let layer_bytes = (s.head_count_kv as u64 * s.head_dim as u64 * 4).saturating_mul(capacity as u64);
        if capacity > self.max_context() {
            return Err(Error::DoesNotFit {
                what: format!("a {capacity}-token KV cache's K for one layer ({regions} key region(s))"),
                needed: Quantity::Bytes(layer_bytes.saturating_mul(regions)),
                limit: Quantity::Bytes(self.ctx.max_binding()),
                limit_of: "this GPU's largest binding".into(),
                max_tokens: Some(self.max_context()),
            });
        }
        let mut k_cache = Vec::with_capacity(s.block_count);
        let mut v_cache = Vec::with_capacity(s.block_count);
        let mut raw_k = Vec::new();
        for _ in 0..s.block_count {
            k_cache.push(buffers::storage(&self.ctx, "k cache", layer_bytes * regions)?);
            v_cache.push(buffers::storage(&self.ctx, "v cache", layer_bytes)?);
            if self.plan.rerotates_keys() {
                raw_k.push(buffers::storage(&self.ctx, "pre-RoPE k cache", layer_bytes)?);
            }
        }
        let mask: Vec<u32> = self.plan.masks().iter().flat_map(|m| [m.window, m.sinks]).collect();
        let mask = buffers::upload(&self.ctx, "attention mask", bytemuck::cast_slice(&mask))?;
        Ok(GpuSession {
            model: self,
            plan: self.plan.clone(),
            k_cache,
            v_cache,
            raw_k,
            capacity,
            len: 0,
            mask,
            entropy: None,
            scratch: None,
            logit_bufs: None,
            map: None,
            binds: BindCache::new(&self.ctx),
            picks: None,
            pipelined_steps: 0,
        })
    }
}

/// Scratch activations for one chunk of `n` tokens.
struct Scratch {
    ids: wgpu::Buffer,
    x: wgpu::Buffer,
    x2: wgpu::Buffer,
    h: wgpu::Buffer,
    /// The stacked q/k/v projection: [n, heads + 2·kv_heads, d].
    qkv: wgpu::Buffer,
    /// q rotated for each key region: [regions, n, heads, d].
    q_rot: wgpu::Buffer,
    attn: wgpu::Buffer,
    /// The stacked gate/up projection: [n, 2·feed_forward_length].
    gate_up: wgpu::Buffer,
    /// silu(gate) · up: [n, feed_forward_length].
    act: wgpu::Buffer,
    /// See [`RopeTables`].
    tables: wgpu::Buffer,
    entropy: wgpu::Buffer,
    lse: wgpu::Buffer,
    part_o: wgpu::Buffer,
    part_stats: wgpu::Buffer,
}

/// One sequence on the GPU: the KV cache and the per-head attention mask.
pub struct GpuSession<'m> {
    model: &'m GpuModel,
    /// The experiment this session runs (fixed at creation: the cache layout depends on it).
    plan: Plan,
    /// Per layer: K rotated for each key region, [regions, kv_heads, capacity, d].
    k_cache: Vec<wgpu::Buffer>,
    v_cache: Vec<wgpu::Buffer>,
    /// Per layer, when the plan re-rotates keys: pre-RoPE K, [capacity, kv_heads, d].
    raw_k: Vec<wgpu::Buffer>,
    capacity: usize,
    len: usize,
    mask: wgpu::Buffer,
    entropy: Option<EntropyTrace>,
    /// Activations for the last chunk size used; reused while the size repeats (every decode step).
    scratch: Option<(usize, Scratch)>,
    /// Row-gather, norm and logits buffers for the last logit-row count used.
    logit_bufs: Option<(usize, LogitBuffers)>,
    /// The attention rows to capture, filled in as their queries run.
    map: Option<AttentionMap>,
    /// Bind groups reused by repeated forward passes (decode steps).
    binds: BindCache,
    /// The pipelined greedy decode's pick buffers, made on its first use.
    picks: Option<decode::PickBuffers>,
    /// Decode steps the pipelined greedy loop has run (for reports and tests).
    pipelined_steps: usize,
}

/// What one chunk records besides the scratch: its position, the RoPE table offsets, the key
/// regions' Δ ranges and the map rows to capture.
struct Chunk {
    start: usize,
    n: usize,
    tables: RopeTables,
    /// One `[min, max)` Δ range per key region (u32::MAX = unbounded).
    deltas: Vec<(u32, u32)>,
    capture: Option<RowCapture>,
}

/// The attention-map rows whose queries run in this chunk, packed one after another into
/// `probs`: query `positions[k]` of `head` at `layer` covers keys 0..=positions[k].
struct RowCapture {
    layer: usize,
    head: usize,
    positions: std::ops::Range<usize>,
    probs: wgpu::Buffer,
}

struct LogitBuffers {
    rows: wgpu::Buffer,
    normed: wgpu::Buffer,
    logits: wgpu::Buffer,
}

impl GpuSession<'_> {
    /// Empties the KV cache (and recorded entropy; a captured row is taken again).
    pub(crate) fn reset(&mut self) {
        self.len = 0;
        if let Some(t) = self.entropy.as_mut() {
            t.clear();
        }
        if let Some(m) = self.map.as_mut() {
            m.rows.clear();
        }
    }

    /// Keeps the first `n` cached positions (`n` ≤ the cached length; checked by the caller):
    /// later positions are overwritten when they run again.
    pub(crate) fn truncate(&mut self, n: usize) {
        self.len = n;
        if let Some(t) = self.entropy.as_mut() {
            t.truncate(n);
        }
        if let Some(m) = self.map.as_mut() {
            m.truncate(n);
        }
    }

    /// Asks for the attention rows of `map` as their queries run (the attention-map view).
    /// Bounds are checked by the caller.
    pub(crate) fn capture_attention_map(&mut self, map: AttentionMap) {
        self.map = Some(map);
    }

    pub(crate) fn attention_map(&self) -> Option<&AttentionMap> {
        self.map.as_ref()
    }

    /// Starts recording attention entropy for every position run from now on.
    pub(crate) fn record_entropy(&mut self) {
        let s = &self.model.spec;
        self.entropy = Some(EntropyTrace::new(s.block_count, s.head_count, self.len));
    }

    pub(crate) fn entropy(&self) -> Option<&EntropyTrace> {
        self.entropy.as_ref()
    }

    fn take_scratch(&mut self, n: usize) -> Result<Scratch> {
        match self.scratch.take() {
            Some((size, sc)) if size == n => Ok(sc),
            _ => self.scratch(n),
        }
    }

    fn take_logit_buffers(&mut self, r: usize) -> Result<LogitBuffers> {
        if let Some((size, bufs)) = self.logit_bufs.take() {
            if size == r {
                return Ok(bufs);
            }
        }
        let s = &self.model.spec;
        let ctx = &self.model.ctx;
        let row_bytes = (s.embedding_length * 4) as u64;
        Ok(LogitBuffers {
            rows: buffers::storage(ctx, "selected rows", r as u64 * row_bytes)?,
            normed: buffers::storage(ctx, "normed rows", r as u64 * row_bytes)?,
            logits: buffers::storage(ctx, "logits", (r * s.vocab_size * 4) as u64)?,
        })
    }

    fn scratch(&self, n: usize) -> Result<Scratch> {
        let s = &self.model.spec;
        let ctx = &self.model.ctx;
        let f = |label: &str, floats: usize| buffers::storage(ctx, label, (floats * 4) as u64);
        let (q_dim, kv_dim) = (s.head_count * s.head_dim, s.head_count_kv * s.head_dim);
        let regions = self.plan.region_count();
        let splits = max_splits(n, s.head_count, regions);
        Ok(Scratch {
            ids: f("ids", n)?,
            x: f("x", n * s.embedding_length)?,
            x2: f("x2", n * s.embedding_length)?,
            h: f("h", n * s.embedding_length)?,
            qkv: f("qkv", n * (q_dim + 2 * kv_dim))?,
            q_rot: f("rotated q", regions * n * q_dim)?,
            attn: f("attn", n * q_dim)?,
            gate_up: f("gate and up", n * 2 * s.feed_forward_length)?,
            act: f("swiglu", n * s.feed_forward_length)?,
            tables: f("rope tables", 2 * (2 * regions * n * s.head_dim / 2 + n))?,
            entropy: f("entropy", s.block_count * s.head_count * n)?,
            lse: f("lse", s.block_count * s.head_count * n)?,
            part_o: f("attention partials", splits * n * q_dim)?,
            part_stats: f("attention partial stats", splits * n * s.head_count * 4)?,
        })
    }

    /// Runs one chunk of at most [`PREFILL_CHUNK`] tokens at positions `len() ..`; returns
    /// logits for `rows` (indices into the chunk). Arguments are checked by the caller. The
    /// steps: [`Self::prepare_chunk`] (uploads), [`Self::record_chunk`] (every layer and
    /// [`Self::record_logits`], submitted every [`LAYERS_PER_SUBMISSION`] layers),
    /// [`Self::read_back`].
    pub(crate) async fn run_chunk(
        &mut self,
        tokens: &[u32],
        rows: &[usize],
        regions: &[Region],
    ) -> Result<Vec<Vec<f32>>> {
        let n = tokens.len();
        let sc = self.take_scratch(n)?;
        let lb = if rows.is_empty() { None } else { Some(self.take_logit_buffers(rows.len())?) };
        self.model.ctx.queue.write_buffer(&sc.ids, 0, bytemuck::cast_slice(tokens));
        let chunk = self.prepare_chunk(n, regions, &sc)?;
        let recorded = self.record_chunk(&sc, lb.as_ref(), rows, &chunk, None);
        // Submitted whole or abandoned part way (a launcher refused): the next chunk's dispatches
        // start again at slot 0. Parts already submitted only wrote positions past `len`.
        self.binds.reset();
        recorded?;
        let ctx = &self.model.ctx;
        ctx.check()?;
        self.len += n;
        let out = self.read_back(&sc, lb.as_ref(), rows, chunk.capture.as_ref(), n).await;
        self.scratch = Some((n, sc));
        if let Some(lb) = lb {
            self.logit_bufs = Some((rows.len(), lb));
        }
        out
    }

    /// Uploads the RoPE tables of a chunk of `n` tokens at positions `len() ..` (the caller
    /// writes its token ids), and sets up the capture of the map rows whose queries run in it.
    fn prepare_chunk(&self, n: usize, regions: &[Region], sc: &Scratch) -> Result<Chunk> {
        let ctx = &self.model.ctx;
        let start = self.len;
        let capture = match self.map.as_ref().map(|m| (m.layer, m.head, m.pending_in(start, n))) {
            Some((layer, head, positions)) if !positions.is_empty() => {
                let floats = AttentionMap::floats(positions.start, positions.len());
                let probs = buffers::storage(ctx, "attention rows", floats as u64 * 4)?;
                Some(RowCapture { layer, head, positions, probs })
            }
            _ => None,
        };
        let plan = &self.plan;
        let span = start..start + n;
        let q_tables: Vec<_> = regions.iter().map(|r| plan.query_tables(r, span.clone())).collect();
        let k_tables: Vec<_> = regions.iter().map(|r| plan.key_tables(r, span.clone())).collect();
        let tables = RopeTables::new(&q_tables, &k_tables, &plan.query_scales(span));
        ctx.queue.write_buffer(&sc.tables, 0, bytemuck::cast_slice(&tables.data));
        let deltas = regions
            .iter()
            .map(|r| (r.deltas.min.min(u32::MAX as usize) as u32, r.deltas.max.min(u32::MAX as usize) as u32))
            .collect();
        Ok(Chunk { start, n, tables, deltas, capture })
    }

    /// Records and submits the whole chunk: the embedding, every layer, the logits, the
    /// profiler's resolve. The chunk goes to the GPU in parts of [`LAYERS_PER_SUBMISSION`]
    /// layers, so the GPU runs the first layers while the CPU records the rest (a decode step's
    /// recording takes about as long as its GPU work). With `pick` (a decode step of the
    /// pipelined greedy loop, `decode.rs`), the logits' argmax goes into `sc.ids` (the next
    /// step's input) and into `pick.picked`, copied to `pick.staging` for the host. Returns the
    /// last submission.
    fn record_chunk(
        &self,
        sc: &Scratch,
        lb: Option<&LogitBuffers>,
        rows: &[usize],
        chunk: &Chunk,
        pick: Option<decode::Pick<'_>>,
    ) -> Result<wgpu::SubmissionIndex> {
        let m = self.model;
        let ctx = &m.ctx;
        let ops = Ops { ctx, pipes: &m.pipes, prof: m.profiler.as_ref(), binds: Some(&self.binds) };
        let submit = |rec: Recorder| {
            self.binds.flush(ctx);
            ctx.queue.submit([rec.finish()])
        };
        let mut rec = Recorder::new(&ctx.device);
        ops.embed(&mut rec, &sc.ids, &m.token_embd, &sc.x, chunk.n)?;
        for l in 0..m.layers.len() {
            self.record_layer(&ops, &mut rec, l, sc, chunk)?;
            if (l + 1) % LAYERS_PER_SUBMISSION == 0 && l + 1 < m.layers.len() {
                submit(std::mem::replace(&mut rec, Recorder::new(&ctx.device)));
            }
        }
        if let Some(lb) = lb {
            self.record_logits(&ops, &mut rec, sc, lb, rows)?;
            if let Some(pick) = pick {
                ops.argmax(&mut rec, &lb.logits, m.spec.vocab_size, &sc.ids, pick.picked)?;
                rec.encoder().copy_buffer_to_buffer(pick.picked, 0, pick.staging, 0, pick.staging.size());
            }
        }
        if let Some(p) = &m.profiler {
            p.resolve(rec.encoder());
        }
        Ok(submit(rec))
    }

    /// Records layer `l`: attention (norm, q/k/v, RoPE and the cache write, attention, any map
    /// rows, the output projection with the residual), then the feed-forward block.
    fn record_layer(&self, ops: &Ops<'_>, enc: &mut Recorder, l: usize, sc: &Scratch, chunk: &Chunk) -> Result<()> {
        let s = &self.model.spec;
        let w = &self.model.layers[l];
        let n = chunk.n;
        self.norm_project(ops, enc, &sc.x, &w.attn_norm, &w.attn_qkv, &sc.qkv, &sc.h, n)?;
        let slot = CacheSlot {
            k: &self.k_cache[l],
            v: &self.v_cache[l],
            k_raw: self.raw_k.get(l),
            start: chunk.start,
            capacity: self.capacity,
        };
        let rope = RopeShape {
            n,
            heads: s.head_count,
            kv_heads: s.head_count_kv,
            head_dim: s.head_dim,
            regions: chunk.deltas.len(),
            precision: self.plan.precision().kernel_code(),
            q_table: chunk.tables.q_table,
            k_table: chunk.tables.k_table,
            scale_at: chunk.tables.scale_at,
            scale_queries: self.plan.logit_scale().applies_to(l),
            write_v: true,
            layout: QkvLayout::Stacked,
        };
        ops.rope_and_cache(enc, &sc.qkv, &sc.qkv, &sc.qkv, &sc.tables, &sc.q_rot, slot, &rope)?;
        let shape = AttentionShape {
            n,
            start: chunk.start,
            heads: s.head_count,
            kv_heads: s.head_count_kv,
            capacity: self.capacity,
            layer: l,
            scale: 1.0 / (s.head_dim as f32).sqrt(),
            head_dim: s.head_dim,
            regions: chunk.deltas.clone(),
        };
        let io = AttentionIo {
            q: &sc.q_rot,
            k_cache: &self.k_cache[l],
            v_cache: &self.v_cache[l],
            mask: &self.mask,
            out: &sc.attn,
            entropy: &sc.entropy,
            lse: &sc.lse,
            part_o: &sc.part_o,
            part_stats: &sc.part_stats,
        };
        ops.attention(enc, &shape, &io)?;
        if let Some(c) = chunk.capture.as_ref().filter(|c| c.layer == l) {
            let mut offset = 0;
            for position in c.positions.clone() {
                ops.attention_row(enc, &shape, &io, c.head, position - chunk.start, &c.probs, offset)?;
                offset += position + 1;
            }
        }
        ops.matmul(enc, &sc.attn, &w.attn_output, &sc.x2, n, Some(&sc.x))?;
        self.norm_project(ops, enc, &sc.x2, &w.ffn_norm, &w.ffn_gate_up, &sc.gate_up, &sc.h, n)?;
        if n == 1 {
            return ops.matvec_swiglu(enc, &sc.gate_up, &w.ffn_down, &sc.x, Some(&sc.x2));
        }
        ops.swiglu(enc, &sc.gate_up, &sc.act, n, s.feed_forward_length)?;
        ops.matmul(enc, &sc.act, &w.ffn_down, &sc.x, n, Some(&sc.x2))
    }

    /// Records the logits of `rows`: gathers those rows of the final hidden state, normalises
    /// them and projects them onto the vocabulary.
    fn record_logits(
        &self,
        ops: &Ops<'_>,
        enc: &mut Recorder,
        sc: &Scratch,
        lb: &LogitBuffers,
        rows: &[usize],
    ) -> Result<()> {
        let m = self.model;
        let d = m.spec.embedding_length;
        let row_bytes = (d * 4) as u64;
        for (i, &row) in rows.iter().enumerate() {
            enc.encoder().copy_buffer_to_buffer(
                &sc.x,
                row as u64 * row_bytes,
                &lb.rows,
                i as u64 * row_bytes,
                row_bytes,
            );
        }
        let out_w = m.output.as_ref().unwrap_or(&m.token_embd);
        self.norm_project(ops, enc, &lb.rows, &m.output_norm, out_w, &lb.logits, &lb.normed, rows.len())
    }

    /// `y = w · (rmsnorm(x) · gamma)` for `n` rows of x: one fused dispatch for a single row (a
    /// decode step), else RMSNorm into `normed` and the tiled matmul.
    #[allow(clippy::too_many_arguments)]
    fn norm_project(
        &self,
        ops: &Ops<'_>,
        enc: &mut Recorder,
        x: &wgpu::Buffer,
        gamma: &wgpu::Buffer,
        w: &GpuWeight,
        y: &wgpu::Buffer,
        normed: &wgpu::Buffer,
        n: usize,
    ) -> Result<()> {
        let s = &self.model.spec;
        if n == 1 {
            return ops.matvec_norm(enc, x, gamma, w, y, s.rms_norm_eps);
        }
        ops.rms_norm(enc, x, gamma, normed, n, s.embedding_length, s.rms_norm_eps)?;
        ops.matmul(enc, normed, w, y, n, None)
    }

    /// After the submission: the profile, the chunk's entropy, the captured map rows, and the
    /// logits of `rows`.
    async fn read_back(
        &mut self,
        sc: &Scratch,
        lb: Option<&LogitBuffers>,
        rows: &[usize],
        capture: Option<&RowCapture>,
        n: usize,
    ) -> Result<Vec<Vec<f32>>> {
        let m = self.model;
        let ctx = &m.ctx;
        if let Some(p) = &m.profiler {
            p.collect(ctx).await?;
        }
        if let Some(trace) = self.entropy.as_mut() {
            let values = read_f32(ctx, &sc.entropy, 0, sc.entropy.size()).await?;
            trace.append(&values, n);
        }
        if let (Some(c), Some(map)) = (capture, self.map.as_mut()) {
            let flat = read_f32(ctx, &c.probs, 0, c.probs.size()).await?;
            let mut rest = flat.as_slice();
            for position in c.positions.clone() {
                let (row, tail) = rest.split_at(position + 1);
                map.rows.push(row.to_vec());
                rest = tail;
            }
        }
        match lb {
            None => Ok(Vec::new()),
            Some(lb) => {
                let vocab = m.spec.vocab_size;
                let flat = read_f32(ctx, &lb.logits, 0, (rows.len() * vocab * 4) as u64).await?;
                Ok(flat.chunks(vocab).map(<[f32]>::to_vec).collect())
            }
        }
    }

    /// Rewrites every cached key from pre-RoPE K with `regions`' key tables.
    pub(crate) fn rerotate(&mut self, regions: &[Region]) -> Result<()> {
        let m = self.model;
        let s = &m.spec;
        let ctx = &m.ctx;
        let keys: Vec<_> = regions.iter().map(|r| self.plan.key_tables(r, 0..self.len)).collect();
        let tables = RopeTables::new(&[], &keys, &[]);
        let table_buf = buffers::upload(ctx, "re-rotation tables", bytemuck::cast_slice(&tables.data))?;
        let unused_q = buffers::storage(ctx, "unused q", 16)?;
        let ops = Ops { ctx, pipes: &m.pipes, prof: None, binds: None };
        let mut enc = Recorder::new(&ctx.device);
        let shape = RopeShape {
            n: self.len,
            heads: 0,
            kv_heads: s.head_count_kv,
            head_dim: s.head_dim,
            regions: regions.len(),
            precision: self.plan.precision().kernel_code(),
            q_table: 0,
            k_table: tables.k_table,
            scale_at: 0,
            scale_queries: false,
            write_v: false,
            layout: QkvLayout::Separate,
        };
        for l in 0..s.block_count {
            let raw = &self.raw_k[l];
            let slot =
                CacheSlot { k: &self.k_cache[l], v: &self.v_cache[l], k_raw: None, start: 0, capacity: self.capacity };
            ops.rope_and_cache(&mut enc, raw, raw, raw, &table_buf, &unused_q, slot, &shape)?;
        }
        ctx.queue.submit([enc.finish()]);
        ctx.check()
    }
}
