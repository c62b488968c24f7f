//! Task generators (docs/methods.md#probe-tasks-and-haystacks): a needle-bearing prompt of *exactly* N tokens of the model in use,
//! deterministic from a seed, with the expected answer.
//!
//! Prompts are assembled from token ids, not text: the instruction, the haystack sentences, the
//! needles and the question are tokenized separately and concatenated, and the haystack is cut
//! at the token that makes the total exactly N. (RULER binary-searches a haystack size whose
//! re-tokenized text fits under N; building from ids makes the length exact by construction and
//! the needle's token position known.) Needles go in at sentence boundaries, at the last
//! boundary at or before the requested depth, as gkamradt's NIAH walks back to the previous '.'.
//!
//! One module per task family: [`needles`] (gkamradt's NIAH, passkey, RULER's NIAH family),
//! [`variable_tracking`], [`find_and_sort`] and [`word_lists`] (RULER's common- and frequent-words
//! extraction, whose context is the list itself). Each family returns an [`Instance`] (text
//! before tokenization) or, for word lists, the finished [`Case`]; this module splices
//! instances into the haystack at exact token lengths.

mod find_and_sort;
mod needles;
mod variable_tracking;
mod word_lists;

use serde::{Deserialize, Serialize};

use super::haystack::Haystack;
use super::scoring::MatchMode;
use crate::error::{Error, Result};
use crate::rng::SplitMix64;
use crate::tokenizer::TextTokenizer;

/// What kind of value a RULER needle holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ValueKind {
    /// 7-digit numbers.
    #[default]
    Numbers,
    /// "adjective-noun" words.
    Words,
    /// UUID v4 strings.
    Uuids,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "task", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Task {
    /// gkamradt/LLMTest_NeedleInAHaystack: one or more needles, a question, an answer. Several
    /// needles go at depth d, then every (1 − d)/n after it. As in the harness, each needle is
    /// its own line — `separator` before and after it (`"\n"`) — right after the last sentence
    /// that ends before its depth; the haystack text after it keeps its own leading space.
    Niah {
        #[serde(default = "niah_needles")]
        needles: Vec<String>,
        /// Text placed before and after every needle.
        #[serde(default = "niah_separator")]
        separator: String,
        #[serde(default = "niah_question")]
        question: String,
        /// Start of the answer, after which the target is scored.
        #[serde(default = "niah_answer_prefix")]
        answer_prefix: String,
        /// The teacher-forced continuation.
        #[serde(default = "niah_target")]
        target: String,
        /// Substrings a generated answer is matched against.
        #[serde(default = "niah_answers")]
        answers: Vec<String>,
    },
    /// Passkey retrieval in the landmark-attention format (epfml/landmark-attention
    /// `run_test.py`; jquesnelle/yarn `eval/passkey.py`): a key uniform in 1…50000.
    Passkey,
    /// RULER's NIAH family (NVIDIA/RULER `scripts/data/synthetic/niah.py`): `keys` needles with
    /// distinct keys (more than `queries` = multi-key distractors), `values` values per key
    /// (multi-value), `queries` keys asked about (multi-query).
    RulerNiah {
        #[serde(default = "one")]
        keys: usize,
        #[serde(default = "one")]
        values: usize,
        #[serde(default = "one")]
        queries: usize,
        #[serde(default)]
        value_kind: ValueKind,
    },
    /// RULER variable tracking (`variable_tracking.py`): chains "VAR X0 = 12345", "VAR X1 = VAR
    /// X0", …; the answer is every variable holding the value.
    VariableTracking {
        #[serde(default = "one")]
        chains: usize,
        #[serde(default = "four")]
        hops: usize,
    },
    /// RULER common-words extraction (`common_words_extraction.py`): a numbered word list in which
    /// `common` words recur; name them. The context *is* the list (no haystack): each entry is
    /// a common word with probability ½, else a fresh made-up word, so the common words lead
    /// by a wide margin at any length. Score with generated + all-of.
    CommonWords {
        #[serde(default = "ten")]
        common: usize,
    },
    /// RULER frequent-words extraction (`freq_words_extraction.py`): coded 6-letter words drawn
    /// from a Zipf distribution (α = 2) over length/50 words, the top one replaced by "....";
    /// name the three most frequent. The context is the coded text.
    FrequentWords {
        #[serde(default = "two")]
        alpha: f64,
    },
    /// The MECW paper's find-and-sort type (Paulsen 2025): `items` records scattered through the
    /// haystack; list their values in ascending order (match `in-order`).
    FindAndSort {
        #[serde(default = "five")]
        items: usize,
    },
}

