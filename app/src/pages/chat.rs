//! The Chat view: a conversation through the model's own chat template (read from the GGUF;
//! refused with the reason when the app cannot render it), streamed token by token under
//! experiment A, with tokens/s, stop, regenerate, and the conversation's length against the
//! trained context and the experiment's reach. "What did it look at?" sends the conversation
//! and its last answer to the Attention view.

use ctxscope_app::protocol::{EventBody, Input, RequestBody};
use ctxscope_engine::chat::ChatMessage;
use ctxscope_engine::experiment::Plan;
use ctxscope_engine::rope::Reach;
use leptos::prelude::*;

use crate::state::inside::{error_text, AttentionFocus, ChatTurn, Inside, Task};
use crate::state::url::View;
use crate::state::AppState;

#[component]
pub fn ChatPage() -> impl IntoView {
    let s = AppState::get();
    let inside = Inside::get();
    let chat = inside.chat;
    let draft = RwSignal::new(String::new());
    let unavailable = move || s.model.with(|m| m.as_ref().and_then(|m| m.chat_error.clone()));
    let busy = move || chat.task.with(|t| t.running_id().is_some());

    // Sends the conversation as it stands; the answer streams into `streaming`.
    let ask = move || {
        let mut messages = Vec::new();
        let system = chat.system.get_untracked();
        if !system.trim().is_empty() {
            messages.push(ChatMessage::new("system", &system));
        }
        messages.extend(chat.messages.get_untracked());
        chat.streaming.set(Some(String::new()));
        chat.tokens_per_s.set(None);
        let request = RequestBody::Chat {
            backend: s.backend.get_untracked(),
            experiment: s.experiment.get_untracked(),
            messages,
            max_tokens: chat.max_tokens.get_untracked().clamp(1, 4096),
        };
        let id = s.client().send(request, move |event| match event {
            EventBody::Token { text, tokens_per_s, .. } => {
                chat.streaming.update(|t| t.get_or_insert_with(String::new).push_str(&text));
                chat.tokens_per_s.set(Some(tokens_per_s));
                if let Task::Running { id, .. } = chat.task.get_untracked() {
                    chat.task.set(Task::Running { id, note: "answering".into() });
                }
            }
            EventBody::ChatDone { backend, generation, ids, prefill_tokens_per_s, decode_tokens_per_s } => {
                chat.streaming.set(None);
                chat.messages.update(|m| m.push(ChatMessage::new("assistant", &generation.text)));
                chat.last.set(Some(ChatTurn {
                    prompt_tokens: generation.prompt_tokens,
                    answer_tokens: generation.ids.len(),
                    stopped_at_eos: generation.stopped_at_eos,
                    ids,
                    prefill_tokens_per_s,
                    decode_tokens_per_s,
                    backend: backend.name().into(),
                }));
                chat.task.set(Task::Idle);
            }
            EventBody::Error { code, message, remedy, .. } => {
                // What streamed before a stop or a failure stays in the conversation.
                if let Some(partial) = chat.streaming.get_untracked().filter(|t| !t.is_empty()) {
                    chat.messages.update(|m| m.push(ChatMessage::new("assistant", &partial)));
                }
                chat.streaming.set(None);
                chat.task.set(if code == "cancelled" {
                    Task::Idle
                } else {
                    Task::Failed(error_text(&code, &message, &remedy))
                });
            }
            _ => {}
        });
        chat.task.set(Task::Running { id, note: "reading the conversation".into() });
    };
    let send = move || {
        let text = draft.get_untracked();
        if text.trim().is_empty() || busy() {
            return;
        }
        chat.messages.update(|m| m.push(ChatMessage::new("user", &text)));
        draft.set(String::new());
        ask();
    };
    let regenerate = move || {
        if busy() {
            return;
        }
        chat.messages.update(|m| {
            if m.last().is_some_and(|x| x.role == "assistant") {
                m.pop();
            }
        });
        if chat.messages.with_untracked(|m| m.last().is_some_and(|x| x.role == "user")) {
            ask();
        }
    };
    let look = move || {
        let Some(turn) = chat.last.get_untracked() else { return };
        let tokens = turn.ids.len();
        inside.attention.focus.set(Some(AttentionFocus {
            input: Input::Ids { ids: turn.ids },
            label: "the chat's last answer".into(),
            query: tokens - 1,
            tokens,
        }));
        s.view.set(View::Attention);
    };
    // Tokens in the conversation against the trained context and the experiment's reach.
    let context = move || {
        let used = chat.last.with(|t| t.as_ref().map(|t| t.ids.len()))?;
        s.model.with(|m| {
            let m = m.as_ref()?;
            let trained = m.spec.context_length;
            let reach = Plan::new(&s.experiment.get(), &m.spec)
                .ok()
                .map(|p| s.experiment.with(|e| e.rope.reach(p.rope_context())));
            Some((used, trained, reach))
        })
    };
    let on_key = move |ev: web_sys::KeyboardEvent| {
        if ev.key() == "Enter" && !ev.shift_key() {
            ev.prevent_default();
            send();
        }
    };

    view! {
        <section class="panel" data-testid="chat-view">
            <h2>"Chat"</h2>
            {move || unavailable().map(|e| view! {
                <p class="error" data-testid="chat-unavailable">{format!("Chat is unavailable for this model: {e}")}</p>
                <p class="muted">"Generate (Workbench) still runs the model on a prompt you write yourself."</p>
            })}
            <p class="muted">{move || format!("Greedy decoding through the model's own chat template, under experiment A ({} · {}).", s.experiment.with(|e| e.rope.name()), s.experiment.with(|e| e.attention.name()))}</p>
            <details>
                <summary>"System prompt and length"</summary>
                <textarea rows="2" class="wide" data-testid="chat-system" placeholder="Empty: the template's own default (SmolLM2's names the assistant SmolLM)." prop:value=move || chat.system.get() on:input=move |ev| chat.system.set(event_target_value(&ev))></textarea>
                <label>"at most " <input type="number" min="1" max="4096" data-testid="chat-max-tokens" prop:value=move || chat.max_tokens.get().to_string() on:change=move |ev| chat.max_tokens.set(event_target_value(&ev).parse().unwrap_or(200)) /> " new tokens per answer"</label>
            </details>
            <ol class="chat-log" data-testid="chat-log" aria-live="polite">
                {move || chat.messages.get().into_iter().map(|m| view! {
                    <li class=format!("chat-msg chat-{}", m.role) data-role=m.role.clone()><span class="chat-role">{m.role.clone()}</span><div class="chat-text">{m.content.clone()}</div></li>
                }).collect_view()}
                {move || chat.streaming.get().map(|t| view! {
                    <li class="chat-msg chat-assistant streaming" data-testid="chat-streaming"><span class="chat-role">"assistant"</span><div class="chat-text">{t}"▍"</div></li>
                })}
            </ol>
            <div class="row">
                <textarea rows="2" class="wide" data-testid="chat-input" placeholder="Message (Enter sends, Shift+Enter for a new line)" prop:disabled=move || unavailable().is_some()
                    prop:value=move || draft.get() on:input=move |ev| draft.set(event_target_value(&ev)) on:keydown=on_key></textarea>
            </div>
            <div class="row">
                <button data-testid="chat-send" prop:disabled=move || busy() || unavailable().is_some() || s.model.with(Option::is_none) on:click=move |_| send()>"Send"</button>
                <button class="secondary" data-testid="chat-stop" prop:disabled=move || !busy() on:click=move |_| if let Some(id) = chat.task.get_untracked().running_id() { s.client().cancel(id) }>"Stop"</button>
                <button class="secondary" data-testid="chat-regenerate" prop:disabled=move || busy() || !chat.messages.with(|m| m.iter().any(|x| x.role == "user")) on:click=move |_| regenerate()>"Regenerate"</button>
                <button class="secondary" data-testid="chat-look" prop:disabled=move || busy() || chat.last.with(Option::is_none) on:click=move |_| look()>"What did it look at?"</button>
                <button class="secondary" data-testid="chat-clear" prop:disabled=busy on:click=move |_| { chat.messages.set(Vec::new()); chat.last.set(None); }>"Clear"</button>
                {move || chat.tokens_per_s.get().map(|r| view! { <span class="muted" data-testid="chat-rate">{format!("{r:.1} tokens/s")}</span> })}
                {move || match chat.task.get() {
                    Task::Running { note, .. } => Some(view! { <span class="muted">{note}"…"</span> }.into_any()),
                    Task::Failed(e) => Some(view! { <span class="error" data-testid="chat-error">{e}</span> }.into_any()),
                    Task::Idle => None,
                }}
            </div>
            {move || chat.last.get().map(|t| view! {
                <p class="muted" data-testid="chat-stats" data-stopped-at-eos=t.stopped_at_eos.to_string()>{format!(
                    "Last answer: {} tokens ({}), prompt {} tokens at {:.0} tokens/s, answer at {:.1} tokens/s on {}.",
                    t.answer_tokens,
                    if t.stopped_at_eos { "ended by the end-of-turn token" } else { "stopped at the length limit" },
                    t.prompt_tokens, t.prefill_tokens_per_s, t.decode_tokens_per_s, t.backend
                )}</p>
            })}
            {move || context().map(|(used, trained, reach)| {
                let reach_tokens = match reach { Some(Reach::Tokens(n)) => Some(n), _ => None };
                let scale = reach_tokens.unwrap_or(trained).max(trained).max(used) as f64;
                let reach_text = match reach {
                    Some(Reach::Tokens(n)) => format!("the experiment reaches {n}"),
                    Some(Reach::Unbounded) => "the experiment sets no limit".into(),
                    Some(Reach::Unstated) => "the experiment states no reach".into(),
                    None => String::new(),
                };
                view! {
                    <div class="context-bar" data-testid="chat-context" data-used=used.to_string() data-trained=trained.to_string()>
                        <progress max=scale value=used as f64 aria-label="conversation length against the context"></progress>
                        <span>{format!("{used} tokens used of the {trained} the model was trained on{}{}.", if reach_text.is_empty() { "" } else { "; " }, reach_text)}</span>
                        {(used > trained).then(|| view! { <span class="notice">" Past the trained context: expect the model to lose track."</span> })}
                    </div>
                }
            })}
        </section>
    }
}
