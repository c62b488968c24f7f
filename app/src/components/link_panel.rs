//! What an opened share link will do, before anything heavy starts: the model it needs (and
//! whether the loaded one is it, by sha256), the sweep's size, an estimated time on this adapter,
//! the recorded result; a button runs it, and afterwards the verdict: "reproduced" or
//! "differs in N cells" (outlined in the heatmaps).

use ctxscope_engine::share::Verdict;
use leptos::prelude::*;

use crate::state::share::{calibrate, differing, model_check, ModelCheck, Shared};
use crate::state::{human_bytes, AppState, LoadState, RecallRun, RunStatus};

/// "about 3 min" for people.
fn human_seconds(s: f64) -> String {
    if s < 90.0 {
        format!("about {:.0} s", s.max(1.0))
    } else if s < 5400.0 {
        format!("about {:.0} min", s / 60.0)
    } else {
        format!("about {:.1} h", s / 3600.0)
    }
}

#[component]
pub fn LinkPanel() -> impl IntoView {
    let s = AppState::get();
    let shared = Shared::get();
    let run = RecallRun::get();
    let check =
        Memo::new(move |_| shared.opened.with(|l| l.as_ref().map(|l| s.model.with(|m| model_check(l, m.as_ref())))));
    // Once the right model is loaded, time two short passes for the estimate.
    Effect::new(move |_| {
        let has_sweep = shared.opened.with(|l| l.as_ref().is_some_and(|l| l.sweep.is_some()));
        let ok = matches!(check.get(), Some(ModelCheck::Matches | ModelCheck::Any)) && s.model.with(Option::is_some);
        if has_sweep && ok && shared.calibration.get_untracked().is_none() && matches!(s.load.get(), LoadState::Ready) {
            calibrate(s, shared);
        }
    });
    // A finished run of the link's own sweep is judged against its record, and the cells that
    // differ are outlined.
    Effect::new(move |_| {
        if let (RunStatus::Done { complete: true }, Some(r)) = (run.status.get(), run.results.get()) {
            crate::state::share::judge(shared, &r);
        }
    });
    Effect::new(move |_| {
        let cells = shared
            .verdict
            .with(|v| v.as_ref().and_then(|v| v.as_ref().ok()).map(|v| differing(v).to_vec()).unwrap_or_default());
        run.view.with_untracked(|v| {
            if let Some(v) = v {
                v.mark(&cells)
            }
        });
    });
    let running = move || matches!(run.status.get(), RunStatus::Running { .. });
    let start = move |_| crate::state::share::run_link_sweep(s, shared, run);
    move || {
        shared.opened.get().map(|link| {
            let model = link.model.clone().map(|m| {
                let status = match check.get() {
                    Some(ModelCheck::Matches) => view! { <span class="ok" data-testid="link-model-ok">"✓ the loaded model is this file (sha256 matches)"</span> }.into_any(),
                    Some(ModelCheck::Differs { link, loaded }) => view! {
                        <span class="error" data-testid="link-model-differs">
                            "Refused: the link was made with the file whose sha256 is " <code>{link}</code> "; the loaded model's is " <code>{loaded}</code>
                            ". Load the link's model (Model view) to run it."
                        </span>
                    }.into_any(),
                    _ => view! { <span class="muted">"loading… (its sha256 is checked before anything runs)"</span> }.into_any(),
                };
                view! {
                    <p>
                        "Model: " <strong>{m.name.clone().unwrap_or_else(|| "unnamed".into())}</strong>
                        {format!(" · {} download · sha256 {}…", human_bytes(m.bytes), &m.sha256[..12])}
                        {m.url.clone().map(|u| format!(" · from {u}"))} " · " {status}
                    </p>
                }
            });
            let sweep = link.sweep.clone().map(|c| {
                let cells = c.cells().len();
                let tokens: usize = c.cells().iter().map(|k| k.length).sum();
                let config = c.clone();
                let estimate = move || match shared.calibration.get() {
                    Some(cal) => format!(
                        "{} on {} here (timed 128- and 512-token passes; long contexts cost more per token){}",
                        human_seconds(cal.estimate(&config)),
                        cal.backend.name(),
                        if cal.backend.name() == "cpu" { " — the CPU fallback: WebGPU is much faster" } else { "" }
                    ),
                    None => "estimating on this adapter…".into(),
                };
                let runnable = move || matches!(check.get(), Some(ModelCheck::Matches | ModelCheck::Any)) && s.model.with(Option::is_some) && !running();
                view! {
                    <p data-testid="link-plan">
                        {format!(
                            "Sweep \"{}\": {cells} cells ({} experiments × {} tasks × {} lengths up to {} tokens × {} depths × {} seeds), {} prompt tokens in all. ",
                            c.name, c.experiments.len(), c.tasks.len(), c.lengths.len(), c.lengths.iter().max().copied().unwrap_or(0), c.depths.values().len(), c.seeds, tokens
                        )}
                        "Time: " <span data-testid="link-estimate">{estimate}</span>
                    </p>
                    <button data-testid="link-run" prop:disabled=move || !runnable() on:click=start>"Run the link's sweep"</button>
                }
            });
            let record = link.result.clone().map(|r| view! {
                <p class="muted">{format!("Recorded: result_hash {}… on {} with engine {}.", &r.hash[..12], r.backend, r.engine)}</p>
            });
            let verdict = move || shared.verdict.get().map(|v| match v {
                Ok(Verdict::Reproduced) => view! { <p class="ok verdict" data-testid="link-verdict">"Reproduced: every cell and the result hash match the link's record."</p> }.into_any(),
                Ok(ref d @ Verdict::Differs { hash_matches, .. }) => {
                    let n = differing(d).len();
                    view! {
                        <p class="error verdict" data-testid="link-verdict">{if n == 0 && !hash_matches {
                            "Differs: every cell has the same outcome byte but the result hash differs (a score differs below the link's resolution).".to_string()
                        } else {
                            format!("Differs in {n} cell{}: outlined in the heatmaps below.", if n == 1 { "" } else { "s" })
                        }}</p>
                    }.into_any()
                }
                Err(e) => view! { <p class="error" data-testid="link-verdict">{e}</p> }.into_any(),
            });
            view! {
                <section class="panel link-panel" data-testid="link-panel" aria-live="polite">
                    <h2>"Opened a share link"</h2>
                    {model}
                    {if link.sweep.is_none() { Some(view! { <p class="muted">"It sets the experiments and the view; nothing runs until you start it."</p> }) } else { None }}
                    {sweep}
                    {record}
                    {verdict}
                    <button class="small secondary" on:click=move |_| shared.opened.set(None)>"Close"</button>
                </section>
            }
        })
    }
}
