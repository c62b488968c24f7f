//! Greedy generation with a KV cache, streaming text as it is produced. [`GreedyDecoder`] holds
//! the decoding state (argmax, stop tokens, streaming detokenization) so that every driver —
//! [`generate_greedy`], the probes' generated scoring, the browser worker's chat — shares it.

use crate::backend::Session;
use crate::error::{Error, Result};
use crate::score::top_k;
use crate::tokenizer::{TextTokenizer, TokenStream};

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Generation {
    pub prompt_tokens: usize,
    pub ids: Vec<u32>,
    pub text: String,
    /// Whether generation ended on the model's end-of-sequence or end-of-turn token.
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
        let decoder = Self::for_ids(tokenizer, prompt_ids.len(), max_tokens)?;
        Ok((decoder, prompt_ids))
    }

    /// A decoder after a prompt of `prompt_tokens` already-tokenized ids.
    pub fn for_ids(tokenizer: &'t TextTokenizer, prompt_tokens: usize, max_tokens: usize) -> Result<Self> {
        if prompt_tokens == 0 {
            return Err(Error::InvalidInput("the prompt is empty".into()));
        }
        let out = Generation { prompt_tokens, ids: Vec::new(), text: String::new(), stopped_at_eos: false };
        Ok(Self { tokenizer, stream: tokenizer.stream(), max_tokens, out })
    }

    /// Takes the logits after the last fed token; returns the next token to feed, or None when
    /// generation is over. `on_text` receives new text as soon as it forms whole characters.
    pub fn step(&mut self, logits: &[f32], on_text: &mut dyn FnMut(&str)) -> Result<Option<u32>> {
        if self.out.ids.len() >= self.max_tokens {
            return Ok(None);
        }
        let next = top_k(logits, 1)[0] as u32;
        Ok(self.accept(next, on_text)?.then_some(next))
    }

    /// Takes the next token, already picked as the argmax of the last logits (by
    /// [`Session::decode_greedy`], on the GPU or the CPU); returns whether to feed it (false:
    /// generation is over). `on_text` as in [`Self::step`].
    pub fn accept(&mut self, next: u32, on_text: &mut dyn FnMut(&str)) -> Result<bool> {
        if self.out.ids.len() >= self.max_tokens {
            return Ok(false);
        }
        if self.tokenizer.is_stop(next) {
            self.out.stopped_at_eos = true;
            return Ok(false);
        }
        self.out.ids.push(next);
        let piece = self.stream.push(next)?;
        if !piece.is_empty() {
            on_text(&piece);
            self.out.text.push_str(&piece);
        }
        Ok(self.out.ids.len() < self.max_tokens)
    }

    pub fn generated(&self) -> &[u32] {
        &self.out.ids
    }

    pub fn finish(self) -> Generation {
        self.out
    }
}

/// Greedy (argmax) continuation of `prompt`, up to `max_tokens`, stopping at end-of-sequence or
/// end-of-turn. The session is reset first.
pub async fn generate_greedy(
    session: &mut Session<'_>,
    tokenizer: &TextTokenizer,
    prompt: &str,
    max_tokens: usize,
    on_text: &mut dyn FnMut(&str),
) -> Result<Generation> {
    let prompt_ids = tokenizer.encode_prompt(prompt)?;
    generate_ids(session, tokenizer, &prompt_ids, max_tokens, on_text).await
}

/// [`generate_greedy`] from token ids.
pub async fn generate_ids(
    session: &mut Session<'_>,
    tokenizer: &TextTokenizer,
    prompt_ids: &[u32],
    max_tokens: usize,
    on_text: &mut dyn FnMut(&str),
) -> Result<Generation> {
    let mut decoder = GreedyDecoder::for_ids(tokenizer, prompt_ids.len(), max_tokens)?;
    session.reset();
    let logits = session.forward(prompt_ids, &[prompt_ids.len() - 1]).await?;
    if let Some(next) = decoder.step(&logits[0], on_text)? {
        session.decode_greedy(next, &mut |pick| decoder.accept(pick, on_text)).await?;
    }
    Ok(decoder.finish())
}
