//! Grouped-query attention on the CPU over one or two key regions, in query chunks so memory
//! stays O(chunk × keys).
//!
//! Each region has its own rotated q and K (see [`crate::rope::Region`]); a key contributes
//! through every region whose Δ range holds it, and one softmax runs over the concatenation —
//! the `torch.where` formulation of Self-Extend and ReRoPE (docs/methods.md#key-regions-and-the-merge), independent of the GPU's
//! log-sum-exp merge of per-region passes.

use candle_core::{Device, Tensor, D};

use crate::error::Result;
use crate::pattern::HeadMask;
use crate::rope::methods::DeltaRange;

/// Queries per chunk: bounds the score buffer to heads × 256 × keys floats per region.
const QUERY_CHUNK: usize = 256;

/// What one layer's attention records besides its output.
pub(super) struct Capture {
    /// When `Some`, filled with the entropy (nats) of every (head, query), `[heads][n]`.
    pub entropy: Option<Vec<f32>>,
    /// (query head, query indices in this call, rows): filled with one row per query, p over
    /// keys 0 ..= its position, summed over the regions that hold each key.
    pub rows: Option<(usize, std::ops::Range<usize>, Vec<Vec<f32>>)>,
}

/// `qs[r]`: [n, heads, d] (rotated for region r, logit scale applied), `ks[r]`: [kv_heads,
/// past + n, d], `v`: [kv_heads, past + n, d]. Query i sits at absolute position `past + i`.
/// Query head h reads KV head h / (heads / kv_heads), as in llama.cpp and HF `repeat_kv`, and
/// sees key j in region r iff `masks[h]` allows it and Δ = i − j is in `deltas[r]`.
/// Returns [n, heads · d]; fills `capture`.
pub(super) fn attend(
    qs: &[Tensor],
    ks: &[Tensor],
    v: &Tensor,
    past: usize,
    deltas: &[DeltaRange],
    masks: &[HeadMask],
    capture: &mut Capture,
) -> Result<Tensor> {
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
    let mut entropy_chunks = Vec::new();
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
        if capture.entropy.is_some() {
            // H = −Σ p ln p; masked keys have p = 0 exactly, and 0 · ln(1e-38) = 0.
            let plogp = (&probs * probs.clamp(1e-38f32, 1.0f32)?.log()?)?;
            entropy_chunks.push(plogp.sum(D::Minus1)?.neg()?.reshape((heads, rows))?);
        }
        if let Some((head, wanted, out)) = capture.rows.as_mut() {
            let (lo, hi) = (wanted.start.max(a), wanted.end.min(a + rows));
            if lo < hi {
                let p = probs.get(*head / group)?.get(*head % group)?.narrow(0, lo - a, hi - lo)?.to_vec2::<f32>()?;
                for (query, p) in (lo..hi).zip(p) {
                    let visible = past + query + 1;
                    out.push((0..visible).map(|j| p.chunks(keys).map(|region| region[j]).sum()).collect());
                }
            }
        }
        let out = probs.reshape((kv_heads, group * rows, total))?.matmul(&vc)?;
        outs.push(out.reshape((heads, rows, d))?);
    }
    if let Some(entropy) = capture.entropy.as_mut() {
        *entropy = Tensor::cat(&entropy_chunks, 1)?.flatten_all()?.to_vec1::<f32>()?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: u64) -> Vec<f32> {
        (0..n).map(|i| (((i as u64 + 1) * 2_654_435_761 + seed * 97) % 1000) as f32 / 500.0 - 1.0).collect()
    }

    /// `attend` against an explicit loop over (i, j, region) with the visibility written out.
    #[test]
    fn attend_matches_an_explicit_softmax_over_regions_and_masks() {
        let (n, past, heads, kv_heads, d) = (37, 300, 4, 2, 8);
        let keys = past + n;
        let regions = [DeltaRange { min: 0, max: 20 }, DeltaRange { min: 19, max: usize::MAX }];
        let masks = [
            HeadMask::FULL,
            HeadMask { window: 50, sinks: 3 },
            HeadMask { window: 7, sinks: 0 },
            HeadMask { window: 280, sinks: 1 },
        ];
        let dev = Device::Cpu;
        let q: Vec<Vec<f32>> = (0..2).map(|r| values(n * heads * d, r)).collect();
        let k: Vec<Vec<f32>> = (0..2).map(|r| values(kv_heads * keys * d, 10 + r)).collect();
        let v = values(kv_heads * keys * d, 20);
        let qs: Vec<Tensor> = q.iter().map(|x| Tensor::from_vec(x.clone(), (n, heads, d), &dev).unwrap()).collect();
        let ks: Vec<Tensor> =
            k.iter().map(|x| Tensor::from_vec(x.clone(), (kv_heads, keys, d), &dev).unwrap()).collect();
        let vt = Tensor::from_vec(v.clone(), (kv_heads, keys, d), &dev).unwrap();
        let probe_head = 3;
        let probe_query = 30;
        let mut capture =
            Capture { entropy: Some(Vec::new()), rows: Some((probe_head, probe_query..probe_query + 1, Vec::new())) };
        let got = attend(&qs, &ks, &vt, past, &regions, &masks, &mut capture)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let entropy = capture.entropy.unwrap();
        let row = capture.rows.unwrap().2.pop().unwrap();
        assert_eq!(row.len(), past + probe_query + 1);
        let scale = 1.0 / (d as f64).sqrt();
        for t in 0..n {
            let i = past + t;
            for h in 0..heads {
                let kvh = h / (heads / kv_heads);
                let mut terms = Vec::new();
                for (r, region) in regions.iter().enumerate() {
                    for j in 0..=i {
                        let in_mask = match h {
                            0 => true,
                            1 => i - j < 50 || j < 3,
                            2 => i - j < 7,
                            _ => i - j < 280 || j < 1,
                        };
                        if in_mask && i - j >= region.min && i - j < region.max {
                            let dot: f64 = (0..d)
                                .map(|c| q[r][(t * heads + h) * d + c] as f64 * k[r][(kvh * keys + j) * d + c] as f64)
                                .sum();
                            terms.push((j, dot * scale));
                        }
                    }
                }
                let max = terms.iter().map(|x| x.1).fold(f64::NEG_INFINITY, f64::max);
                let z: f64 = terms.iter().map(|x| (x.1 - max).exp()).sum();
                // Entropy −Σ p ln p with ln p = (s − max) − ln z.
                let want_h: f64 = -terms.iter().map(|&(_, s)| (s - max).exp() / z * ((s - max) - z.ln())).sum::<f64>();
                let have_h = entropy[h * n + t] as f64;
                assert!((have_h - want_h).abs() < 1e-4, "entropy of query {i} head {h}: {have_h} vs {want_h}");
                if h == probe_head && t == probe_query {
                    for (j, &got) in row.iter().enumerate().take(i + 1) {
                        let want: f64 = terms.iter().filter(|x| x.0 == j).map(|&(_, s)| (s - max).exp() / z).sum();
                        assert!((got as f64 - want).abs() < 1e-6, "row key {j}: {got} vs {want}");
                    }
                    assert!((row.iter().map(|&p| p as f64).sum::<f64>() - 1.0).abs() < 1e-4);
                }
                for c in 0..d {
                    let want: f64 =
                        terms.iter().map(|&(j, s)| (s - max).exp() / z * v[(kvh * keys + j) * d + c] as f64).sum();
                    let have = got[(t * heads + h) * d + c] as f64;
                    assert!((have - want).abs() < 1e-5, "query {i} head {h} dim {c}: {have} vs {want}");
                }
            }
        }
    }
}
