//! A `<select>` bound to a string signal: the option whose value the signal holds is selected,
//! and choosing one sets the signal. (The form views had the same five lines per select.)

use leptos::prelude::*;

/// `options` are (value, label) pairs; `testid` becomes `data-testid` when given.
#[component]
pub fn SignalSelect(
    value: RwSignal<String>,
    options: &'static [(&'static str, &'static str)],
    #[prop(optional)] testid: Option<&'static str>,
) -> impl IntoView {
    view! {
        <select data-testid=testid on:change=move |ev| value.set(event_target_value(&ev))>
            {options
                .iter()
                .map(|&(v, label)| view! { <option value=v prop:selected=move || value.with(|s| s == v)>{label}</option> })
                .collect_view()}
        </select>
    }
}
