//! Loading llama weights from GGUF into f32 candle tensors.

use candle_core::{Device, Tensor};

use crate::error::Result;
use crate::gguf::ModelFile;

pub(super) struct LayerWeights {
    pub attn_norm: Tensor,
    pub attn_q: Tensor,
    pub attn_k: Tensor,
    pub attn_v: Tensor,
    pub attn_output: Tensor,
    pub ffn_norm: Tensor,
    pub ffn_gate: Tensor,
    pub ffn_up: Tensor,
    pub ffn_down: Tensor,
}

pub(super) struct Weights {
    pub token_embd: Tensor,
    /// `None` when the output projection is tied to `token_embd`.
    pub output: Option<Tensor>,
    pub output_norm: Tensor,
    pub layers: Vec<LayerWeights>,
}

impl Weights {
    pub fn load(file: &ModelFile) -> Result<Self> {
        let f32_tensor = |name: &str| -> Result<Tensor> { Ok(file.qtensor(name)?.dequantize(&Device::Cpu)?) };
        let spec = file.spec();
        let layers = (0..spec.block_count)
            .map(|l| {
                let t = |n: &str| f32_tensor(&format!("blk.{l}.{n}.weight"));
                Ok(LayerWeights {
                    attn_norm: t("attn_norm")?,
                    attn_q: t("attn_q")?,
                    attn_k: t("attn_k")?,
                    attn_v: t("attn_v")?,
                    attn_output: t("attn_output")?,
                    ffn_norm: t("ffn_norm")?,
                    ffn_gate: t("ffn_gate")?,
                    ffn_up: t("ffn_up")?,
                    ffn_down: t("ffn_down")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            token_embd: f32_tensor("token_embd.weight")?,
            output: if spec.tied_output { None } else { Some(f32_tensor("output.weight")?) },
            output_norm: f32_tensor("output_norm.weight")?,
            layers,
        })
    }

    pub fn output(&self) -> &Tensor {
        self.output.as_ref().unwrap_or(&self.token_embd)
    }
}
