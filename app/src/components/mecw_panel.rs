//! The MECW panel: for each task, accuracy against length (log axis) per experiment with its
//! 95 % Wilson band, the τ line, the MECW of each preset marked, the ratio to the trained
//! context — and the same numbers as a table.

use charming::component::{Axis, Grid as ChartGrid, Legend, Title};
use charming::element::{
    AxisType, ItemStyle, LineStyle, LineStyleType, MarkLine, MarkLineData, MarkLineVariant, NameLocation, Tooltip,
    Trigger,
};
use charming::series::Line;
use charming::Chart;
use ctxscope_engine::probes::mecw::RULER_THRESHOLD;
use ctxscope_engine::probes::sweep::TaskSummary;
use leptos::prelude::*;

use super::chart::EChart;
use super::heatmap::short_length;

/// One colour per experiment (Okabe–Ito, distinguishable with colour-blindness).
pub const SERIES_COLOURS: [&str; 6] = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9"];

/// The chart of one task's curves.
pub fn mecw_chart(task: &str, curves: &[TaskSummary], trained_ctx: usize) -> Chart {
    let mut marks = vec![MarkLineVariant::Simple(
        MarkLineData::new().name(format!("τ = {RULER_THRESHOLD}")).y_axis(RULER_THRESHOLD),
    )];
    marks.push(MarkLineVariant::Simple(MarkLineData::new().name("trained context").x_axis(trained_ctx as f64)));
    let mut chart = Chart::new()
        .title(Title::new().text(format!("{task}: accuracy against length")).left("center"))
        .tooltip(Tooltip::new().trigger(Trigger::Axis))
        .legend(Legend::new().top("bottom"))
        .grid(ChartGrid::new().left(60).right(30).top(40).bottom(70))
        .x_axis(
            Axis::new()
                .type_(AxisType::Log)
                .log_base(2)
                .name("context length (tokens, log)")
                .name_location(NameLocation::Middle)
                .name_gap(28),
        )
        .y_axis(
            Axis::new()
                .type_(AxisType::Value)
                .min(0)
                .max(1)
                .name("accuracy")
                .name_location(NameLocation::Middle)
                .name_gap(40),
        );
    for (i, s) in curves.iter().enumerate() {
        let colour = SERIES_COLOURS[i % SERIES_COLOURS.len()];
        let points = |f: &dyn Fn(&ctxscope_engine::probes::mecw::AccuracyPoint) -> f64| -> Vec<Vec<f64>> {
            s.curve.iter().map(|p| vec![p.length as f64, f(p)]).collect()
        };
        // The 95 % interval as two dashed bounds (stacked area bands do not stack on a log axis).
        let bound = |name: &str, f: &dyn Fn(&ctxscope_engine::probes::mecw::AccuracyPoint) -> f64| {
            Line::new()
                .name(format!("{} 95 % interval", s.experiment))
                .data(points(f))
                .show_symbol(false)
                .line_style(LineStyle::new().type_(LineStyleType::Dashed).width(1).opacity(0.6).color(colour))
                .item_style(ItemStyle::new().color(colour))
                .z(1)
                .id(format!("{}-{name}", s.experiment))
        };
        chart = chart.series(bound("low", &|p| p.ci_low)).series(bound("high", &|p| p.ci_high));
        let mut line = Line::new()
            .name(format!("{} accuracy", s.experiment))
            .data(points(&|p| p.accuracy))
            .symbol_size(7)
            .line_style(LineStyle::new().color(colour).width(2))
            .item_style(ItemStyle::new().color(colour));
        let mut m = Vec::new();
        if let Some(n) = s.mecw.mecw_absolute {
            m.push(MarkLineVariant::Simple(
                MarkLineData::new().name(format!("{} MECW {}", s.experiment, short_length(n))).x_axis(n as f64),
            ));
        }
        if let Some(n) = s.mecw.mecw_relative.filter(|&r| Some(r) != s.mecw.mecw_absolute) {
            m.push(MarkLineVariant::Simple(
                MarkLineData::new()
                    .name(format!("{} relative MECW {}", s.experiment, short_length(n)))
                    .x_axis(n as f64),
            ));
        }
        if i == 0 {
            m.append(&mut marks);
        }
        if !m.is_empty() {
            line = line.mark_line(
                MarkLine::new().silent(true).line_style(LineStyle::new().type_(LineStyleType::Dashed)).data(m),
            );
        }
        chart = chart.series(line);
    }
    chart
}

fn ratio(m: Option<usize>, r: Option<f64>) -> String {
    match (m, r) {
        (Some(m), Some(r)) => format!("{m} ({:.0} % of L)", r * 100.0),
        _ => "none".into(),
    }
}

#[component]
pub fn MecwPanel(#[prop(into)] summaries: Signal<Vec<TaskSummary>>, trained_ctx: usize) -> impl IntoView {
    let tasks = Memo::new(move |_| {
        let mut t: Vec<String> = summaries.with(|s| s.iter().map(|x| x.task.clone()).collect());
        t.dedup();
        t
    });
    view! {
        <section class="panel" data-testid="mecw">
            <h3>"Maximum effective context window"</h3>
            <p class="muted">"MECW: the longest length at which accuracy, and accuracy at every shorter length tried, reaches τ — RULER's 0.856 (absolute), or 0.85 × the shortest length's accuracy (relative). Intervals are 95 % Wilson intervals over the cells at each length."</p>
            {move || tasks.get().into_iter().map(|task| {
                let t = task.clone();
                let curves = Signal::derive(move || summaries.with(|s| s.iter().filter(|x| x.task == t).cloned().collect::<Vec<_>>()));
                let t2 = task.clone();
                view! {
                    <EChart chart=Signal::derive(move || mecw_chart(&t2, &curves.get(), trained_ctx)) name=format!("mecw-{task}") testid="mecw-chart"
                        caption="Accuracy per length with its interval; the dashed lines mark τ, the trained context and where each experiment's accuracy last stays above τ. A curve that falls past the trained context is a window the model does not really use." />
                }
            }).collect_view()}
            <table class="kv mecw-table" data-testid="mecw-table">
                <tr><th>"task"</th><th>"experiment"</th><th>"accuracy by length (95 % interval)"</th><th>"MECW, τ = 0.856"</th><th>"MECW, relative"</th></tr>
                {move || summaries.get().into_iter().map(|s| view! {
                    <tr>
                        <td>{s.task.clone()}</td>
                        <td>{s.experiment.clone()}</td>
                        <td>{s.curve.iter().map(|p| format!("{}: {:.2} ({:.2}–{:.2}, n={})", short_length(p.length), p.accuracy, p.ci_low, p.ci_high, p.cases)).collect::<Vec<_>>().join(" · ")}</td>
                        <td>{ratio(s.mecw.mecw_absolute, s.mecw.absolute_ratio)}</td>
                        <td>{format!("{} at τ = {:.3}", ratio(s.mecw.mecw_relative, s.mecw.relative_ratio), s.mecw.relative_threshold)}</td>
                    </tr>
                }).collect_view()}
            </table>
        </section>
    }
}
