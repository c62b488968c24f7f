//! A heatmap (depth × length accuracy, or any labelled matrix such as layer × length entropy)
//! that is also a WAI-ARIA grid: each cell is a `gridcell` whose
//! accessible name says its length, depth, value and trials; the arrow keys move between cells;
//! hovering shows score, trials, Wilson interval and answer rank; clicking selects the cell. Each
//! cell reads its own signal, so a streamed result repaints one cell.
//!
//! Styles are set through the CSSOM (`style:` directives), which the page's Content-Security-Policy
//! (`style-src 'self'`, no inline styles) allows.
//!
//! Why HTML rather than a chart library: the grid must be accessible and update cell by cell;
//! a few hundred coloured table cells are cheap, and the SVG and PNG exports are built from the
//! same values.

use leptos::prelude::*;
use wasm_bindgen::JsCast;

use super::palette::{diff_colour, ink_on, score_colour};
use crate::download::{download_text, download_url};
use crate::state::grid::{CellAgg, Grid};

/// What a heatmap shows.
#[derive(Clone)]
pub enum Source {
    /// Accuracy of one grid (cividis, 0 … 1).
    Accuracy(Grid),
    /// B − A accuracy (red–blue, −1 … 1).
    Difference { a: Grid, b: Grid },
    /// A labelled matrix of values (cividis over its range, or red–blue when it is a difference).
    Matrix(Matrix),
}

/// Values on labelled rows and columns, for [`Source::Matrix`].
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix {
    pub rows: Vec<String>,
    pub cols: Vec<String>,
    /// What the rows and columns are ("layer", "length (tokens)").
    pub row_axis: String,
    pub col_axis: String,
    /// `values[row][col]`; None where nothing was measured.
    pub values: Vec<Vec<Option<f64>>>,
    /// Values mapped to the ends of the colour scale.
    pub range: (f64, f64),
    /// A signed difference: red below zero, blue above, white at zero (range ±max).
    pub diverging: bool,
    pub unit: String,
}

impl Source {
    /// Whether a cell is outlined (it differs from a share link's record).
    fn marked(&self, di: usize, li: usize) -> bool {
        match self {
            Self::Accuracy(g) => g.marked.with(|m| m.contains(&(di, li))),
            Self::Difference { a, b } => {
                a.marked.with(|m| m.contains(&(di, li))) || b.marked.with(|m| m.contains(&(di, li)))
            }
            Self::Matrix(_) => false,
        }
    }

    fn row_labels(&self) -> Vec<String> {
        match self {
            Self::Accuracy(g) | Self::Difference { a: g, .. } => {
                g.depths.iter().map(|d| format!("{:.0} %", d * 100.0)).collect()
            }
            Self::Matrix(m) => m.rows.clone(),
        }
    }

    fn col_labels(&self) -> Vec<String> {
        match self {
            Self::Accuracy(g) | Self::Difference { a: g, .. } => g.lengths.iter().map(|&l| short_length(l)).collect(),
            Self::Matrix(m) => m.cols.clone(),
        }
    }

    /// "depth ↓ · length →".
    fn axes(&self) -> (String, String) {
        match self {
            Self::Accuracy(_) | Self::Difference { .. } => ("needle depth".into(), "length (tokens)".into()),
            Self::Matrix(m) => (m.row_axis.clone(), m.col_axis.clone()),
        }
    }

    /// (colour, label, accessible description) of a cell, reactive.
    fn cell(&self, di: usize, li: usize) -> Option<(String, String, String)> {
        if let Self::Matrix(m) = self {
            let v = (*m.values.get(di)?.get(li)?)?;
            let place = format!("{} {}, {} {}", m.row_axis, m.rows[di], m.col_axis, m.cols[li]);
            let (lo, hi) = m.range;
            let colour = if m.diverging {
                diff_colour(v / lo.abs().max(hi.abs()).max(1e-12))
            } else {
                score_colour(if hi > lo { (v - lo) / (hi - lo) } else { 0.5 })
            };
            let label = if m.diverging { format!("{v:+.2}") } else { format!("{v:.2}") };
            return Some((colour, label, format!("{place}: {v:.4} {}", m.unit)));
        }
        let (Self::Accuracy(g) | Self::Difference { a: g, .. }) = self else { return None };
        let (length, depth) = (g.lengths[li], g.depths[di]);
        let place = format!("length {length} tokens, depth {:.0} %", depth * 100.0);
        match self {
            Self::Matrix(_) => None,
            Self::Accuracy(g) => {
                let agg = g.cell(di, li).get();
                let acc = agg.accuracy()?;
                let (lo, hi) = agg.interval();
                let detail = format!(
                    "{place}: accuracy {acc:.2} over {} trial{}, 95 % interval {lo:.2} – {hi:.2}, median answer rank {}",
                    agg.trials,
                    if agg.trials == 1 { "" } else { "s" },
                    agg.median_rank().map_or("–".into(), |r| r.to_string())
                );
                Some((score_colour(acc), format!("{acc:.2}"), detail))
            }
            Self::Difference { a, b } => {
                let (x, y): (CellAgg, CellAgg) = (a.cell(di, li).get(), b.cell(di, li).get());
                let (pa, pb) = (x.accuracy()?, y.accuracy()?);
                let d = pb - pa;
                let detail = format!(
                    "{place}: {} minus {} = {d:+.2} ({pb:.2} vs {pa:.2}, {} and {} trials)",
                    b.experiment, a.experiment, y.trials, x.trials
                );
                Some((diff_colour(d), format!("{d:+.2}"), detail))
            }
        }
    }
}

