//! Pure geometry of the attention drawings (`components/attention_canvas.rs` on the page):
//! which keys a pixel column shows, how tall a weight draws, which key is under the pointer, and
//! the small statistics beside them. Kept in the library so they are tested natively.

/// Weights below this draw as empty on the log scale (log10 p from −8 to 0).
pub const LOG_FLOOR: f64 = 1e-8;

/// Height fraction in [0, 1] of weight `p`: linear against `max`, or log10 from 1e-8 to 1.
pub fn bar_height(p: f64, max: f64, log: bool) -> f64 {
    if log {
        if p <= LOG_FLOOR {
            0.0
        } else {
            ((p.log10() - LOG_FLOOR.log10()) / -LOG_FLOOR.log10()).clamp(0.0, 1.0)
        }
    } else if max > 0.0 {
        (p / max).clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// The keys of pixel column `px` of `width` columns showing keys `lo .. hi`.
pub fn column_keys(px: usize, width: usize, lo: usize, hi: usize) -> std::ops::Range<usize> {
    let span = (hi - lo) as f64 / width as f64;
    let a = lo + (px as f64 * span).floor() as usize;
    let b = (lo + ((px + 1) as f64 * span).floor() as usize).max(a + 1).min(hi);
    a.min(hi)..b
}

/// The key under canvas x (pixels), the largest weight of its column.
pub fn key_at(row: &[f32], x: f64, width: usize, lo: usize, hi: usize) -> Option<usize> {
    if hi <= lo || x < 0.0 {
        return None;
    }
    let px = (x as usize).min(width - 1);
    let keys = column_keys(px, width, lo, hi.min(row.len()));
    keys.max_by(|&a, &b| row[a].total_cmp(&row[b]))
}

/// Index of the largest weight (the first of ties); 0 for an empty row.
pub fn argmax(row: &[f32]) -> usize {
    row.iter().enumerate().fold((0, f32::NEG_INFINITY), |(bi, bp), (i, &p)| if p > bp { (i, p) } else { (bi, bp) }).0
}

/// The first index where two series differ by more than `threshold`.
pub fn first_parting(a: &[f64], b: &[f64], threshold: f64) -> Option<usize> {
    a.iter().zip(b).position(|(x, y)| (x - y).abs() > threshold)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_cover_every_key_once_and_in_order() {
        for (width, lo, hi) in [(960, 0, 32768), (960, 100, 400), (960, 0, 7), (3, 5, 6)] {
            let mut next = lo;
            for px in 0..width {
                let keys = column_keys(px, width, lo, hi);
                if keys.is_empty() || keys.start < next {
                    // Fewer keys than columns: neighbouring columns share a key.
                    assert!(hi - lo < width, "column {px} of {lo}..{hi}");
                    continue;
                }
                assert_eq!(keys.start, next, "column {px} of {lo}..{hi}");
                next = keys.end;
            }
            assert_eq!(next, hi, "{lo}..{hi} over {width} columns");
        }
    }

    #[test]
    fn heights_are_linear_or_log_and_clamped() {
        assert_eq!(bar_height(0.5, 1.0, false), 0.5);
        assert_eq!(bar_height(1.0, 1.0, true), 1.0);
        assert!((bar_height(1e-4, 1.0, true) - 0.5).abs() < 1e-12);
        assert_eq!(bar_height(0.0, 1.0, true), 0.0);
        assert_eq!(bar_height(0.3, 0.0, false), 0.0);
    }

    #[test]
    fn argmax_and_parting() {
        assert_eq!(argmax(&[0.1, 0.7, 0.7, 0.2]), 1);
        assert_eq!(argmax(&[]), 0);
        assert_eq!(first_parting(&[-1.0, -2.0, -3.0], &[-1.0, -2.005, -3.2], 0.01), Some(2));
        assert_eq!(first_parting(&[-1.0], &[-1.0], 0.01), None);
    }

    #[test]
    fn the_key_under_the_pointer_is_its_columns_heaviest() {
        let mut row = vec![0.0f32; 1000];
        row[503] = 0.9;
        row[500] = 0.1;
        // 10 columns of 100 keys: column 5 holds keys 500..600.
        assert_eq!(key_at(&row, 5.5, 10, 0, 1000), Some(503));
        assert_eq!(key_at(&row, 0.0, 10, 0, 0), None);
    }
}
