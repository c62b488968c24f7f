//! The MECW paper's find-and-sort type (Paulsen 2025): records scattered through the haystack;
//! list their values in ascending order (scored with `in-order`).

use super::{distinct, spread, Instance};
use crate::rng::SplitMix64;

/// `items` locker numbers of distinct people, the first at `depth`, the rest spread after it.
pub(super) fn instance(items: usize, depth: f64, rng: &mut SplitMix64) -> Instance {
    let names = distinct(items, rng, |r| r.pick(FIRST_NAMES).to_string());
    let values = distinct(items, rng, |r| (100 + r.below(900)).to_string());
    let needles = names
        .iter()
        .zip(&values)
        .zip(spread(depth, items))
        .map(|((n, v), d)| (format!(" The locker number of {n} is {v}."), d))
        .collect();
    let mut sorted: Vec<u32> = values.iter().map(|v| v.parse().expect("digits")).collect();
    sorted.sort_unstable();
    let answers: Vec<String> = sorted.iter().map(u32::to_string).collect();
    Instance {
        prefix: "Read the text below and note every locker number it mentions.\n".into(),
        needles,
        suffix: "\nQuestion: What are all the locker numbers mentioned in the text, sorted from smallest to largest?\nAnswer: Sorted from smallest to largest, the locker numbers are".into(),
        target: format!(" {}", answers.join(", ")),
        answers,
    }
}

const FIRST_NAMES: &[&str] = &[
    "Ada", "Bruno", "Clara", "Dmitri", "Elena", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Keiko", "Lars", "Mira",
    "Nadia", "Oscar", "Priya", "Quentin", "Rosa", "Sven", "Tomas", "Uma", "Viktor", "Wendy", "Xavier", "Yara",
    "Zoltan", "Amara", "Bianca", "Cyrus", "Dalia", "Emil", "Freya", "Gustav", "Hana", "Ivo", "Jana", "Kofi", "Lena",
    "Marek", "Noor", "Otto", "Pia", "Rafael", "Selma", "Theo", "Ulla", "Vera", "Willem", "Yusuf", "Zora", "Arne",
    "Beatriz", "Camille",
];
