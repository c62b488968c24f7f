//! [`ModelSpec`]: the facts about a model that every other part of ctxscope needs, read once from
//! GGUF metadata and checked against the tensors actually present.

use std::collections::BTreeMap;

use candle_core::quantized::gguf_file::Content;
use serde::{Deserialize, Serialize};

use super::rope_meta::DeclaredRope;
use super::Meta;
use crate::error::{Error, Result};

/// One tensor's name, ggml type and shape (outermost dimension first, as candle reports it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TensorSpec {
    pub name: String,
    #[serde(rename = "type")]
    pub ggml_type: String,
    pub shape: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    pub name: Option<String>,
    pub architecture: String,
    pub block_count: usize,
    pub embedding_length: usize,
    pub feed_forward_length: usize,
    pub head_count: usize,
    pub head_count_kv: usize,
    pub head_dim: usize,
    /// Number of rotated dimensions per head (llama rotates all of them).
    pub rope_dimension_count: usize,
    pub context_length: usize,
    pub rope_freq_base: f64,
    /// The RoPE scaling the file declares: the model's baseline (see [`DeclaredRope`]).
    pub rope: DeclaredRope,
    pub rms_norm_eps: f64,
    pub vocab_size: usize,
    /// Whether the output projection reuses the token embedding (no `output.weight`).
    pub tied_output: bool,
    pub file_size: u64,
    pub parameter_count: u64,
    /// Count of tensors per ggml type, e.g. {"Q4_1": 210, "F32": 61, "Q8_0": 1}.
    pub tensor_types: BTreeMap<String, usize>,
    /// Every tensor, sorted by name.
    pub tensors: Vec<TensorSpec>,
}

impl ModelSpec {
    pub(crate) fn from_content(content: &Content, file_size: u64) -> Result<Self> {
        let meta = Meta(&content.metadata);
        let architecture = meta.str("general.architecture")?.to_string();
        if architecture != "llama" {
            return Err(Error::UnsupportedArchitecture(architecture));
        }
        let key = |k: &str| format!("llama.{k}");
        let block_count = meta.usize(&key("block_count"))?;
        let embedding_length = meta.usize(&key("embedding_length"))?;
        let feed_forward_length = meta.usize(&key("feed_forward_length"))?;
        let head_count = meta.usize(&key("attention.head_count"))?;
        let head_count_kv = meta.opt_usize(&key("attention.head_count_kv"))?.unwrap_or(head_count);
        let context_length = meta.usize(&key("context_length"))?;
        if head_count == 0 || head_count_kv == 0 || head_count % head_count_kv != 0 {
            return Err(Error::InconsistentModel(format!(
                "head_count {head_count} is not a positive multiple of head_count_kv {head_count_kv}"
            )));
        }
        let head_dim = match meta.opt_usize(&key("attention.key_length"))? {
            Some(d) => d,
            None if embedding_length % head_count == 0 => embedding_length / head_count,
            None => {
                return Err(Error::InconsistentModel(format!(
                    "embedding_length {embedding_length} is not divisible by head_count {head_count}"
                )))
            }
        };
        if head_dim == 0 || head_dim % 2 != 0 {
            return Err(Error::InconsistentModel(format!("head_dim {head_dim} must be even and positive")));
        }
        let rope_dimension_count = meta.opt_usize(&key("rope.dimension_count"))?.unwrap_or(head_dim);
        if rope_dimension_count != head_dim {
            return Err(Error::InconsistentModel(format!(
                "partial rotary embeddings (rope.dimension_count {rope_dimension_count} < head_dim {head_dim}) are not supported"
            )));
        }
        let rope_freq_base = meta.opt_f64(&key("rope.freq_base"))?.unwrap_or(10_000.0);
        let rms_norm_eps = meta.opt_f64(&key("attention.layer_norm_rms_epsilon"))?.unwrap_or(1e-5);
        let rope = DeclaredRope::read(&meta, "llama", context_length)?;

        let mut tensors: Vec<TensorSpec> = content
            .tensor_infos
            .iter()
            .map(|(name, info)| TensorSpec {
                name: name.clone(),
                ggml_type: format!("{:?}", info.ggml_dtype),
                shape: info.shape.dims().to_vec(),
            })
            .collect();
        tensors.sort_by(|a, b| a.name.cmp(&b.name));
        let mut tensor_types = BTreeMap::new();
        for t in &tensors {
            *tensor_types.entry(t.ggml_type.clone()).or_insert(0) += 1;
        }
        let parameter_count = tensors.iter().map(|t| t.shape.iter().product::<usize>() as u64).sum();

        let shape_of = |name: &str| tensors.iter().find(|t| t.name == name).map(|t| t.shape.clone());
        let token_embd = shape_of("token_embd.weight")
            .ok_or_else(|| Error::MissingTensor("token_embd.weight".into()))?;
        if token_embd.len() != 2 || token_embd[1] != embedding_length {
            return Err(Error::TensorShape {
                name: "token_embd.weight".into(),
                expected: vec![token_embd.first().copied().unwrap_or(0), embedding_length],
                found: token_embd,
            });
        }
        let vocab_size = token_embd[0];
        if let Some(declared) = meta.opt_usize(&key("vocab_size"))? {
            if declared != vocab_size {
                return Err(Error::InconsistentModel(format!(
                    "llama.vocab_size is {declared} but token_embd.weight has {vocab_size} rows"
                )));
            }
        }
        let tied_output = shape_of("output.weight").is_none();

        let spec = Self {
            name: meta.opt_str("general.name")?.map(str::to_string),
            architecture,
            block_count,
            embedding_length,
            feed_forward_length,
            head_count,
            head_count_kv,
            head_dim,
            rope_dimension_count,
            context_length,
            rope_freq_base,
            rope,
            rms_norm_eps,
            vocab_size,
            tied_output,
            file_size,
            parameter_count,
            tensor_types,
            tensors,
        };
        spec.check_tensor_shapes()?;
        Ok(spec)
    }

