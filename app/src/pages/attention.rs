//! The Attention view: where one head looks. Pick a layer, a head and a query position in a
//! long prompt and see the query's weight on every key — log or linear, the head's attention
//! sinks and window shaded, zoomed to any key range, each key's token and weight on hover, the
//! row's sum shown — or, for a prompt of at most 512 tokens, the head's full query × key map.

use ctxscope_app::protocol::{EventBody, Input, Piece, RequestBody, Rows};
use ctxscope_engine::experiment::Plan;
use ctxscope_engine::probes::haystack::Haystack;
use leptos::prelude::*;

use ctxscope_app::plot::{argmax, key_at};

use crate::components::attention_canvas::{draw_map, draw_row, RowMarks};
use crate::download::{download_text, download_url};
use crate::state::inside::{error_text, AttentionResult, Inside, Task};
use crate::state::AppState;

/// Longest prompt whose full map the view draws (512² weights).
pub const MAX_MAP_TOKENS: usize = 512;
/// Pixel columns of the row canvas.
const ROW_WIDTH: u32 = 960;

fn now_ms() -> f64 {
    web_sys::window().and_then(|w| w.performance()).map_or(0.0, |p| p.now())
}

/// A token as one line of text: newlines and tabs shown as escapes.
fn visible(piece: &Piece) -> String {
    piece.text.replace('\n', "\\n").replace('\t', "\\t")
}

/// Canvas x of a mouse event, in canvas pixels.
fn canvas_x(ev: &web_sys::MouseEvent, canvas: &web_sys::HtmlCanvasElement) -> f64 {
    let shown = canvas.client_width().max(1) as f64;
    ev.offset_x() as f64 * canvas.width() as f64 / shown
}

