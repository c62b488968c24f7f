//! Causal grouped-query attention on the CPU, in query chunks so memory stays O(chunk × keys).

use candle_core::{Device, Tensor, D};

use crate::error::Result;

/// Queries per chunk: bounds the score buffer to heads × 256 × keys floats.
const QUERY_CHUNK: usize = 256;

/// `q`: [n, heads, d] (roped), `k`, `v`: [kv_heads, past + n, d]. Query i sits at absolute
/// position `past + i` and sees keys 0 ..= past + i. Query head h reads KV head h / (heads /
/// kv_heads), as in llama.cpp and HF `repeat_kv`. Returns [n, heads · d].
pub(super) fn causal(q: &Tensor, k: &Tensor, v: &Tensor, past: usize) -> Result<Tensor> {
    let (n, heads, d) = q.dims3()?;
    let kv_heads = k.dim(0)?;
    let group = heads / kv_heads;
    let scale = 1.0 / (d as f64).sqrt();
    // [kv_heads, group, n, d]: the query heads sharing one KV head sit together.
    let q = q.transpose(0, 1)?.contiguous()?.reshape((kv_heads, group, n, d))?;
    let mut outs = Vec::with_capacity(n.div_ceil(QUERY_CHUNK));
    for a in (0..n).step_by(QUERY_CHUNK) {
        let rows = QUERY_CHUNK.min(n - a);
        let keys = past + a + rows;
        let qc = q.narrow(2, a, rows)?.contiguous()?.reshape((kv_heads, group * rows, d))?;
        let kc = k.narrow(1, 0, keys)?;
        let vc = v.narrow(1, 0, keys)?.contiguous()?;
        let scores = (qc.matmul(&kc.t()?)? * scale)?.reshape((kv_heads, group, rows, keys))?;
        let mask: Vec<f32> = (0..rows)
            .flat_map(|r| (0..keys).map(move |j| if j <= past + a + r { 0.0 } else { f32::NEG_INFINITY }))
            .collect();
        let mask = Tensor::from_vec(mask, (rows, keys), &Device::Cpu)?;
        let probs = softmax_last(&scores.broadcast_add(&mask)?)?;
        let out = probs.reshape((kv_heads, group * rows, keys))?.matmul(&vc)?;
        outs.push(out.reshape((heads, rows, d))?);
    }
    let out = Tensor::cat(&outs, 1)?; // [heads, n, d]
    Ok(out.transpose(0, 1)?.contiguous()?.reshape((n, heads * d))?)
}

fn softmax_last(x: &Tensor) -> Result<Tensor> {
    let max = x.max_keepdim(D::Minus1)?;
    let e = x.broadcast_sub(&max)?.exp()?;
    let sum = e.sum_keepdim(D::Minus1)?;
    Ok(e.broadcast_div(&sum)?)
}
