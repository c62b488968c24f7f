//! The model's tokenizer, rebuilt from GGUF metadata with the `tokenizers` crate so that ids
//! match HF transformers exactly (tested against `shared/testdata/hf-devset.json`).
//!
//! GGUF stores a gpt2-style byte-level BPE as `tokenizer.ggml.tokens/merges/token_type` plus a
//! pre-tokenizer *name* (`tokenizer.ggml.pre`); the regexes for each name are llama.cpp's
//! (`src/llama-vocab.cpp`, `llm_tokenizer_bpe` constructor).

use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::{AddedToken, SplitDelimiterBehavior, Tokenizer};

use crate::error::{Error, Result};
use crate::gguf::{Meta, ModelFile};

/// `tokenizer.ggml.token_type` values (llama.cpp `llama_token_type`).
const TOKEN_TYPE_CONTROL: i64 = 3;
const TOKEN_TYPE_USER_DEFINED: i64 = 4;

/// llama3-family split regex (llama.cpp LLAMA_VOCAB_PRE_TYPE_LLAMA3): numbers in runs of 1–3.
const LLAMA3_REGEX: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// qwen2-family split regex (LLAMA_VOCAB_PRE_TYPE_QWEN2): single digits.
const QWEN2_REGEX: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

const SUPPORTED_PRE: &str = "gpt2/default, smollm/starcoder/refact/codeshell/exaone/command-r/minerva-7b, llama3/llama-bpe/falcon3/pixtral, qwen2/deepseek-r1-qwen";

/// The pre-tokenizer llama.cpp uses for a `tokenizer.ggml.pre` name.
fn pre_tokenizer_for(pre: &str) -> Result<PreTokenizerWrapper> {
    let byte_level_regex = || ByteLevel::new(false, true, true);
    let split_then_bytes = |regex: &str| -> Result<PreTokenizerWrapper> {
        let split = Split::new(SplitPattern::Regex(regex.to_string()), SplitDelimiterBehavior::Isolated, false)
            .map_err(|e| Error::Tokenizer(format!("pre-tokenizer regex: {e}")))?;
        Ok(Sequence::new(vec![split.into(), ByteLevel::new(false, true, false).into()]).into())
    };
    match pre {
        "default" | "gpt2" | "gpt-2" => Ok(byte_level_regex().into()),
        // GPT-2 regex after splitting every digit on its own.
        "smollm" | "starcoder" | "refact" | "codeshell" | "exaone" | "command-r" | "minerva-7b" => {
            Ok(Sequence::new(vec![Digits::new(true).into(), byte_level_regex().into()]).into())
        }
        "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "pixtral" => split_then_bytes(LLAMA3_REGEX),
        "qwen2" | "deepseek-r1-qwen" => split_then_bytes(QWEN2_REGEX),
        other => Err(Error::UnsupportedTokenizer(format!(
            "pre-tokenizer '{}' (tokenizer.ggml.pre); supported: {SUPPORTED_PRE}",
            crate::error::shown(other)
        ))),
    }
}

/// A model's tokenizer plus the special-token facts generation and scoring need.
#[derive(Clone)]
pub struct TextTokenizer {
    inner: Tokenizer,
    pub bos_id: Option<u32>,
    pub eos_id: Option<u32>,
    /// End-of-turn token, when the GGUF names one apart from end-of-sequence.
    pub eot_id: Option<u32>,
    /// Whether the GGUF asks for BOS before a prompt (`tokenizer.ggml.add_bos_token`).
    pub add_bos: bool,
}

impl std::fmt::Debug for TextTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextTokenizer")
            .field("vocab", &self.inner.get_vocab_size(true))
            .field("bos_id", &self.bos_id)
            .field("eos_id", &self.eos_id)
            .finish()
    }
}