/// "1k", "16k", "300".
pub fn short_length(n: usize) -> String {
    if n >= 1024 && n.is_multiple_of(1024) {
        format!("{}k", n / 1024)
    } else if n >= 1000 && n.is_multiple_of(1000) {
        format!("{}K", n / 1000)
    } else {
        n.to_string()
    }
}

#[component]
pub fn Heatmap(
    source: Source,
    /// Names the grid for assistive technology and the exports.
    #[prop(into)]
    title: String,
    /// What the heatmap shows and what to look for.
    #[prop(into)]
    caption: String,
    /// Called with (depth index, length index) when a cell is clicked or chosen with Enter.
    #[prop(optional)]
    on_select: Option<Callback<(usize, usize)>>,
    #[prop(into, optional)] testid: String,
) -> impl IntoView {
    let (row_labels, col_labels) = (source.row_labels(), source.col_labels());
    let (rows, cols) = (row_labels.len(), col_labels.len());
    let (row_axis, col_axis) = source.axes();
    let focus = RwSignal::new((0usize, 0usize));
    let tip = RwSignal::new(None::<(String, i32, i32)>);
    let uid = format!("hm-{}", title.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>());
    let cell_id = {
        let uid = uid.clone();
        move |di: usize, li: usize| format!("{uid}-{di}-{li}")
    };
    let focus_cell = {
        let cell_id = cell_id.clone();
        move |di: usize, li: usize| {
            focus.set((di, li));
            let el = web_sys::window().and_then(|w| w.document()).and_then(|d| d.get_element_by_id(&cell_id(di, li)));
            if let Some(el) = el.and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok()) {
                let _ = el.focus();
            }
        }
    };
    let on_key = {
        let focus_cell = focus_cell.clone();
        move |ev: web_sys::KeyboardEvent| {
            let (di, li) = focus.get_untracked();
            let next = match ev.key().as_str() {
                "ArrowUp" => Some((di.saturating_sub(1), li)),
                "ArrowDown" => Some(((di + 1).min(rows - 1), li)),
                "ArrowLeft" => Some((di, li.saturating_sub(1))),
                "ArrowRight" => Some((di, (li + 1).min(cols - 1))),
                "Home" => Some((di, 0)),
                "End" => Some((di, cols - 1)),
                "Enter" | " " => {
                    if let Some(cb) = on_select {
                        cb.run((di, li));
                    }
                    None
                }
                _ => return,
            };
            ev.prevent_default();
            if let Some((d, l)) = next {
                focus_cell(d, l);
            }
        }
    };
    let svg = {
        let source = source.clone();
        let title = title.clone();
        move || heatmap_svg(&source, &title)
    };
    let export_svg = {
        let svg = svg.clone();
        let name = title.clone();
        move |_| download_text(&format!("{}.svg", file_name(&name)), "image/svg+xml", &svg())
    };
    let export_png = {
        let name = title.clone();
        move |_| svg_to_png(&svg(), &format!("{}.png", file_name(&name)))
    };
    let header =
        col_labels.iter().map(|l| view! { <th role="columnheader" scope="col">{l.clone()}</th> }).collect_view();
    let body = (0..rows)
        .map(|di| {
            let cells = (0..cols)
                .map(|li| {
                    let source = source.clone();
                    let marked = {
                        let source = source.clone();
                        Memo::new(move |_| source.marked(di, li))
                    };
                    let value = Memo::new(move |_| source.cell(di, li));
                    let id = cell_id(di, li);
                    let focus_cell = focus_cell.clone();
                    view! {
                        <td
                            role="gridcell"
                            id=id
                            class=move || if marked.get() { "hm-cell hm-differs" } else { "hm-cell" }
                            tabindex=move || if focus.get() == (di, li) { "0" } else { "-1" }
                            aria-label=move || {
                                let text = value.get().map(|v| v.2).unwrap_or_else(|| "not run yet".into());
                                if marked.get() { format!("{text}; differs from the share link's run") } else { text }
                            }
                            style:background-color=move || value.get().map(|(bg, _, _)| bg).unwrap_or_default()
                            style:color=move || value.get().map(|(bg, _, _)| ink_on(&bg)).unwrap_or_default()
                            on:mouseenter=move |ev: web_sys::MouseEvent| {
                                if let Some((_, _, text)) = value.get_untracked() {
                                    tip.set(Some((text, ev.client_x(), ev.client_y())));
                                }
                            }
                            on:mouseleave=move |_| tip.set(None)
                            on:click=move |_| {
                                focus_cell(di, li);
                                if let Some(cb) = on_select {
                                    cb.run((di, li));
                                }
                            }
                        >
                            {move || value.get().map(|v| v.1).unwrap_or_default()}
                        </td>
                    }
                })
                .collect_view();
            view! {
                <tr role="row">
                    <th role="rowheader" scope="row">{row_labels[di].clone()}</th>
                    {cells}
                </tr>
            }
        })
        .collect_view();
    view! {
        <figure class="heatmap" data-testid=testid>
            <div class="hm-title">{title.clone()}</div>
            <table role="grid" aria-label=title.clone() on:keydown=on_key>
                <caption class="sr-only">{title.clone()}</caption>
                <thead><tr role="row"><th role="columnheader" class="corner">{format!("{} ↓ · {} →", row_axis, col_axis)}</th>{header}</tr></thead>
                <tbody>{body}</tbody>
            </table>
            <figcaption>{caption}</figcaption>
            <div class="row">
                <button class="small" on:click=export_svg data-testid="export-svg">"SVG"</button>
                <button class="small" on:click=export_png data-testid="export-png">"PNG"</button>
            </div>
            {move || tip.get().map(|(text, x, y)| view! {
                <div class="tooltip" role="tooltip" style:left=format!("{}px", x + 12) style:top=format!("{}px", y + 12)>{text}</div>
            })}
        </figure>
    }
}

