//! RULER variable tracking (NVIDIA/RULER `scripts/data/synthetic/variable_tracking.py`): chains
//! "VAR X0 = 12345", "VAR X1 = VAR X0", …; the answer is every variable holding the first
//! chain's value.

use super::{distinct, spread, Instance};
use crate::rng::SplitMix64;

/// `chains` chains of `hops` assignments after the value. The first chain's links spread from
/// `depth` to the end; the distractor chains' links at random depths, in order.
pub(super) fn instance(chains: usize, hops: usize, depth: f64, rng: &mut SplitMix64) -> Instance {
    let names = distinct(chains * (hops + 1), rng, |r| (0..5).map(|_| (b'A' + r.below(26) as u8) as char).collect());
    let values = distinct(chains, rng, |r| (10_000 + r.below(90_000)).to_string());
    let mut needles = Vec::new();
    for c in 0..chains {
        let chain = &names[c * (hops + 1)..(c + 1) * (hops + 1)];
        let mut depths =
            if c == 0 { spread(depth, hops + 1) } else { (0..=hops).map(|_| rng.uniform()).collect::<Vec<_>>() };
        depths.sort_by(f64::total_cmp);
        needles.push((format!(" VAR {} = {}.", chain[0], values[c]), depths[0]));
        for h in 1..=hops {
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