impl TextTokenizer {
    pub fn from_model(file: &ModelFile) -> Result<Self> {
        let meta = Meta(file.metadata());
        let model = meta.str("tokenizer.ggml.model")?;
        if model != "gpt2" {
            return Err(Error::UnsupportedTokenizer(format!(
                "tokenizer model '{}' (tokenizer.ggml.model); ctxscope supports byte-level BPE ('gpt2')",
                crate::error::shown(model)
            )));
        }
        let tokens = meta.string_array("tokenizer.ggml.tokens")?;
        let merges = meta.string_array("tokenizer.ggml.merges")?;
        let types = match meta.get("tokenizer.ggml.token_type") {
            Some(_) => meta.int_array("tokenizer.ggml.token_type")?,
            None => vec![1; tokens.len()],
        };
        if types.len() != tokens.len() {
            return Err(Error::InconsistentModel(format!("{} tokens but {} token types", tokens.len(), types.len())));
        }
        if tokens.len() != file.spec().vocab_size {
            return Err(Error::InconsistentModel(format!(
                "tokenizer has {} tokens but the embedding has {} rows",
                tokens.len(),
                file.spec().vocab_size
            )));
        }
        let vocab: Vocab = tokens.iter().enumerate().map(|(i, t)| (t.to_string(), i as u32)).collect();
        let merges = merges
            .iter()
            .map(|m| {
                m.split_once(' ').map(|(a, b)| (a.to_string(), b.to_string())).ok_or_else(|| {
                    Error::InconsistentModel(format!("BPE merge \"{}\" has no space", crate::error::shown(m)))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .build()
            .map_err(|e| Error::Tokenizer(format!("building BPE: {}", crate::error::shown(&e.to_string()))))?;

        let pre = meta.opt_str("tokenizer.ggml.pre")?.unwrap_or("default");
        let mut inner = Tokenizer::new(bpe);
        inner.with_pre_tokenizer(Some(pre_tokenizer_for(pre)?));
        inner.with_decoder(Some(ByteLevelDecoder::default()));

        let added = |kind: i64, special: bool| -> Vec<AddedToken> {
            tokens
                .iter()
                .zip(&types)
                .filter(|(_, &t)| t == kind)
                .map(|(tok, _)| AddedToken::from(tok.to_string(), special).normalized(false))
                .collect()
        };
        inner.add_special_tokens(&added(TOKEN_TYPE_CONTROL, true));
        inner.add_tokens(&added(TOKEN_TYPE_USER_DEFINED, false));

        let id = |key: &str| -> Result<Option<u32>> {
            Ok(meta.opt_u64(key)?.and_then(|v| u32::try_from(v).ok()).filter(|&v| (v as usize) < tokens.len()))
        };
        Ok(Self {
            inner,
            bos_id: id("tokenizer.ggml.bos_token_id")?,
            eos_id: id("tokenizer.ggml.eos_token_id")?,
            eot_id: id("tokenizer.ggml.eot_token_id")?,
            add_bos: meta.opt_bool("tokenizer.ggml.add_bos_token")?.unwrap_or(false),
        })
    }

    /// Token ids of `text`, without BOS/EOS; special tokens written in the text are recognised.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self.inner.encode(text, false).map_err(|e| Error::Tokenizer(e.to_string()))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Ids of a prompt as the model expects it: BOS first when the GGUF asks for it.
    pub fn encode_prompt(&self, text: &str) -> Result<Vec<u32>> {
        let mut ids = Vec::new();
        if self.add_bos {
            ids.extend(self.bos_id);
        }
        ids.extend(self.encode(text)?);
        Ok(ids)
    }

    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner.decode(ids, false).map_err(|e| Error::Tokenizer(e.to_string()))
    }

    /// The raw bytes of one token: byte-level BPE stores each byte as a printable character
    /// (GPT-2's `bytes_to_unicode` table); special tokens are their text. None for an unknown id.
    pub fn token_bytes(&self, id: u32) -> Option<Vec<u8>> {
        let token = self.inner.id_to_token(id)?;
        let table = byte_decoder();
        Some(
            token
                .chars()
                .map(|c| table.get(&c).copied())
                .collect::<Option<Vec<u8>>>()
                .unwrap_or_else(|| token.into_bytes()),
        )
    }

    /// The chat template the GGUF carries (`tokenizer.chat_template`), if any.
    pub fn chat_template(file: &ModelFile) -> Option<String> {
        Meta(file.metadata()).opt_str("tokenizer.chat_template").ok().flatten().map(str::to_string)
    }

    /// A readable rendering of one token (its decoded text; special tokens as written).
    pub fn piece(&self, id: u32) -> String {
        self.decode(&[id]).unwrap_or_else(|_| format!("<{id}>"))
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Incremental decoder for streaming generation: yields text only once it forms whole
    /// UTF-8 characters, in O(1) per token (the `tokenizers` crate's `DecodeStream`).
    pub fn stream(&self) -> TokenStream<'_> {
        TokenStream { inner: self.inner.decode_stream(false) }
    }

    /// Tokens that end a generated turn: end-of-sequence and, where the GGUF names one,
    /// end-of-turn (`tokenizer.ggml.eot_token_id`, e.g. ChatML's `<|im_end|>`).
    pub fn is_stop(&self, id: u32) -> bool {
        Some(id) == self.eos_id || Some(id) == self.eot_id
    }
}

/// GPT-2's byte ↔ printable-character table, inverted: printable bytes stand for themselves, the
/// other 68 are shifted past U+0100 in order (openai/gpt-2 `encoder.py` `bytes_to_unicode`).
fn byte_decoder() -> &'static std::collections::HashMap<char, u8> {
    static TABLE: std::sync::OnceLock<std::collections::HashMap<char, u8>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
        let mut shifted = 0u32;
        (0..=255u8)
            .map(|b| {
                let c = if printable(b) {
                    char::from(b)
                } else {
                    shifted += 1;
                    char::from_u32(255 + shifted).expect("U+0100 … U+0143")
                };
                (c, b)
            })
            .collect()
    })
}

type DecodeStream<'a> = tokenizers::DecodeStream<
    'a,
    tokenizers::ModelWrapper,
    tokenizers::NormalizerWrapper,
    tokenizers::PreTokenizerWrapper,
    tokenizers::PostProcessorWrapper,
    tokenizers::DecoderWrapper,
>;

/// Streaming decoder over the generated ids (see [`TextTokenizer::stream`]).
pub struct TokenStream<'a> {
    inner: DecodeStream<'a>,
}

impl TokenStream<'_> {
    /// The new text `id` completes (empty while a character is still partial).
    pub fn push(&mut self, id: u32) -> Result<String> {
        Ok(self.inner.step(id).map_err(|e| Error::Tokenizer(e.to_string()))?.unwrap_or_default())
    }
}
