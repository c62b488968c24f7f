//! The CPU reference forward pass (candle-core, f32 activations, weights dequantized to f32).
//!
//! This is the oracle every GPU kernel is tested against and the fallback in browsers without
//! WebGPU, so it favours plain, checkable math over speed: weights are dequantized once at load
//! (HF's reference dequantizes the same GGUF to f32, so we compare like with like), attention is
//! computed in query chunks so no n×n buffer is ever built for long prompts.

mod attention;
mod weights;

use candle_core::{DType, Device, Tensor, D};

use crate::error::{Error, Result};
use crate::gguf::{ModelFile, ModelSpec};
use crate::rope::RopeFrequencies;
use crate::session::Forward;
use weights::Weights;

/// Largest f32 weight set the CPU path accepts in a 32-bit wasm address space (4 GiB in all,
/// shared with the GGUF bytes, the KV cache and the app).
#[cfg(target_arch = "wasm32")]
const MAX_CPU_WEIGHT_BYTES: u64 = 2 << 30;
#[cfg(not(target_arch = "wasm32"))]
const MAX_CPU_WEIGHT_BYTES: u64 = u64::MAX;

/// A llama model ready to run on the CPU.
pub struct CpuModel {
    spec: ModelSpec,
    weights: Weights,
    rope: RopeFrequencies,
}

impl CpuModel {
    /// Dequantizes every tensor of `file` to f32.
    pub fn load(file: &ModelFile) -> Result<Self> {
        let spec = file.spec().clone();
        let bytes = spec.parameter_count.saturating_mul(4);
        if bytes > MAX_CPU_WEIGHT_BYTES {
            return Err(Error::TooLarge(format!(
                "the CPU path needs {:.1} GiB for f32 weights; this environment allows {:.1} GiB",
                bytes as f64 / (1u64 << 30) as f64,
                MAX_CPU_WEIGHT_BYTES as f64 / (1u64 << 30) as f64
            )));
        }
        let weights = Weights::load(file)?;
        let rope = RopeFrequencies::standard(spec.rope_freq_base, spec.head_dim);
        Ok(Self { spec, weights, rope })
    }

    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// Replaces the RoPE frequency table (a scaling variant, see [`crate::rope::RopeScaling`]).
    pub fn set_rope(&mut self, rope: RopeFrequencies) -> Result<()> {
        check_rope(&rope, self.spec.head_dim)?;
        self.rope = rope;
        Ok(())
    }

    /// A fresh session (empty KV cache) over this model.
    pub fn session(&self) -> CpuSession<'_> {
        CpuSession { model: self, cache: vec![None; self.spec.block_count], len: 0 }
    }

    fn rms_norm(&self, x: &Tensor, weight: &Tensor) -> Result<Tensor> {
        let mean_sq = x.sqr()?.mean_keepdim(D::Minus1)?;
        let inv = (mean_sq + self.spec.rms_norm_eps)?.sqrt()?.recip()?;
        Ok(x.broadcast_mul(&inv)?.broadcast_mul(weight)?)
    }
}

/// A table must have one frequency per rotary pair.
pub(crate) fn check_rope(rope: &RopeFrequencies, head_dim: usize) -> Result<()> {
    if rope.pairs() != head_dim / 2 {
        return Err(Error::InvalidInput(format!(
            "RoPE table has {} pairs; the model's heads have {}",
            rope.pairs(),
            head_dim / 2
        )));
    }
    Ok(())
}

