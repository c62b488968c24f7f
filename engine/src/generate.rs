//! Greedy generation with a KV cache, streaming text as it is produced.

use crate::error::{Error, Result};
use crate::score::top_k;
use crate::session::Forward;
use crate::tokenizer::TextTokenizer;

#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    pub prompt_tokens: usize,
    pub ids: Vec<u32>,
    pub text: String,
    /// Whether generation ended on the model's end-of-sequence token.
    pub stopped_at_eos: bool,
}

/// Greedy (argmax) continuation of `prompt`, up to `max_tokens`, stopping at EOS. `on_text`
/// receives each new piece of text as soon as it forms whole characters.
pub fn generate_greedy(
    session: &mut dyn Forward,
    tokenizer: &TextTokenizer,
    prompt: &str,
    max_tokens: usize,
    on_text: &mut dyn FnMut(&str),
) -> Result<Generation> {
    let prompt_ids = tokenizer.encode_prompt(prompt)?;
    if prompt_ids.is_empty() {
        return Err(Error::InvalidInput("the prompt is empty".into()));
    }
    session.reset();
    let mut logits = session.forward(&prompt_ids, &[prompt_ids.len() - 1])?;
    let mut stream = tokenizer.stream();
    let mut ids = Vec::new();
    let mut text = String::new();
    let mut stopped_at_eos = false;
    while ids.len() < max_tokens {
        let next = top_k(&logits[0], 1)[0] as u32;
        if Some(next) == tokenizer.eos_id {
            stopped_at_eos = true;
            break;
        }
        ids.push(next);
        let piece = stream.push(next)?;
        if !piece.is_empty() {
            on_text(&piece);
            text.push_str(&piece);
        }
        if ids.len() < max_tokens {
            logits = session.forward(&[next], &[0])?;
        }
    }
    Ok(Generation { prompt_tokens: prompt_ids.len(), ids, text, stopped_at_eos })
}
