//! Haystacks: the irrelevant text a probe hides its needles in (docs/methods.md#probe-tasks-and-haystacks).
//!
//! - `filler`: natural sentences from a small grammar this project wrote, drawn from a seed.
//!   Paul Graham's essays (gkamradt NIAH, RULER `essay`) cannot ship with the app, and a fixed
//!   paragraph repeated would make "repetition" the skill being tested. The grammar has about
//!   10^9 distinct sentences, so 32k tokens of it hold no visible repeats.
//! - `noise`: RULER's and the passkey test's repeated "The grass is green…" text.
//! - `text`: the user's own text, split into sentences and cycled.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::rng::SplitMix64;
use crate::tokenizer::TextTokenizer;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Haystack {
    #[default]
    Filler,
    Noise,
    Text {
        text: String,
    },
}

/// RULER's `noise` haystack and the passkey test's garbage (landmark-attention `run_test.py`).
pub const NOISE: [&str; 5] =
    ["The grass is green.", "The sky is blue.", "The sun is yellow.", "Here we go.", "There and back again."];

impl Haystack {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Filler => "filler",
            Self::Noise => "noise",
            Self::Text { .. } => "text",
        }
    }

    /// An endless stream of sentences (no leading or trailing space), deterministic in `rng`.
    pub fn sentences<'a>(&'a self, rng: &'a mut SplitMix64) -> Result<Box<dyn Iterator<Item = String> + 'a>> {
        Ok(match self {
            Self::Filler => Box::new(std::iter::repeat_with(move || filler_sentence(rng))),
            Self::Noise => Box::new(NOISE.iter().cycle().map(|s| s.to_string())),
            Self::Text { text } => {
                let sentences = split_sentences(text);
                if sentences.is_empty() {
                    return Err(Error::InvalidInput("the haystack text has no sentences".into()));
                }
                Box::new(sentences.into_iter().cycle())
            }
        })
    }
}

impl Haystack {
    /// Exactly `count` token ids of this haystack for `seed` (the sentence stream of
    /// `SplitMix64::derive(seed, "haystack")`, joined by spaces, the first without one, cut at
    /// `count`), and the index where each sentence starts. Probes hide needles in these tokens;
    /// the entropy scan and the attention view read them as plain long text.
    ///
    /// Errors: a `text` haystack without sentences; the tokenizer's.
    pub fn tokens(&self, tokenizer: &TextTokenizer, count: usize, seed: u64) -> Result<(Vec<u32>, Vec<usize>)> {
        let mut rng = SplitMix64::derive(seed, "haystack");
        let mut ids: Vec<u32> = Vec::with_capacity(count + 64);
        let mut starts = Vec::new();
        for sentence in self.sentences(&mut rng)? {
            if ids.len() >= count {
                break;
            }
            let text = if starts.is_empty() { sentence } else { format!(" {sentence}") };
            starts.push(ids.len());
            ids.extend(tokenizer.encode(&text)?);
        }
        ids.truncate(count);
        Ok((ids, starts))
    }
}

/// Splits text after '.', '!' or '?' followed by whitespace; drops empty pieces.
pub fn split_sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        current.push(c);
        let end = matches!(c, '.' | '!' | '?') && chars.peek().is_none_or(|n| n.is_whitespace());
        if end {
            let s = current.split_whitespace().collect::<Vec<_>>().join(" ");
            if !s.is_empty() {
                out.push(s);
            }
            current.clear();
        }
    }
    let rest = current.split_whitespace().collect::<Vec<_>>().join(" ");
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

