//! Shared test helpers: paths to the real model and HF reference data, and a tiny random llama
//! GGUF built in memory with candle's writer (fast enough for property tests).
#![allow(dead_code)]

use std::path::PathBuf;

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The real default model; tests that need it fail (not skip) when it is absent.
pub fn real_model_path() -> PathBuf {
    let path = std::env::var_os("CTXSCOPE_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("public/models").join(ctxscope_engine::DEFAULT_MODEL_FILE));
    assert!(path.exists(), "{} is missing: run scripts/fetch-model.sh", path.display());
    path
}

/// HF transformers reference values (`shared/testdata/hf-devset.json`, beside the repo).
pub fn devset() -> serde_json::Value {
    let path = std::env::var_os("CTXSCOPE_DEVSET")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared/testdata/hf-devset.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("hf-devset.json is valid JSON")
}

/// Deterministic pseudo-random values in [-scale, scale) (the engine's SplitMix64).
pub fn random_values(seed: u64, n: usize, scale: f32) -> Vec<f32> {
    let mut rng = ctxscope_engine::rng::SplitMix64(seed);
    (0..n).map(|_| rng.signed_unit() * scale).collect()
}

/// Shape and quantization of a tiny llama model.
#[derive(Clone, Debug)]
pub struct TinyLlama {
    pub layers: usize,
    pub d: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub ffn: usize,
    pub weight_type: GgmlDType,
    pub embedding_type: GgmlDType,
    pub tied: bool,
    pub seed: u64,
    pub architecture: String,
    /// Metadata added after (and overriding) the defaults.
    pub extra_metadata: Vec<(String, Value)>,
    /// Extra tensors: name, values, type.
    pub extra_tensors: Vec<(String, Vec<f32>, GgmlDType)>,
    /// Multiplies every projection weight (1: a well-behaved model).
    pub weight_scale: f32,
    /// attn_v's type when it differs from `weight_type` (Q4_K_M files store V in Q6_K).
    pub v_type: Option<GgmlDType>,
}

impl Default for TinyLlama {
    fn default() -> Self {
        Self {
            layers: 2,
            d: 64,
            heads: 4,
            kv_heads: 2,
            ffn: 96,
            weight_type: GgmlDType::Q4_1,
            embedding_type: GgmlDType::Q8_0,
            tied: true,
            seed: 7,
            architecture: "llama".into(),
            extra_metadata: Vec::new(),
            extra_tensors: Vec::new(),
            weight_scale: 1.0,
            v_type: None,
        }
    }
}

/// The byte-level alphabet plus a few merges and two control tokens.
pub fn tiny_vocab() -> (Vec<String>, Vec<String>, Vec<i32>) {
    let mut alphabet: Vec<char> = tokenizers::pre_tokenizers::byte_level::ByteLevel::alphabet().into_iter().collect();
    alphabet.sort();
    let mut tokens: Vec<String> = vec!["<|endoftext|>".into(), "<|im_start|>".into(), "<|im_end|>".into()];
    let mut types = vec![3, 3, 3];
    tokens.extend(alphabet.iter().map(|c| c.to_string()));
    types.extend(alphabet.iter().map(|_| 1));
    let merges = vec!["h e", "Ġ t", "Ġt he", "l l", "e ll", "h ell"];
    for m in &merges {
        tokens.push(m.replace(' ', ""));
        types.push(1);
    }
    (tokens, merges.into_iter().map(String::from).collect(), types)
}

impl TinyLlama {
    pub fn head_dim(&self) -> usize {
        self.d / self.heads
    }

    /// Serialises the model as GGUF bytes.
    pub fn to_gguf(&self) -> Vec<u8> {
        let (tokens, merges, types) = tiny_vocab();
        let vocab = tokens.len();
        let hd = self.head_dim();
        let mut seed = self.seed;
        let mut tensor = |shape: &[usize], dtype: GgmlDType, scale: f32| -> QTensor {
            seed += 1;
            let n: usize = shape.iter().product();
            let t = Tensor::from_vec(random_values(seed, n, scale), shape, &Device::Cpu).unwrap();
            QTensor::quantize(&t, dtype).unwrap()
        };
        let norm = |d: usize, seed: u64| -> QTensor {
            let v: Vec<f32> = random_values(seed, d, 0.2).iter().map(|x| 1.0 + x).collect();
            QTensor::quantize(&Tensor::from_vec(v, d, &Device::Cpu).unwrap(), GgmlDType::F32).unwrap()
        };
        let mut named: Vec<(String, QTensor)> = vec![
            ("token_embd.weight".into(), tensor(&[vocab, self.d], self.embedding_type, 1.0)),
            ("output_norm.weight".into(), norm(self.d, self.seed + 1000)),
        ];
        if !self.tied {
            named.push(("output.weight".into(), tensor(&[vocab, self.d], self.weight_type, 0.3)));
        }
        let w = self.weight_type;
        for l in 0..self.layers {
            let b = |n: &str| format!("blk.{l}.{n}.weight");
            let s = 1.0 / (self.d as f32).sqrt() * 1.7 * self.weight_scale;
            named.push((b("attn_norm"), norm(self.d, self.seed + 2000 + l as u64)));
            named.push((b("attn_q"), tensor(&[self.heads * hd, self.d], w, s)));
            named.push((b("attn_k"), tensor(&[self.kv_heads * hd, self.d], w, s)));
            named.push((b("attn_v"), tensor(&[self.kv_heads * hd, self.d], self.v_type.unwrap_or(w), s)));
            named.push((b("attn_output"), tensor(&[self.d, self.heads * hd], w, s)));
            named.push((b("ffn_norm"), norm(self.d, self.seed + 3000 + l as u64)));
            named.push((b("ffn_gate"), tensor(&[self.ffn, self.d], w, s)));
            named.push((b("ffn_up"), tensor(&[self.ffn, self.d], w, s)));
            named.push((b("ffn_down"), tensor(&[self.d, self.ffn], w, 1.0 / (self.ffn as f32).sqrt() * 1.7)));
        }
        for (name, values, dtype) in &self.extra_tensors {
            let t = Tensor::from_vec(values.clone(), values.len(), &Device::Cpu).unwrap();
            named.push((name.clone(), QTensor::quantize(&t, *dtype).unwrap()));
        }
        let arch = self.architecture.clone();
        let key = |k: &str| format!("{arch}.{k}");
        let mut metadata: Vec<(String, Value)> = vec![
            ("general.architecture".into(), Value::String(arch.clone())),
            ("general.name".into(), Value::String("tiny random llama".into())),
            (key("block_count"), Value::U32(self.layers as u32)),
            (key("context_length"), Value::U32(1024)),
            (key("embedding_length"), Value::U32(self.d as u32)),
            (key("feed_forward_length"), Value::U32(self.ffn as u32)),
            (key("attention.head_count"), Value::U32(self.heads as u32)),
            (key("attention.head_count_kv"), Value::U32(self.kv_heads as u32)),
            (key("rope.freq_base"), Value::F32(10_000.0)),
            (key("rope.dimension_count"), Value::U32(hd as u32)),
            (key("attention.layer_norm_rms_epsilon"), Value::F32(1e-5)),
            ("tokenizer.ggml.model".into(), Value::String("gpt2".into())),
            ("tokenizer.ggml.pre".into(), Value::String("smollm".into())),
            ("tokenizer.ggml.tokens".into(), Value::Array(tokens.into_iter().map(Value::String).collect())),
            ("tokenizer.ggml.merges".into(), Value::Array(merges.into_iter().map(Value::String).collect())),
            ("tokenizer.ggml.token_type".into(), Value::Array(types.into_iter().map(Value::I32).collect())),
            ("tokenizer.ggml.bos_token_id".into(), Value::U32(1)),
            ("tokenizer.ggml.eos_token_id".into(), Value::U32(2)),
            ("tokenizer.ggml.add_bos_token".into(), Value::Bool(false)),
        ];
        for (k, v) in &self.extra_metadata {
            metadata.retain(|(key, _)| key != k);
            metadata.push((k.clone(), v.clone()));
        }
        write_gguf(&metadata, &named)
    }
}

pub fn write_gguf(metadata: &[(String, Value)], tensors: &[(String, QTensor)]) -> Vec<u8> {
    let md: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let ts: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut cursor = std::io::Cursor::new(Vec::new());
    gguf_file::write(&mut cursor, &md, &ts).unwrap();
    cursor.into_inner()
}

/// Prefix reuse ([`ctxscope_engine::Session::reuse_prefix`]) on `engine`: after a first sequence
/// of 1,100 tokens, a second one sharing its first 700 keeps one whole prefill chunk (512) and
/// gives, for the rest, exactly the logits and entropy of a fresh pass (bit for bit: the same
/// chunks run on the same cache); under dynamic NTK, whose rotation depends on the total length,
/// nothing is kept. Also: a session cut back with `truncate` runs on as if only the kept tokens
/// had run (within `tol`: its chunks differ from a fresh pass's).
pub fn check_prefix_reuse(engine: &mut ctxscope_engine::Engine, tol: f32) {
    use ctxscope_engine::experiment::Experiment;
    use ctxscope_engine::pattern::AttentionPattern;
    use ctxscope_engine::rope::RopeMethod;
    let vocab = engine.spec().vocab_size as u64;
    let first: Vec<u32> = (0..1100).map(|i| ((i * 37 + 11) % vocab) as u32).collect();
    let mut second: Vec<u32> = first[..700].to_vec();
    second.extend((0..300).map(|i| ((i * 91 + 5) % vocab) as u32));
    let max_diff = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
    let cases = [
        (Experiment::default(), 512),
        (Experiment { attention: AttentionPattern::Window { window: 8 }, ..Experiment::default() }, 512),
        (Experiment { rope: RopeMethod::Dynamic { factor: 4.0, original_ctx: Some(16) }, ..Experiment::default() }, 0),
    ];
    for (experiment, expect_kept) in cases {
        engine.set_experiment(&experiment).unwrap();
        let rows: Vec<usize> = (0..second.len()).collect();
        let mut fresh = engine.session(1200).unwrap();
        fresh.record_entropy();
        let want = fresh.forward_blocking(&second, &rows).unwrap();
        let want_entropy = fresh.entropy().unwrap().clone();
        drop(fresh);

        let mut session = engine.session(1200).unwrap();
        session.record_entropy();
        session.forward_blocking(&first, &[]).unwrap();
        let kept = session.reuse_prefix(&second, second.len(), second.len() - 1).unwrap();
        let name = experiment.describe();
        assert_eq!(kept, expect_kept, "{name}: tokens kept");
        assert_eq!(session.position(), kept);
        let rest: Vec<usize> = (0..second.len() - kept).collect();
        let got = session.forward_blocking(&second[kept..], &rest).unwrap();
        for (i, row) in got.iter().enumerate() {
            assert_eq!(row, &want[kept + i], "{name}: position {}: logits differ from a fresh pass", kept + i);
        }
        let entropy = session.entropy().unwrap();
        assert_eq!(entropy.positions, second.len(), "{name}: entropy positions");
        assert_eq!(entropy.values, want_entropy.values, "{name}: entropy differs from a fresh pass");

        // Cut back to 10 tokens and run on: the same as a fresh pass over those tokens.
        session.truncate(10).unwrap();
        let got = session.forward_blocking(&second[10..], &[second.len() - 11]).unwrap();
        let d = max_diff(&got[0], want.last().unwrap());
        assert!(d < tol, "{name}: after truncate: max |Δlogit| {d}");
        assert!(session.truncate(5000).is_err());
    }
}
