//! Scoring a case: teacher-forced (one forward pass: the answer's log-probability and whether
//! each answer token is the argmax) or generated (greedy decoding, then a string match — a model
//! can rank the answer first yet say something else).

use serde::{Deserialize, Serialize};

use super::tasks::Case;
use crate::backend::Session;
use crate::error::{Error, Result};
use crate::generate::GreedyDecoder;
use crate::score::{log_softmax_at, top_k};
use crate::tokenizer::TextTokenizer;

/// How a generated answer is compared with the case's answers (case-insensitive). Every "contains"
/// is whole-value: an answer counts only where no letter or digit touches it, so the key 1597 is
/// not found in "159712" nor "cat" in "category".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MatchMode {
    /// The answer's first sentence or line, trimmed, equals the target, trimmed (a trailing '.'
    /// ignored): " 30083. Remember it" answers " 30083".
    Exact,
    /// It contains the first answer.
    Contains,
    /// It contains every answer; the score is the fraction found (RULER `string_match_all`).
    AllOf,
    /// It contains at least one answer (RULER `string_match_part`).
    AnyOf,
    /// It contains every answer, in the given order (find-and-sort).
    InOrder,
    /// The first integer in the answer equals the first answer (the landmark-attention passkey
    /// protocol: `int(re.search(r"\d+", answer))`).
    FirstInteger,
}

impl MatchMode {
    pub fn name(self) -> &'static str {
        match self {
            Self::Exact => "exact",
            Self::Contains => "contains",
            Self::AllOf => "all-of",
            Self::AnyOf => "any-of",
            Self::InOrder => "in-order",
            Self::FirstInteger => "first-integer",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Scoring {
    #[default]
    TeacherForced,
    Generated {
        #[serde(default = "default_max_tokens")]
        max_tokens: usize,
        /// The match rule; absent, each task's own ([`crate::probes::tasks::Task::default_match`]).
        #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
        match_mode: Option<MatchMode>,
    },
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
    /// The rule that scored the case: "teacher-forced" or a [`MatchMode`] name. (Absent in
    /// results written before it was recorded.)
    #[serde(default)]
    pub rule: String,
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
        rule: "teacher-forced".into(),
    })
}

/// Runs the context plus all but the last target token once and scores the target. Whatever
/// `session` already holds of that input is kept ([`Session::reuse_prefix`]).
pub async fn teacher_forced(session: &mut Session<'_>, case: &Case) -> Result<CaseScore> {
    let n = case.ids.len();
    let t = case.target_ids.len();
    if t == 0 {
        return Err(Error::InvalidInput("the case has an empty target".into()));
    }
    let mut input = case.ids.clone();
    input.extend(&case.target_ids[..t - 1]);
    // Reuses what the session already holds of this input (a sweep's previous cell), up to the
    // first position whose logits are needed.
    let kept = session.reuse_prefix(&input, input.len(), n - 1)?;
    let rows: Vec<usize> = (n - 1 - kept..n + t - 1 - kept).collect();
    let logits = session.forward(&input[kept..], &rows).await?;
    teacher_forced_from_logits(&logits, &case.target_ids)
}

/// Byte offsets of `needle` in `hay` (both lowercase) that no letter or digit touches.
fn whole_matches<'a>(hay: &'a str, needle: &'a str) -> impl Iterator<Item = usize> + 'a {
    let alnum = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
    hay.match_indices(needle).map(|(at, _)| at).filter(move |&at| {
        !needle.is_empty() && !alnum(hay[..at].chars().next_back()) && !alnum(hay[at + needle.len()..].chars().next())
    })
}

/// The first run of ASCII digits in `text`, as a number (leading zeros ignored), if any.
fn first_integer(text: &str) -> Option<&str> {
    let start = text.find(|c: char| c.is_ascii_digit())?;
    let digits = &text[start..];
    let end = digits.find(|c: char| !c.is_ascii_digit()).unwrap_or(digits.len());
    let n = digits[..end].trim_start_matches('0');
    Some(if n.is_empty() { "0" } else { n })
}

/// Match score of `generated` against the case (see [`MatchMode`]).
pub fn match_answer(generated: &str, target: &str, answers: &[String], mode: MatchMode) -> f64 {
    let g = generated.to_lowercase();
    let has = |a: &String| whole_matches(&g, &a.to_lowercase()).next().is_some();
    let yes = |b: bool| f64::from(u8::from(b));
    match mode {
        MatchMode::Exact => {
            let first = generated.trim_start().split(['\n']).next().unwrap_or_default();
            // The first sentence: up to and including the first '.', '!' or '?' that ends one.
            let sentence = first.split_inclusive(". ").next().unwrap_or(first);
            let norm = |s: &str| s.trim().trim_end_matches('.').trim().to_lowercase();
            yes(norm(sentence) == norm(target))
        }
        MatchMode::Contains => yes(answers.first().is_some_and(has)),
        MatchMode::AllOf => answers.iter().filter(|a| has(a)).count() as f64 / answers.len().max(1) as f64,
        MatchMode::AnyOf => yes(answers.iter().any(has)),
        MatchMode::InOrder => {
            let mut from = 0;
            let ordered = answers.iter().all(|a| {
                let a = a.to_lowercase();
                let found = whole_matches(&g, &a).find(|&at| at >= from);
                if let Some(at) = found {
                    from = at + a.len();
                }
                found.is_some()
            });
            yes(ordered)
        }
        MatchMode::FirstInteger => {
            let key = answers.first().map(|a| a.trim_start_matches('0')).map(|k| if k.is_empty() { "0" } else { k });
            yes(key.is_some() && first_integer(generated) == key)
        }
    }
}