/// Rotates adjacent pairs (x_{2k}, x_{2k+1}) — the GGUF llama layout (spec §1: llama.cpp
/// `LLAMA_ROPE_TYPE_NORM`; `convert_hf_to_gguf.py` permutes Q/K rows so this equals HF's
/// rotate-half on the original weights). `x`: [n, heads, d]; cos/sin: [n, d/2].
fn rotate_pairs(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    let (n, heads, d) = x.dims3()?;
    let x = x.reshape((n, heads, d / 2, 2))?;
    let a = x.narrow(3, 0, 1)?;
    let b = x.narrow(3, 1, 1)?;
    let cos = cos.reshape((n, 1, d / 2, 1))?;
    let sin = sin.reshape((n, 1, d / 2, 1))?;
    let ra = (a.broadcast_mul(&cos)? - b.broadcast_mul(&sin)?)?;
    let rb = (a.broadcast_mul(&sin)? + b.broadcast_mul(&cos)?)?;
    Ok(Tensor::cat(&[ra, rb], 3)?.reshape((n, heads, d))?)
}

fn linear(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    Ok(x.matmul(&w.t()?)?)
}

/// One sequence being processed: the model plus its KV cache (post-RoPE K, V per layer, each
/// `[kv_heads, len, head_dim]`).
pub struct CpuSession<'m> {
    model: &'m CpuModel,
    cache: Vec<Option<(Tensor, Tensor)>>,
    len: usize,
}

impl Forward for CpuSession<'_> {
    fn spec(&self) -> &ModelSpec {
        &self.model.spec
    }

    fn position(&self) -> usize {
        self.len
    }

    fn reset(&mut self) {
        self.cache.iter_mut().for_each(|c| *c = None);
        self.len = 0;
    }

    fn forward(&mut self, tokens: &[u32], logit_rows: &[usize]) -> Result<Vec<Vec<f32>>> {
        let m = self.model;
        let s = &m.spec;
        let n = tokens.len();
        if n == 0 {
            return Err(Error::InvalidInput("no tokens to run".into()));
        }
        if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= s.vocab_size) {
            return Err(Error::InvalidInput(format!("token id {bad} is outside the vocabulary of {}", s.vocab_size)));
        }
        if let Some(&bad) = logit_rows.iter().find(|&&r| r >= n) {
            return Err(Error::InvalidInput(format!("logit row {bad} is outside the {n} tokens run")));
        }
        let dev = Device::Cpu;
        let start = self.len;
        let (cos, sin) = m.rope.cos_sin(start..start + n);
        let pairs = m.rope.pairs();
        let cos = Tensor::from_vec(cos, (n, pairs), &dev)?;
        let sin = Tensor::from_vec(sin, (n, pairs), &dev)?;

        let ids = Tensor::new(tokens, &dev)?;
        let mut x = m.weights.token_embd.index_select(&ids, 0)?;
        for (l, w) in m.weights.layers.iter().enumerate() {
            let h = m.rms_norm(&x, &w.attn_norm)?;
            let q = linear(&h, &w.attn_q)?.reshape((n, s.head_count, s.head_dim))?;
            let k = linear(&h, &w.attn_k)?.reshape((n, s.head_count_kv, s.head_dim))?;
            let v = linear(&h, &w.attn_v)?.reshape((n, s.head_count_kv, s.head_dim))?;
            let q = rotate_pairs(&q, &cos, &sin)?;
            let k = rotate_pairs(&k, &cos, &sin)?.transpose(0, 1)?.contiguous()?;
            let v = v.transpose(0, 1)?.contiguous()?;
            let (k_all, v_all) = match self.cache[l].take() {
                None => (k, v),
                Some((pk, pv)) => (Tensor::cat(&[pk, k], 1)?, Tensor::cat(&[pv, v], 1)?),
            };
            let attn = attention::causal(&q, &k_all, &v_all, start)?;
            self.cache[l] = Some((k_all, v_all));
            x = (x + linear(&attn, &w.attn_output)?)?;

            let h = m.rms_norm(&x, &w.ffn_norm)?;
            let gate = linear(&h, &w.ffn_gate)?.silu()?;
            let up = linear(&h, &w.ffn_up)?;
            x = (x + linear(&(gate * up)?, &w.ffn_down)?)?;
        }
        self.len += n;

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
