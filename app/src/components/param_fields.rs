//! Inputs for the fields of one serde-tagged engine object (a RoPE method, an attention pattern,
//! a probe task), generated from its JSON form: the field names are the serde names, the values
//! the defaults serde filled in, and what is typed is checked by the engine's deserialisation.

use leptos::prelude::*;
use serde_json::{json, Value};

/// The fields of a method or pattern object (all but its tag).
fn fields(v: &Value, tag: &str) -> Vec<(String, Value)> {
    v.as_object()
        .map(|o| o.iter().filter(|(k, _)| k.as_str() != tag).map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

/// Text for an input showing `v`.
fn show(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Array(a) if a.iter().all(Value::is_number) => {
            a.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", ")
        }
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The JSON value typed into a field shaped like `like`.
fn parse_like(text: &str, like: &Value) -> Result<Value, String> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(Value::Null);
    }
    match like {
        Value::Array(a) if a.iter().all(Value::is_number) || a.is_empty() => t
            .split(',')
            .map(|x| x.trim().parse::<f64>().map(|f| json!(f)).map_err(|_| format!("\"{x}\" is not a number")))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Value::String(_) => Ok(json!(t)),
        Value::Array(_) | Value::Object(_) => serde_json::from_str(t).map_err(|e| e.to_string()),
        _ => t
            .parse::<f64>()
            .map(|f| if f.fract() == 0.0 && f.abs() < 9e15 { json!(f as i64) } else { json!(f) })
            .map_err(|_| format!("\"{t}\" is not a number")),
    }
}

/// Inputs for the fields of one method or pattern object; `on_change` gets the edited object.
#[component]
pub fn ParamFields(
    #[prop(into)] object: Signal<Value>,
    tag: &'static str,
    on_change: Callback<Value>,
    #[prop(into)] prefix: String,
) -> impl IntoView {
    let error = RwSignal::new(None::<String>);
    move || {
        let obj = object.get();
        let rows = fields(&obj, tag)
            .into_iter()
            .map(|(name, value)| {
                let testid = format!("{prefix}-{name}");
                let input = if let Value::Bool(b) = value {
                    let (obj, name) = (obj.clone(), name.clone());
                    view! {
                        <input type="checkbox" data-testid=testid prop:checked=b on:change=move |ev| {
                            let mut o = obj.clone();
                            o[name.as_str()] = json!(event_target_checked(&ev));
                            on_change.run(o);
                        } />
                    }
                    .into_any()
                } else {
                    let (obj, name, like) = (obj.clone(), name.clone(), value.clone());
                    let placeholder = if value.is_null() { "the model's default" } else { "" };
                    view! {
                        <input type="text" size="12" data-testid=testid placeholder=placeholder prop:value=show(&value) on:change=move |ev| {
                            match parse_like(&event_target_value(&ev), &like) {
                                Ok(v) => {
                                    error.set(None);
                                    let mut o = obj.clone();
                                    o[name.as_str()] = v;
                                    on_change.run(o);
                                }
                                Err(e) => error.set(Some(format!("{name}: {e}"))),
                            }
                        } />
                    }
                    .into_any()
                };
                view! { <label class="param">{name.replace('_', " ")} " " {input}</label> }
            })
            .collect_view();
        view! {
            <div class="params">{rows}</div>
            {move || error.get().map(|e| view! { <p class="error">{e}</p> })}
        }
    }
}
