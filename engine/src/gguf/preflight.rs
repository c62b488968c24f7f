//! A bounds-checked walk over the GGUF header, run before candle parses it.
//!
//! Why hand-written: candle's `gguf_file::Content::read` trusts every length in the file
//! (`vec![0u8; len]` for strings, `Vec::with_capacity(len)` for arrays), so a corrupt or hostile
//! header makes it attempt a multi-exabyte allocation and abort the process (or the browser tab).
//! This walk only checks that every length fits in the bytes that remain; the real parsing is
//! still candle's.

use crate::error::{shown, Error, Result};

/// GGML_MAX_DIMS in ggml.h.
const MAX_TENSOR_DIMS: u32 = 4;
/// Value type ids of the GGUF spec.
const TYPE_UINT32: u32 = 4;
const TYPE_STRING: u32 = 8;
const TYPE_ARRAY: u32 = 9;
/// ggml's default `general.alignment`.
const DEFAULT_ALIGNMENT: u64 = 32;
/// ggml type ids that candle can decode (ggml.h `enum ggml_type`).
pub(crate) const KNOWN_GGML_TYPES: &[u32] = &[0, 1, 2, 3, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 30];

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: u64, what: &dyn Fn() -> String) -> Result<&'a [u8]> {
        let remaining = (self.bytes.len() - self.pos) as u64;
        if n > remaining {
            return Err(Error::Truncated {
                what: what(),
                offset: self.pos as u64,
                needed: n,
                file_len: self.bytes.len() as u64,
            });
        }
        let start = self.pos;
        self.pos += n as usize;
        Ok(&self.bytes[start..self.pos])
    }
    fn u32(&mut self, what: &str) -> Result<u32> {
        let b = self.take(4, &|| what.to_string())?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self, what: &str) -> Result<u64> {
        let b = self.take(8, &|| what.to_string())?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    fn string(&mut self, what: &str) -> Result<String> {
        let len = self.u64(what)?;
        let b = self.take(len, &|| format!("{what} ({len}-byte string)"))?;
        Ok(String::from_utf8_lossy(b).into_owned())
    }
    fn remaining(&self) -> u64 {
        (self.bytes.len() - self.pos) as u64
    }
}

/// Size in bytes of a scalar GGUF value type, or None for string/array.
fn scalar_size(value_type: u32) -> Option<u64> {
    match value_type {
        0 | 1 | 7 => Some(1),
        2 | 3 => Some(2),
        4..=6 => Some(4),
        10..=12 => Some(8),
        _ => None,
    }
}

/// GGUF's bool type id.
const TYPE_BOOL: u32 = 7;

fn skip_value(c: &mut Cursor, value_type: u32, key: &str, depth: u32) -> Result<()> {
    if let Some(size) = scalar_size(value_type) {
        let v = c.take(size, &|| format!("value of metadata key '{key}'"))?;
        if value_type == TYPE_BOOL && v[0] > 1 {
            return Err(Error::malformed(format!("metadata key '{key}' holds the bool value {}, not 0 or 1", v[0])));
        }
        return Ok(());
    }
    match value_type {
        TYPE_STRING => {
            c.string(&format!("string value of metadata key '{key}'"))?;
        }
        TYPE_ARRAY => {
            if depth > 2 {
                return Err(Error::malformed(format!("metadata key '{key}' nests arrays too deeply")));
            }
            let elem_type = c.u32(&format!("array type of metadata key '{key}'"))?;
            let len = c.u64(&format!("array length of metadata key '{key}'"))?;
            // Every element occupies at least one byte (strings at least their 8-byte length),
            // so a length beyond the remaining bytes is corrupt, whatever the element type.
            let min_elem = scalar_size(elem_type).unwrap_or(8);
            if len.saturating_mul(min_elem) > c.remaining() {
                return Err(Error::Truncated {
                    what: format!("array of {len} elements in metadata key '{key}'"),
                    offset: c.pos as u64,
                    needed: len.saturating_mul(min_elem),
                    file_len: c.bytes.len() as u64,
                });
            }
            if let Some(size) = scalar_size(elem_type) {
                let values = c.take(len * size, &|| format!("array of metadata key '{key}'"))?;
                if elem_type == TYPE_BOOL && values.iter().any(|&b| b > 1) {
                    return Err(Error::malformed(format!(
                        "metadata key '{key}' holds a bool array with a value other than 0 or 1"
                    )));
                }
            } else {
                for _ in 0..len {
                    skip_value(c, elem_type, key, depth + 1)?;
                }
            }
        }
        other => return Err(Error::malformed(format!("metadata key '{key}' has unknown value type {other}"))),
    }
    Ok(())
}

