//! Building a recall sweep: tasks (each with its parameters), lengths, depths (a list, or a
//! linear or sigmoid grid), seeds, the haystack (built-in filler, noise, or pasted text) and the
//! scoring. The result is the engine's `SweepConfig` — the CLI's format — checked by the engine.

use ctxscope_engine::experiment::Experiment;
use ctxscope_engine::probes::haystack::Haystack;
use ctxscope_engine::probes::scoring::{MatchMode, Scoring};
use ctxscope_engine::probes::sweep::{Depths, NamedExperiment, NamedTask, Spacing, SweepConfig, SWEEP_VERSION};
use ctxscope_engine::probes::tasks::Task;
use leptos::prelude::*;
use serde_json::{json, Value};

use super::param_fields::ParamFields;
use super::signal_select::SignalSelect;

/// The task families, with a label.
/// How the depth axis is given.
const DEPTH_MODES: &[(&str, &str)] =
    &[("linear", "linear grid"), ("sigmoid", "sigmoid grid (ends dense)"), ("list", "a list")];
/// The haystack kinds the form offers.
const HAYSTACKS: &[(&str, &str)] =
    &[("filler", "built-in sentences"), ("noise", "noise (\"The grass is green…\")"), ("text", "your text")];

const TASKS: [(&str, &str); 7] = [
    ("niah", "NIAH (gkamradt)"),
    ("passkey", "passkey (landmark attention)"),
    ("ruler-niah", "RULER NIAH"),
    ("variable-tracking", "variable tracking"),
    ("common-words", "common-words extraction"),
    ("frequent-words", "frequent-words extraction"),
    ("find-and-sort", "find-and-sort (MECW)"),
];

const MATCHES: [MatchMode; 6] = [
    MatchMode::FirstInteger,
    MatchMode::Exact,
    MatchMode::Contains,
    MatchMode::AllOf,
    MatchMode::AnyOf,
    MatchMode::InOrder,
];

fn default_task(name: &str) -> Value {
    serde_json::to_value(serde_json::from_value::<Task>(json!({"task": name})).expect("every task has defaults"))
        .unwrap_or_default()
}

/// Positive whole numbers from "256, 512 1024".
fn numbers(text: &str, what: &str) -> Result<Vec<usize>, String> {
    let v: Vec<usize> = text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|x| !x.is_empty())
        .map(|x| {
            x.parse::<usize>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| format!("{what}: \"{x}\" is not a positive whole number"))
        })
        .collect::<Result<_, _>>()?;
    if v.is_empty() {
        return Err(format!("{what}: give at least one"));
    }
    Ok(v)
}

/// The form's state; [`SweepInputs::config`] turns it into a checked `SweepConfig`.
#[derive(Clone, Copy)]
pub struct SweepInputs {
    pub tasks: RwSignal<Vec<Value>>,
    pub lengths: RwSignal<String>,
    pub depth_mode: RwSignal<String>,
    pub depth_count: RwSignal<String>,
    pub depth_list: RwSignal<String>,
    pub seeds: RwSignal<String>,
    pub haystack: RwSignal<String>,
    pub text: RwSignal<String>,
    pub generated: RwSignal<bool>,
    pub max_tokens: RwSignal<String>,
    /// "task" (each task's own rule) or a match rule's name.
    pub rule: RwSignal<String>,
    pub compare: RwSignal<bool>,
}

impl SweepInputs {
    pub fn new() -> Self {
        Self {
            tasks: RwSignal::new(vec![default_task("passkey")]),
            lengths: RwSignal::new("128, 256".into()),
            depth_mode: RwSignal::new("linear".into()),
            depth_count: RwSignal::new("2".into()),
            depth_list: RwSignal::new("0.1, 0.5, 0.9".into()),
            seeds: RwSignal::new("1".into()),
            haystack: RwSignal::new("filler".into()),
            text: RwSignal::new(String::new()),
            generated: RwSignal::new(false),
            max_tokens: RwSignal::new("16".into()),
            rule: RwSignal::new("task".into()),
            compare: RwSignal::new(false),
        }
    }

