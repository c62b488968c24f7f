//! Scoring a case: teacher-forced (one forward pass: the answer's log-probability and whether
//! each answer token is the argmax) or generated (greedy decoding, then a string match — a model
//! can rank the answer first yet say something else).

use serde::{Deserialize, Serialize};

use super::tasks::Case;
use crate::error::{Error, Result};
use crate::score::{log_softmax_at, top_k};
use crate::backend::Session;
use crate::generate::GreedyDecoder;
use crate::tokenizer::TextTokenizer;

/// How a generated answer is compared with the case's answers (case-insensitive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum MatchMode {
    /// The generated text, trimmed, equals the target, trimmed (trailing '.' ignored).
    Exact,
    /// It contains the first answer.
    Contains,
    /// It contains every answer; the score is the fraction found (RULER `string_match_all`).
    #[default]
    AllOf,
    /// It contains at least one answer (RULER `string_match_part`).
    AnyOf,
    /// It contains every answer, in the given order (find-and-sort).
    InOrder,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Scoring {
    TeacherForced,
    Generated {
        #[serde(default = "default_max_tokens")]
        max_tokens: usize,
        #[serde(default, rename = "match")]
        match_mode: MatchMode,
    },
}

impl Default for Scoring {
    fn default() -> Self {
        Self::TeacherForced
    }
}

fn default_max_tokens() -> usize {
    24
}

/// The outcome of one case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseScore {
    /// Teacher-forced: every target token is the argmax. Generated: the match succeeded.
    pub correct: bool,
    /// In [0, 1]: teacher-forced, the fraction of target tokens that are the argmax; generated,
    /// the match score (all-of: the fraction of answers found).
    pub score: f64,
    /// Σ log p of the target tokens (teacher-forced) — also computed for generated scoring's
    /// first step only when available, else null.
    pub logprob: Option<f64>,
    /// Rank (0 = argmax) of the target's first token after the prompt.
    pub answer_rank: usize,
    /// The generated text (generated scoring).
    pub generated: Option<String>,
}

/// Teacher-forced scores from the logits that predict each target token (`rows[t]` is the
/// distribution for `target_ids[t]`).
pub fn teacher_forced_from_logits(rows: &[Vec<f32>], target_ids: &[u32]) -> Result<CaseScore> {
    if rows.len() != target_ids.len() || target_ids.is_empty() {
        return Err(Error::InvalidInput(format!("{} logit rows for {} target tokens", rows.len(), target_ids.len())));
    }
    let mut logprob = 0.0;
    let mut hits = 0;
    for (row, &t) in rows.iter().zip(target_ids) {
        logprob += log_softmax_at(row, t as usize);
        if top_k(row, 1).first() == Some(&(t as usize)) {
            hits += 1;
        }
    }
    let first = &rows[0];
    let target = first[target_ids[0] as usize];
    let answer_rank = first.iter().filter(|&&x| x > target).count();
    Ok(CaseScore {
        correct: hits == target_ids.len(),
        score: hits as f64 / target_ids.len() as f64,
        logprob: Some(logprob),
        answer_rank,
        generated: None,
    })
}

/// Runs the context plus all but the last target token once and scores the target.
pub async fn teacher_forced(session: &mut Session<'_>, case: &Case) -> Result<CaseScore> {
    let n = case.ids.len();
    let t = case.target_ids.len();
    if t == 0 {
        return Err(Error::InvalidInput("the case has an empty target".into()));
    }
    let mut input = case.ids.clone();
    input.extend(&case.target_ids[..t - 1]);
    let rows: Vec<usize> = (n - 1..n + t - 1).collect();
    session.reset();
    let logits = session.forward(&input, &rows).await?;
    teacher_forced_from_logits(&logits, &case.target_ids)
}

/// Match score of `generated` against the case (see [`MatchMode`]).
pub fn match_answer(generated: &str, target: &str, answers: &[String], mode: MatchMode) -> f64 {
    let g = generated.to_lowercase();
    let has = |a: &String| g.contains(&a.to_lowercase());
    match mode {
        MatchMode::Exact => {
            let norm = |s: &str| s.trim().trim_end_matches('.').trim().to_lowercase();
            f64::from(u8::from(norm(generated) == norm(target)))
        }
        MatchMode::Contains => f64::from(u8::from(answers.first().is_some_and(has))),
        MatchMode::AllOf => answers.iter().filter(|a| has(a)).count() as f64 / answers.len().max(1) as f64,
        MatchMode::AnyOf => f64::from(u8::from(answers.iter().any(has))),
        MatchMode::InOrder => {
            let mut from = 0;
            let ordered = answers.iter().all(|a| match g[from..].find(&a.to_lowercase()) {
                Some(at) => {
                    from += at + a.len();
                    true
                }
                None => false,
            });
            f64::from(u8::from(ordered))
        }
    }
}

