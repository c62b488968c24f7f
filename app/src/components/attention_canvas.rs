//! Canvas drawings of attention: one query's row over every key (binned to the canvas's pixel
//! columns, so a 32k-key row costs one pass over the row and ~1000 rectangles), and the full
//! query × key map of a short prompt (one pixel per weight through an ImageData).
//!
//! Why a canvas rather than the chart library: a row has up to the whole context's keys and a
//! map up to 512² weights; ECharts would build one graphic element per value. The numbers stay
//! accessible beside the canvas (row sum, argmax, the top keys as a table).

use ctxscope_app::plot::{bar_height, column_keys};
use wasm_bindgen::{Clamped, JsCast};

/// The canvas's 2-D context.
pub fn context_2d(canvas: &web_sys::HtmlCanvasElement) -> Option<web_sys::CanvasRenderingContext2d> {
    canvas.get_context("2d").ok().flatten()?.dyn_into().ok()
}

/// What a row drawing marks besides the weights.
pub struct RowMarks {
    /// Keys 0 .. sinks are the head's attention sinks (always visible).
    pub sinks: usize,
    /// The window's first key (None: no window).
    pub window_start: Option<usize>,
    pub argmax: usize,
}

/// Draws `row` (keys `lo .. hi`) onto the canvas; returns nothing drawable when the range is
/// empty. Colours: weights Okabe–Ito blue, sinks shaded orange, the window shaded blue-green,
/// the argmax a vermilion marker.
pub fn draw_row(canvas: &web_sys::HtmlCanvasElement, row: &[f32], lo: usize, hi: usize, log: bool, marks: &RowMarks) {
    let Some(ctx) = context_2d(canvas) else { return };
    let (w, h) = (canvas.width() as usize, canvas.height() as f64);
    let (top, bottom) = (14.0, 20.0);
    let plot = h - top - bottom;
    ctx.set_fill_style_str("#fff");
    ctx.fill_rect(0.0, 0.0, w as f64, h);
    let hi = hi.min(row.len());
    if hi <= lo {
        return;
    }
    let x_of = |key: usize| (key - lo) as f64 / (hi - lo) as f64 * w as f64;
    // Shading: sinks, then the window.
    if marks.sinks > lo {
        ctx.set_fill_style_str("rgba(230, 159, 0, 0.18)");
        ctx.fill_rect(0.0, top, x_of(marks.sinks.min(hi)), plot);
    }
    if let Some(start) = marks.window_start.filter(|&s| s < hi) {
        let a = x_of(start.max(lo));
        ctx.set_fill_style_str("rgba(0, 158, 115, 0.15)");
        ctx.fill_rect(a, top, w as f64 - a, plot);
    }
    let max = row[lo..hi].iter().fold(0.0f32, |m, &p| m.max(p)) as f64;
    ctx.set_fill_style_str("#0072B2");
    for px in 0..w {
        let keys = column_keys(px, w, lo, hi);
        if keys.is_empty() {
            continue;
        }
        let p = row[keys].iter().fold(0.0f32, |m, &p| m.max(p)) as f64;
        let bar = bar_height(p, max, log) * plot;
        if bar > 0.0 {
            ctx.fill_rect(px as f64, top + plot - bar, 1.0, bar.max(1.0));
        }
    }
    if (lo..hi).contains(&marks.argmax) {
        let x = x_of(marks.argmax) + 0.5;
        ctx.set_fill_style_str("#D55E00");
        ctx.begin_path();
        ctx.move_to(x, top - 1.0);
        ctx.line_to(x - 5.0, top - 10.0);
        ctx.line_to(x + 5.0, top - 10.0);
        ctx.close_path();
        ctx.fill();
    }
    // Key ticks along the bottom.
    ctx.set_fill_style_str("#333");
    ctx.set_font("11px sans-serif");
    ctx.fill_rect(0.0, top + plot, w as f64, 1.0);
    for t in 0..=4 {
        let key = lo + (hi - 1 - lo) * t / 4;
        let x = x_of(key).clamp(2.0, w as f64 - 40.0);
        let _ = ctx.fill_text(&key.to_string(), x, h - 5.0);
    }
}

/// 256 cividis colours, index 0 dark blue … 255 yellow.
fn cividis_lut() -> Vec<[u8; 3]> {
    (0..256)
        .map(|i| {
            let c = colorous::CIVIDIS.eval_continuous(i as f64 / 255.0);
            [c.r, c.g, c.b]
        })
        .collect()
}

/// Draws rows of a map (row i: the query at `first + i`, keys 0 ..= first + i) with one pixel
/// per weight on a canvas of `keys` × `rows.len()` pixels; keys after the query stay light grey.
pub fn draw_map(canvas: &web_sys::HtmlCanvasElement, rows: &[Vec<f32>], keys: usize, log: bool) {
    let Some(ctx) = context_2d(canvas) else { return };
    let (w, h) = (keys.max(1), rows.len().max(1));
    canvas.set_width(w as u32);
    canvas.set_height(h as u32);
    let lut = cividis_lut();
    let max = rows.iter().flatten().fold(0.0f32, |m, &p| m.max(p)) as f64;
    let mut data = vec![0u8; w * h * 4];
    for (i, row) in rows.iter().enumerate() {
        for j in 0..w {
            let rgb = match row.get(j) {
                Some(&p) => lut[(bar_height(p as f64, max, log) * 255.0).round() as usize],
                None => [238, 238, 238],
            };
            let at = (i * w + j) * 4;
            data[at..at + 3].copy_from_slice(&rgb);
            data[at + 3] = 255;
        }
    }
    if let Ok(image) = web_sys::ImageData::new_with_u8_clamped_array_and_sh(Clamped(&data), w as u32, h as u32) {
        let _ = ctx.put_image_data(&image, 0.0, 0.0);
    }
}
