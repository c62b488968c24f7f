//! Chat templates rendered by minijinja against Python jinja2 with Hugging Face's settings
//! (expected prompts written by `scripts/chat-template-reference.py`), hostile templates, and
//! the default model's own template through its tokenizer.

mod common;

use ctxscope_engine::chat::{ChatMessage, ChatTemplate};
use ctxscope_engine::{Error, ModelFile, TextTokenizer};
use serde_json::Value;

fn template(source: &str) -> Result<ChatTemplate, Error> {
    ChatTemplate::new(source, "<s>", "</s>")
}

#[test]
fn templates_render_exactly_as_jinja2_does() {
    let doc: Value = serde_json::from_str(include_str!("data/chat_templates.json")).unwrap();
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() >= 20);
    for (i, case) in cases.iter().enumerate() {
        let t = &doc["templates"][case["template"].as_str().unwrap()];
        let name = case["template"].as_str().unwrap();
        let chat = ChatTemplate::new(
            t["source"].as_str().unwrap(),
            t["bos_token"].as_str().unwrap(),
            t["eos_token"].as_str().unwrap(),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        let messages: Vec<ChatMessage> = serde_json::from_value(case["messages"].clone()).unwrap();
        let got = chat.render(&messages, case["add_generation_prompt"].as_bool().unwrap());
        match (&case["expected"], &case["error"]) {
            (Value::String(expected), _) => assert_eq!(&got.unwrap(), expected, "case {i} ({name})"),
            (_, Value::String(error)) => {
                let e = got.expect_err(&format!("case {i} ({name}) should fail")).to_string();
                // Long messages are shortened in errors; the start must match.
                let start: String = error.chars().take(40).collect();
                assert!(e.contains(&start), "case {i} ({name}): {e} should say {error}");
            }
            _ => panic!("case {i} has neither expected nor error: run scripts/chat-template-reference.py"),
        }
    }
}

#[test]
fn hostile_and_broken_templates_are_refused_with_the_reason() {
    let endless = "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}";
    let started = std::time::Instant::now();
    let e = template(endless).unwrap_err();
    assert!(matches!(e, Error::ChatTemplate(_)), "{e}");
    assert!(started.elapsed().as_secs() < 10, "the fuel limit stops an endless template");

    let e = template("{% for m in messages %}{{ m.content }").unwrap_err().to_string();
    assert!(e.contains("cannot be compiled") && e.contains("line 1"), "{e}");
    let e = template("{{ messages | no_such_filter }}").unwrap_err().to_string();
    assert!(e.contains("chat template"), "{e}");
    let e = template("{{ bos_token }}hello").unwrap_err().to_string();
    assert!(e.contains("drops the user's messages"), "{e}");
    // No file access: include/import have no loader.
    assert!(template("{% include '/etc/passwd' %}{% for m in messages %}{{ m.content }}{% endfor %}").is_err());
    // Control characters in the template's own error text do not reach the message raw.
    let e = template("{{ raise_exception('bad\u{1b}[31m') }}").unwrap_err().to_string();
    assert!(!e.contains('\u{1b}'), "{e:?}");
}

#[test]
fn the_default_model_chats_in_chatml_and_its_markers_are_single_tokens() {
    let file = ModelFile::open(common::real_model_path()).unwrap();
    let tokenizer = TextTokenizer::from_model(&file).unwrap();
    let chat = ChatTemplate::from_model(&file, &tokenizer).unwrap();
    let prompt = chat.render(&[ChatMessage::new("user", "Hi")], true).unwrap();
    assert_eq!(
        prompt,
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    );
    let ids = tokenizer.encode_prompt(&prompt).unwrap();
    let im_start = tokenizer.encode("<|im_start|>").unwrap();
    let im_end = tokenizer.encode("<|im_end|>").unwrap();
    assert_eq!((im_start.len(), im_end.len()), (1, 1));
    assert_eq!(ids[0], im_start[0]);
    assert_eq!(ids.iter().filter(|&&t| t == im_end[0]).count(), 2);
    assert!(tokenizer.is_stop(im_end[0]), "<|im_end|> ends the assistant's turn");
}