fn one() -> usize {
    1
}
fn four() -> usize {
    4
}
fn five() -> usize {
    5
}
fn ten() -> usize {
    10
}
fn two() -> f64 {
    2.0
}
fn niah_needles() -> Vec<String> {
    vec!["The best thing to do in San Francisco is eat a sandwich and sit in Dolores Park on a sunny day.".into()]
}
fn niah_separator() -> String {
    "\n".into()
}
fn niah_question() -> String {
    "What is the best thing to do in San Francisco?".into()
}
fn niah_answer_prefix() -> String {
    "The best thing to do in San Francisco is".into()
}
fn niah_target() -> String {
    " eat a sandwich and sit in Dolores Park on a sunny day.".into()
}
fn niah_answers() -> Vec<String> {
    vec!["sandwich".into(), "Dolores Park".into()]
}

/// A generated prompt and its answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Case {
    /// The context: exactly the requested number of tokens.
    pub ids: Vec<u32>,
    /// The teacher-forced continuation (text and ids).
    pub target: String,
    pub target_ids: Vec<u32>,
    /// What a generated answer must contain (see [`super::scoring::MatchMode`]).
    pub answers: Vec<String>,
    /// Token index in `ids` where each needle starts, in insertion order.
    pub needle_positions: Vec<usize>,
    /// Token range `[start, end)` of each needle in `ids` (for list tasks, the whole list).
    pub needle_spans: Vec<(usize, usize)>,
    /// Each needle's depth: haystack tokens before it / all haystack tokens.
    pub needle_depths: Vec<f64>,
    /// Haystack tokens in the context (besides instruction, needles and question).
    pub haystack_tokens: usize,
}

/// A task instance before tokenization.
struct Instance {
    prefix: String,
    /// (needle text, requested depth in [0, 1]).
    needles: Vec<(String, f64)>,
    suffix: String,
    target: String,
    answers: Vec<String>,
}

const WORDS_A: &[&str] = &[
    "amber", "brisk", "calm", "dapper", "eager", "fancy", "gentle", "hollow", "icy", "jolly", "keen", "lively",
    "mellow", "nimble", "odd", "proud", "quiet", "rustic", "shiny", "tidy", "upbeat", "vivid", "witty", "young",
    "zesty", "bold", "cozy", "dusty",
];
const WORDS_B: &[&str] = &[
    "anchor", "badger", "candle", "dolphin", "ember", "falcon", "garnet", "harbor", "island", "jacket", "kettle",
    "lantern", "meadow", "needle", "orchard", "pepper", "quartz", "river", "saddle", "thistle", "umbrella", "violin",
    "walnut", "yarrow", "zephyr",
];

fn value(kind: ValueKind, rng: &mut SplitMix64) -> String {
    match kind {
        ValueKind::Numbers => (1_000_000 + rng.below(9_000_000)).to_string(),
        ValueKind::Words => word(rng),
        ValueKind::Uuids => {
            let hex =
                |rng: &mut SplitMix64, n: usize| (0..n).map(|_| format!("{:x}", rng.below(16))).collect::<String>();
            let variant = ["8", "9", "a", "b"][rng.below(4) as usize];
            format!("{}-{}-4{}-{}{}-{}", hex(rng, 8), hex(rng, 4), hex(rng, 3), variant, hex(rng, 3), hex(rng, 12))
        }
    }
}