/// Greedy answer of up to `max_tokens` tokens (stops at end-of-sequence or end-of-turn), then
/// the match.
pub async fn generated(session: &mut Session<'_>, tokenizer: &TextTokenizer, case: &Case, max_tokens: usize, mode: MatchMode) -> Result<CaseScore> {
    let mut decoder = GreedyDecoder::for_ids(tokenizer, case.ids.len(), max_tokens)?;
    session.reset();
    let mut logits = session.forward(&case.ids, &[case.ids.len() - 1]).await?.remove(0);
    let first_target = case.target_ids.first().copied().unwrap_or(0) as usize;
    let target_logit = logits.get(first_target).copied().unwrap_or(f32::NEG_INFINITY);
    let answer_rank = logits.iter().filter(|&&x| x > target_logit).count();
    while let Some(next) = decoder.step(&logits, &mut |_| {})? {
        logits = session.forward(&[next], &[0]).await?.remove(0);
    }
    let text = tokenizer.decode(decoder.generated())?;
    let score = match_answer(&text, &case.target, &case.answers, mode);
    Ok(CaseScore { correct: score >= 1.0, score, logprob: None, answer_rank, generated: Some(text) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(values: &[(usize, f32)]) -> Vec<f32> {
        let mut r = vec![0.0; 8];
        for &(i, v) in values {
            r[i] = v;
        }
        r
    }

    #[test]
    fn teacher_forcing_on_hand_made_logits() {
        // Token 3 then token 5: the first is the argmax, the second ranks second.
        let rows = [row(&[(3, 4.0), (1, 1.0)]), row(&[(2, 3.0), (5, 2.0)])];
        let s = teacher_forced_from_logits(&rows, &[3, 5]).unwrap();
        assert!(!s.correct);
        assert_eq!(s.score, 0.5);
        assert_eq!(s.answer_rank, 0);
        let lp0 = 4.0 - (4.0f64.exp() + 1.0f64.exp() + 6.0).ln();
        let lp1 = 2.0 - (3.0f64.exp() + 2.0f64.exp() + 6.0).ln();
        assert!((s.logprob.unwrap() - (lp0 + lp1)).abs() < 1e-6);
        let all = teacher_forced_from_logits(&rows[..1], &[3]).unwrap();
        assert!(all.correct && all.score == 1.0);
        let missed = teacher_forced_from_logits(&[row(&[(0, 9.0), (1, 8.0)])], &[4]).unwrap();
        assert_eq!(missed.answer_rank, 2, "two logits above the answer's");
        assert!(teacher_forced_from_logits(&rows, &[3]).is_err());
    }

    #[test]
    fn matching_modes() {
        let answers = vec!["sandwich".to_string(), "Dolores Park".to_string()];
        let target = " eat a sandwich and sit in Dolores Park on a sunny day.";
        assert_eq!(match_answer(" Eat a sandwich and sit in dolores park on a sunny day", target, &answers, MatchMode::Exact), 1.0);
        assert_eq!(match_answer("a sandwich", target, &answers, MatchMode::Exact), 0.0);
        assert_eq!(match_answer("a SANDWICH", target, &answers, MatchMode::Contains), 1.0);
        assert_eq!(match_answer("a sandwich", target, &answers, MatchMode::AllOf), 0.5);
        assert_eq!(match_answer("Dolores Park", target, &answers, MatchMode::AnyOf), 1.0);
        assert_eq!(match_answer("the beach", target, &answers, MatchMode::AnyOf), 0.0);
        let sorted = vec!["112".to_string(), "340".to_string(), "901".to_string()];
        assert_eq!(match_answer(" 112, 340, 901.", "", &sorted, MatchMode::InOrder), 1.0);
        assert_eq!(match_answer(" 340, 112, 901.", "", &sorted, MatchMode::InOrder), 0.0);
    }
}
