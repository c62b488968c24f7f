// weights.wgsl — reading quantized weight rows (prepended after the prelude for kernels that
// bind a weight buffer `w: array<u32>`). QTYPE specialises the pipeline per format.

override QTYPE: u32 = QTYPE_F32;

// The storage words four consecutive weights W[row, col..col+4) are decoded from (col % 4 == 0),
// for kernels that fetch a slice ahead and decode it later (matmul_coop.wgsl): F32 all four
// words, F16 two (x, y); the block formats the block's header (x) and the data word (y).
fn w4_words(row: u32, col: u32, cols: u32) -> vec4<u32> {
    switch QTYPE {
        case QTYPE_F32: {
            let b = row * cols + col;
            return vec4<u32>(w[b], w[b + 1u], w[b + 2u], w[b + 3u]);
        }
        case QTYPE_F16: {
            let b = (row * cols + col) / 2u;
            return vec4<u32>(w[b], w[b + 1u], 0u, 0u);
        }
        case QTYPE_Q4_0, QTYPE_Q4_1: {
            let b = block_base(QTYPE, row, col, cols);
            return vec4<u32>(w[b], w[b + 1u + (col % 16u) / 4u], 0u, 0u);
        }
        default: { // QTYPE_Q8_0
            let b = block_base(QTYPE, row, col, cols);
            return vec4<u32>(w[b], w[b + 1u + (col % 32u) / 4u], 0u, 0u);
        }
    }
}

// The four weights in `words` (from w4_words at column col; only col % 32 matters). All-zero
// words decode to zeros in every format.
fn decode_w4(words: vec4<u32>, col: u32) -> vec4<f32> {
    switch QTYPE {
        case QTYPE_F32: {
            return bitcast<vec4<f32>>(words);
        }
        case QTYPE_F16: {
            return vec4<f32>(unpack2x16float(words.x), unpack2x16float(words.y));
        }
        case QTYPE_Q4_0, QTYPE_Q4_1: {
            let q = nibbles4(words.y, col % 32u >= 16u);
            if (QTYPE == QTYPE_Q4_0) {
                return (q - 8.0) * f16_low(words.x);
            }
            return q * f16_low(words.x) + f16_high(words.x);
        }
        default: { // QTYPE_Q8_0
            return sbytes4(words.y) * f16_low(words.x);
        }
    }
}

// Four consecutive weights W[row, col..col+4) of a matrix with `cols` columns (col % 4 == 0).
fn load_w4(row: u32, col: u32, cols: u32) -> vec4<f32> {
    return decode_w4(w4_words(row, col, cols), col);
}