fn word(rng: &mut SplitMix64) -> String {
    format!("{}-{}", rng.pick(WORDS_A), rng.pick(WORDS_B))
}

/// `n` distinct values from `make`.
fn distinct(n: usize, rng: &mut SplitMix64, make: impl Fn(&mut SplitMix64) -> String) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(n);
    while out.len() < n {
        let v = make(rng);
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

/// "a, b, and c" (RULER's query phrasing).
fn join_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [a, b] => format!("{a} and {b}"),
        [rest @ .., last] => format!("{}, and {last}", rest.join(", ")),
    }
}

impl Task {
    /// The match rule the task's anchor uses for generated answers: the landmark-attention
    /// passkey test takes the first integer; RULER's NIAH family, variable tracking and the
    /// word-extraction tasks count the expected values found (`string_match_all`); the MECW
    /// paper's find-and-sort needs them in order. gkamradt's NIAH grades with an LLM judge, which
    /// ctxscope replaces with all-of over the needle's key phrases.
    pub fn default_match(&self) -> MatchMode {
        match self {
            Self::Passkey => MatchMode::FirstInteger,
            Self::FindAndSort { .. } => MatchMode::InOrder,
            Self::Niah { .. }
            | Self::RulerNiah { .. }
            | Self::VariableTracking { .. }
            | Self::CommonWords { .. }
            | Self::FrequentWords { .. } => MatchMode::AllOf,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::Niah { .. } => "niah",
            Self::Passkey => "passkey",
            Self::RulerNiah { .. } => "ruler-niah",
            Self::VariableTracking { .. } => "variable-tracking",
            Self::CommonWords { .. } => "common-words",
            Self::FrequentWords { .. } => "frequent-words",
            Self::FindAndSort { .. } => "find-and-sort",
        }
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::InvalidInput(m.to_string()));
        match self {
            Self::Niah { needles, answers, target, .. } => {
                if needles.is_empty() || needles.iter().any(|n| n.trim().is_empty()) {
                    return bad("NIAH needs at least one non-empty needle");
                }
                if answers.is_empty() || target.is_empty() {
                    return bad("NIAH needs a target and at least one answer");
                }
            }
            Self::Passkey => {}
            Self::RulerNiah { keys, values, queries, .. } => {
                if *keys == 0 || *values == 0 || *queries == 0 || queries > keys {
                    return bad("RULER NIAH needs keys, values, queries ≥ 1 and queries ≤ keys");
                }
            }
            Self::VariableTracking { chains, hops } => {
                if *chains == 0 || *hops == 0 {
                    return bad("variable tracking needs at least one chain and one hop");
                }
            }
            Self::CommonWords { common } => {
                if *common == 0 || *common > word_lists::MAX_COMMON_WORDS {
                    return Err(Error::InvalidInput(format!(
                        "common-words needs 1 … {} common words",
                        word_lists::MAX_COMMON_WORDS
                    )));
                }
            }
            Self::FrequentWords { alpha } => {
                if !(alpha.is_finite() && *alpha > 1.0) {
                    return bad("frequent-words needs a Zipf exponent alpha > 1");
                }
            }
            Self::FindAndSort { items } => {
                if *items < 2 || *items > 50 {
                    return bad("find-and-sort needs 2 … 50 items");
                }
            }
        }
        Ok(())
    }

    /// The case for (`length` tokens, `depth` in [0, 1], `seed`) over `haystack`.
    pub fn build(
        &self,
        haystack: &Haystack,
        tokenizer: &TextTokenizer,
        length: usize,
        depth: f64,
        seed: u64,
    ) -> Result<Case> {
        self.validate()?;
        if !(0.0..=1.0).contains(&depth) {
            return Err(Error::InvalidInput(format!("depth {depth} is outside 0 … 1")));
        }
        let mut rng = SplitMix64::derive(seed, self.name());
        let inst = match self {
            Self::Niah { needles, separator, question, answer_prefix, target, answers } => {
                needles::niah(needles, separator, question, answer_prefix, target, answers, depth)
            }
            Self::Passkey => needles::passkey(depth, &mut rng),
            Self::RulerNiah { keys, values, queries, value_kind } => {
                needles::ruler_niah(*keys, *values, *queries, *value_kind, depth, &mut rng)
            }
            Self::VariableTracking { chains, hops } => variable_tracking::instance(*chains, *hops, depth, &mut rng),
            Self::FindAndSort { items } => find_and_sort::instance(*items, depth, &mut rng),
            Self::CommonWords { common } => return word_lists::common_words(*common, tokenizer, length, &mut rng),
            Self::FrequentWords { alpha } => return word_lists::frequent_words(*alpha, tokenizer, length, &mut rng),
        };
        self.splice(inst, haystack, tokenizer, length, seed)
    }

    /// Puts the instance's needles into `haystack` at their depths, cutting the haystack so the
    /// prompt is exactly `length` tokens.
    fn splice(
        &self,
        inst: Instance,
        haystack: &Haystack,
        tokenizer: &TextTokenizer,
        length: usize,
        seed: u64,
    ) -> Result<Case> {
        let bos = tokenizer.encode_prompt("")?;
        let prefix = tokenizer.encode(&inst.prefix)?;
        let suffix = tokenizer.encode(&inst.suffix)?;
        let needles: Vec<Vec<u32>> = inst.needles.iter().map(|(t, _)| tokenizer.encode(t)).collect::<Result<_>>()?;
        let fixed = bos.len() + prefix.len() + suffix.len() + needles.iter().map(Vec::len).sum::<usize>();
        if fixed + 1 > length {
            return Err(Error::InvalidInput(format!(
                "{} needs at least {} tokens without any haystack; {length} is too short",
                self.name(),
                fixed + 1
            )));
        }
        let budget = length - fixed;

        // Haystack tokens and the index where each sentence starts.
        let (hay, mut starts) = haystack.tokens(tokenizer, budget, seed)?;
        starts.push(budget);

        // Insertion points: the last sentence boundary at or before each requested depth.
        let mut order: Vec<(usize, usize)> = inst
            .needles
            .iter()
            .enumerate()
            .map(|(n, (_, d))| {
                let want = (d * budget as f64).floor() as usize;
                (*starts.iter().rev().find(|&&s| s <= want).unwrap_or(&0), n)
            })
            .collect();
        order.sort();
        let mut ids = Vec::with_capacity(length);
        ids.extend(&bos);
        ids.extend(&prefix);
        let mut positions = vec![0; needles.len()];
        let mut spans = vec![(0, 0); needles.len()];
        let mut depths = vec![0.0; needles.len()];
        let mut cursor = 0;
        for &(at, n) in &order {
            ids.extend(&hay[cursor..at]);
            cursor = at;
            positions[n] = ids.len();
            depths[n] = at as f64 / budget as f64;
            ids.extend(&needles[n]);
            spans[n] = (positions[n], ids.len());
        }
        ids.extend(&hay[cursor..]);
        ids.extend(&suffix);
        debug_assert_eq!(ids.len(), length);
        let target_ids = tokenizer.encode(&inst.target)?;
        Ok(Case {
            ids,
            target: inst.target,
            target_ids,
            answers: inst.answers,
            needle_positions: positions,
            needle_spans: spans,
            needle_depths: depths,
            haystack_tokens: budget,
        })
    }
}

/// `n` depths from `depth` to the end, evenly spaced: several needles go at depth d, then every
/// (1 − d)/n after it.
fn spread(depth: f64, n: usize) -> Vec<f64> {
    (0..n).map(|k| depth + k as f64 * (1.0 - depth) / n as f64).collect()
}
