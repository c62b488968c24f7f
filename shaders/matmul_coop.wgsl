// matmul_coop.wgsl — Y[n, out] = X[n, in] · W[out, in]ᵀ (+ R) on the tensor cores: the prefill
// matmul of matmul.wgsl with its multiply-adds done by 16×16×16 cooperative matrices
// (VK_KHR_cooperative_matrix through wgpu's EXPERIMENTAL_COOPERATIVE_MATRIX, native only). The
// inputs are rounded to f16 in workgroup memory, the products accumulate in f32, the result is
// f32. The engine selects it only where the adapter offers the f16 × f16 → f32 16×16×16
// configuration on 32-wide subgroups (engine/src/gpu/context.rs); everywhere else matmul.wgsl
// runs. `in` must be a multiple of 32 (one quant block); n and out may be anything.
//
// Tiles. A workgroup computes a 64×64 output tile (the grid of matmul.wgsl) with 4 subgroups of
// 32; each subgroup owns a 32×32 quarter, 2×2 accumulators, so every A and B fragment it loads
// feeds two multiply-adds. K advances 32 at a time (one quant block): the 128 threads load the
// 64×32 slices of X and of W (dequantised) with four vec4 loads each. Workgroup memory is
// 2 × 5 KiB of f16 slices plus 4 KiB of f32 staging, under WebGPU's 16 KiB default.
//
// Cooperative operations need uniform control flow: every loop bound is uniform and every
// out-of-range row or column is handled in the loads (zeros) and the stores (skipped), never by
// branching around a cooperative operation. Pointers must be uniform within a subgroup: subgroup
// s is invocations 32s..32s+31 (32-wide subgroups formed from consecutive local invocation
// indices, as NVIDIA forms warps; the host requires a fixed subgroup size of 32).

enable f16;
enable wgpu_cooperative_matrix;

// Params and bindings: linear.wgsl (shared with the other linear kernels).

const TILE: u32 = 64u;
const TK: u32 = 32u;
// Row stride of the f16 slices: 32 + 8 padding halves (80 bytes). Cooperative loads need rows
// aligned to 16 bytes (VK_KHR_cooperative_matrix); the padding staggers rows across banks.
const KS: u32 = 40u;

// Every array is a multiple of 16 bytes, so packed in order from an aligned base each one starts
// 16-byte aligned, as the cooperative loads and stores need.
var<workgroup> xs: array<f16, 2560>; // [token][k], TILE rows of KS
var<workgroup> ws: array<f16, 2560>; // [output][k], TILE rows of KS
var<workgroup> stage: array<f32, 1024>; // one 16×16 f32 fragment per subgroup, row-major

// Stores accumulator (i, j) of every subgroup: each subgroup writes its fragment to its 16×16
// staging block, then thread t writes 8 elements of block t / 32 to y (in range only, with the
// residual). Called by every invocation, with the same i and j.
fn emit(acc: coop_mat16x16<f32, C>, t: u32, tok0: u32, out0: u32, i: u32, j: u32) {
    let sg = t / 32u;
    let at = sg * 256u;
    let s16 = 16u;
    coopStoreT(acc, &stage[at], s16);
    workgroupBarrier();
    let lane = t % 32u;
    let tok_base = tok0 + (sg / 2u) * 32u + i * 16u;
    let out_base = out0 + (sg % 2u) * 32u + j * 16u;
    for (var m = 0u; m < 8u; m++) {
        let e = lane + 32u * m;
        let tok = tok_base + e / 16u;
        let o = out_base + e % 16u;
        if (tok < p.n && o < p.out_dim) {
            let idx = tok * p.out_dim + o;
            var v = stage[at + e];
            if (p.add_residual != 0u) {
                v += r[idx];
            }
            y[idx] = v;
        }
    }
    workgroupBarrier();
}

@compute @workgroup_size(128)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let tok0 = wg.y * TILE;
    let out0 = wg.x * TILE;
    let sg = t / 32u;
    // The subgroup's quarter: rows a_row.. of the X slice, rows b_row.. of the W slice.
    let a_row = (sg / 2u) * 32u;
    let b_row = (sg % 2u) * 32u;
    var c00 = coop_mat16x16<f32, C>();
    var c01 = coop_mat16x16<f32, C>();
    var c10 = coop_mat16x16<f32, C>();
    var c11 = coop_mat16x16<f32, C>();
    for (var k0 = 0u; k0 < p.in_dim; k0 += TK) {
        // 512 vec4s per slice: vec4 v = t + 128q is row v / 8, columns 4 (v % 8)...
        for (var q = 0u; q < 4u; q++) {
            let v = t + 128u * q;
            let row = v / 8u;
            let col = (v % 8u) * 4u;
            let at = row * KS + col;
            let tok = tok0 + row;
            var xv = vec4<f32>(0.0);
            if (tok < p.n) {
                xv = x[(tok * p.in_dim + k0 + col) / 4u];
            }
            xs[at] = f16(xv.x);
            xs[at + 1u] = f16(xv.y);
            xs[at + 2u] = f16(xv.z);
            xs[at + 3u] = f16(xv.w);
            let o = out0 + row;
            var wv = vec4<f32>(0.0);
            if (o < p.out_dim) {
                wv = load_w4(o, k0 + col, p.in_dim);
            }
            ws[at] = f16(wv.x);
            ws[at + 1u] = f16(wv.y);
            ws[at + 2u] = f16(wv.z);
            ws[at + 3u] = f16(wv.w);
        }
        workgroupBarrier();
        for (var kk = 0u; kk < TK; kk += 16u) {
            // A = X rows (row-major, coopLoadT); B[k][o] = W[o][k], i.e. the W slice read
            // column-major (coopLoad). Every index and the stride are plain values.
            let ia0 = a_row * KS + kk;
            let ia1 = (a_row + 16u) * KS + kk;
            let ib0 = b_row * KS + kk;
            let ib1 = (b_row + 16u) * KS + kk;
            let ks = KS;
            let a0 = coopLoadT<coop_mat16x16<f16, A>>(&xs[ia0], ks);
            let a1 = coopLoadT<coop_mat16x16<f16, A>>(&xs[ia1], ks);
            let b0 = coopLoad<coop_mat16x16<f16, B>>(&ws[ib0], ks);
            let b1 = coopLoad<coop_mat16x16<f16, B>>(&ws[ib1], ks);
            c00 = coopMultiplyAdd(a0, b0, c00);
            c01 = coopMultiplyAdd(a0, b1, c01);
            c10 = coopMultiplyAdd(a1, b0, c10);
            c11 = coopMultiplyAdd(a1, b1, c11);
        }
        workgroupBarrier();
    }
    emit(c00, t, tok0, out0, 0u, 0u);
    emit(c01, t, tok0, out0, 0u, 1u);
    emit(c10, t, tok0, out0, 1u, 0u);
    emit(c11, t, tok0, out0, 1u, 1u);
}
