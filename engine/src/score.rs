//! Teacher-forced scoring: one forward pass over prompt + continuation, log-probabilities of
//! each continuation token. The JSON shape is the CLI contract (`ctxscope score`) and matches
//! the reference values in `shared/testdata/hf-devset.json`.

use serde::{Deserialize, Serialize};

use crate::backend::Session;
use crate::error::{Error, Result};
use crate::tokenizer::TextTokenizer;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreOutput {
    pub prompt_tokens: usize,
    pub continuation_ids: Vec<u32>,
    /// log-softmax of continuation token i given everything before it.
    pub logprobs: Vec<f64>,
    pub logprob_sum: f64,
    /// The five largest raw logits at the last prompt position, largest first.
    pub top5_ids: Vec<u32>,
    pub top5_logits: Vec<f32>,
}

/// log-softmax of `logits` at `index`, computed in f64.
pub fn log_softmax_at(logits: &[f32], index: usize) -> f64 {
    let max = logits.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x)) as f64;
    let sum: f64 = logits.iter().map(|&x| (x as f64 - max).exp()).sum();
    logits[index] as f64 - max - sum.ln()
}

/// Indices of the `k` largest values, largest first (ties: lower index first).
pub fn top_k(logits: &[f32], k: usize) -> Vec<usize> {
    if k == 0 {
        return Vec::new();
    }
    let order = |a: &usize, b: &usize| logits[*b].total_cmp(&logits[*a]).then(a.cmp(b));
    let mut idx: Vec<usize> = (0..logits.len()).collect();
    // Selection first (O(n)): sorting a whole vocabulary for one pick cost about a millisecond
    // per decode step.
    if k < idx.len() {
        idx.select_nth_unstable_by(k - 1, order);
        idx.truncate(k);
    }
    idx.sort_by(order);
    idx
}

/// Scores `continuation` after `prompt`: both tokenized separately (BOS before the prompt only
/// if the model asks for it), concatenated, one forward pass (the session is reset first).
pub async fn score(
    session: &mut Session<'_>,
    tokenizer: &TextTokenizer,
    prompt: &str,
    continuation: &str,
) -> Result<ScoreOutput> {
    let prompt_ids = tokenizer.encode_prompt(prompt)?;
    let cont_ids = tokenizer.encode(continuation)?;
    score_ids(session, &prompt_ids, &cont_ids).await
}

/// [`score`] on token ids.
pub async fn score_ids(session: &mut Session<'_>, prompt_ids: &[u32], cont_ids: &[u32]) -> Result<ScoreOutput> {
    if prompt_ids.is_empty() {
        return Err(Error::InvalidInput(
            "the prompt is empty: there is no position to predict the continuation from".into(),
        ));
    }
    if cont_ids.is_empty() {
        return Err(Error::InvalidInput("the continuation is empty: nothing to score".into()));
    }
    let np = prompt_ids.len();
    let all: Vec<u32> = prompt_ids.iter().chain(cont_ids).copied().collect();
    // Row np-1+i predicts continuation token i.
    let rows: Vec<usize> = (0..cont_ids.len()).map(|i| np - 1 + i).collect();
    session.reset();
    let logits = session.forward(&all, &rows).await?;
    let logprobs: Vec<f64> = cont_ids.iter().zip(&logits).map(|(&t, row)| log_softmax_at(row, t as usize)).collect();
    let top = top_k(&logits[0], 5);
    Ok(ScoreOutput {
        prompt_tokens: np,
        continuation_ids: cont_ids.to_vec(),
        logprob_sum: logprobs.iter().sum(),
        logprobs,
        top5_ids: top.iter().map(|&i| i as u32).collect(),
        top5_logits: top.iter().map(|&i| logits[0][i]).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_softmax_matches_direct_formula() {
        let logits = [1.0f32, 2.0, 3.0, -1.0];
        let z: f64 = logits.iter().map(|&x| (x as f64).exp()).sum();
        for i in 0..4 {
            let expected = (logits[i] as f64).exp() / z;
            assert!((log_softmax_at(&logits, i) - expected.ln()).abs() < 1e-12);
        }
    }

    #[test]
    fn log_softmax_is_stable_for_large_logits() {
        let logits = [1000.0f32, 1000.0];
        assert!((log_softmax_at(&logits, 0) - 0.5f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn top_k_orders_largest_first_with_stable_ties() {
        assert_eq!(top_k(&[0.5, 3.0, 3.0, -2.0, 1.0], 3), vec![1, 2, 4]);
        assert_eq!(top_k(&[0.5, 3.0], 0), Vec::<usize>::new());
        // Selection then sort = a full sort's first k, ties (few distinct values) included.
        let mut rng = crate::rng::SplitMix64(7);
        let v: Vec<f32> = (0..5000).map(|_| (rng.signed_unit() * 8.0).round() * 0.5).collect();
        let mut full: Vec<usize> = (0..v.len()).collect();
        full.sort_by(|&a, &b| v[b].total_cmp(&v[a]).then(a.cmp(&b)));
        for k in [1, 2, 5, 100, 4999, 5000, 6000] {
            assert_eq!(top_k(&v, k), full[..k.min(v.len())], "k={k}");
        }
        assert_eq!(top_k(&[1.0], 5), vec![0]);
    }
}
