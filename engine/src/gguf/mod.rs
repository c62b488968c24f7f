//! GGUF files: a bounds-checked header walk, then candle's parser, then a typed [`ModelSpec`].
//!
//! The whole file is held in memory (`Arc<[u8]>`): the browser receives it as one buffer
//! anyway, and the CPU and GPU backends both read tensor data from the same bytes.

mod preflight;
mod rope_meta;
mod spec;

pub use rope_meta::{DeclaredRope, DeclaredScaling, MAX_CONTEXT};
pub use spec::{ModelSpec, TensorSpec};

use std::collections::HashMap;
use std::io::Cursor;
use std::sync::Arc;

use candle_core::quantized::gguf_file::{Content, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::Device;

use crate::error::{shown, Error, Result};

/// A parsed GGUF file: its bytes, candle's view of the header, and the typed model description.
pub struct ModelFile {
    bytes: Arc<[u8]>,
    content: Content,
    spec: ModelSpec,
}

impl std::fmt::Debug for ModelFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelFile").field("spec", &self.spec).finish_non_exhaustive()
    }
}

impl ModelFile {
    /// Parses and validates a GGUF file held in memory. Never panics on malformed input.
    pub fn from_bytes(bytes: impl Into<Arc<[u8]>>) -> Result<Self> {
        let bytes: Arc<[u8]> = bytes.into();
        preflight::check_header(&bytes)?;
        let content = Content::read(&mut Cursor::new(&bytes[..])).map_err(|e| match Error::from(e) {
            Error::Tensor(msg) => Error::malformed(format!("candle could not parse the header: {msg}")),
            other => other,
        })?;
        check_tensor_extents(&content, bytes.len() as u64)?;
        let spec = ModelSpec::from_content(&content, bytes.len() as u64)?;
        let mut file = Self { bytes, content, spec };
        file.read_freq_factors()?;
        Ok(file)
    }

    /// Reads a GGUF file from disk.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn open(path: impl AsRef<std::path::Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path)
            .map_err(|e| Error::Io(std::io::Error::new(e.kind(), format!("cannot read {}: {e}", path.display()))))?;
        Self::from_bytes(bytes)
    }

    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// `rope_freqs.weight` (per-pair θ divisors, F32) into the declared RoPE, when present.
    fn read_freq_factors(&mut self) -> Result<()> {
        const NAME: &str = "rope_freqs.weight";
        if !self.has_tensor(NAME) {
            return Ok(());
        }
        let (dtype, dims, data) = self.tensor_data(NAME)?;
        if dtype != GgmlDType::F32 || dims.len() != 1 {
            return Err(Error::UnsupportedRopeScaling(format!(
                "{NAME} is {dtype:?} {dims:?}; ctxscope reads a 1-D F32 vector"
            )));
        }
        let values = data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        let pairs = self.spec.head_dim / 2;
        self.spec.rope.set_freq_factors(values, pairs)
    }

    pub fn metadata(&self) -> &HashMap<String, Value> {
        &self.content.metadata
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Loads one tensor (still in its GGUF quantization) from the file.
    pub fn qtensor(&self, name: &str) -> Result<QTensor> {
        if !self.content.tensor_infos.contains_key(name) {
            return Err(Error::MissingTensor(name.to_string()));
        }
        Ok(self.content.tensor(&mut Cursor::new(&self.bytes[..]), name, &Device::Cpu)?)
    }

    /// A tensor's raw GGUF bytes (no copy), its ggml type and its shape (outermost first).
    pub fn tensor_data(&self, name: &str) -> Result<(GgmlDType, Vec<usize>, &[u8])> {
        let info = self.content.tensor_infos.get(name).ok_or_else(|| Error::MissingTensor(name.to_string()))?;
        let dims = info.shape.dims().to_vec();
        let elems: usize = dims.iter().product();
        let size = elems / info.ggml_dtype.block_size() * info.ggml_dtype.type_size();
        // check_tensor_extents proved start + size lies inside the file.
        let start = (self.content.tensor_data_offset + info.offset) as usize;
        Ok((info.ggml_dtype, dims, &self.bytes[start..start + size]))
    }

    /// True when the file holds a tensor of this name.
    pub fn has_tensor(&self, name: &str) -> bool {
        self.content.tensor_infos.contains_key(name)
    }
}

