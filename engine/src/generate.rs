//! Greedy generation with a KV cache, streaming text as it is produced. [`GreedyDecoder`] holds
//! the decoding state so that the blocking driver ([`generate_greedy`]) and async drivers (the
//! browser's GPU path) share one implementation.

use crate::error::{Error, Result};
use crate::score::top_k;
use crate::session::Forward;
use crate::tokenizer::{TextTokenizer, TokenStream};

#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    pub prompt_tokens: usize,
    pub ids: Vec<u32>,
    pub text: String,
    /// Whether generation ended on the model's end-of-sequence token.
    pub stopped_at_eos: bool,
}

/// Greedy decoding state: feed it the logits of the last position, it says what to run next.
pub struct GreedyDecoder<'t> {
    tokenizer: &'t TextTokenizer,
    stream: TokenStream<'t>,
    max_tokens: usize,
    out: Generation,
}

impl<'t> GreedyDecoder<'t> {
    /// Returns the decoder and the prompt ids to run first (logits wanted at the last one).
    pub fn new(tokenizer: &'t TextTokenizer, prompt: &str, max_tokens: usize) -> Result<(Self, Vec<u32>)> {
        let prompt_ids = tokenizer.encode_prompt(prompt)?;
        if prompt_ids.is_empty() {
            return Err(Error::InvalidInput("the prompt is empty".into()));
        }
        let out = Generation { prompt_tokens: prompt_ids.len(), ids: Vec::new(), text: String::new(), stopped_at_eos: false };
        Ok((Self { tokenizer, stream: tokenizer.stream(), max_tokens, out }, prompt_ids))
    }

    /// Takes the logits after the last fed token; returns the next token to feed, or None when
    /// generation is over. `on_text` receives new text as soon as it forms whole characters.
    pub fn step(&mut self, logits: &[f32], on_text: &mut dyn FnMut(&str)) -> Result<Option<u32>> {
        if self.out.ids.len() >= self.max_tokens {
            return Ok(None);
        }
        let next = top_k(logits, 1)[0] as u32;
        if Some(next) == self.tokenizer.eos_id {
            self.out.stopped_at_eos = true;
            return Ok(None);
        }
        self.out.ids.push(next);
        let piece = self.stream.push(next)?;
        if !piece.is_empty() {
            on_text(&piece);
            self.out.text.push_str(&piece);
        }
        Ok((self.out.ids.len() < self.max_tokens).then_some(next))
    }

    pub fn finish(self) -> Generation {
        self.out
    }
}

/// Greedy (argmax) continuation of `prompt`, up to `max_tokens`, stopping at EOS.
pub fn generate_greedy(
    session: &mut dyn Forward,
    tokenizer: &TextTokenizer,
    prompt: &str,
    max_tokens: usize,
    on_text: &mut dyn FnMut(&str),
) -> Result<Generation> {
    let (mut decoder, prompt_ids) = GreedyDecoder::new(tokenizer, prompt, max_tokens)?;
    session.reset();
    let mut logits = session.forward(&prompt_ids, &[prompt_ids.len() - 1])?;
    while let Some(next) = decoder.step(&logits[0], on_text)? {
        logits = session.forward(&[next], &[0])?;
    }
    Ok(decoder.finish())
}
