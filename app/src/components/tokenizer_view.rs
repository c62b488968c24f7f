//! Live tokenization of a text box in the engine worker, with the count against the trained
//! context and tokens that hold part of a character shown as their bytes.

use ctxscope_app::protocol::{EventBody, Piece, RequestBody};
use leptos::prelude::*;

use crate::state::AppState;

/// Tokens drawn as chips; beyond this only the count is shown (the DOM would get heavy).
const MAX_CHIPS: usize = 2000;

/// "e6 9d" for a token that is part of a UTF-8 character.
fn show(p: &Piece) -> String {
    match &p.bytes {
        Some(b) => b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(" "),
        None => p.text.replace(' ', "␣").replace('\n', "⏎"),
    }
}

#[component]
pub fn TokenizerView() -> impl IntoView {
    let s = AppState::get();
    let text = RwSignal::new(String::from("The quick brown fox jumps over the lazy dog."));
    let pieces = RwSignal::new(None::<Result<Vec<Piece>, String>>);
    // Re-tokenize when the text or the model changes; only the newest answer is shown.
    let generation = StoredValue::new(0u32);
    Effect::new(move |_| {
        let t = text.get();
        if s.model.with(Option::is_none) {
            return;
        }
        let mine = generation.get_value() + 1;
        generation.set_value(mine);
        s.client().send(RequestBody::Tokenize { text: t }, move |event| {
            if generation.get_value() != mine {
                return;
            }
            match event {
                EventBody::Tokenized { pieces: p } => pieces.set(Some(Ok(p))),
                EventBody::Error { message, .. } => pieces.set(Some(Err(message))),
                _ => {}
            }
        });
    });
    view! {
        <section class="panel" data-testid="tokenizer">
            <h2>"Tokenizer"</h2>
            <textarea data-testid="tokenizer-input" rows="4" prop:value=move || text.get() on:input=move |ev| text.set(event_target_value(&ev))></textarea>
            {move || match pieces.get() {
                None => view! { <p class="muted">"Load a model to tokenize."</p> }.into_any(),
                Some(Err(e)) => view! { <p class="error">{e}</p> }.into_any(),
                Some(Ok(list)) => {
                    let count = list.len();
                    let trained = s.model.with(|m| m.as_ref().map_or(0, |m| m.spec.context_length));
                    let hidden = count.saturating_sub(MAX_CHIPS);
                    view! {
                        <p><strong data-testid="token-count">{count}</strong> " tokens"
                            {(hidden > 0).then(|| format!(" (showing the first {MAX_CHIPS})"))}</p>
                        {(trained > 0 && count > trained).then(|| view! {
                            <p class="notice" data-testid="token-warning">{format!("{count} tokens is past the model's trained context of {trained}: expect recall to fail unless an experiment extends it.")}</p>
                        })}
                        <div class="tokens" data-testid="token-list">
                            {list.into_iter().take(MAX_CHIPS).map(|p| view! {
                                <span class="token" class:partial=p.bytes.is_some() title=format!("id {}", p.id)>
                                    <span class="piece">{show(&p)}</span>
                                    <span class="id">{p.id}</span>
                                </span>
                            }).collect_view()}
                        </div>
                    }.into_any()
                }
            }}
        </section>
    }
}
