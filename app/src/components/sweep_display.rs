//! A sweep drawn: per task, a depth × length heatmap per experiment (and, with two experiments,
//! their difference), the selected cell up close, and the MECW panel. Shared by the Recall view
//! (filling live) and the Results view (an imported document).

use leptos::prelude::*;

use super::cell_detail::CellDetail;
use super::heatmap::{Heatmap, Source};
use super::mecw_panel::MecwPanel;
use crate::state::grid::SweepView;

#[component]
pub fn SweepDisplay(view: SweepView) -> impl IntoView {
    let selected = RwSignal::new(None::<(usize, usize, usize)>);
    let experiments = view.experiments();
    let tasks = view.tasks();
    let trained_ctx = view.trained_ctx;
    let summaries = {
        let v = view.clone();
        Memo::new(move |_| v.summaries())
    };
    let sections = tasks
        .iter()
        .map(|task| {
            let grids: Vec<(usize, _)> = view.grids.iter().enumerate().filter(|(_, g)| &g.task == task).map(|(i, g)| (i, g.clone())).collect();
            let maps = grids
                .iter()
                .map(|(gi, g)| {
                    let gi = *gi;
                    let title = format!("{} · {}", g.experiment, g.task);
                    let caption = format!(
                        "Recall of experiment {} by needle depth (rows) and context length (columns): the fraction of trials answered right, from dark (0) to yellow (1). Look for the length where a column turns dark — and for rows that fail first (lost in the middle).",
                        g.experiment
                    );
                    view! {
                        <Heatmap source=Source::Accuracy(g.clone()) title=title caption=caption testid="heatmap"
                            on_select=Callback::new(move |(di, li)| selected.set(Some((gi, di, li)))) />
                    }
                })
                .collect_view();
            let diff = (grids.len() == 2).then(|| {
                let (a, b) = (grids[0].1.clone(), grids[1].1.clone());
                let title = format!("{} − {} · {}", b.experiment, a.experiment, task);
                let caption = format!(
                    "Where {} recalls better (blue) or worse (red) than {}, cell by cell; white is no change.",
                    b.experiment, a.experiment
                );
                view! { <Heatmap source=Source::Difference { a, b } title=title caption=caption testid="heatmap-diff" /> }
            });
            view! {
                <section class="panel task-maps">
                    <h3>{format!("Recall: {task}")}</h3>
                    <div class="maps">{maps}{diff}</div>
                </section>
            }
        })
        .collect_view();
    let config = view.config.clone();
    let detail_view = view.clone();
    view! {
        <div class="sweep-display" data-testid="sweep-display" data-experiments=experiments.join(",")>
            {sections}
            {move || selected.get().map(|(gi, di, li)| {
                let cells = detail_view.grids[gi].cell(di, li).with(|a| a.cells.clone());
                (!cells.is_empty()).then(|| view! { <CellDetail config=config.clone() cells=cells /> })
            })}
            <MecwPanel summaries=Signal::derive(move || summaries.get()) trained_ctx=trained_ctx />
        </div>
    }
}