/// Every tensor's data must lie inside the file and be a whole number of quant blocks; checked
/// before anything allocates a buffer for it.
fn check_tensor_extents(content: &Content, file_len: u64) -> Result<()> {
    for (raw, info) in &content.tensor_infos {
        let name = shown(raw);
        let elems = info.shape.dims().iter().try_fold(1u64, |acc, &d| acc.checked_mul(d as u64));
        let elems = elems.ok_or_else(|| Error::malformed(format!("tensor '{name}' is too large")))?;
        let block = info.ggml_dtype.block_size() as u64;
        let row = *info.shape.dims().last().unwrap_or(&0) as u64;
        if !row.is_multiple_of(block) {
            return Err(Error::malformed(format!(
                "tensor '{name}' has rows of {row} elements, not a multiple of its {:?} block size {block}",
                info.ggml_dtype
            )));
        }
        let size = (elems / block)
            .checked_mul(info.ggml_dtype.type_size() as u64)
            .ok_or_else(|| Error::malformed(format!("tensor '{name}' is too large")))?;
        let start = content.tensor_data_offset.checked_add(info.offset);
        let end = start.and_then(|s| s.checked_add(size));
        match end {
            Some(end) if end <= file_len => {}
            _ => {
                return Err(Error::Truncated {
                    what: format!("data of tensor '{name}' ({:?}, {:?})", info.ggml_dtype, info.shape.dims()),
                    offset: start.unwrap_or(u64::MAX),
                    needed: size,
                    file_len,
                })
            }
        }
    }
    Ok(())
}

/// Typed access to GGUF metadata, with errors that name the key.
pub(crate) struct Meta<'a>(pub &'a HashMap<String, Value>);

fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => format!("string \"{}\"", shown(s)),
        Value::Array(a) => format!("array of {} values", a.len()),
        other => format!("{other:?}"),
    }
}

impl Meta<'_> {
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }

    pub fn opt_u64(&self, key: &str) -> Result<Option<u64>> {
        let Some(v) = self.0.get(key) else { return Ok(None) };
        let n = match v {
            Value::U8(x) => Some(*x as u64),
            Value::U16(x) => Some(*x as u64),
            Value::U32(x) => Some(*x as u64),
            Value::U64(x) => Some(*x),
            Value::I8(x) => u64::try_from(*x).ok(),
            Value::I16(x) => u64::try_from(*x).ok(),
            Value::I32(x) => u64::try_from(*x).ok(),
            Value::I64(x) => u64::try_from(*x).ok(),
            _ => None,
        };
        n.map(Some).ok_or_else(|| Error::MetadataType {
            key: key.to_string(),
            expected: "a non-negative integer",
            found: describe(v),
        })
    }

    pub fn usize(&self, key: &str) -> Result<usize> {
        let n = self.opt_u64(key)?.ok_or_else(|| Error::MissingMetadata(key.to_string()))?;
        usize::try_from(n).map_err(|_| Error::InconsistentModel(format!("'{key}' = {n} is too large")))
    }

    pub fn opt_usize(&self, key: &str) -> Result<Option<usize>> {
        match self.opt_u64(key)? {
            None => Ok(None),
            Some(n) => usize::try_from(n)
                .map(Some)
                .map_err(|_| Error::InconsistentModel(format!("'{key}' = {n} is too large"))),
        }
    }

    pub fn opt_f64(&self, key: &str) -> Result<Option<f64>> {
        let Some(v) = self.0.get(key) else { return Ok(None) };
        match v {
            Value::F32(x) => Ok(Some(*x as f64)),
            Value::F64(x) => Ok(Some(*x)),
            other => Err(Error::MetadataType { key: key.to_string(), expected: "a float", found: describe(other) }),
        }
    }

    pub fn opt_str(&self, key: &str) -> Result<Option<&str>> {
        match self.0.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => {
                Err(Error::MetadataType { key: key.to_string(), expected: "a string", found: describe(other) })
            }
        }
    }

    pub fn str(&self, key: &str) -> Result<&str> {
        self.opt_str(key)?.ok_or_else(|| Error::MissingMetadata(key.to_string()))
    }

    pub fn opt_bool(&self, key: &str) -> Result<Option<bool>> {
        match self.0.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => {
                Err(Error::MetadataType { key: key.to_string(), expected: "a boolean", found: describe(other) })
            }
        }
    }

    pub fn array(&self, key: &str) -> Result<&[Value]> {
        match self.0.get(key) {
            None => Err(Error::MissingMetadata(key.to_string())),
            Some(Value::Array(a)) => Ok(a),
            Some(other) => {
                Err(Error::MetadataType { key: key.to_string(), expected: "an array", found: describe(other) })
            }
        }
    }

    pub fn string_array(&self, key: &str) -> Result<Vec<&str>> {
        self.array(key)?
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.as_str()),
                other => Err(Error::MetadataType {
                    key: key.to_string(),
                    expected: "an array of strings",
                    found: format!("an element {}", describe(other)),
                }),
            })
            .collect()
    }

    pub fn int_array(&self, key: &str) -> Result<Vec<i64>> {
        self.array(key)?
            .iter()
            .map(|v| match v {
                Value::I32(x) => Ok(*x as i64),
                Value::U32(x) => Ok(*x as i64),
                Value::I8(x) => Ok(*x as i64),
                Value::U8(x) => Ok(*x as i64),
                Value::I16(x) => Ok(*x as i64),
                Value::U16(x) => Ok(*x as i64),
                Value::I64(x) => Ok(*x),
                other => Err(Error::MetadataType {
                    key: key.to_string(),
                    expected: "an array of integers",
                    found: format!("an element {}", describe(other)),
                }),
            })
            .collect()
    }
}
