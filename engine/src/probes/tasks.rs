//! Task generators (docs/methods.md#probe-tasks-and-haystacks): a needle-bearing prompt of *exactly* N tokens of the model in use,
//! deterministic from a seed, with the expected answer.
//!
//! Prompts are assembled from token ids, not text: the instruction, the haystack sentences, the
//! needles and the question are tokenized separately and concatenated, and the haystack is cut
//! at the token that makes the total exactly N. (RULER binary-searches a haystack size whose
//! re-tokenized text fits under N; building from ids makes the length exact by construction and
//! the needle's token position known.) Needles go in at sentence boundaries, at the last
//! boundary at or before the requested depth, as gkamradt's NIAH walks back to the previous '.'.

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
                if *common == 0 || *common > COMMON_WORDS.len() {
                    return Err(Error::InvalidInput(format!(
                        "common-words needs 1 … {} common words",
                        COMMON_WORDS.len()
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

    fn instance(&self, depth: f64, rng: &mut SplitMix64) -> Instance {
        if let Self::FindAndSort { items } = self {
            let names = distinct(*items, rng, |r| r.pick(FIRST_NAMES).to_string());
            let values = distinct(*items, rng, |r| (100 + r.below(900)).to_string());
            let depths: Vec<f64> = (0..*items).map(|k| depth + k as f64 * (1.0 - depth) / *items as f64).collect();
            let needles = names
                .iter()
                .zip(&values)
                .zip(depths)
                .map(|((n, v), d)| (format!(" The locker number of {n} is {v}."), d))
                .collect();
            let mut sorted: Vec<u32> = values.iter().map(|v| v.parse().expect("digits")).collect();
            sorted.sort_unstable();
            let answers: Vec<String> = sorted.iter().map(u32::to_string).collect();
            return Instance {
                prefix: "Read the text below and note every locker number it mentions.\n".into(),
                needles,
                suffix: "\nQuestion: What are all the locker numbers mentioned in the text, sorted from smallest to largest?\nAnswer: Sorted from smallest to largest, the locker numbers are".into(),
                target: format!(" {}", answers.join(", ")),
                answers,
            };
        }
        let spread = |n: usize| (0..n).map(|k| depth + k as f64 * (1.0 - depth) / n as f64).collect::<Vec<_>>();
        match self {
            Self::Niah { needles, separator, question, answer_prefix, target, answers } => Instance {
                prefix: String::new(),
                needles: needles.iter().map(|n| format!("{separator}{n}{separator}")).zip(spread(needles.len())).collect(),
                suffix: format!(
                    "\n\nQuestion: {question} Don't give information outside the document or repeat your findings.\nAnswer: {answer_prefix}"
                ),
                target: target.clone(),
                answers: answers.clone(),
            },
            Self::Passkey => {
                let key = (1 + rng.below(50_000)).to_string();
                Instance {
                    prefix: "There is an important info hidden inside a lot of irrelevant text. Find it and memorize them. I will quiz you about the important information there.\n".into(),
                    needles: vec![(format!("\nThe pass key is {key}. Remember it. {key} is the pass key.\n"), depth)],
                    suffix: "\nWhat is the pass key? The pass key is".into(),
                    target: format!(" {key}"),
                    answers: vec![key],
                }
            }
            Self::RulerNiah { keys, values, queries, value_kind } => {
                let (plural, singular) = match value_kind {
                    ValueKind::Numbers => ("numbers", "number"),
                    ValueKind::Words => ("words", "word"),
                    ValueKind::Uuids => ("UUIDs", "UUID"),
                };
                let key_names = distinct(*keys, rng, word);
                let vals: Vec<Vec<String>> = key_names.iter().map(|_| distinct(*values, rng, |r| value(*value_kind, r))).collect();
                // The first queried needle sits at the cell's depth; the others at random depths.
                let mut needles = Vec::new();
                for (k, key) in key_names.iter().enumerate() {
                    for (v, val) in vals[k].iter().enumerate() {
                        let d = if k == 0 && v == 0 { depth } else { rng.uniform() };
                        needles.push((format!(" One of the special magic {plural} for {key} is: {val}."), d));
                    }
                }
                let asked = &key_names[..*queries];
                let answers: Vec<String> = vals[..*queries].iter().flatten().cloned().collect();
                let query = join_and(asked);
                let suffix = if answers.len() == 1 {
                    format!("\nWhat is the special magic {singular} for {query} mentioned in the provided text? The special magic {singular} for {query} mentioned in the provided text is")
                } else {
                    format!("\nWhat are all the special magic {plural} for {query} mentioned in the provided text? The special magic {plural} for {query} mentioned in the provided text are")
                };
                Instance {
                    prefix: format!("Some special magic {plural} are hidden within the following text. Make sure to memorize it. I will quiz you about the {plural} afterwards.\n"),
                    needles,
                    suffix,
                    target: format!(" {}", answers.join(", ")),
                    answers,
                }
            }
            Self::CommonWords { .. } | Self::FrequentWords { .. } | Self::FindAndSort { .. } => {
                unreachable!("list tasks are built by build_list; find-and-sort returned above")
            }
            Self::VariableTracking { chains, hops } => {
                let names = distinct(chains * (hops + 1), rng, |r| (0..5).map(|_| (b'A' + r.below(26) as u8) as char).collect());
                let values = distinct(*chains, rng, |r| (10_000 + r.below(90_000)).to_string());
                let mut needles = Vec::new();
                for c in 0..*chains {
                    let chain = &names[c * (hops + 1)..(c + 1) * (hops + 1)];
                    let depths = if c == 0 { spread(hops + 1) } else { spread(hops + 1).iter().map(|_| rng.uniform()).collect() };
                    let mut depths = depths;
                    depths.sort_by(f64::total_cmp);
                    needles.push((format!(" VAR {} = {}.", chain[0], values[c]), depths[0]));
                    for h in 1..=*hops {
                        needles.push((format!(" VAR {} = VAR {}.", chain[h], chain[h - 1]), depths[h]));
                    }
                }
                let answers: Vec<String> = names[..hops + 1].to_vec();
                Instance {
                    prefix: "Memorize and track the chain(s) of variable assignment hidden in the following text.\n".into(),
                    needles,
                    suffix: format!(
                        "\nQuestion: Find all variables that are assigned the value {} in the text above. Answer: According to the chain(s) of variable assignment in the text above, {} variables are assigned the value {}, they are:",
                        values[0],
                        hops + 1,
                        values[0]
                    ),
                    target: format!(" {}", answers.join(" ")),
                    answers,
                }
            }
        }
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
        if matches!(self, Self::CommonWords { .. } | Self::FrequentWords { .. }) {
            return self.build_list(tokenizer, length, seed);
        }
        let mut rng = SplitMix64::derive(seed, self.name());
        let inst = self.instance(depth, &mut rng);
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

const FIRST_NAMES: &[&str] = &[
    "Ada", "Bruno", "Clara", "Dmitri", "Elena", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Keiko", "Lars", "Mira",
    "Nadia", "Oscar", "Priya", "Quentin", "Rosa", "Sven", "Tomas", "Uma", "Viktor", "Wendy", "Xavier", "Yara",
    "Zoltan", "Amara", "Bianca", "Cyrus", "Dalia", "Emil", "Freya", "Gustav", "Hana", "Ivo", "Jana", "Kofi", "Lena",
    "Marek", "Noor", "Otto", "Pia", "Rafael", "Selma", "Theo", "Ulla", "Vera", "Willem", "Yusuf", "Zora", "Arne",
    "Beatriz", "Camille",
];

const COMMON_WORDS: &[&str] = &[
    "apple", "river", "candle", "mountain", "pencil", "window", "garden", "bottle", "forest", "ladder", "pocket",
    "island", "button", "camera", "hammer", "jacket", "kitten", "lemon", "mirror", "napkin", "orange", "pillow",
    "rocket", "saddle", "tunnel", "violin",
];

/// A made-up pronounceable word (consonant-vowel syllables), for list fillers and coded words.
fn made_up(rng: &mut SplitMix64, syllables: usize) -> String {
    const C: &[u8] = b"bdfgklmnprstvz";
    const V: &[u8] = b"aeiou";
    (0..syllables)
        .flat_map(|_| [C[rng.below(C.len() as u64) as usize] as char, V[rng.below(V.len() as u64) as usize] as char])
        .collect()
}

impl Task {
    /// Common- and frequent-words extraction: the context is a word list filling the budget; the
    /// answer is read off the words actually included (a final entry cut by the exact length
    /// does not count).
    fn build_list(&self, tokenizer: &TextTokenizer, length: usize, seed: u64) -> Result<Case> {
        let mut rng = SplitMix64::derive(seed, self.name());
        let (prefix, suffix, top) = match self {
            Self::CommonWords { common } => (
                "Below is a numbered list of words. In these words, some appear more often than others. Memorize the ones that appear most often.\n".to_string(),
                format!("\nQuestion: What are the {common} most common words in the above list? Answer: The top {common} words that appear most often in the list are:"),
                *common,
            ),
            _ => (
                "Read the following coded text and track the frequency of each coded word. Find the three most frequently appeared coded words.\n".to_string(),
                "\nQuestion: Do not provide any explanation. Please ignore the dots '....'. What are the three most frequently appeared words in the above coded text? Answer: According to the coded text above, the three most frequently appeared words are:".to_string(),
                3,
            ),
        };
        let bos = tokenizer.encode_prompt("")?;
        let (prefix_ids, suffix_ids) = (tokenizer.encode(&prefix)?, tokenizer.encode(&suffix)?);
        let fixed = bos.len() + prefix_ids.len() + suffix_ids.len();
        let budget = length.checked_sub(fixed).filter(|b| *b > 0).ok_or_else(|| {
            Error::InvalidInput(format!("{} needs more than {fixed} tokens; {length} is too short", self.name()))
        })?;
        // The word stream.
        let mut next: Box<dyn FnMut(&mut SplitMix64) -> String> = match self {
            Self::CommonWords { common } => {
                let commons = distinct(*common, &mut rng, |r| r.pick(COMMON_WORDS).to_string());
                Box::new(
                    move |r: &mut SplitMix64| if r.uniform() < 0.5 { r.pick(&commons).clone() } else { made_up(r, 3) },
                )
            }
            Self::FrequentWords { alpha } => {
                let vocab = distinct((length / 50).max(10), &mut rng, |r| made_up(r, 3));
                let weights: Vec<f64> = (1..=vocab.len()).map(|k| (k as f64).powf(-alpha)).collect();
                let total: f64 = weights.iter().sum();
                let cumulative: Vec<f64> = weights
                    .iter()
                    .scan(0.0, |acc, w| {
                        *acc += w / total;
                        Some(*acc)
                    })
                    .collect();
                Box::new(move |r: &mut SplitMix64| {
                    let u = r.uniform();
                    let k = cumulative.iter().position(|&c| u <= c).unwrap_or(vocab.len() - 1);
                    if k == 0 {
                        "....".to_string()
                    } else {
                        vocab[k].clone()
                    }
                })
            }
            _ => unreachable!("list tasks only"),
        };
        let numbered = matches!(self, Self::CommonWords { .. });
        let mut body: Vec<u32> = Vec::with_capacity(budget + 8);
        let mut counts: std::collections::HashMap<String, usize> = Default::default();
        let mut entry = 1;
        while body.len() < budget {
            let w = next(&mut rng);
            let piece = if numbered { format!(" {entry}. {w}") } else { format!(" {w}") };
            let ids = tokenizer.encode(&piece)?;
            if body.len() + ids.len() > budget {
                body.extend(&ids[..budget - body.len()]);
                break;
            }
            body.extend(ids);
            *counts.entry(w).or_default() += 1;
            entry += 1;
        }
        let mut ranked: Vec<(String, usize)> = counts.into_iter().filter(|(w, _)| w != "....").collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        if ranked.len() <= top || ranked[top - 1].1 <= ranked[top].1 {
            return Err(Error::InvalidInput(format!(
                "{} at {length} tokens has no clear top {top}; use a longer length",
                self.name()
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