#[component]
pub fn AttentionPage() -> impl IntoView {
    let s = AppState::get();
    let state = Inside::get().attention;
    let spec = move || s.model.with(|m| m.as_ref().map(|m| m.spec.clone()));
    let source =
        RwSignal::new(if state.focus.with_untracked(Option::is_some) { "chat" } else { "haystack" }.to_string());
    let tokens = RwSignal::new(1024usize);
    let text = RwSignal::new(String::from("The first words of a prompt often soak up attention. Paste any text here."));
    let layer = RwSignal::new(0usize);
    let head = RwSignal::new(0usize);
    let query = RwSignal::new(String::from("last"));
    let log = RwSignal::new(true);
    let zoom = RwSignal::new(None::<(usize, usize)>);
    // The map row shown in the row canvas (index into the map's rows).
    let map_row = RwSignal::new(None::<usize>);
    let hover = RwSignal::new(None::<String>);
    let drawn_ms = RwSignal::new(None::<f64>);
    let drag = RwSignal::new(None::<f64>);
    let row_canvas = NodeRef::<leptos::html::Canvas>::new();
    let map_canvas = NodeRef::<leptos::html::Canvas>::new();

    // Another view asked to look at something: select it.
    Effect::new(move |_| {
        if let Some(f) = state.focus.get() {
            source.set("chat".into());
            query.set(f.query.to_string());
        }
    });

    let input = move || -> Result<Input, String> {
        match source.get_untracked().as_str() {
            "text" => Ok(Input::Text { text: text.get_untracked() }),
            "chat" => state
                .focus
                .get_untracked()
                .map(|f| f.input)
                .ok_or_else(|| "no conversation has been sent here yet (Chat: “What did it look at?”)".into()),
            _ => Ok(Input::Haystack { haystack: Haystack::Filler, tokens: tokens.get_untracked().max(1), seed: 0 }),
        }
    };
    // The input's length when it is known before running it.
    let known_len = move || match source.get().as_str() {
        "haystack" => Some(tokens.get()),
        "chat" => state.focus.with(|f| f.as_ref().map(|f| f.tokens)),
        _ => state.result.with(|r| r.as_ref().map(|r| r.pieces.len())),
    };
    let run = move |full: bool| {
        let input = match input() {
            Ok(i) => i,
            Err(e) => return state.task.set(Task::Failed(e)),
        };
        let rows = if full {
            Rows::All
        } else {
            match query.get_untracked().trim() {
                "last" | "" => Rows::Last,
                other => match other.parse::<usize>() {
                    Ok(position) => Rows::At { position },
                    Err(_) => {
                        return state
                            .task
                            .set(Task::Failed(format!("query position \"{other}\" is not a number or “last”")))
                    }
                },
            }
        };
        let experiment = s.experiment.get_untracked();
        let request = RequestBody::AttentionMap {
            backend: s.backend.get_untracked(),
            experiment: experiment.clone(),
            input,
            layer: layer.get_untracked(),
            head: head.get_untracked(),
            rows,
        };
        let id = s.client().send(request, move |event| match event {
            EventBody::Map { backend, map, pieces, seconds } => {
                zoom.set(None);
                map_row.set((map.count > 1).then(|| map.count - 1));
                state.result.set(Some(AttentionResult {
                    map,
                    pieces,
                    experiment: experiment.clone(),
                    backend: backend.name().into(),
                    seconds,
                }));
                state.task.set(Task::Idle);
            }
            EventBody::Error { code, message, remedy, .. } => {
                state.task.set(Task::Failed(error_text(&code, &message, &remedy)))
            }
            _ => {}
        });
        state.task.set(Task::Running {
            id,
            note: if full { "every query of the prompt".into() } else { "the prompt up to the query".into() },
        });
    };

    // The row on display: (query position, weights).
    let shown = Memo::new(move |_| {
        state.result.with(|r| {
            let r = r.as_ref()?;
            let i = map_row.get().unwrap_or(0).min(r.map.rows.len().checked_sub(1)?);
            Some((r.map.first + i, r.map.rows[i].clone()))
        })
    });
    // The head's mask under the experiment the result was made with.
    let marks = Memo::new(move |_| {
        let (q, row) = shown.get()?;
        let r = state.result.get()?;
        let spec = spec()?;
        let plan = Plan::new(&r.experiment, &spec).ok()?;
        let mask = *plan.masks().get(r.map.layer * spec.head_count + r.map.head)?;
        let window_start = (mask.window > 0).then(|| (q + 1).saturating_sub(mask.window as usize));
        Some((mask.sinks as usize, window_start, argmax(&row), mask.window))
    });
    let range = move || {
        let (q, _) = shown.get()?;
        Some(zoom.get().map(|(a, b)| (a.min(q), b.min(q + 1).max(a.min(q) + 1))).unwrap_or((0, q + 1)))
    };
    // Redraw the row whenever what it shows changes.
    Effect::new(move |_| {
        let (Some(canvas), Some((_, row)), Some((lo, hi))) = (row_canvas.get(), shown.get(), range()) else { return };
        let (sinks, window_start, argmax, _) = marks.get().unwrap_or((0, None, argmax(&row), 0));
        let t0 = now_ms();
        draw_row(&canvas, &row, lo, hi, log.get(), &RowMarks { sinks, window_start, argmax });
        drawn_ms.set(Some(now_ms() - t0));
    });
    Effect::new(move |_| {
        let Some(canvas) = map_canvas.get() else { return };
        state.result.with(|r| {
            if let Some(r) = r.as_ref().filter(|r| r.map.count > 1) {
                draw_map(&canvas, &r.map.rows, r.map.first + r.map.count, log.get());
            }
        });
    });

    let on_move = move |ev: web_sys::MouseEvent| {
        let (Some(canvas), Some((_, row)), Some((lo, hi))) =
            (row_canvas.get_untracked(), shown.get_untracked(), range())
        else {
            return;
        };
        let Some(key) = key_at(&row, canvas_x(&ev, &canvas), canvas.width() as usize, lo, hi) else { return };
        let piece = state
            .result
            .with_untracked(|r| r.as_ref().and_then(|r| r.pieces.get(key).map(visible)))
            .unwrap_or_default();
        hover.set(Some(format!("key {key} «{piece}»: p = {:.6}", row[key])));
    };
    let on_down = move |ev: web_sys::MouseEvent| {
        if let Some(canvas) = row_canvas.get_untracked() {
            drag.set(Some(canvas_x(&ev, &canvas)));
        }
    };
    let on_up = move |ev: web_sys::MouseEvent| {
        let (Some(canvas), Some(x0), Some((lo, hi))) = (row_canvas.get_untracked(), drag.get_untracked(), range())
        else {
            return;
        };
        drag.set(None);
        let x1 = canvas_x(&ev, &canvas);
        if (x1 - x0).abs() < 4.0 {
            return;
        }
        let w = canvas.width() as f64;
        let key = |x: f64| lo + ((x.clamp(0.0, w) / w) * (hi - lo) as f64) as usize;
        let (a, b) = (key(x0.min(x1)), key(x0.max(x1)).max(key(x0.min(x1)) + 1));
        zoom.set(Some((a, b)));
    };
    let on_map_click = move |ev: web_sys::MouseEvent| {
        let Some(canvas) = map_canvas.get_untracked() else { return };
        let shown_h = canvas.client_height().max(1) as f64;
        let i = (ev.offset_y() as f64 * canvas.height() as f64 / shown_h) as usize;
        let rows = state.result.with_untracked(|r| r.as_ref().map_or(0, |r| r.map.rows.len()));
        if i < rows {
            map_row.set(Some(i));
            zoom.set(None);
        }
    };
    let export_png = move |_| {
        if let Some(url) = row_canvas.get_untracked().and_then(|c| c.to_data_url_with_type("image/png").ok()) {
            download_url("ctxscope-attention-row.png", &url);
        }
    };
    let export_map_png = move |_| {
        if let Some(url) = map_canvas.get_untracked().and_then(|c| c.to_data_url_with_type("image/png").ok()) {
            download_url("ctxscope-attention-map.png", &url);
        }
    };
    let export_csv = move |_| {
        let Some((q, row)) = shown.get_untracked() else { return };
        let csv = state.result.with_untracked(|r| {
            let r = r.as_ref()?;
            let mut out = format!("# layer {} head {} query {q}\nkey,token,p\n", r.map.layer, r.map.head);
            for (j, p) in row.iter().enumerate() {
                let token = r.pieces.get(j).map(visible).unwrap_or_default().replace('"', "\"\"");
                out.push_str(&format!("{j},\"{token}\",{p}\n"));
            }
            Some(out)
        });
        if let Some(csv) = csv {
            download_text("ctxscope-attention-row.csv", "text/csv", &csv);
        }
    };
    let export_json = move |_| {
        let json = state.result.with_untracked(|r| r.as_ref().map(|r| serde_json::json!({ "experiment": r.experiment, "backend": r.backend, "map": r.map, "tokens": r.pieces.iter().map(|p| p.text.clone()).collect::<Vec<_>>() })));
        if let Some(json) = json {
            download_text(
                "ctxscope-attention.json",
                "application/json",
                &serde_json::to_string(&json).unwrap_or_default(),
            );
        }
    };
    let on_file = move |ev: leptos::ev::Event| {
        use wasm_bindgen::JsCast;
        let input = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok());
        if let Some(file) = input.and_then(|i| i.files()).and_then(|f| f.get(0)) {
            leptos::task::spawn_local(async move {
                let text = wasm_bindgen_futures::JsFuture::from(file.text()).await.ok().and_then(|t| t.as_string());
                match text
                    .ok_or_else(|| "could not be read".to_string())
                    .and_then(|t| ctxscope_app::attention_doc::parse(&t))
                {
                    Ok(doc) => {
                        zoom.set(None);
                        map_row.set((doc.map.count > 1).then(|| doc.map.count - 1));
                        let pieces = doc.tokens.into_iter().map(|text| Piece { id: 0, text, bytes: None }).collect();
                        state.result.set(Some(AttentionResult {
                            map: doc.map,
                            pieces,
                            experiment: doc.experiment,
                            backend: format!("{} (from {})", doc.backend, file.name()),
                            seconds: 0.0,
                        }));
                        state.task.set(Task::Idle);
                    }
                    Err(e) => state.task.set(Task::Failed(format!("{}: {e}", file.name()))),
                }
            });
        }
    };
    let heads = move || spec().map_or(1, |s| s.head_count);
    let layers = move || spec().map_or(1, |s| s.block_count);
    let number =
        |signal: RwSignal<usize>| move |ev: web_sys::Event| signal.set(event_target_value(&ev).parse().unwrap_or(0));

    view! {
        <section class="panel" data-testid="attention-view">
            <h2>"Attention"</h2>
            <p class="muted">"One query's attention over every key before it, for one head of one layer, under experiment A."</p>
            <div class="row">
                <label><input type="radio" name="attention-source" prop:checked=move || source.get() == "haystack" on:change=move |_| source.set("haystack".into()) /> " filler text of "
                    <input type="number" min="1" max="131072" size="7" data-testid="attention-tokens" prop:value=move || tokens.get().to_string() on:change=number(tokens) /> " tokens"</label>
                <label><input type="radio" name="attention-source" data-testid="attention-source-text" prop:checked=move || source.get() == "text" on:change=move |_| source.set("text".into()) /> " your text"</label>
                <label><input type="radio" name="attention-source" data-testid="attention-source-chat" prop:disabled=move || state.focus.with(Option::is_none) prop:checked=move || source.get() == "chat" on:change=move |_| source.set("chat".into()) />
                    {move || state.focus.get().map_or(" the chat (none yet)".to_string(), |f| format!(" {} ({} tokens)", f.label, f.tokens))}</label>
            </div>
            {move || (source.get() == "text").then(|| view! {
                <textarea rows="4" class="wide" data-testid="attention-text" prop:value=move || text.get() on:input=move |ev| text.set(event_target_value(&ev))></textarea>
            })}
            <div class="row">
                <label>"or open a row: " <input type="file" accept=".json,application/json" data-testid="attention-file" on:change=on_file
                    title="the JSON this view exports, or the output of ctxscope score --attention-row L,H,P" /></label>
            </div>
            <div class="row">
                <label>"layer " <input type="number" min="0" max=move || (layers() - 1).to_string() data-testid="attention-layer" prop:value=move || layer.get().to_string() on:change=number(layer) /></label>
                <label>"head " <input type="number" min="0" max=move || (heads() - 1).to_string() data-testid="attention-head" prop:value=move || head.get().to_string() on:change=number(head) /></label>
                <label>"query position " <input type="text" size="7" data-testid="attention-query" prop:value=move || query.get() on:input=move |ev| query.set(event_target_value(&ev)) /></label>
                <button data-testid="attention-run" prop:disabled=move || state.task.with(|t| t.running_id().is_some()) || s.model.with(Option::is_none) on:click=move |_| run(false)>"Show the row"</button>
                <button class="secondary" data-testid="attention-full" title=format!("every query × key of a prompt of at most {MAX_MAP_TOKENS} tokens")
                    prop:disabled=move || state.task.with(|t| t.running_id().is_some()) || s.model.with(Option::is_none) || known_len().is_none_or(|n| n > MAX_MAP_TOKENS)
                    on:click=move |_| run(true)>"Full map (≤ 512 tokens)"</button>
                <button class="secondary" prop:disabled=move || state.task.with(|t| t.running_id().is_none()) on:click=move |_| if let Some(id) = state.task.get_untracked().running_id() { s.client().cancel(id) }>"Cancel"</button>
                {move || match state.task.get() {
                    Task::Running { note, .. } => Some(view! { <span class="muted" data-testid="attention-progress">"Running: " {note}</span> }.into_any()),
                    Task::Failed(e) => Some(view! { <span class="error" data-testid="attention-error">{e}</span> }.into_any()),
                    Task::Idle => None,
                }}
            </div>
        </section>
        {move || state.result.with(|r| r.is_some()).then(|| view! {
            <section class="panel" data-testid="attention-results">
                {move || {
                    let r = state.result.get()?;
                    let (q, row) = shown.get()?;
                    let sum: f64 = row.iter().map(|&p| p as f64).sum();
                    let am = argmax(&row);
                    let (sinks, _, _, window) = marks.get().unwrap_or((0, None, am, 0));
                    let piece = r.pieces.get(am).map(visible).unwrap_or_default();
                    Some(view! {
                        <p data-testid="attention-summary">
                            {format!("Layer {}, head {}, query {q} «{}» over {} keys on {} ({:.2} s). ", r.map.layer, r.map.head, r.pieces.get(q).map(visible).unwrap_or_default(), row.len(), r.backend, r.seconds)}
                            <span data-testid="row-sum" data-sum=sum.to_string()>{format!("Σ p = {sum:.6}")}</span>
                            " · "
                            <span class="argmax" data-testid="row-argmax" data-key=am.to_string()>{format!("argmax: key {am} «{piece}», p = {:.4}", row[am])}</span>
                            {format!(" · mask: {}{}", if window > 0 { format!("window {window}") } else { "full".into() }, if sinks > 0 { format!(", {sinks} sinks") } else { String::new() })}
                        </p>
                    })
                }}
                <div class="row">
                    <label><input type="radio" name="attention-scale" data-testid="attention-log" prop:checked=move || log.get() on:change=move |_| log.set(true) /> " log scale (10⁻⁸ … 1)"</label>
                    <label><input type="radio" name="attention-scale" data-testid="attention-linear" prop:checked=move || !log.get() on:change=move |_| log.set(false) /> " linear"</label>
                    <button class="small secondary" data-testid="zoom-all" on:click=move |_| zoom.set(None)>"all keys"</button>
                    <button class="small secondary" data-testid="zoom-start" on:click=move |_| zoom.set(Some((0, 64)))>"first 64"</button>
                    <button class="small secondary" data-testid="zoom-end" on:click=move |_| if let Some((q, _)) = shown.get_untracked() { zoom.set(Some(((q + 1).saturating_sub(256), q + 1))) }>"last 256"</button>
                    {move || range().map(|(a, b)| view! { <span class="muted" data-testid="attention-range">{format!("keys {a} … {}; drag across the chart to zoom", b - 1)}</span> })}
                </div>
                <figure class="chart">
                    <canvas node_ref=row_canvas width=ROW_WIDTH height="240" class="attention-row" data-testid="attention-canvas"
                        role="img" aria-label="attention weight of the query on each key; the numbers are in the table below"
                        on:mousemove=on_move on:mouseleave=move |_| hover.set(None) on:mousedown=on_down on:mouseup=on_up></canvas>
                    <figcaption>
                        {move || hover.get().unwrap_or_else(|| "Hover a key for its token and weight.".into())}
                        " Orange: the head's attention sinks; green: its window; the vermilion mark is the argmax. "
                        {move || drawn_ms.get().map(|ms| view! { <span data-testid="row-draw-ms" data-ms=ms.to_string()>{format!("Drawn in {ms:.1} ms.")}</span> })}
                    </figcaption>
                    <div class="row">
                        <button class="small" data-testid="export-png" on:click=export_png>"PNG"</button>
                        <button class="small" data-testid="export-csv" on:click=export_csv>"row CSV"</button>
                        <button class="small" data-testid="export-json" on:click=export_json>"JSON"</button>
                    </div>
                </figure>
                {move || {
                    let (_, row) = shown.get()?;
                    let pieces = state.result.with(|r| r.as_ref().map(|r| r.pieces.clone()))?;
                    let mut order: Vec<usize> = (0..row.len()).collect();
                    order.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
                    let am = argmax(&row);
                    Some(view! {
                        <table class="kv" data-testid="attention-top">
                            <caption>"The ten heaviest keys"</caption>
                            <tr><th>"key"</th><th>"token"</th><th>"p"</th></tr>
                            {order.into_iter().take(10).map(|j| view! {
                                <tr class:argmax=j == am data-key=j.to_string()><td>{j}</td><td><code>{pieces.get(j).map(visible).unwrap_or_default()}</code></td><td>{format!("{:.6}", row[j])}</td></tr>
                            }).collect_view()}
                        </table>
                    })
                }}
                {move || state.result.with(|r| r.as_ref().is_some_and(|r| r.map.count > 1)).then(|| view! {
                    <figure class="chart">
                        <canvas node_ref=map_canvas class="attention-map" data-testid="attention-map" role="img"
                            aria-label="the head's full attention map: queries down, keys across" on:click=on_map_click></canvas>
                        <figcaption>"Queries down, keys across (cividis: dark low, yellow high; grey: future keys). Click a row to show it above. A bright first column is an attention sink; a bright diagonal band, a local head."</figcaption>
                        <button class="small" data-testid="export-map-png" on:click=export_map_png>"PNG"</button>
                    </figure>
                })}
            </section>
        })}
    }
}
