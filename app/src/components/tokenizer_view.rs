//! Live tokenization of a text box with the loaded model's tokenizer.

use leptos::prelude::*;

use crate::state::SharedModel;

/// Tokens drawn as chips; beyond this only the count is shown (the DOM would get heavy).
const MAX_CHIPS: usize = 2000;

#[component]
pub fn TokenizerView(model: RwSignal<Option<SharedModel>>) -> impl IntoView {
    let text = RwSignal::new(String::from("The quick brown fox jumps over the lazy dog."));
    let tokens = Memo::new(move |_| {
        let m = model.get()?;
        Some(text.with(|t| m.tokenizer.encode(t)).map_err(|e| e.to_string()).map(|ids| {
            ids.into_iter().map(|id| (id, m.tokenizer.piece(id))).collect::<Vec<_>>()
        }))
    });
    view! {
        <section class="panel" data-testid="tokenizer">
            <h2>"Tokenizer"</h2>
            <textarea
                data-testid="tokenizer-input"
                rows="4"
                prop:value=move || text.get()
                on:input=move |ev| text.set(event_target_value(&ev))
            ></textarea>
            {move || match tokens.get() {
                None => view! { <p class="muted">"Load a model to tokenize."</p> }.into_any(),
                Some(Err(e)) => view! { <p class="error">{e}</p> }.into_any(),
                Some(Ok(list)) => {
                    let count = list.len();
                    let hidden = count.saturating_sub(MAX_CHIPS);
                    view! {
                        <p><strong data-testid="token-count">{count}</strong> " tokens"
                            {(hidden > 0).then(|| format!(" (showing the first {MAX_CHIPS})"))}</p>
                        <div class="tokens" data-testid="token-list">
                            {list.into_iter().take(MAX_CHIPS).map(|(id, piece)| view! {
                                <span class="token" title=format!("id {id}")>
                                    <span class="piece">{piece.replace(' ', "␣").replace('\n', "⏎")}</span>
                                    <span class="id">{id}</span>
                                </span>
                            }).collect_view()}
                        </div>
                    }.into_any()
                }
            }}
        </section>
    }
}
