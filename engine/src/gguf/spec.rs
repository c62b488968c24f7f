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

/// Upper bounds on every size a GGUF declares, checked before any of them enters arithmetic or
/// sizes an allocation. Each is at least 16× what any published llama-architecture model uses
/// (Llama 3.1 405B: 126 layers, 16 384 wide, 53 248 FFN, 128 heads of 128; 128k context, 128k
/// vocabulary), so they only stop corrupt or hostile files. The tensors must then really be in the
/// file at these shapes, which bounds the rest by the file's size.
const MAX_LAYERS: usize = 4096;
const MAX_WIDTH: usize = 1 << 20;
const MAX_HEADS: usize = 1 << 14;
const MAX_HEAD_DIM: usize = 1 << 12;

/// A size from the metadata, within `1 ..= max`.
fn bounded(key: &str, value: usize, max: usize) -> Result<usize> {
    if value == 0 || value > max {
        return Err(Error::InconsistentModel(format!("'{key}' = {value} is outside 1 … {max}")));
    }
    Ok(value)
}

/// `llama.<k>`: the architecture's metadata key.
fn key(k: &str) -> String {
    format!("llama.{k}")
}

/// A required size under `llama.`, within `1 ..= max`.
fn size(meta: &Meta, k: &str, max: usize) -> Result<usize> {
    bounded(&key(k), meta.usize(&key(k))?, max)
}

/// An optional size under `llama.`, within `1 ..= max` when present.
fn opt_size(meta: &Meta, k: &str, max: usize) -> Result<Option<usize>> {
    meta.opt_usize(&key(k))?.map(|v| bounded(&key(k), v, max)).transpose()
}

/// The attention heads' shape: query heads a positive multiple of KV heads (grouped-query
/// attention), an even head_dim, every dimension rotated.
struct HeadShape {
    head_count: usize,
    head_count_kv: usize,
    head_dim: usize,
}

impl HeadShape {
    fn read(meta: &Meta, embedding_length: usize) -> Result<Self> {
        let head_count = size(meta, "attention.head_count", MAX_HEADS)?;
        let head_count_kv = opt_size(meta, "attention.head_count_kv", MAX_HEADS)?.unwrap_or(head_count);
        if !head_count.is_multiple_of(head_count_kv) {
            return Err(Error::InconsistentModel(format!(
                "head_count {head_count} is not a positive multiple of head_count_kv {head_count_kv}"
            )));
        }
        let head_dim = match opt_size(meta, "attention.key_length", MAX_HEAD_DIM)? {
            Some(d) => d,
            None if embedding_length.is_multiple_of(head_count) && embedding_length / head_count <= MAX_HEAD_DIM => {
                embedding_length / head_count
            }
            None => {
                return Err(Error::InconsistentModel(format!(
                    "embedding_length {embedding_length} / head_count {head_count} is not a head size of 2 … {MAX_HEAD_DIM}"
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
        Ok(Self { head_count, head_count_kv, head_dim })
    }
}

/// Every tensor sorted by name, the count per ggml type, and the parameter count.
fn tensor_table(content: &Content) -> (Vec<TensorSpec>, BTreeMap<String, usize>, u64) {
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
    (tensors, tensor_types, parameter_count)
}

/// The vocabulary size: the token embedding's rows, which `llama.vocab_size` must agree with.
fn vocab_size(meta: &Meta, tensors: &[TensorSpec], embedding_length: usize) -> Result<usize> {
    let token_embd = tensors
        .iter()
        .find(|t| t.name == "token_embd.weight")
        .map(|t| t.shape.clone())
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
    Ok(vocab_size)
}

impl ModelSpec {
    pub(crate) fn from_content(content: &Content, file_size: u64) -> Result<Self> {
        let meta = Meta(&content.metadata);
        let architecture = meta.str("general.architecture")?.to_string();
        if architecture != "llama" {
            return Err(Error::UnsupportedArchitecture(crate::error::shown(&architecture)));
        }
        let block_count = size(&meta, "block_count", MAX_LAYERS)?;
        let embedding_length = size(&meta, "embedding_length", MAX_WIDTH)?;
        let feed_forward_length = size(&meta, "feed_forward_length", MAX_WIDTH)?;
        let context_length = size(&meta, "context_length", super::rope_meta::MAX_CONTEXT)?;
        let heads = HeadShape::read(&meta, embedding_length)?;
        let rope_freq_base = meta.opt_f64(&key("rope.freq_base"))?.unwrap_or(10_000.0);
        if !(rope_freq_base.is_finite() && rope_freq_base > 1.0) {
            return Err(Error::InconsistentModel(format!(
                "'{}' = {rope_freq_base} must be a finite number above 1",
                key("rope.freq_base")
            )));
        }
        let rms_norm_eps = meta.opt_f64(&key("attention.layer_norm_rms_epsilon"))?.unwrap_or(1e-5);
        if !(rms_norm_eps.is_finite() && (0.0..1.0).contains(&rms_norm_eps)) {
            return Err(Error::InconsistentModel(format!(
                "'{}' = {rms_norm_eps} must be in [0, 1)",
                key("attention.layer_norm_rms_epsilon")
            )));
        }
        let rope = DeclaredRope::read(&meta, "llama", context_length)?;
        let (tensors, tensor_types, parameter_count) = tensor_table(content);
        let vocab_size = vocab_size(&meta, &tensors, embedding_length)?;
        let tied_output = !tensors.iter().any(|t| t.name == "output.weight");

        let spec = Self {
            name: meta.opt_str("general.name")?.map(str::to_string),
            architecture,
            block_count,
            embedding_length,
            feed_forward_length,
            head_count: heads.head_count,
            head_count_kv: heads.head_count_kv,
            head_dim: heads.head_dim,
            rope_dimension_count: heads.head_dim,
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
