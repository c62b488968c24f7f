//! Weight matrices in GPU storage. Q4_1, F16 and F32 keep their GGUF bytes; Q4_0 and Q8_0 blocks
//! (18 and 34 bytes) are repacked to word-aligned 20- and 36-byte blocks, since WGSL reads
//! storage in 4-byte words. Other ggml types are dequantized to f32 at load.

use candle_core::quantized::GgmlDType;
use candle_core::Device;

use super::buffers;
use super::context::GpuContext;
use super::kernels::Kernel;
use super::ops::{unrunnable, Bound};
use crate::error::{Error, Result};
use crate::gguf::ModelFile;

/// Format ids (ggml's type ids), the value of the kernels' `QTYPE` override.
pub(crate) const QTYPE_F32: u32 = 0;
pub(crate) const QTYPE_F16: u32 = 1;
pub(crate) const QTYPE_Q4_0: u32 = 2;
pub(crate) const QTYPE_Q4_1: u32 = 3;
pub(crate) const QTYPE_Q8_0: u32 = 8;

/// Every format the GPU reads: (name, id, u32 words per 32-element block; 0 for the unblocked
/// float formats). The single source of truth: `kernels::assemble` writes it into every kernel
/// as `const QTYPE_<name>: u32` and `const BLOCK_WORDS_<name>: u32`, which `shaders/prelude.wgsl`
/// and `weights.wgsl` use instead of bare numbers.
pub(crate) const QTYPES: [(&str, u32, u32); 5] = [
    ("F32", QTYPE_F32, 0),
    ("F16", QTYPE_F16, 0),
    ("Q4_0", QTYPE_Q4_0, 5),
    ("Q4_1", QTYPE_Q4_1, 5),
    ("Q8_0", QTYPE_Q8_0, 9),
];

/// Bytes of a [rows, cols] matrix in format `qtype` as the kernels index it; None for an
/// unknown format or a row length the format cannot hold (a whole number of 32-element blocks,
/// of 4-element loads for the float formats).
pub(crate) fn matrix_bytes(qtype: u32, rows: usize, cols: usize) -> Option<u64> {
    let (_, _, block_words) = QTYPES.iter().find(|f| f.1 == qtype)?;
    let (rows, cols) = (rows as u64, cols as u64);
    match (qtype, *block_words) {
        (QTYPE_F32, _) => cols.is_multiple_of(4).then(|| rows * cols * 4),
        (QTYPE_F16, _) => cols.is_multiple_of(4).then(|| rows * cols * 2),
        (_, words) => cols.is_multiple_of(32).then(|| rows * (cols / 32) * words as u64 * 4),
    }
}

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
    /// The weight buffer as `kernel` indexes it (the whole [rows, cols] matrix); fails for a
    /// format or row length the kernels cannot read.
    pub(crate) fn bound(&self, kernel: Kernel) -> Result<Bound<'_>> {
        match matrix_bytes(self.qtype, self.rows, self.cols) {
            Some(bytes) => Ok(Bound::bytes(&self.buffer, bytes)),
            None => {
                Err(unrunnable(kernel, format!("a [{}, {}] weight in format {}", self.rows, self.cols, self.qtype)))
            }
        }
    }

    /// Uploads tensor `name` of `file` as a [rows, cols] matrix (1-D tensors: one row).
    pub fn load(ctx: &GpuContext, file: &ModelFile, name: &str) -> Result<Self> {
        Self::load_stacked(ctx, file, &[name])
    }

    /// Tensors `names`, each [rows_i, cols] with the same cols, stacked row-wise into one
    /// [Σ rows_i, cols] matrix, so one matmul computes all their projections (q/k/v, gate/up):
    /// one dispatch instead of several, which is what a decode step's time is made of. Rows
    /// are independent in every format, so stacking is concatenating the bytes. Tensors stored
    /// in different GPU formats are dequantized to f32 first (their blocks could not share a
    /// kernel specialisation; f32 is the only format every one converts to exactly): that
    /// costs 4–8× their quantized bytes, but GGUF files mix formats within q/k/v or gate/up
    /// only in the k-quant schemes (Q4_K_M keeps V in Q6_K), which the GPU reads as f32 anyway.
    /// A stack past the device's binding limit fails here with [`Error::DoesNotFit`] (from
    /// the upload), so `auto` falls back to the CPU.
    pub fn load_stacked(ctx: &GpuContext, file: &ModelFile, names: &[&str]) -> Result<Self> {
        let mut parts = Vec::with_capacity(names.len());
        for name in names {
            let (dtype, dims, raw) = file.tensor_data(name)?;
            let cols = *dims.last().unwrap_or(&1);
            let rows = dims.iter().rev().skip(1).product::<usize>().max(1);
            parts.push((*name, dtype, rows, cols, gpu_layout(dtype, raw)));
        }
        let cols = parts[0].3;
        if let Some(p) = parts.iter().find(|p| p.3 != cols) {
            return Err(Error::UnsupportedOnGpu(format!(
                "{} has rows of {} values and {} of {cols}: they cannot be stacked into one projection",
                p.0, p.3, parts[0].0
            )));
        }
        let same_layout = parts.iter().all(|p| p.4.as_ref().map(|l| l.0) == parts[0].4.as_ref().map(|l| l.0));
        let (qtype, bytes) = match (&parts[0].4, same_layout) {
            (Some((qtype, _)), true) => {
                (*qtype, parts.iter().flat_map(|p| p.4.as_ref().map_or(&[][..], |l| &l.1[..])).copied().collect())
            }
            _ => {
                let mut all = Vec::new();
                for p in &parts {
                    all.extend(file.qtensor(p.0)?.dequantize(&Device::Cpu)?.flatten_all()?.to_vec1::<f32>()?);
                }
                (QTYPE_F32, bytemuck::cast_slice(&all).to_vec())
            }
        };
        let rows = parts.iter().map(|p| p.2).sum();
        Ok(Self { buffer: buffers::upload(ctx, &names.join("+"), &bytes)?, qtype, rows, cols })
    }

    /// A 1-D f32 tensor (norm weights) as a plain f32 buffer.
    pub fn load_f32(ctx: &GpuContext, file: &ModelFile, name: &str) -> Result<wgpu::Buffer> {
        let t = file.qtensor(name)?.dequantize(&Device::Cpu)?.flatten_all()?.to_vec1::<f32>()?;
        buffers::upload(ctx, name, bytemuck::cast_slice(&t))
    }
}
