//! Malformed GGUF input must produce a specific error — never a panic, never a huge allocation.

mod common;

use candle_core::quantized::gguf_file::Value;
use common::{write_gguf, TinyLlama};
use ctxscope_engine::{Error, ModelFile};

fn tiny() -> Vec<u8> {
    TinyLlama::default().to_gguf()
}

fn parse(bytes: Vec<u8>) -> Result<ModelFile, Error> {
    ModelFile::from_bytes(bytes)
}

/// Offset of the first tensor-info record: right after the metadata section.
fn header_with(tensor_count: u64, kv: &[u8]) -> Vec<u8> {
    let mut b = b"GGUF".to_vec();
    b.extend(3u32.to_le_bytes());
    b.extend(tensor_count.to_le_bytes());
    b.extend(1u64.to_le_bytes());
    b.extend(kv);
    b
}

fn kv_string(key: &str, value_len: u64, value: &[u8]) -> Vec<u8> {
    let mut b = (key.len() as u64).to_le_bytes().to_vec();
    b.extend(key.as_bytes());
    b.extend(8u32.to_le_bytes());
    b.extend(value_len.to_le_bytes());
    b.extend(value);
    b
}

#[test]
fn the_tiny_model_parses() {
    let file = parse(tiny()).expect("valid tiny model");
    assert_eq!(file.spec().block_count, 2);
    assert_eq!(file.spec().head_dim, 16);
    assert!(file.spec().tied_output);
}

#[test]
fn empty_and_wrong_magic_are_not_gguf() {
    assert!(matches!(parse(vec![]), Err(Error::BadMagic { .. })));
    assert!(matches!(parse(b"GGML\x03\0\0\0".to_vec()), Err(Error::BadMagic { .. })));
    let err = parse(b"PK\x03\x04 a zip file".to_vec()).unwrap_err();
    assert!(err.to_string().contains("not a GGUF file"), "{err}");
}

#[test]
fn unsupported_versions_are_named() {
    for v in [0u32, 1, 4, 99] {
        let mut b = tiny();
        b[4..8].copy_from_slice(&v.to_le_bytes());
        match parse(b) {
            Err(Error::UnsupportedVersion(found)) => assert_eq!(found, v),
            other => panic!("version {v}: {other:?}"),
        }
    }
}

#[test]
fn every_truncation_is_an_error_not_a_panic() {
    let full = tiny();
    // Every prefix of the header, then a spread of prefixes through the tensor data.
    let header_end = 4096.min(full.len());
    let cuts = (0..header_end).chain((header_end..full.len()).step_by(997));
    for cut in cuts {
        let result = parse(full[..cut].to_vec());
        assert!(result.is_err(), "a file cut at {cut} of {} bytes parsed", full.len());
    }
}

#[test]
fn absurd_string_length_is_rejected_before_allocating() {
    let b = header_with(0, &kv_string("general.architecture", u64::MAX / 2, b"llama"));
    match parse(b) {
        Err(Error::Truncated { needed, .. }) => assert_eq!(needed, u64::MAX / 2),
        other => panic!("{other:?}"),
    }
}

#[test]
fn absurd_array_length_is_rejected() {
    let key = "tokenizer.ggml.tokens";
    let mut kv = (key.len() as u64).to_le_bytes().to_vec();
    kv.extend(key.as_bytes());
    kv.extend(9u32.to_le_bytes()); // array
    kv.extend(8u32.to_le_bytes()); // of strings
    kv.extend((1u64 << 61).to_le_bytes());
    let err = parse(header_with(0, &kv)).unwrap_err();
    assert!(err.to_string().contains("array of 2305843009213693952 elements"), "{err}");
}

#[test]
fn absurd_counts_are_rejected() {
    let mut b = b"GGUF".to_vec();
    b.extend(3u32.to_le_bytes());
    b.extend(u64::MAX.to_le_bytes()); // tensors
    b.extend(0u64.to_le_bytes());
    assert!(matches!(parse(b), Err(Error::Malformed(m)) if m.contains("tensor count")));
    let mut b = b"GGUF".to_vec();
    b.extend(3u32.to_le_bytes());
    b.extend(0u64.to_le_bytes());
    b.extend((u64::MAX / 3).to_le_bytes()); // metadata entries
    assert!(matches!(parse(b), Err(Error::Malformed(m)) if m.contains("metadata count")));
}

