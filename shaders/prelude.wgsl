// prelude.wgsl — shared by every kernel (prepended by engine/src/gpu/kernels.rs).
//
// Weight formats as they sit in GPU storage (array<u32>), one row after another:
//   F32   1 word per element.
//   F16   2 elements per word (unpack2x16float).
//   Q4_0  5 words per 32-element block: [d:f16 | pad], 16 bytes of nibbles (repacked from
//         GGUF's 18-byte block so blocks are word-aligned). x = (q - 8) * d.
//   Q4_1  5 words per block, GGUF's own layout: [d:f16 | m:f16], 16 bytes. x = q * d + m.
//   Q8_0  9 words per block: [d:f16 | pad], 32 signed bytes (repacked from 34 bytes). x = q * d.
// In both 4-bit formats byte i holds element i (low nibble) and element i + 16 (high nibble).

const QTYPE_F32: u32 = 0u;
const QTYPE_F16: u32 = 1u;
const QTYPE_Q4_0: u32 = 2u;
const QTYPE_Q4_1: u32 = 3u;
const QTYPE_Q8_0: u32 = 8u;

fn f16_low(word: u32) -> f32 {
    return unpack2x16float(word).x;
}

fn f16_high(word: u32) -> f32 {
    return unpack2x16float(word).y;
}

// Four unsigned nibbles of `word`: bytes 0..3, low nibbles (high = false) or high nibbles.
fn nibbles4(word: u32, high: bool) -> vec4<f32> {
    let w = select(word, word >> 4u, high);
    return vec4<f32>(f32(w & 0xFu), f32((w >> 8u) & 0xFu), f32((w >> 16u) & 0xFu), f32((w >> 24u) & 0xFu));
}

// Four signed bytes of `word`.
fn sbytes4(word: u32) -> vec4<f32> {
    let w = bitcast<i32>(word);
    return vec4<f32>(f32((w << 24u) >> 24u), f32((w << 16u) >> 24u), f32((w << 8u) >> 24u), f32(w >> 24u));
}

fn words_per_block(qtype: u32) -> u32 {
    switch qtype {
        case 2u, 3u: { return 5u; }
        case 8u: { return 9u; }
        default: { return 0u; }
    }
}

// Word index of the header of the block holding element `col` of row `row` (`cols` per row).
fn block_base(qtype: u32, row: u32, col: u32, cols: u32) -> u32 {
    return (row * (cols / 32u) + col / 32u) * words_per_block(qtype);
}