/// Validates the header structure of `bytes`; returns the GGUF version.
pub(crate) fn check_header(bytes: &[u8]) -> Result<u32> {
    if bytes.len() < 4 || &bytes[..4] != b"GGUF" {
        return Err(Error::BadMagic { found: bytes.iter().take(4).copied().collect() });
    }
    let mut c = Cursor { bytes, pos: 4 };
    let version = c.u32("GGUF version")?;
    if !(2..=3).contains(&version) {
        return Err(Error::UnsupportedVersion(version));
    }
    let tensor_count = c.u64("tensor count")?;
    let kv_count = c.u64("metadata count")?;
    // A metadata entry takes at least 8 (key length) + 4 (type) + 1 bytes; a tensor info at
    // least 8 + 4 + 4 + 8 bytes. Counts that cannot fit are corrupt, not merely large.
    if kv_count.saturating_mul(13) > c.remaining() {
        return Err(Error::malformed(format!("metadata count {kv_count} cannot fit in the file")));
    }
    let mut keys = std::collections::HashSet::new();
    let mut alignment = DEFAULT_ALIGNMENT;
    for i in 0..kv_count {
        let raw = c.string(&format!("metadata key #{i}"))?;
        let key = shown(&raw);
        let value_type = c.u32(&format!("type of metadata key '{key}'"))?;
        if raw == "general.alignment" {
            // ggml (gguf.cpp): a u32, a non-zero power of two. candle would divide by zero.
            if value_type != TYPE_UINT32 {
                return Err(Error::malformed(format!(
                    "general.alignment has value type {value_type}; GGUF requires a uint32 (type {TYPE_UINT32})"
                )));
            }
            let a = c.u32("value of general.alignment")?;
            if !a.is_power_of_two() {
                return Err(Error::malformed(format!("general.alignment is {a}; it must be a non-zero power of two")));
            }
            alignment = a as u64;
        } else {
            skip_value(&mut c, value_type, &key, 0)?;
        }
        if !keys.insert(raw) {
            return Err(Error::malformed(format!("metadata key '{key}' appears twice")));
        }
    }
    if tensor_count.saturating_mul(24) > c.remaining() {
        return Err(Error::malformed(format!("tensor count {tensor_count} cannot fit in the file")));
    }
    let mut names = std::collections::HashSet::new();
    for i in 0..tensor_count {
        let raw = c.string(&format!("name of tensor #{i}"))?;
        let name = shown(&raw);
        if !names.insert(raw) {
            return Err(Error::malformed(format!("tensor '{name}' appears twice")));
        }
        let n_dims = c.u32(&format!("dimension count of tensor '{name}'"))?;
        if n_dims == 0 || n_dims > MAX_TENSOR_DIMS {
            return Err(Error::malformed(format!(
                "tensor '{name}' has {n_dims} dimensions (ggml allows 1 to {MAX_TENSOR_DIMS})"
            )));
        }
        let mut elems: u64 = 1;
        for _ in 0..n_dims {
            let d = c.u64(&format!("dimensions of tensor '{name}'"))?;
            elems = elems
                .checked_mul(d)
                .ok_or_else(|| Error::malformed(format!("tensor '{name}' has an element count that overflows")))?;
        }
        let type_id = c.u32(&format!("type of tensor '{name}'"))?;
        if !KNOWN_GGML_TYPES.contains(&type_id) {
            return Err(Error::UnknownTensorType { tensor: name, type_id });
        }
        let offset = c.u64(&format!("data offset of tensor '{name}'"))?;
        if offset % alignment != 0 {
            return Err(Error::malformed(format!(
                "tensor '{name}' starts at data offset {offset}, not a multiple of the alignment {alignment}"
            )));
        }
    }
    Ok(version)
}
