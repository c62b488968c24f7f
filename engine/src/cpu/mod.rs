//! The CPU reference forward pass (candle-core, f32 activations, weights dequantized to f32).
//!
//! This is the oracle every GPU kernel is tested against and the fallback in browsers without
//! WebGPU, so it favours plain, checkable math over speed: weights are dequantized once at load
//! (HF's reference dequantizes the same GGUF to f32, so we compare like with like), attention is
//! computed in query chunks so no n×n buffer is ever built for long prompts.

mod attention;
mod weights;

use candle_core::{DType, Device, Tensor, D};

use crate::error::{Error, Quantity, Result};
use crate::experiment::{Experiment, Plan};
use crate::gguf::{ModelFile, ModelSpec};
use crate::rope::{Region, RopePrecision};
use crate::trace::{AttentionMap, EntropyTrace};
use weights::Weights;

/// Largest f32 weight set the CPU path accepts in a 32-bit wasm address space (4 GiB in all,
/// shared with the GGUF bytes, the KV cache and the app).
/// Natively there is no limit beyond the machine's memory.
#[cfg(target_arch = "wasm32")]
const MAX_CPU_WEIGHT_BYTES: Option<u64> = Some(2 << 30);
#[cfg(not(target_arch = "wasm32"))]
const MAX_CPU_WEIGHT_BYTES: Option<u64> = None;
/// wasm32's address space.
const WASM_MEMORY_BYTES: u64 = 4 << 30;
/// Kept free in wasm32 for the tokenizer, activations and allocator slack.
const APP_RESERVE_BYTES: u64 = 512 << 20;

/// A llama model ready to run on the CPU.
pub struct CpuModel {
    spec: ModelSpec,
    weights: Weights,
    plan: Plan,
}

impl CpuModel {
    /// Dequantizes every tensor of `file` to f32.
    pub fn load(file: &ModelFile) -> Result<Self> {
        let spec = file.spec().clone();
        let bytes = spec.parameter_count.saturating_mul(4);
        if let Some(limit) = MAX_CPU_WEIGHT_BYTES.filter(|&limit| bytes > limit) {
            return Err(Error::TooLarge {
                what: "the CPU path's f32 weights".into(),
                needed: Quantity::Bytes(bytes),
                limit: Quantity::Bytes(limit),
                limit_of: "WebAssembly's 4 GiB address space".into(),
            });
        }
        let weights = Weights::load(file)?;
        let plan = Plan::standard(&spec);
        Ok(Self { spec, weights, plan })
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

    /// The largest KV cache, in tokens, a session can hold: unbounded natively (the machine's
    /// memory is the limit); in wasm32's 4 GiB address space, what is left after the weights and
    /// the GGUF bytes, counting every cached K region, V, pre-RoPE K and the attention scores of
    /// one query chunk.
    pub fn max_context(&self) -> usize {
        if !cfg!(target_arch = "wasm32") {
            return u32::MAX as usize;
        }
        let s = &self.spec;
        let regions = self.plan.region_count() as u64;
        let kv_row = (s.head_count_kv * s.head_dim * 4) as u64;
        let raw = u64::from(self.plan.rerotates_keys());
        let per_token = s.block_count as u64 * kv_row * (regions + 1 + raw)
            // scores, mask and probabilities of one 256-query chunk, per region
            + 3 * regions * (s.head_count * 256 * 4) as u64;
        let used = self.spec.parameter_count.saturating_mul(4) + self.spec.file_size;
        let budget = (WASM_MEMORY_BYTES - APP_RESERVE_BYTES).saturating_sub(used);
        (budget / per_token.max(1)) as usize
    }

    /// A fresh session (empty KV cache) over this model.
    pub(crate) fn session(&self) -> CpuSession<'_> {
        CpuSession {
            model: self,
            cache: (0..self.spec.block_count).map(|_| None).collect(),
            len: 0,
            entropy: None,
            map: None,
        }
    }

    fn rms_norm(&self, x: &Tensor, weight: &Tensor) -> Result<Tensor> {
        let mean_sq = x.sqr()?.mean_keepdim(D::Minus1)?;
        let inv = (mean_sq + self.spec.rms_norm_eps)?.sqrt()?.recip()?;
        Ok(x.broadcast_mul(&inv)?.broadcast_mul(weight)?)
    }
}