#[test]
fn unknown_metadata_value_type_is_rejected() {
    let key = "x";
    let mut kv = (key.len() as u64).to_le_bytes().to_vec();
    kv.extend(key.as_bytes());
    kv.extend(77u32.to_le_bytes());
    kv.extend([0u8; 16]);
    let err = parse(header_with(0, &kv)).unwrap_err();
    assert!(err.to_string().contains("unknown value type 77"), "{err}");
}

/// Bytes of one tensor-info record.
fn tensor_info(name: &str, dims: &[u64], type_id: u32, offset: u64) -> Vec<u8> {
    let mut b = (name.len() as u64).to_le_bytes().to_vec();
    b.extend(name.as_bytes());
    b.extend((dims.len() as u32).to_le_bytes());
    for d in dims {
        b.extend(d.to_le_bytes());
    }
    b.extend(type_id.to_le_bytes());
    b.extend(offset.to_le_bytes());
    b
}

fn file_with_tensor(info: Vec<u8>) -> Vec<u8> {
    let mut b = header_with(1, &kv_string("general.architecture", 5, b"llama"));
    b.extend(info);
    b.extend([0u8; 64]);
    b
}

#[test]
fn bad_tensor_infos_are_rejected() {
    let unknown = parse(file_with_tensor(tensor_info("w", &[32], 4242, 0))).unwrap_err();
    assert!(matches!(&unknown, Error::UnknownTensorType { tensor, type_id: 4242 } if tensor == "w"), "{unknown}");

    let too_many_dims = parse(file_with_tensor(tensor_info("w", &[1, 1, 1, 1, 1], 0, 0))).unwrap_err();
    assert!(too_many_dims.to_string().contains("5 dimensions"), "{too_many_dims}");

    let overflow = parse(file_with_tensor(tensor_info("w", &[u64::MAX, 4], 0, 0))).unwrap_err();
    assert!(overflow.to_string().contains("overflows"), "{overflow}");

    let out_of_file = parse(file_with_tensor(tensor_info("w", &[1 << 20], 0, 0))).unwrap_err();
    assert!(matches!(&out_of_file, Error::Truncated { what, .. } if what.contains("tensor 'w'")), "{out_of_file}");

    let far_offset = parse(file_with_tensor(tensor_info("w", &[4], 0, u64::MAX - 31))).unwrap_err();
    assert!(matches!(far_offset, Error::Truncated { .. }), "{far_offset}");
    // ggml requires every tensor to start at a multiple of the alignment.
    let unaligned = parse(file_with_tensor(tensor_info("w", &[4], 0, 8))).unwrap_err();
    assert!(unaligned.to_string().contains("not a multiple of the alignment 32"), "{unaligned}");

    let partial_block = parse(file_with_tensor(tensor_info("w", &[33], 8, 0))).unwrap_err();
    assert!(partial_block.to_string().contains("block size"), "{partial_block}");
}

#[test]
fn non_llama_architecture_is_named() {
    let model = TinyLlama { architecture: "qwen2".into(), ..TinyLlama::default() };
    let err = parse(model.to_gguf()).unwrap_err();
    assert!(matches!(&err, Error::UnsupportedArchitecture(a) if a == "qwen2"), "{err}");
    assert!(err.to_string().contains("llama"));
}

#[test]
fn missing_or_misshapen_tensors_are_named() {
    let file = parse(tiny()).unwrap();
    let keep = |skip: &str| -> Vec<(String, candle_core::quantized::QTensor)> {
        file.spec()
            .tensors
            .iter()
            .filter(|t| t.name != skip)
            .map(|t| (t.name.clone(), file.qtensor(&t.name).unwrap()))
            .collect()
    };
    let metadata: Vec<(String, Value)> = file.metadata().iter().map(|(k, v)| (k.clone(), v.clone())).collect();

    let err = parse(write_gguf(&metadata, &keep("blk.1.ffn_up.weight"))).unwrap_err();
    assert!(matches!(&err, Error::MissingTensor(n) if n == "blk.1.ffn_up.weight"), "{err}");

    let mut tensors = keep("");
    let wrong = candle_core::Tensor::zeros((64, 32), candle_core::DType::F32, &candle_core::Device::Cpu).unwrap();
    let idx = tensors.iter().position(|(n, _)| n == "blk.0.attn_q.weight").unwrap();
    tensors[idx].1 = candle_core::quantized::QTensor::quantize(&wrong, candle_core::quantized::GgmlDType::F32).unwrap();
    let err = parse(write_gguf(&metadata, &tensors)).unwrap_err();
    assert!(matches!(&err, Error::TensorShape { name, .. } if name == "blk.0.attn_q.weight"), "{err}");
}