fn file_name(title: &str) -> String {
    title.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect()
}

/// Escapes text for SVG.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The heatmap as a standalone SVG document (the values at the time of the export).
fn heatmap_svg(source: &Source, title: &str) -> String {
    let (rows, cols) = (source.row_labels(), source.col_labels());
    let (row_axis, col_axis) = source.axes();
    let (cw, ch, left, top) = (56.0, 28.0, 70.0, 48.0);
    let (w, h) = (left + cw * cols.len() as f64 + 10.0, top + ch * rows.len() as f64 + 30.0);
    let mut out = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12"><rect width="100%" height="100%" fill="white"/><text x="{left}" y="20" font-size="14" font-weight="bold">{}</text>"#,
        esc(title)
    );
    for (li, l) in cols.iter().enumerate() {
        out.push_str(&format!(
            r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
            left + cw * (li as f64 + 0.5),
            top - 8.0,
            esc(l)
        ));
    }
    for (di, d) in rows.iter().enumerate() {
        let y = top + ch * di as f64;
        out.push_str(&format!(r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#, left - 6.0, y + ch * 0.65, esc(d)));
        for li in 0..cols.len() {
            let x = left + cw * li as f64;
            match source.cell(di, li) {
                Some((bg, label, _)) => out.push_str(&format!(
                    r#"<rect x="{x}" y="{y}" width="{cw}" height="{ch}" fill="{bg}"/><text x="{}" y="{}" text-anchor="middle" fill="{}">{label}</text>"#,
                    x + cw / 2.0,
                    y + ch * 0.65,
                    ink_on(&bg)
                )),
                None => out.push_str(&format!(r##"<rect x="{x}" y="{y}" width="{cw}" height="{ch}" fill="#eee"/>"##)),
            }
        }
    }
    out.push_str(&format!(
        r#"<text x="{left}" y="{}">{} →, {} ↓</text></svg>"#,
        h - 8.0,
        esc(&col_axis),
        esc(&row_axis)
    ));
    out
}

/// Draws `svg` on a canvas and downloads it as a PNG.
fn svg_to_png(svg: &str, name: &str) {
    let Ok(image) = web_sys::HtmlImageElement::new() else { return };
    let url = format!("data:image/svg+xml;charset=utf-8,{}", String::from(js_sys::encode_uri_component(svg)));
    let name = name.to_string();
    let img = image.clone();
    let onload = wasm_bindgen::closure::Closure::once_into_js(move || {
        let Some(document) = web_sys::window().and_then(|w| w.document()) else { return };
        let Some(canvas) =
            document.create_element("canvas").ok().and_then(|c| c.dyn_into::<web_sys::HtmlCanvasElement>().ok())
        else {
            return;
        };
        canvas.set_width(img.natural_width() * 2);
        canvas.set_height(img.natural_height() * 2);
        let Some(ctx) = canvas
            .get_context("2d")
            .ok()
            .flatten()
            .and_then(|c| c.dyn_into::<web_sys::CanvasRenderingContext2d>().ok())
        else {
            return;
        };
        let _ = ctx.scale(2.0, 2.0);
        let _ = ctx.draw_image_with_html_image_element(&img, 0.0, 0.0);
        if let Ok(png) = canvas.to_data_url_with_type("image/png") {
            download_url(&name, &png);
        }
    });
    image.set_onload(Some(onload.unchecked_ref()));
    image.set_src(&url);
}