/// Rotates adjacent pairs (x_{2k}, x_{2k+1}) of every head — the GGUF llama layout (docs/methods.md#rotation-layout:
/// llama.cpp `LLAMA_ROPE_TYPE_NORM`; `convert_hf_to_gguf.py` permutes Q/K rows so this equals HF's
/// rotate-half on the original weights) — and multiplies token t by `scales[t]`.
/// `x`: [n, heads, d]; cos/sin: [n, d/2].
fn rotate_pairs(
    x: &Tensor,
    cos: &[f32],
    sin: &[f32],
    precision: RopePrecision,
    scales: Option<&[f32]>,
) -> Result<Tensor> {
    let (n, heads, d) = x.dims3()?;
    let pairs = d / 2;
    let mut data = x.flatten_all()?.to_vec1::<f32>()?;
    for (t, token) in data.chunks_mut(heads * d).enumerate() {
        let (c, s) = (&cos[t * pairs..][..pairs], &sin[t * pairs..][..pairs]);
        for head in token.chunks_mut(d) {
            precision.rotate(head, c, s);
            if let Some(scales) = scales {
                head.iter_mut().for_each(|v| *v *= scales[t]);
            }
        }
    }
    Ok(Tensor::from_vec(data, (n, heads, d), x.device())?)
}

fn linear(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    Ok(x.matmul(&w.t()?)?)
}

/// One layer's cache: K rotated for each key region and V, each `[kv_heads, len, head_dim]`,
/// plus pre-RoPE K `[len, kv_heads, head_dim]` when the plan re-rotates keys.
struct LayerCache {
    keys: Vec<Tensor>,
    v: Tensor,
    raw_k: Option<Tensor>,
}

/// One sequence being processed: the model plus its KV cache. Driven by
/// [`crate::engine::Session`], which resolves the key regions and checks the arguments.
pub struct CpuSession<'m> {
    model: &'m CpuModel,
    cache: Vec<Option<LayerCache>>,
    len: usize,
    entropy: Option<EntropyTrace>,
    map: Option<AttentionMap>,
}

impl<'m> CpuSession<'m> {
    /// Empties the KV cache (and recorded entropy; a captured row is taken again).
    pub(crate) fn reset(&mut self) {
        self.cache.iter_mut().for_each(|c| *c = None);
        self.len = 0;
        if let Some(t) = self.entropy.as_mut() {
            t.clear();
        }
        if let Some(m) = self.map.as_mut() {
            m.rows.clear();
        }
    }

    /// Keeps the first `n` cached positions (`n` ≤ the cached length; checked by the caller).
    pub(crate) fn truncate(&mut self, n: usize) -> Result<()> {
        if n == 0 {
            self.reset();
            return Ok(());
        }
        for layer in self.cache.iter_mut().flatten() {
            // keys and v are [kv_heads, len, d]; raw_k is [len, kv_heads, d].
            for k in layer.keys.iter_mut() {
                *k = k.narrow(1, 0, n)?.contiguous()?;
            }
            layer.v = layer.v.narrow(1, 0, n)?.contiguous()?;
            if let Some(raw) = layer.raw_k.as_mut() {
                *raw = raw.narrow(0, 0, n)?.contiguous()?;
            }
        }
        self.len = n;
        if let Some(t) = self.entropy.as_mut() {
            t.truncate(n);
        }
        if let Some(m) = self.map.as_mut() {
            m.truncate(n);
        }
        Ok(())
    }

    pub(crate) fn record_entropy(&mut self) {
        let s = &self.model.spec;
        self.entropy = Some(EntropyTrace::new(s.block_count, s.head_count, self.len));
    }

    pub(crate) fn entropy(&self) -> Option<&EntropyTrace> {
        self.entropy.as_ref()
    }

    pub(crate) fn capture_attention_map(&mut self, map: AttentionMap) {
        self.map = Some(map);
    }

    pub(crate) fn attention_map(&self) -> Option<&AttentionMap> {
        self.map.as_ref()
    }

    /// Re-rotates every cached key from pre-RoPE K with `regions` (dynamic NTK and LongRoPE
    /// after the length changed their frequencies; docs/methods.md#key-cache-policies).
    pub(crate) fn rerotate(&mut self, regions: &[Region]) -> Result<()> {
        let plan = &self.model.plan;
        let tables: Vec<_> = regions.iter().map(|r| plan.key_tables(r, 0..self.len)).collect();
        for layer in self.cache.iter_mut().flatten() {
            let raw = layer.raw_k.as_ref().ok_or_else(|| Error::InvalidInput("no pre-RoPE keys cached".into()))?;
            layer.keys = tables
                .iter()
                .map(|(c, s)| Ok(rotate_pairs(raw, c, s, plan.precision(), None)?.transpose(0, 1)?.contiguous()?))
                .collect::<Result<_>>()?;
        }
        Ok(())
    }

