//! A chart drawn by Apache ECharts (vendored from npm into `dist/`) through `charming`, with its
//! tooltips, a caption that says what to look for, and PNG export.
//!
//! Why ECharts (through charming) rather than plotters: the views need hover tooltips, log axes,
//! bands, reference lines and image export on every chart; ECharts has all of them, plotters
//! would leave the interaction to us. Heatmaps, which must also be accessible grids that repaint
//! one cell at a time, are HTML (`heatmap.rs`).

use std::cell::Cell;

use charming::component::{Axis, Grid as ChartGrid, Legend, Title};
use charming::element::{
    AxisType, LineStyle, LineStyleType, MarkLine, MarkLineData, MarkLineVariant, NameLocation, Tooltip, Trigger,
};
use charming::{Chart, Echarts, WasmRenderer};
use leptos::prelude::*;
use wasm_bindgen::{JsCast, JsValue};

use crate::download::download_url;

thread_local! {
    static NEXT_ID: Cell<u32> = const { Cell::new(0) };
}

fn next_id() -> String {
    NEXT_ID.with(|n| {
        n.set(n.get() + 1);
        format!("echart-{}", n.get())
    })
}

/// The chart as a PNG data URL (white background, 2× pixels).
fn png_of(echarts: &Echarts) -> Option<String> {
    let instance: &JsValue = echarts.as_ref();
    let get = js_sys::Reflect::get(instance, &"getDataURL".into()).ok()?.dyn_into::<js_sys::Function>().ok()?;
    let options = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&options, &"type".into(), &"png".into());
    let _ = js_sys::Reflect::set(&options, &"pixelRatio".into(), &2.into());
    let _ = js_sys::Reflect::set(&options, &"backgroundColor".into(), &"#fff".into());
    get.call1(instance, &options).ok()?.as_string()
}

/// A named axis: linear, or logarithmic in `log_base`.
pub fn axis(name: &str, log_base: Option<f64>) -> Axis {
    let a = Axis::new().name(name).name_location(NameLocation::Middle);
    match log_base {
        Some(b) => a.type_(AxisType::Log).log_base(b).name_gap(if b == 10.0 { 52 } else { 28 }),
        None => a.type_(AxisType::Value).name_gap(30),
    }
}

/// A titled x–y chart with axis tooltips and the legend below; either axis may be log (base 10).
pub fn base_chart(title: &str, x_name: &str, y_name: &str, x_log: bool, y_log: bool) -> Chart {
    chart_with_axes(title, axis(x_name, x_log.then_some(10.0)), axis(y_name, y_log.then_some(10.0)), false)
}

/// A titled chart on the given axes; `many_series` puts the legend on one scrolling line and
/// turns animation off (dozens of lines would otherwise cover the plot and redraw slowly).
pub fn chart_with_axes(title: &str, x: Axis, y: Axis, many_series: bool) -> Chart {
    let legend = Legend::new().top("bottom");
    let legend = if many_series { legend.type_(charming::component::LegendType::Scroll) } else { legend };
    let chart = Chart::new()
        .title(Title::new().text(title).left("center"))
        .tooltip(Tooltip::new().trigger(Trigger::Axis))
        .legend(legend)
        .grid(ChartGrid::new().left(96).right(60).top(40).bottom(70))
        .x_axis(x)
        .y_axis(y);
    if many_series {
        chart.animation(false)
    } else {
        chart
    }
}

/// A dashed reference line at `value` (horizontal: on the y axis).
pub fn guide(value: f64, name: &str, horizontal: bool) -> MarkLine {
    let data = MarkLineData::new().name(name);
    let data = if horizontal { data.y_axis(value) } else { data.x_axis(value) };
    MarkLine::new()
        .silent(true)
        .line_style(LineStyle::new().type_(LineStyleType::Dashed))
        .data(vec![MarkLineVariant::Simple(data)])
}

#[component]
pub fn EChart(
    /// The chart to draw; it redraws when this changes.
    #[prop(into)]
    chart: Signal<Chart>,
    /// File name of the export (without extension).
    #[prop(into)]
    name: String,
    /// What the chart shows and what to look for.
    #[prop(into)]
    caption: String,
    #[prop(default = 340)] height: u32,
    /// A test id for the figure.
    #[prop(into, optional)]
    testid: String,
) -> impl IntoView {
    let id = next_id();
    let node = NodeRef::<leptos::html::Div>::new();
    let instance: StoredValue<Option<Echarts>, LocalStorage> = StoredValue::new_local(None);
    let error = RwSignal::new(None::<String>);
    let div_id = id.clone();
    Effect::new(move |_| {
        let chart = chart.get();
        if node.get().is_none() {
            return;
        }
        instance.update_value(|slot| match slot {
            Some(e) => WasmRenderer::update(e, &chart),
            None => match WasmRenderer::new_opt(None, Some(height)).render(&div_id, &chart) {
                Ok(e) => *slot = Some(e),
                Err(e) => error.set(Some(format!("{e:?}"))),
            },
        });
    });
    let export = move |_| {
        let url = instance.with_value(|e| e.as_ref().and_then(png_of));
        if let Some(url) = url {
            download_url(&format!("{name}.png"), &url);
        }
    };
    view! {
        <figure class="chart" data-testid=testid>
            <div id=id node_ref=node class="chart-canvas" style:height=format!("{height}px")></div>
            <figcaption>{caption}</figcaption>
            {move || error.get().map(|e| view! { <p class="error">"The chart could not be drawn: " {e}</p> })}
            <button class="small" on:click=export data-testid="export-png">"PNG"</button>
        </figure>
    }
}
