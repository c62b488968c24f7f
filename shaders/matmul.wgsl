// matmul.wgsl — Y[n, out] = X[n, in] · W[out, in]ᵀ (+ R), W read straight from quantized storage.
// Tiled for prefill: a 64×64 output tile per workgroup, 16×16 threads computing 4×4 each, K in
// steps of 16 through workgroup memory. `in` must be a multiple of 32 (one quant block).

// Params and bindings: linear.wgsl (shared with the other linear kernel).

const TILE: u32 = 64u;
const TK: u32 = 16u;

var<workgroup> xs: array<array<f32, 17>, 64>; // [token][k], padded against bank conflicts
var<workgroup> ws: array<array<f32, 17>, 64>; // [output][k]

// One output row of this thread's 4×4 block: columns out0 + lid.x + 16j for j = 0..3.
fn store_row(tok: u32, first_out: u32, acc: vec4<f32>) {
    if (tok >= p.n) {
        return;
    }
    for (var j = 0u; j < 4u; j++) {
        let o = first_out + 16u * j;
        if (o < p.out_dim) {
            let idx = tok * p.out_dim + o;
            var v = acc[j];
            if (p.add_residual != 0u) {
                v += r[idx];
            }
            y[idx] = v;
        }
    }
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let tok0 = wg.y * TILE;
    let out0 = wg.x * TILE;
    let t = lid.y * 16u + lid.x;           // 0..255
    let load_row = t / 4u;                  // 0..63
    let load_col = (t % 4u) * 4u;           // 0, 4, 8, 12
    // acc_i[j]: token tok0 + lid.y + 16i, output out0 + lid.x + 16j. Plain vec4 registers, no
    // arrays: drivers may place dynamically indexed private arrays in slow local memory.
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var k0 = 0u; k0 < p.in_dim; k0 += TK) {
        let tok = tok0 + load_row;
        var xv = vec4<f32>(0.0);
        if (tok < p.n) {
            xv = x[(tok * p.in_dim + k0 + load_col) / 4u];
        }
        xs[load_row][load_col] = xv.x;
        xs[load_row][load_col + 1u] = xv.y;
        xs[load_row][load_col + 2u] = xv.z;
        xs[load_row][load_col + 3u] = xv.w;
        let o = out0 + load_row;
        var wv = vec4<f32>(0.0);
        if (o < p.out_dim) {
            wv = load_w4(o, k0 + load_col, p.in_dim);
        }
        ws[load_row][load_col] = wv.x;
        ws[load_row][load_col + 1u] = wv.y;
        ws[load_row][load_col + 2u] = wv.z;
        ws[load_row][load_col + 3u] = wv.w;
        workgroupBarrier();
        for (var k = 0u; k < TK; k++) {
            let a = vec4<f32>(xs[lid.y][k], xs[lid.y + 16u][k], xs[lid.y + 32u][k], xs[lid.y + 48u][k]);
            let b = vec4<f32>(ws[lid.x][k], ws[lid.x + 16u][k], ws[lid.x + 32u][k], ws[lid.x + 48u][k]);
            acc0 = fma(vec4<f32>(a.x), b, acc0);
            acc1 = fma(vec4<f32>(a.y), b, acc1);
            acc2 = fma(vec4<f32>(a.z), b, acc2);
            acc3 = fma(vec4<f32>(a.w), b, acc3);
        }
        workgroupBarrier();
    }
    let first_out = out0 + lid.x;
    store_row(tok0 + lid.y, first_out, acc0);
    store_row(tok0 + lid.y + 16u, first_out, acc1);
    store_row(tok0 + lid.y + 32u, first_out, acc2);
    store_row(tok0 + lid.y + 48u, first_out, acc3);
}