    /// Runs `tokens` at positions `len() ..` with key regions `regions`, appends them to the
    /// cache, and returns the logits of the given indices into `tokens`. Arguments are checked by
    /// the caller.
    pub(crate) fn run_chunk(
        &mut self,
        tokens: &[u32],
        logit_rows: &[usize],
        regions: &[Region],
    ) -> Result<Vec<Vec<f32>>> {
        let m = self.model;
        let s = &m.spec;
        let n = tokens.len();
        let dev = Device::Cpu;
        let start = self.len;
        let plan = &m.plan;
        let q_tables: Vec<_> = regions.iter().map(|r| plan.query_tables(r, start..start + n)).collect();
        let k_tables: Vec<_> = regions.iter().map(|r| plan.key_tables(r, start..start + n)).collect();
        let deltas: Vec<_> = regions.iter().map(|r| r.deltas).collect();
        let mut entropy_chunk = self.entropy.as_ref().map(|_| Vec::with_capacity(s.block_count * s.head_count * n));
        // The map rows whose queries run in this chunk: (layer, head, chunk indices).
        let map_request =
            self.map.as_ref().map(|m| (m.layer, m.head, m.pending_in(start, n))).filter(|r| !r.2.is_empty());

        let ids = Tensor::new(tokens, &dev)?;
        let mut x = m.weights.token_embd.index_select(&ids, 0)?;
        for (l, w) in m.weights.layers.iter().enumerate() {
            let h = m.rms_norm(&x, &w.attn_norm)?;
            let q = linear(&h, &w.attn_q)?.reshape((n, s.head_count, s.head_dim))?;
            let k = linear(&h, &w.attn_k)?.reshape((n, s.head_count_kv, s.head_dim))?;
            let v = linear(&h, &w.attn_v)?.reshape((n, s.head_count_kv, s.head_dim))?;
            let scales = plan.logit_scale().applies_to(l).then(|| plan.query_scales(start..start + n));
            let qs = q_tables
                .iter()
                .map(|(c, sn)| rotate_pairs(&q, c, sn, plan.precision(), scales.as_deref()))
                .collect::<Result<Vec<_>>>()?;
            let ks = k_tables
                .iter()
                .map(|(c, sn)| Ok(rotate_pairs(&k, c, sn, plan.precision(), None)?.transpose(0, 1)?.contiguous()?))
                .collect::<Result<Vec<_>>>()?;
            let v = v.transpose(0, 1)?.contiguous()?;
            let raw_k = plan.rerotates_keys().then_some(k);
            let layer = match self.cache[l].take() {
                None => LayerCache { keys: ks, v, raw_k },
                Some(old) => LayerCache {
                    keys: old
                        .keys
                        .iter()
                        .zip(&ks)
                        .map(|(a, b)| Tensor::cat(&[a, b], 1))
                        .collect::<candle_core::Result<_>>()?,
                    v: Tensor::cat(&[&old.v, &v], 1)?,
                    raw_k: match (old.raw_k, raw_k) {
                        (Some(a), Some(b)) => Some(Tensor::cat(&[a, b], 0)?),
                        _ => None,
                    },
                },
            };
            let masks = &plan.masks()[l * s.head_count..(l + 1) * s.head_count];
            let mut capture = attention::Capture {
                entropy: entropy_chunk.as_ref().map(|_| Vec::new()),
                rows: map_request
                    .clone()
                    .filter(|r| r.0 == l)
                    .map(|(_, head, span)| (head, span.start - start..span.end - start, Vec::new())),
            };
            let attn = attention::attend(&qs, &layer.keys, &layer.v, start, &deltas, masks, &mut capture)?;
            if let (Some(all), Some(layer_entropy)) = (entropy_chunk.as_mut(), capture.entropy) {
                all.extend(layer_entropy);
            }
            if let (Some((_, _, rows)), Some(map)) = (capture.rows, self.map.as_mut()) {
                map.rows.extend(rows);
            }
            self.cache[l] = Some(layer);
            x = (x + linear(&attn, &w.attn_output)?)?;

            let h = m.rms_norm(&x, &w.ffn_norm)?;
            let gate = linear(&h, &w.ffn_gate)?.silu()?;
            let up = linear(&h, &w.ffn_up)?;
            x = (x + linear(&(gate * up)?, &w.ffn_down)?)?;
        }
        self.len += n;
        if let (Some(trace), Some(chunk)) = (self.entropy.as_mut(), entropy_chunk) {
            trace.append(&chunk, n);
        }

        if logit_rows.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<u32> = logit_rows.iter().map(|&r| r as u32).collect();
        let x = x.index_select(&Tensor::new(rows.as_slice(), &dev)?, 0)?;
        let x = m.rms_norm(&x, &m.weights.output_norm)?;
        let logits = linear(&x, m.weights.output())?.to_dtype(DType::F32)?;
        Ok(logits.to_vec2::<f32>()?)
    }
}