    /// The shape (candle order: rows, columns) every llama tensor must have.
    pub fn expected_tensors(&self) -> Vec<(String, Vec<usize>)> {
        let (d, f, kv) = (self.embedding_length, self.feed_forward_length, self.head_count_kv * self.head_dim);
        let q = self.head_count * self.head_dim;
        let mut out = vec![("output_norm.weight".to_string(), vec![d])];
        if !self.tied_output {
            out.push(("output.weight".to_string(), vec![self.vocab_size, d]));
        }
        for l in 0..self.block_count {
            let b = |n: &str| format!("blk.{l}.{n}.weight");
            out.extend([
                (b("attn_norm"), vec![d]),
                (b("attn_q"), vec![q, d]),
                (b("attn_k"), vec![kv, d]),
                (b("attn_v"), vec![kv, d]),
                (b("attn_output"), vec![d, q]),
                (b("ffn_norm"), vec![d]),
                (b("ffn_gate"), vec![f, d]),
                (b("ffn_up"), vec![f, d]),
                (b("ffn_down"), vec![d, f]),
            ]);
        }
        out
    }

    fn check_tensor_shapes(&self) -> Result<()> {
        for (name, expected) in self.expected_tensors() {
            let found = self.tensor(&name).ok_or_else(|| Error::MissingTensor(name.clone()))?;
            if found.shape != expected {
                return Err(Error::TensorShape { name, expected, found: found.shape.clone() });
            }
        }
        Ok(())
    }

    pub fn tensor(&self, name: &str) -> Option<&TensorSpec> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// Bytes of K and V cache per token (f32, all layers).
    pub fn kv_bytes_per_token(&self) -> u64 {
        (2 * self.block_count * self.head_count_kv * self.head_dim * 4) as u64
    }
}