#[test]
fn wrong_metadata_types_are_named() {
    let file = parse(tiny()).unwrap();
    let tensors: Vec<_> =
        file.spec().tensors.iter().map(|t| (t.name.clone(), file.qtensor(&t.name).unwrap())).collect();
    let mut metadata: Vec<(String, Value)> = file.metadata().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    for (k, v) in metadata.iter_mut() {
        if k == "llama.block_count" {
            *v = Value::String("thirty".into());
        }
    }
    let err = parse(write_gguf(&metadata, &tensors)).unwrap_err();
    assert!(matches!(&err, Error::MetadataType { key, .. } if key == "llama.block_count"), "{err}");
    metadata.retain(|(k, _)| k != "llama.block_count");
    let err = parse(write_gguf(&metadata, &tensors)).unwrap_err();
    assert!(matches!(&err, Error::MissingMetadata(k) if k == "llama.block_count"), "{err}");
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]
        /// Random byte flips anywhere in a valid file: parsing returns (Ok or Err) without panicking.
        /// (`byte_flip_regressions` pins the inputs this has caught.)
        #[test]
        fn corrupted_bytes_never_panic(flips in proptest::collection::vec((0usize..1 << 20, any::<u8>()), 1..8)) {
            let mut b = tiny();
            let header = 6000.min(b.len());
            for (pos, byte) in flips {
                let at = pos % header;
                b[at] = byte;
            }
            let _ = parse(b);
        }
    }
}

/// Inputs the byte-flip fuzzer once caught: a flip that made a tensor's byte size overflow u64.
#[test]
fn byte_flip_regressions() {
    for flips in [[(125_006usize, 64u8)]] {
        let mut b = tiny();
        let header = 6000.min(b.len());
        for (pos, byte) in flips {
            b[pos % header] = byte;
        }
        let _ = parse(b);
    }
}

/// `general.alignment` must be a u32 and a non-zero power of two (ggml's gguf.cpp); 0 used to
/// reach a division by zero inside candle. The two files are the cases from the bug report.
#[test]
fn alignment_must_be_a_nonzero_power_of_two() {
    let case = |name: &str| std::fs::read(common::repo_root().join("tests/data/cases/gguf").join(name)).unwrap();
    let zero = parse(case("alignment_0.gguf")).unwrap_err();
    assert!(zero.to_string().contains("general.alignment is 0"), "{zero}");
    let three = parse(case("alignment_3_not_pow2.gguf")).unwrap_err();
    assert!(three.to_string().contains("general.alignment is 3"), "{three}");
    // Only a u32 power of two is accepted (the writer pads to 32, so 16 and 32 read back).
    for (value, ok) in [
        (Value::U32(32), true),
        (Value::U32(16), true),
        (Value::U32(0), false),
        (Value::U32(48), false),
        (Value::U64(32), false),
        (Value::I32(32), false),
        (Value::String("32".into()), false),
    ] {
        let t = TinyLlama { extra_metadata: vec![("general.alignment".into(), value.clone())], ..TinyLlama::default() };
        let r = parse(t.to_gguf());
        assert_eq!(r.is_ok(), ok, "{value:?}: {:?}", r.err());
    }
}

#[test]
fn repeated_keys_and_tensors_are_refused() {
    let mut b = b"GGUF".to_vec();
    b.extend(3u32.to_le_bytes());
    b.extend(0u64.to_le_bytes());
    b.extend(2u64.to_le_bytes());
    b.extend(kv_string("general.architecture", 5, b"llama"));
    b.extend(kv_string("general.architecture", 5, b"llama"));
    let err = parse(b).unwrap_err();
    assert!(err.to_string().contains("appears twice"), "{err}");
    let mut two = file_with_tensor(tensor_info("w", &[4], 0, 0));
    two[8..16].copy_from_slice(&2u64.to_le_bytes());
    let info = tensor_info("w", &[4], 0, 32);
    let at = two.len() - 64;
    two.splice(at..at, info);
    let err = parse(two).unwrap_err();
    assert!(err.to_string().contains("tensor 'w' appears twice"), "{err}");
}
