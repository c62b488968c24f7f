//! Chat prompts through the model's own chat template (`tokenizer.chat_template`, a Jinja
//! template) rendered the way Hugging Face's `apply_chat_template` renders it: `trim_blocks`,
//! `lstrip_blocks`, loop controls, `raise_exception`, Python string methods, and `messages`,
//! `add_generation_prompt`, `bos_token`, `eos_token` in the context
//! (transformers `utils/chat_template_utils.py`, `_compile_jinja_template`).
//!
//! The template comes from an untrusted file: minijinja (no file or network access) renders it
//! under a fuel limit, and a template that fails on a plain conversation is refused at load
//! with the reason, rather than producing a prompt the model was never trained on.
//! Tested against Python's jinja2 in `engine/tests/chat_template.rs`.

use minijinja::{context, Environment, Error as JinjaError, ErrorKind};
use serde::{Deserialize, Serialize};

use crate::error::{shown, Error, Result};
use crate::gguf::ModelFile;
use crate::tokenizer::TextTokenizer;

/// Template instructions one render may execute: far above any real chat template on a long
/// conversation, and the end of a template written to loop forever.
const FUEL: u64 = 5_000_000;

/// One turn of a conversation. `role` is "system", "user" or "assistant" (templates may know
/// others).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: &str, content: &str) -> Self {
        Self { role: role.into(), content: content.into() }
    }
}

/// A compiled chat template with the special tokens it refers to.
pub struct ChatTemplate {
    env: Environment<'static>,
    bos_token: String,
    eos_token: String,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate").field("bos_token", &self.bos_token).field("eos_token", &self.eos_token).finish()
    }
}

impl ChatTemplate {
    /// The GGUF's chat template, with its BOS/EOS token texts.
    ///
    /// Errors: [`Error::ChatTemplate`] when the file has none, or it cannot be compiled or
    /// fails on a plain system/user/assistant/user conversation.
    pub fn from_model(file: &ModelFile, tokenizer: &TextTokenizer) -> Result<Self> {
        let source = TextTokenizer::chat_template(file).ok_or_else(|| {
            Error::ChatTemplate("this GGUF carries no chat template (tokenizer.chat_template)".into())
        })?;
        let text = |id: Option<u32>| id.map(|id| tokenizer.piece(id)).unwrap_or_default();
        Self::new(&source, &text(tokenizer.bos_id), &text(tokenizer.eos_id))
    }

    /// Compiles `source` and checks it renders a plain conversation.
    ///
    /// Errors: [`Error::ChatTemplate`] naming the template's own error (line, message).
    pub fn new(source: &str, bos_token: &str, eos_token: &str) -> Result<Self> {
        let mut env = Environment::new();
        env.set_syntax(
            minijinja::syntax::SyntaxConfig::builder()
                .trim_blocks(true)
                .lstrip_blocks(true)
                .build()
                .map_err(|e| Error::ChatTemplate(e.to_string()))?,
        );
        env.set_fuel(Some(FUEL));
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", |message: String| -> std::result::Result<String, JinjaError> {
            Err(JinjaError::new(ErrorKind::InvalidOperation, message))
        });
        // A fixed date: a rendered prompt must not depend on the day (Llama 3.x templates ask).
        env.add_function("strftime_now", |_format: String| "26 Jul 2024".to_string());
        env.add_template_owned("chat", source.to_string()).map_err(|e| template_error("cannot be compiled", &e))?;
        let template = Self { env, bos_token: bos_token.into(), eos_token: eos_token.into() };
        let probe = [
            ChatMessage::new("system", "S"),
            ChatMessage::new("user", "U1"),
            ChatMessage::new("assistant", "A1"),
            ChatMessage::new("user", "U2"),
        ];
        let rendered = template.render(&probe, true).or_else(|_| template.render(&probe[1..], true))?;
        if !rendered.contains("U1") || !rendered.contains("U2") {
            return Err(Error::ChatTemplate("the template drops the user's messages from the prompt".into()));
        }
        Ok(template)
    }

    /// The prompt text for `messages`, ending with the assistant's turn opener when
    /// `add_generation_prompt`. Special tokens appear as text (the tokenizer recognises them).
    ///
    /// Errors: [`Error::ChatTemplate`] when the template rejects the conversation (e.g. roles
    /// that do not alternate) or runs out of fuel.
    pub fn render(&self, messages: &[ChatMessage], add_generation_prompt: bool) -> Result<String> {
        let template = self.env.get_template("chat").map_err(|e| template_error("is missing", &e))?;
        template
            .render(context! {
                messages => minijinja::value::Serde(messages),
                add_generation_prompt => add_generation_prompt,
                bos_token => &self.bos_token,
                eos_token => &self.eos_token,
            })
            .map_err(|e| template_error("failed", &e))
    }
}

fn template_error(what: &str, e: &JinjaError) -> Error {
    let line = e.line().map(|l| format!(" (line {l})")).unwrap_or_default();
    let detail = e.detail().map(str::to_string).unwrap_or_else(|| e.kind().to_string());
    Error::ChatTemplate(format!("the model's chat template {what}{line}: {}", shown(&detail)))
}