    /// Sets the form from a sweep (an opened link's). What the form cannot show — a seed base,
    /// task names, more than two experiments — stays in the link's config, which is what its
    /// Run button runs.
    pub fn set_from(&self, c: &SweepConfig) {
        self.tasks.set(c.tasks.iter().filter_map(|t| serde_json::to_value(&t.task).ok()).collect());
        self.lengths.set(c.lengths.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "));
        match &c.depths {
            Depths::List(v) => {
                self.depth_mode.set("list".into());
                self.depth_list.set(v.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "));
            }
            Depths::Grid { spacing, count } => {
                self.depth_mode.set(if *spacing == Spacing::Sigmoid { "sigmoid" } else { "linear" }.into());
                self.depth_count.set(count.to_string());
            }
        }
        self.seeds.set(c.seeds.to_string());
        match &c.haystack {
            Haystack::Filler => self.haystack.set("filler".into()),
            Haystack::Noise => self.haystack.set("noise".into()),
            Haystack::Text { text } => {
                self.haystack.set("text".into());
                self.text.set(text.clone());
            }
        }
        match &c.scoring {
            Scoring::TeacherForced => self.generated.set(false),
            Scoring::Generated { max_tokens, match_mode } => {
                self.generated.set(true);
                self.max_tokens.set(max_tokens.to_string());
                self.rule.set(match_mode.map_or("task", MatchMode::name).into());
            }
        }
        self.compare.set(c.experiments.len() > 1);
    }

    /// The sweep of these inputs under experiment A (and B when comparing).
    pub fn config(&self, a: &Experiment, b: Option<&Experiment>, max_context: usize) -> Result<SweepConfig, String> {
        let tasks = self
            .tasks
            .get()
            .into_iter()
            .map(|v| serde_json::from_value::<Task>(v).map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        if tasks.is_empty() {
            return Err("pick at least one task".into());
        }
        let mut named: Vec<NamedTask> = Vec::new();
        for t in tasks {
            let base = t.name().to_string();
            let n = named.iter().filter(|x| x.task.name() == base).count();
            named.push(NamedTask { name: if n == 0 { base } else { format!("{base}-{}", n + 1) }, task: t });
        }
        let mut lengths = numbers(&self.lengths.get(), "lengths")?;
        lengths.sort_unstable();
        lengths.dedup();
        if let Some(&l) = lengths.iter().find(|&&l| l > max_context) {
            return Err(format!("a {l}-token context does not fit here: at most {max_context} tokens"));
        }
        let depths = match self.depth_mode.get().as_str() {
            "list" => Depths::List(
                self.depth_list
                    .get()
                    .split(',')
                    .map(|x| x.trim().parse::<f64>().map_err(|_| format!("depths: \"{}\" is not a number", x.trim())))
                    .collect::<Result<_, _>>()?,
            ),
            mode => Depths::Grid {
                spacing: if mode == "sigmoid" { Spacing::Sigmoid } else { Spacing::Linear },
                count: numbers(&self.depth_count.get(), "depth count")?[0].min(101),
            },
        };
        let seeds = numbers(&self.seeds.get(), "seeds")?[0];
        let haystack = match self.haystack.get().as_str() {
            "noise" => Haystack::Noise,
            "text" => Haystack::Text { text: self.text.get() },
            _ => Haystack::Filler,
        };
        let scoring = if self.generated.get() {
            let max_tokens = numbers(&self.max_tokens.get(), "answer tokens")?[0].min(256);
            let rule = self.rule.get();
            Scoring::Generated { max_tokens, match_mode: MATCHES.into_iter().find(|m| m.name() == rule) }
        } else {
            Scoring::TeacherForced
        };
        let mut experiments = vec![NamedExperiment { name: "A".into(), experiment: a.clone() }];
        if self.compare.get() {
            let b = b.ok_or("set experiment B (Experiment view) to compare")?;
            experiments.push(NamedExperiment { name: "B".into(), experiment: b.clone() });
        }
        let config = SweepConfig {
            version: SWEEP_VERSION,
            name: "playground sweep".into(),
            tasks: named,
            experiments,
            lengths,
            depths,
            seeds,
            seed_base: 0,
            haystack,
            scoring,
            entropy_layer: None,
        };
        config.validate().map_err(|e| e.to_string())?;
        let cells = config.cells().len();
        if cells > 5000 {
            return Err(format!("{cells} cells is more than this page runs at once (5 000); run it with `ctxscope sweep` and open the results here"));
        }
        Ok(config)
    }
}

#[component]
pub fn SweepForm(inputs: SweepInputs, #[prop(into)] b_available: Signal<bool>) -> impl IntoView {
    let i = inputs;
    let task_rows = move || {
        i.tasks
            .get()
            .into_iter()
            .enumerate()
            .map(|(k, v)| {
                let name = v["task"].as_str().unwrap_or("?").to_string();
                let object = Signal::derive(move || i.tasks.with(|t| t.get(k).cloned().unwrap_or_default()));
                let on_change = Callback::new(move |nv: Value| i.tasks.update(|t| t[k] = nv));
                view! {
                    <div class="task-row">
                        <strong>{name.clone()}</strong>
                        <button class="small secondary" on:click=move |_| i.tasks.update(|t| { t.remove(k); })>"remove"</button>
                        <ParamFields object=object tag="task" on_change=on_change prefix=format!("task-{k}") />
                    </div>
                }
            })
            .collect_view()
    };
    view! {
        <div class="sweep-form" data-testid="sweep-form">
            <div class="row">
                <label>"add a task "
                    <select data-testid="task-add" on:change=move |ev| {
                        let name = event_target_value(&ev);
                        if !name.is_empty() {
                            i.tasks.update(|t| t.push(default_task(&name)));
                        }
                    }>
                        <option value="" selected=true>"—"</option>
                        {TASKS.into_iter().map(|(v, label)| view! { <option value=v>{label}</option> }).collect_view()}
                    </select>
                </label>
            </div>
            {task_rows}
            <div class="row">
                <label>"lengths (tokens) " <input type="text" size="24" data-testid="sweep-lengths" prop:value=move || i.lengths.get() on:change=move |ev| i.lengths.set(event_target_value(&ev)) /></label>
                <label>"depths "
                    <SignalSelect value=i.depth_mode options=DEPTH_MODES testid="sweep-depth-mode" />
                </label>
                {move || if i.depth_mode.get() == "list" {
                    view! { <input type="text" size="16" data-testid="sweep-depth-list" prop:value=move || i.depth_list.get() on:change=move |ev| i.depth_list.set(event_target_value(&ev)) /> }.into_any()
                } else {
                    view! { <label>"points " <input type="text" size="3" data-testid="sweep-depth-count" prop:value=move || i.depth_count.get() on:change=move |ev| i.depth_count.set(event_target_value(&ev)) /></label> }.into_any()
                }}
                <label>"seeds " <input type="text" size="3" data-testid="sweep-seeds" prop:value=move || i.seeds.get() on:change=move |ev| i.seeds.set(event_target_value(&ev)) /></label>
            </div>
            <div class="row">
                <label>"haystack "
                    <SignalSelect value=i.haystack options=HAYSTACKS testid="sweep-haystack" />
                </label>
                <label>"scoring "
                    <select data-testid="sweep-scoring" on:change=move |ev| i.generated.set(event_target_value(&ev) == "generated")>
                        <option value="teacher-forced" prop:selected=move || !i.generated.get()>"teacher-forced (one pass)"</option>
                        <option value="generated" prop:selected=move || i.generated.get()>"generated (greedy answer, then a match)"</option>
                    </select>
                </label>
                {move || i.generated.get().then(|| view! {
                    <label>"answer tokens " <input type="text" size="3" prop:value=move || i.max_tokens.get() on:change=move |ev| i.max_tokens.set(event_target_value(&ev)) /></label>
                    <label>"match "
                        <select on:change=move |ev| i.rule.set(event_target_value(&ev))>
                            <option value="task" prop:selected=move || i.rule.get() == "task">"each task's own rule"</option>
                            {MATCHES.into_iter().map(|m| view! { <option value=m.name() prop:selected=move || i.rule.get() == m.name()>{m.name()}</option> }).collect_view()}
                        </select>
                    </label>
                })}
                <label title="Runs experiment B on the same grid and draws the difference">
                    <input type="checkbox" data-testid="sweep-compare" prop:disabled=move || !b_available.get() prop:checked=move || i.compare.get()
                        on:change=move |ev| i.compare.set(event_target_checked(&ev)) />
                    " compare with experiment B"
                </label>
            </div>
            {move || (i.haystack.get() == "text").then(|| view! {
                <textarea rows="4" data-testid="sweep-text" placeholder="Paste the text the needles hide in (it is split into sentences and repeated as needed)."
                    prop:value=move || i.text.get() on:change=move |ev| i.text.set(event_target_value(&ev))></textarea>
            })}
        </div>
    }
}