const PEOPLE: &[&str] = &[
    "the baker",
    "my neighbour",
    "the old ferryman",
    "a retired teacher",
    "the night nurse",
    "the librarian",
    "a young cartographer",
    "the museum guard",
    "her grandfather",
    "the station master",
    "a travelling salesman",
    "the beekeeper",
    "the orchestra's cellist",
    "a quiet engineer",
    "the harbour pilot",
    "the village doctor",
    "an apprentice carpenter",
    "the weather observer",
    "the tailor",
    "a shepherd from the hills",
    "the bookbinder",
    "the lighthouse keeper",
    "a botanist",
    "the choir director",
    "the postwoman",
];
const THINGS: &[&str] = &[
    "copper kettle",
    "wooden bridge",
    "garden wall",
    "brass telescope",
    "stone well",
    "paper lantern",
    "iron gate",
    "wool blanket",
    "clock tower",
    "fishing boat",
    "glass greenhouse",
    "leather satchel",
    "canvas tent",
    "tin whistle",
    "marble staircase",
    "oak table",
    "silk scarf",
    "clay oven",
    "steam engine",
    "rope ladder",
    "chalk map",
    "silver spoon",
    "bell tower",
    "windmill",
];
const ADJECTIVES: &[&str] = &[
    "narrow",
    "crooked",
    "freshly painted",
    "weathered",
    "unusually quiet",
    "half-finished",
    "surprisingly heavy",
    "faded",
    "polished",
    "overgrown",
    "borrowed",
    "ancient",
    "brand-new",
    "rattling",
    "carefully mended",
    "dusty",
    "gleaming",
    "lopsided",
    "sturdy",
    "fragile",
];
const PLACES: &[&str] = &[
    "near the river",
    "behind the post office",
    "at the edge of town",
    "in the covered market",
    "on the northern ridge",
    "beside the railway line",
    "under the old elms",
    "in the school courtyard",
    "along the harbour wall",
    "at the top of the hill",
    "inside the town hall",
    "by the frozen lake",
    "next to the bakery",
    "in the walled garden",
    "across the square",
    "below the cliffs",
    "in a back room of the inn",
    "at the crossroads",
    "on the ferry landing",
    "in the orchard",
];
const TIMES: &[&str] = &[
    "every spring",
    "on winter mornings",
    "after the harvest",
    "during the long drought",
    "before the war",
    "on market days",
    "each evening at six",
    "in the summer of the flood",
    "when the tide was low",
    "for most of the year",
    "on the first of the month",
    "during the festival",
    "late at night",
    "at dawn",
    "in the rainy season",
    "whenever the roads were closed",
];
const PAST_VERBS: &[&str] = &[
    "repaired",
    "painted",
    "measured",
    "sketched",
    "sold",
    "rebuilt",
    "cleaned",
    "photographed",
    "guarded",
    "moved",
    "borrowed",
    "described",
    "weighed",
    "restored",
    "inspected",
    "catalogued",
    "carried",
    "tested",
    "admired",
    "forgot about",
];
const OUTCOMES: &[&str] = &[
    "and nobody noticed for weeks",
    "which took far longer than planned",
    "to the delight of the neighbours",
    "without asking anyone",
    "while the radio played",
    "and wrote the date in a notebook",
    "though the weather turned",
    "as the town clock struck noon",
    "and then went home for supper",
    "before anyone else arrived",
    "with help from two cousins",
    "for a modest fee",
    "and told the story for years",
    "despite a sprained wrist",
    "using tools from the shed",
    "just as the rain began",
];
const REMARKS: &[&str] = &[
    "smelled faintly of pine resin",
    "was older than anyone remembered",
    "creaked in the wind",
    "caught the evening light",
    "needed a new coat of varnish",
    "had a small brass plaque",
    "appeared on an old postcard",
    "was used as a landmark by sailors",
    "stood empty for a decade",
    "was moved twice in a century",
    "attracted a family of swallows",
    "was painted a deep green",
    "gave its name to a nearby lane",
    "survived two floods",
    "was the subject of a local song",
    "was counted in every census",
];
const ANIMALS: &[&str] = &[
    "herons",
    "foxes",
    "swallows",
    "goats",
    "hedgehogs",
    "crows",
    "otters",
    "sheep",
    "bees",
    "owls",
    "deer",
    "geese",
    "cats",
    "trout",
];
const HABITS: &[&str] = &[
    "gather near the water",
    "return to the same field",
    "avoid the main road",
    "sleep through the afternoon",
    "follow the ploughs",
    "nest under the eaves",
    "wander into the gardens",
    "move in small groups",
    "call loudly before rain",
    "hide in the hedgerows",
];

/// One filler sentence: a template filled from the word lists above.
pub fn filler_sentence(rng: &mut SplitMix64) -> String {
    let mut p = |list: &[&'static str]| *rng.pick(list);
    let sentence = match p(&["a", "b", "c", "d", "e", "f", "g", "h"]) {
        "a" => format!(
            "{} {} the {} {} {} {}.",
            cap(p(PEOPLE)),
            p(PAST_VERBS),
            p(ADJECTIVES),
            p(THINGS),
            p(PLACES),
            p(OUTCOMES)
        ),
        "b" => format!("The {} {} {} {}.", p(ADJECTIVES), p(THINGS), p(PLACES), p(REMARKS)),
        "c" => format!("{}, {} {} a {} {}.", cap(p(TIMES)), p(PEOPLE), p(PAST_VERBS), p(THINGS), p(PLACES)),
        "d" => format!("The {} {} tend to {} {}.", p(ANIMALS), p(PLACES), p(HABITS), p(TIMES)),
        "e" => format!("According to {}, the {} {} {}.", p(PEOPLE), p(ADJECTIVES), p(THINGS), p(REMARKS)),
        "f" => format!("Nobody expected {} to keep a {} {} {}.", p(PEOPLE), p(ADJECTIVES), p(THINGS), p(PLACES)),
        "g" => format!("{} the {} {} was {}, {}.", cap(p(TIMES)), p(THINGS), p(PLACES), p(ADJECTIVES), p(OUTCOMES)),
        _ => format!(
            "{} said the {} {} and that the {} {}.",
            cap(p(PEOPLE)),
            p(ANIMALS),
            p(HABITS),
            p(THINGS),
            p(REMARKS)
        ),
    };
    sentence
}

fn cap(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filler_is_deterministic_and_varied() {
        let a: Vec<String> = Haystack::Filler.sentences(&mut SplitMix64(1)).unwrap().take(2000).collect();
        let b: Vec<String> = Haystack::Filler.sentences(&mut SplitMix64(1)).unwrap().take(2000).collect();
        assert_eq!(a, b);
        let distinct: std::collections::HashSet<&String> = a.iter().collect();
        assert!(distinct.len() >= 1995, "{} distinct of 2000", distinct.len());
        assert!(a.iter().all(|s| s.ends_with('.') && s.chars().next().unwrap().is_uppercase()));
    }

    #[test]
    fn user_text_is_split_into_sentences() {
        let s = split_sentences("One. Two!  Three?\nFour has 3.5 items. Tail");
        assert_eq!(s, ["One.", "Two!", "Three?", "Four has 3.5 items.", "Tail"]);
        assert!(Haystack::Text { text: "  ".into() }.sentences(&mut SplitMix64(0)).is_err());
    }
}
