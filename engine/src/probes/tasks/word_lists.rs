//! RULER's word-extraction tasks, whose context is the list itself (no haystack): common words
//! (`common_words_extraction.py`) and frequent words (`freq_words_extraction.py`). The answer
//! is read off the words actually included (a final entry cut by the exact length does not
//! count).

use super::{distinct, Case};
use crate::error::{Error, Result};
use crate::rng::SplitMix64;
use crate::tokenizer::TextTokenizer;

const COMMON_WORDS: &[&str] = &[
    "apple", "river", "candle", "mountain", "pencil", "window", "garden", "bottle", "forest", "ladder", "pocket",
    "island", "button", "camera", "hammer", "jacket", "kitten", "lemon", "mirror", "napkin", "orange", "pillow",
    "rocket", "saddle", "tunnel", "violin",
];

/// How many common words a task may ask for.
pub(super) const MAX_COMMON_WORDS: usize = COMMON_WORDS.len();

/// A numbered list in which `common` words recur: each entry is a common word with probability
/// ½, else a fresh made-up word, so the common words lead by a wide margin at any length.
pub(super) fn common_words(
    common: usize,
    tokenizer: &TextTokenizer,
    length: usize,
    rng: &mut SplitMix64,
) -> Result<Case> {
    let prefix = "Below is a numbered list of words. In these words, some appear more often than others. Memorize the ones that appear most often.\n";
    let suffix = format!("\nQuestion: What are the {common} most common words in the above list? Answer: The top {common} words that appear most often in the list are:");
    let list = List { name: "common-words", prefix, suffix: &suffix, top: common, numbered: true };
    let (bos, prefix_ids, suffix_ids, budget) = list.frame(tokenizer, length)?;
    let commons = distinct(common, rng, |r| r.pick(COMMON_WORDS).to_string());
    let next = |r: &mut SplitMix64| if r.uniform() < 0.5 { r.pick(&commons).clone() } else { made_up(r, 3) };
    list.finish(tokenizer, length, (bos, prefix_ids, suffix_ids, budget), next, rng)
}

/// Coded 6-letter words drawn from a Zipf distribution (exponent `alpha`) over length/50 words,
/// the top one replaced by "...."; name the three most frequent.
pub(super) fn frequent_words(
    alpha: f64,
    tokenizer: &TextTokenizer,
    length: usize,
    rng: &mut SplitMix64,
) -> Result<Case> {
    let list = List {
        name: "frequent-words",
        prefix: "Read the following coded text and track the frequency of each coded word. Find the three most frequently appeared coded words.\n",
        suffix: "\nQuestion: Do not provide any explanation. Please ignore the dots '....'. What are the three most frequently appeared words in the above coded text? Answer: According to the coded text above, the three most frequently appeared words are:",
        top: 3,
        numbered: false,
    };
    let frame = list.frame(tokenizer, length)?;
    let vocab = distinct((length / 50).max(10), rng, |r| made_up(r, 3));
    let weights: Vec<f64> = (1..=vocab.len()).map(|k| (k as f64).powf(-alpha)).collect();
    let total: f64 = weights.iter().sum();
    let cumulative: Vec<f64> = weights
        .iter()
        .scan(0.0, |acc, w| {
            *acc += w / total;
            Some(*acc)
        })
        .collect();
    let next = |r: &mut SplitMix64| {
        let u = r.uniform();
        let k = cumulative.iter().position(|&c| u <= c).unwrap_or(vocab.len() - 1);
        if k == 0 {
            "....".to_string()
        } else {
            vocab[k].clone()
        }
    };
    list.finish(tokenizer, length, frame, next, rng)
}

/// The fixed text around a word list and how its answer is read.
struct List<'a> {
    name: &'static str,
    prefix: &'a str,
    suffix: &'a str,
    /// How many of the most frequent words the answer names.
    top: usize,
    /// "1. word" entries (common words) or bare words (frequent words).
    numbered: bool,
}

/// (BOS, prefix ids, suffix ids, list budget in tokens).
type Frame = (Vec<u32>, Vec<u32>, Vec<u32>, usize);

impl List<'_> {
    /// Tokenizes the fixed text and finds the tokens left for the list.
    fn frame(&self, tokenizer: &TextTokenizer, length: usize) -> Result<Frame> {
        let bos = tokenizer.encode_prompt("")?;
        let (prefix_ids, suffix_ids) = (tokenizer.encode(self.prefix)?, tokenizer.encode(self.suffix)?);
        let fixed = bos.len() + prefix_ids.len() + suffix_ids.len();
        let budget = length.checked_sub(fixed).filter(|b| *b > 0).ok_or_else(|| {
            Error::InvalidInput(format!("{} needs more than {fixed} tokens; {length} is too short", self.name))
        })?;
        Ok((bos, prefix_ids, suffix_ids, budget))
    }

    /// Fills the budget with words from `next`, then reads the answer off what was included.
    fn finish(
        &self,
        tokenizer: &TextTokenizer,
        length: usize,
        (bos, prefix_ids, suffix_ids, budget): Frame,
        mut next: impl FnMut(&mut SplitMix64) -> String,
        rng: &mut SplitMix64,
    ) -> Result<Case> {
        let mut body: Vec<u32> = Vec::with_capacity(budget + 8);
        let mut counts: std::collections::HashMap<String, usize> = Default::default();
        let mut entry = 1;
        while body.len() < budget {
            let w = next(rng);
            let piece = if self.numbered { format!(" {entry}. {w}") } else { format!(" {w}") };
            let ids = tokenizer.encode(&piece)?;
            if body.len() + ids.len() > budget {
                body.extend(&ids[..budget - body.len()]);
                break;
            }
            body.extend(ids);
            *counts.entry(w).or_default() += 1;
            entry += 1;
        }
        let top = self.top;
        let mut ranked: Vec<(String, usize)> = counts.into_iter().filter(|(w, _)| w != "....").collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        if ranked.len() <= top || ranked[top - 1].1 <= ranked[top].1 {
            return Err(Error::InvalidInput(format!(
                "{} at {length} tokens has no clear top {top}; use a longer length",
                self.name
            )));
        }
        let answers: Vec<String> = ranked[..top].iter().map(|(w, _)| w.clone()).collect();
        let target = format!(" {}", answers.join(", "));
        let target_ids = tokenizer.encode(&target)?;
        let mut ids = Vec::with_capacity(length);
        ids.extend(&bos);
        ids.extend(&prefix_ids);
        let start = ids.len();
        ids.extend(&body);
        ids.extend(&suffix_ids);
        debug_assert_eq!(ids.len(), length);
        Ok(Case {
            ids,
            target,
            target_ids,
            answers,
            needle_positions: vec![start],
            needle_spans: vec![(start, start + body.len())],
            needle_depths: vec![0.0],
            haystack_tokens: budget,
        })
    }
}

/// A made-up pronounceable word (consonant-vowel syllables), for list fillers and coded words.
fn made_up(rng: &mut SplitMix64, syllables: usize) -> String {
    const C: &[u8] = b"bdfgklmnprstvz";
    const V: &[u8] = b"aeiou";
    (0..syllables)
        .flat_map(|_| [C[rng.below(C.len() as u64) as usize] as char, V[rng.below(V.len() as u64) as usize] as char])
        .collect()
}
