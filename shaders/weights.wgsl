// weights.wgsl — reading quantized weight rows (prepended after the prelude for kernels that
// bind a weight buffer `w: array<u32>`). QTYPE specialises the pipeline per format.

override QTYPE: u32 = 0u;

// Four consecutive weights W[row, col..col+4) of a matrix with `cols` columns (col % 4 == 0).
fn load_w4(row: u32, col: u32, cols: u32) -> vec4<f32> {
    switch QTYPE {
        case 0u: {
            let b = row * cols + col;
            return vec4<f32>(bitcast<f32>(w[b]), bitcast<f32>(w[b + 1u]), bitcast<f32>(w[b + 2u]), bitcast<f32>(w[b + 3u]));
        }
        case 1u: {
            let b = (row * cols + col) / 2u;
            return vec4<f32>(unpack2x16float(w[b]), unpack2x16float(w[b + 1u]));
        }
        case 2u, 3u: {
            let b = block_base(QTYPE, row, col, cols);
            let i = col % 32u;
            let q = nibbles4(w[b + 1u + (i % 16u) / 4u], i >= 16u);
            if (QTYPE == 2u) {
                return (q - 8.0) * f16_low(w[b]);
            }
            return q * f16_low(w[b]) + f16_high(w[b]);
        }
        default: {
            let b = block_base(QTYPE, row, col, cols);
            return sbytes4(w[b + 1u + (col % 32u) / 4u]) * f16_low(w[b]);
        }
    }
}