/// Greedy answer of up to `max_tokens` tokens (stops at end-of-sequence or end-of-turn), then
/// the match. Whatever `session` already holds of the context is kept.
pub async fn generated(
    session: &mut Session<'_>,
    tokenizer: &TextTokenizer,
    case: &Case,
    max_tokens: usize,
    mode: MatchMode,
) -> Result<CaseScore> {
    let mut decoder = GreedyDecoder::for_ids(tokenizer, case.ids.len(), max_tokens)?;
    let last = case.ids.len() - 1;
    let kept = session.reuse_prefix(&case.ids, case.ids.len(), last)?;
    let logits = session.forward(&case.ids[kept..], &[last - kept]).await?.remove(0);
    let first_target = case.target_ids.first().copied().unwrap_or(0) as usize;
    let target_logit = logits.get(first_target).copied().unwrap_or(f32::NEG_INFINITY);
    let answer_rank = logits.iter().filter(|&&x| x > target_logit).count();
    if let Some(next) = decoder.step(&logits, &mut |_| {})? {
        session.decode_greedy(next, &mut |pick| decoder.accept(pick, &mut |_| {})).await?;
    }
    let text = tokenizer.decode(decoder.generated())?;
    let score = match_answer(&text, &case.target, &case.answers, mode);
    Ok(CaseScore {
        correct: score >= 1.0,
        score,
        logprob: None,
        answer_rank,
        generated: Some(text),
        rule: mode.name().into(),
    })
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
        assert_eq!(
            match_answer(" Eat a sandwich and sit in dolores park on a sunny day", target, &answers, MatchMode::Exact),
            1.0
        );
        assert_eq!(match_answer("a sandwich", target, &answers, MatchMode::Exact), 0.0);
        assert_eq!(match_answer("a SANDWICH", target, &answers, MatchMode::Contains), 1.0);
        assert_eq!(match_answer("a sandwich", target, &answers, MatchMode::AllOf), 0.5);
        assert_eq!(match_answer("Dolores Park", target, &answers, MatchMode::AnyOf), 1.0);
        assert_eq!(match_answer("the beach", target, &answers, MatchMode::AnyOf), 0.0);
        let sorted = vec!["112".to_string(), "340".to_string(), "901".to_string()];
        assert_eq!(match_answer(" 112, 340, 901.", "", &sorted, MatchMode::InOrder), 1.0);
        assert_eq!(match_answer(" 340, 112, 901.", "", &sorted, MatchMode::InOrder), 0.0);
        assert_eq!(match_answer(" 1120, 340, 901.", "", &sorted, MatchMode::InOrder), 0.0, "1120 is not 112");
    }

    /// The bug report's cases: a superstring of the key is not the key; the right key followed
    /// by more text is still right.
    #[test]
    fn numbers_and_words_match_whole() {
        let key = vec!["1597".to_string()];
        for (answer, contains, first_integer) in [
            (" 159712.", 0.0, 0.0),
            (" 1597.", 1.0, 1.0),
            (" 1597", 1.0, 1.0),
            (" 01597 is the key", 0.0, 1.0),
            (" The pass key is 1597. Remember it.", 1.0, 1.0),
            (" 31597", 0.0, 0.0),
            (" 2, then 1597", 1.0, 0.0),
            (" none", 0.0, 0.0),
        ] {
            assert_eq!(match_answer(answer, " 1597", &key, MatchMode::Contains), contains, "contains in {answer:?}");
            assert_eq!(
                match_answer(answer, " 1597", &key, MatchMode::FirstInteger),
                first_integer,
                "first integer of {answer:?}"
            );
        }
        let exact = vec!["30083".to_string()];
        assert_eq!(match_answer(" 30083. Remember it. 30083 is", " 30083", &exact, MatchMode::Exact), 1.0);
        assert_eq!(match_answer(" 30083\nThe grass", " 30083", &exact, MatchMode::Exact), 1.0);
        assert_eq!(match_answer(" 300831.", " 30083", &exact, MatchMode::Exact), 0.0);
        let words = vec!["cat".to_string()];
        assert_eq!(match_answer("a category", "", &words, MatchMode::AnyOf), 0.0);
        assert_eq!(match_answer("the cat-flap", "", &words, MatchMode::AnyOf), 1.0, "punctuation is a boundary");
        let uuid = vec!["3f2a-9c".to_string()];
        assert_eq!(match_answer("id 3f2a-9c.", "", &uuid, MatchMode::AllOf), 1.0);
        assert_eq!(match_answer("id 3f2a-9cd", "", &uuid, MatchMode::AllOf), 0.0);
    }
}
