//! Grouped-query attention on the CPU over one or two key regions, in query chunks so memory
//! stays O(chunk × keys).
//!
//! Each region has its own rotated q and K (see [`crate::rope::Region`]); a key contributes
//! through every region whose Δ range holds it, and one softmax runs over the concatenation —
//! the `torch.where` formulation of Self-Extend and ReRoPE (spec §0.3), independent of the GPU's
//! log-sum-exp merge of per-region passes.

use candle_core::{Device, Tensor, D};

use crate::error::Result;
use crate::pattern::HeadMask;
use crate::rope::methods::DeltaRange;

/// Queries per chunk: bounds the score buffer to heads × 256 × keys floats per region.
const QUERY_CHUNK: usize = 256;

/// `qs[r]`: [n, heads, d] (rotated for region r, logit scale applied), `ks[r]`: [kv_heads,
/// past + n, d], `v`: [kv_heads, past + n, d]. Query i sits at absolute position `past + i`.
/// Query head h reads KV head h / (heads / kv_heads), as in llama.cpp and HF `repeat_kv`, and
/// sees key j in region r iff `masks[h]` allows it and Δ = i − j is in `deltas[r]`.
/// Returns [n, heads · d].
pub(super) fn attend(qs: &[Tensor], ks: &[Tensor], v: &Tensor, past: usize, deltas: &[DeltaRange], masks: &[HeadMask]) -> Result<Tensor> {
    let (n, heads, d) = qs[0].dims3()?;
    let kv_heads = v.dim(0)?;
    let group = heads / kv_heads;
    let scale = 1.0 / (d as f64).sqrt();
    let uniform = masks.iter().all(|m| *m == masks[0]);
    // [kv_heads, group, n, d]: the query heads sharing one KV head sit together.
    let qs = qs
        .iter()
        .map(|q| Ok(q.transpose(0, 1)?.contiguous()?.reshape((kv_heads, group, n, d))?))
        .collect::<Result<Vec<_>>>()?;
    let mut outs = Vec::with_capacity(n.div_ceil(QUERY_CHUNK));
    for a in (0..n).step_by(QUERY_CHUNK) {
        let rows = QUERY_CHUNK.min(n - a);
        let keys = past + a + rows;
        let mut scores = Vec::with_capacity(qs.len());
        for (r, (q, k)) in qs.iter().zip(ks).enumerate() {
            let qc = q.narrow(2, a, rows)?.contiguous()?.reshape((kv_heads, group * rows, d))?;
            let kc = k.narrow(1, 0, keys)?;
            let s = (qc.matmul(&kc.t()?)? * scale)?.reshape((kv_heads, group, rows, keys))?;
            let first = past + a;
            let mask = if uniform {
                Tensor::from_vec(mask_rows(masks[0], deltas[r], first, rows, keys), (rows, keys), &Device::Cpu)?
            } else {
                let m: Vec<f32> = masks.iter().flat_map(|&h| mask_rows(h, deltas[r], first, rows, keys)).collect();
                Tensor::from_vec(m, (kv_heads, group, rows, keys), &Device::Cpu)?
            };
            scores.push(s.broadcast_add(&mask)?);
        }
        let vc = v.narrow(1, 0, keys)?;
        let (scores, vc) = if scores.len() == 1 {
            (scores.pop().expect("one region"), vc.contiguous()?)
        } else {
            let vs: Vec<Tensor> = scores.iter().map(|_| vc.clone()).collect();
            (Tensor::cat(&scores, 3)?, Tensor::cat(&vs, 1)?.contiguous()?)
        };
        let total = scores.dim(3)?;
        let probs = softmax_last(&scores)?;
        let out = probs.reshape((kv_heads, group * rows, total))?.matmul(&vc)?;
        outs.push(out.reshape((heads, rows, d))?);
    }
    let out = Tensor::cat(&outs, 1)?; // [heads, n, d]
    Ok(out.transpose(0, 1)?.contiguous()?.reshape((n, heads * d))?)
}

/// Additive mask rows (0 or −∞) for queries first .. first + rows over keys 0 .. keys.
fn mask_rows(mask: HeadMask, deltas: DeltaRange, first: usize, rows: usize, keys: usize) -> Vec<f32> {
    let mut out = vec![f32::NEG_INFINITY; rows * keys];
    for r in 0..rows {
        let i = first + r;
        let row = &mut out[r * keys..(r + 1) * keys];
        for (j, v) in row.iter_mut().enumerate().take(i + 1) {
            if mask.visible(i, j) && deltas.contains(i - j) {
                *v = 0.0;
            }
        }
    }
    out
}

/// Softmax over the last axis; a row with no visible key (possible only in a region's share,
/// never over the union, which always holds the query itself) is not produced here.
fn softmax_last(x: &Tensor) -> Result<Tensor> {
    let max = x.max_keepdim(D::Minus1)?;
    let e = x.broadcast_sub(&max)?.exp()?;
    let sum = e.sum_keepdim(D::Minus1)?;
    Ok(e.broadcast_div(&sum)?)
}
