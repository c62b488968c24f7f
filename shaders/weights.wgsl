// weights.wgsl — reading quantized weight rows (prepended after the prelude for kernels that
// bind a weight buffer `w: array<u32>`). QTYPE specialises the pipeline per format.

override QTYPE: u32 = QTYPE_F32;

// Four consecutive weights W[row, col..col+4) of a matrix with `cols` columns (col % 4 == 0).
fn load_w4(row: u32, col: u32, cols: u32) -> vec4<f32> {
    switch QTYPE {
        case QTYPE_F32: {
            let b = row * cols + col;
            return vec4<f32>(bitcast<f32>(w[b]), bitcast<f32>(w[b + 1u]), bitcast<f32>(w[b + 2u]), bitcast<f32>(w[b + 3u]));
        }
        case QTYPE_F16: {
            let b = (row * cols + col) / 2u;
            return vec4<f32>(unpack2x16float(w[b]), unpack2x16float(w[b + 1u]));
        }
        case QTYPE_Q4_0, QTYPE_Q4_1: {
            let b = block_base(QTYPE, row, col, cols);
            let i = col % 32u;
            let q = nibbles4(w[b + 1u + (i % 16u) / 4u], i >= 16u);
            if (QTYPE == QTYPE_Q4_0) {
                return (q - 8.0) * f16_low(w[b]);
            }
            return q * f16_low(w[b]) + f16_high(w[b]);
        }
        default: { // QTYPE_Q8_0
            let b = block_base(QTYPE, row, col, cols);
            return sbytes4(w[b + 1u + (col % 32u) / 4u]) * f16_low(w[b]);
        }
    }
}
