//! Colour-blind-safe colours for the heatmaps: cividis for scores in [0, 1], a diverging
//! red–blue map centred on zero for differences (colorous, the matplotlib/d3 scales).

/// "#rrggbb" for a score in [0, 1] (cividis: dark blue for 0, yellow for 1).
pub fn score_colour(score: f64) -> String {
    format!("#{:x}", colorous::CIVIDIS.eval_continuous(score.clamp(0.0, 1.0)))
}

/// "#rrggbb" for a difference in [−1, 1]: red below zero, white at zero, blue above.
pub fn diff_colour(diff: f64) -> String {
    format!("#{:x}", colorous::RED_BLUE.eval_continuous((diff.clamp(-1.0, 1.0) + 1.0) / 2.0))
}

/// Black or white, whichever reads on `background` ("#rrggbb").
pub fn ink_on(background: &str) -> &'static str {
    let channel =
        |i: usize| u8::from_str_radix(background.get(i..i + 2).unwrap_or("00"), 16).unwrap_or(0) as f64 / 255.0;
    let luminance = 0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5);
    if luminance > 0.5 {
        "#111"
    } else {
        "#fff"
    }
}
