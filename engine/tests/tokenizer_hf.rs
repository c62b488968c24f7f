//! The tokenizer built from GGUF metadata produces exactly HF transformers' ids.

mod common;

use ctxscope_engine::{ModelFile, TextTokenizer};

#[test]
fn all_devset_tokenizer_cases_match_hf() {
    let file = ModelFile::open(common::real_model_path()).unwrap();
    let tok = TextTokenizer::from_model(&file).unwrap();
    let devset = common::devset();
    let cases = devset["tokenizer"].as_array().unwrap();
    assert_eq!(cases.len(), 31);
    let mut failures = Vec::new();
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let expected: Vec<u32> = case["ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
        let ids = tok.encode(text).unwrap();
        if ids != expected {
            failures.push(format!("{text:?}: got {ids:?}, HF {expected:?}"));
        }
        // Byte-level BPE round-trips every text exactly.
        assert_eq!(tok.decode(&ids).unwrap(), text);
    }
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn chat_special_tokens_are_single_ids() {
    let file = ModelFile::open(common::real_model_path()).unwrap();
    let tok = TextTokenizer::from_model(&file).unwrap();
    let ids = tok.encode("<|im_start|>user\nhi<|im_end|>").unwrap();
    assert_eq!(ids.first(), Some(&1));
    assert_eq!(ids.last(), Some(&2));
    assert_eq!(tok.eos_id, Some(2));
    assert!(!tok.add_bos);
}

#[test]
fn tiny_model_tokenizer_applies_merges_and_digit_splitting() {
    let file = ModelFile::from_bytes(common::TinyLlama::default().to_gguf()).unwrap();
    let tok = TextTokenizer::from_model(&file).unwrap();
    let the = tok.encode(" the").unwrap();
    assert_eq!(the.len(), 1, "merges Ġ+t, Ġt+he apply: {the:?}");
    assert_eq!(tok.decode(&the).unwrap(), " the");
    // smollm pre-tokenizer: every digit on its own.
    assert_eq!(tok.encode("2024").unwrap().len(), 4);
    assert_eq!(tok.encode("<|im_start|>").unwrap(), vec![1]);
}

#[test]
fn streaming_decode_waits_for_whole_characters() {
    let file = ModelFile::from_bytes(common::TinyLlama::default().to_gguf()).unwrap();
    let tok = TextTokenizer::from_model(&file).unwrap();
    let ids = tok.encode("é!").unwrap();
    assert_eq!(ids.len(), 3, "é is two byte tokens in the tiny vocab");
    let mut stream = tok.stream();
    assert_eq!(stream.push(ids[0]).unwrap(), "");
    assert_eq!(stream.push(ids[1]).unwrap(), "é");
    assert_eq!(stream.push(ids[2]).unwrap(), "!");
}

/// Byte-level tokens map back to their raw bytes (a token may hold part of a UTF-8 character),
/// and every token's bytes concatenate to the text.
#[test]
fn token_bytes_rebuild_the_text() {
    let file = ctxscope_engine::ModelFile::open(common::real_model_path()).unwrap();
    let tok = ctxscope_engine::TextTokenizer::from_model(&file).unwrap();
    for text in ["Hello, World!", "naïve café — 東京 🚀", " tabs\tand\nnewlines"] {
        let ids = tok.encode(text).unwrap();
        let bytes: Vec<u8> = ids.iter().flat_map(|&id| tok.token_bytes(id).unwrap()).collect();
        assert_eq!(String::from_utf8(bytes).unwrap(), text);
    }
    assert_eq!(tok.token_bytes(0).unwrap(), b"<|endoftext|>");
}
