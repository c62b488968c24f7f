//! Weight matrices in GPU storage. Q4_1, F16 and F32 keep their GGUF bytes; Q4_0 and Q8_0 blocks
//! (18 and 34 bytes) are repacked to word-aligned 20- and 36-byte blocks, since WGSL reads
//! storage in 4-byte words. Other ggml types are dequantized to f32 at load.

use candle_core::quantized::GgmlDType;
use candle_core::Device;

use super::buffers;
use super::context::GpuContext;
use crate::error::Result;
use crate::gguf::ModelFile;

/// Format ids shared with `shaders/prelude.wgsl` (ggml's type ids).
pub(crate) const QTYPE_F32: u32 = 0;
pub(crate) const QTYPE_F16: u32 = 1;
pub(crate) const QTYPE_Q4_0: u32 = 2;
pub(crate) const QTYPE_Q4_1: u32 = 3;
pub(crate) const QTYPE_Q8_0: u32 = 8;

pub(crate) struct GpuWeight {
    pub buffer: wgpu::Buffer,
    pub qtype: u32,
    pub rows: usize,
    pub cols: usize,
}

/// Inserts two zero bytes after each block's 2-byte f16 scale.
fn pad_scale(raw: &[u8], block_bytes: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() / block_bytes * (block_bytes + 2));
    for block in raw.chunks_exact(block_bytes) {
        out.extend_from_slice(&block[..2]);
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&block[2..]);
    }
    out
}

/// GPU layout of a GGUF tensor: (format id, bytes).
pub(crate) fn gpu_layout(dtype: GgmlDType, raw: &[u8]) -> Option<(u32, Vec<u8>)> {
    match dtype {
        GgmlDType::F32 => Some((QTYPE_F32, raw.to_vec())),
        GgmlDType::F16 => Some((QTYPE_F16, raw.to_vec())),
        GgmlDType::Q4_1 => Some((QTYPE_Q4_1, raw.to_vec())),
        GgmlDType::Q4_0 => Some((QTYPE_Q4_0, pad_scale(raw, 18))),
        GgmlDType::Q8_0 => Some((QTYPE_Q8_0, pad_scale(raw, 34))),
        _ => None,
    }
}

impl GpuWeight {
    /// Uploads tensor `name` of `file` as a [rows, cols] matrix (1-D tensors: one row).
    pub fn load(ctx: &GpuContext, file: &ModelFile, name: &str) -> Result<Self> {
        let (dtype, dims, raw) = file.tensor_data(name)?;
        let cols = *dims.last().unwrap_or(&1);
        let rows = dims.iter().rev().skip(1).product::<usize>().max(1);
        let (qtype, bytes) = match gpu_layout(dtype, raw) {
            Some(layout) => layout,
            None => {
                let t = file.qtensor(name)?.dequantize(&Device::Cpu)?.flatten_all()?.to_vec1::<f32>()?;
                (QTYPE_F32, bytemuck::cast_slice(&t).to_vec())
            }
        };
        Ok(Self { buffer: buffers::upload(ctx, name, &bytes)?, qtype, rows, cols })
    }

    /// A 1-D f32 tensor (norm weights) as a plain f32 buffer.
    pub fn load_f32(ctx: &GpuContext, file: &ModelFile, name: &str) -> Result<wgpu::Buffer> {
        let t = file.qtensor(name)?.dequantize(&Device::Cpu)?.flatten_all()?.to_vec1::<f32>()?;
        buffers::upload(ctx, name, bytemuck::cast_slice(&t))
    }
}
