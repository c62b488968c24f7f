// matmul_coop.wgsl — Y[n, out] = X[n, in] · W[out, in]ᵀ (+ R) on the tensor cores: the prefill
// matmul of matmul.wgsl with its multiply-adds done by 16×16×16 cooperative matrices
// (VK_KHR_cooperative_matrix through wgpu's EXPERIMENTAL_COOPERATIVE_MATRIX, native only). The
// inputs are rounded to f16 in workgroup memory, the products accumulate in f32, the result is
// f32. The engine selects it only where the adapter offers the f16 × f16 → f32 16×16×16
// configuration on 32-wide subgroups (engine/src/gpu/context.rs); everywhere else matmul.wgsl
// runs. `in` must be a multiple of 32 (one quant block); n and out may be anything.
//
// Tiles. A workgroup computes a 64×64 output tile (the grid of matmul.wgsl) with 8 subgroups of
// 32 in two halves of 4 (sliced K, as CUTLASS calls it): half h takes K slices h, h + 2, … of 64
// (two quant blocks each), and within a half each subgroup owns a 32×32 quarter, 2×2
// accumulators, so every A and B fragment it loads feeds two multiply-adds; the halves' partial
// sums are added when the tile is written. The prefill matmuls are small (512 rows a chunk: 72
// to 384 workgroups on the H200's 132 SMs), so what limits them is how much of each load's
// latency stays exposed; two halves double the warps per SM at the same grid, and each thread
// holds its next slices of X and W (raw storage words) in registers, fetched while the current
// ones are multiplied, and converts them to f16 in workgroup memory after the next barrier.
// Workgroup memory: 2 halves × 2 × 9 KiB of f16 slices and 8 KiB of f32 staging,
// `MATMUL_COOP_WORKGROUP_BYTES` in kernels.rs (the host selects the kernel only where the
// device's limit holds it; WebGPU's default is 16 KiB, the H200 offers 48).
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
const TK: u32 = 64u;
// Row stride of the f16 slices: 64 + 8 padding halves (144 bytes). Cooperative loads need rows
// aligned to 16 bytes (VK_KHR_cooperative_matrix); the padding staggers rows across banks.
const KS: u32 = 72u;

// Every array is a multiple of 16 bytes, so packed in order from an aligned base each one starts
// 16-byte aligned, as the cooperative loads and stores need.
var<workgroup> xs: array<f16, 9216>; // per half [token][k], TILE rows of KS
var<workgroup> ws: array<f16, 9216>; // per half [output][k], TILE rows of KS
var<workgroup> stage: array<f32, 2048>; // one 16×16 f32 fragment per subgroup, row-major

// Elements of one half's X or W slice in workgroup memory.
const SLICE: u32 = 4608u;

// This thread's eighth of its half's next slices: vec4 q of each is element t + 128q (t: the
// thread's index within its half) of the slice's
// 1024 vec4s (row (t + 128q) / 16, columns 4 ((t + 128q) % 16)..). X as loaded, W as the storage
// words `decode_w4` reads.
struct Slice {
    x0: vec4<f32>, x1: vec4<f32>, x2: vec4<f32>, x3: vec4<f32>,
    x4: vec4<f32>, x5: vec4<f32>, x6: vec4<f32>, x7: vec4<f32>,
    w0: vec4<u32>, w1: vec4<u32>, w2: vec4<u32>, w3: vec4<u32>,
    w4: vec4<u32>, w5: vec4<u32>, w6: vec4<u32>, w7: vec4<u32>,
}

var<private> next: Slice;

// X[tok0 + v / 16, k0 + 4 (v % 16) ..], zeros past n or in.
fn fetch_x(tok0: u32, k0: u32, v: u32) -> vec4<f32> {
    let tok = tok0 + v / 16u;
    let k = k0 + (v % 16u) * 4u;
    if (tok < p.n && k < p.in_dim) {
        return x[(tok * p.in_dim + k) / 4u];
    }
    return vec4<f32>(0.0);
}

// The storage words of W[out0 + v / 16, k0 + 4 (v % 16) ..], zeros past out or in.
fn fetch_w(out0: u32, k0: u32, v: u32) -> vec4<u32> {
    let o = out0 + v / 16u;
    let k = k0 + (v % 16u) * 4u;
    if (o < p.out_dim && k < p.in_dim) {
        return w4_words(o, k, p.in_dim);
    }
    return vec4<u32>(0u);
}

fn fetch(tok0: u32, out0: u32, k0: u32, t: u32) {
    next.x0 = fetch_x(tok0, k0, t);
    next.w0 = fetch_w(out0, k0, t);
    next.x1 = fetch_x(tok0, k0, t + 128u);
    next.w1 = fetch_w(out0, k0, t + 128u);
    next.x2 = fetch_x(tok0, k0, t + 256u);
    next.w2 = fetch_w(out0, k0, t + 256u);
    next.x3 = fetch_x(tok0, k0, t + 384u);
    next.w3 = fetch_w(out0, k0, t + 384u);
    next.x4 = fetch_x(tok0, k0, t + 512u);
    next.w4 = fetch_w(out0, k0, t + 512u);
    next.x5 = fetch_x(tok0, k0, t + 640u);
    next.w5 = fetch_w(out0, k0, t + 640u);
    next.x6 = fetch_x(tok0, k0, t + 768u);
    next.w6 = fetch_w(out0, k0, t + 768u);
    next.x7 = fetch_x(tok0, k0, t + 896u);
    next.w7 = fetch_w(out0, k0, t + 896u);
}

// Slice vec4 v as f16: X as is, W decoded (a slice starts on a block boundary, so the column
// within the slice gives the position within the block).
fn put(base: u32, v: u32, xv: vec4<f32>, wv: vec4<u32>) {
    let col = (v % 16u) * 4u;
    let at = base + (v / 16u) * KS + col;
    xs[at] = f16(xv.x);
    xs[at + 1u] = f16(xv.y);
    xs[at + 2u] = f16(xv.z);
    xs[at + 3u] = f16(xv.w);
    let d = decode_w4(wv, col);
    ws[at] = f16(d.x);
    ws[at + 1u] = f16(d.y);
    ws[at + 2u] = f16(d.z);
    ws[at + 3u] = f16(d.w);
}

fn stash(base: u32, t: u32) {
    put(base, t, next.x0, next.w0);
    put(base, t + 128u, next.x1, next.w1);
    put(base, t + 256u, next.x2, next.w2);
    put(base, t + 384u, next.x3, next.w3);
    put(base, t + 512u, next.x4, next.w4);
    put(base, t + 640u, next.x5, next.w5);
    put(base, t + 768u, next.x6, next.w6);
    put(base, t + 896u, next.x7, next.w7);
}

// Stores accumulator (i, j) of every subgroup: each subgroup writes its fragment to its 16×16
// staging block, then each thread t of the first half writes 8 elements of block t / 32 plus
// the same elements of the second half's block to y (in range only, with the residual). Called
// by every invocation, with the same i and j.
fn emit(acc: coop_mat16x16<f32, C>, t: u32, tok0: u32, out0: u32, i: u32, j: u32) {
    let sg = t / 32u;
    let at = sg * 256u;
    let s16 = 16u;
    coopStoreT(acc, &stage[at], s16);
    workgroupBarrier();
    if (t < 128u) {
        let lane = t % 32u;
        let tok_base = tok0 + (sg / 2u) * 32u + i * 16u;
        let out_base = out0 + (sg % 2u) * 32u + j * 16u;
        for (var m = 0u; m < 8u; m++) {
            let e = lane + 32u * m;
            let tok = tok_base + e / 16u;
            let o = out_base + e % 16u;
            if (tok < p.n && o < p.out_dim) {
                let idx = tok * p.out_dim + o;
                var v = stage[at + e] + stage[at + 1024u + e];
                if (p.add_residual != 0u) {
                    v += r[idx];
                }
                y[idx] = v;
            }
        }
    }
    workgroupBarrier();
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let tok0 = wg.y * TILE;
    let out0 = wg.x * TILE;
    let half = li / 128u;
    let t = li % 128u;
    let base = half * SLICE;
    let sg = t / 32u;
    // The subgroup's quarter: rows a_row.. of the X slice, rows b_row.. of the W slice.
    let a_row = (sg / 2u) * 32u;
    let b_row = (sg % 2u) * 32u;
    var c00 = coop_mat16x16<f32, C>();
    var c01 = coop_mat16x16<f32, C>();
    var c10 = coop_mat16x16<f32, C>();
    var c11 = coop_mat16x16<f32, C>();
    // Half h's slices start at h·TK; past `in` they load zeros (the loop bound is uniform).
    let first = half * TK;
    fetch(tok0, out0, first, t);
    for (var k0 = 0u; k0 < p.in_dim; k0 += 2u * TK) {
        stash(base, t);
        workgroupBarrier();
        if (k0 + 2u * TK < p.in_dim) {
            fetch(tok0, out0, k0 + 2u * TK + first, t);
        }
        for (var kk = 0u; kk < TK; kk += 16u) {
            // A = X rows (row-major, coopLoadT); B[k][o] = W[o][k], i.e. the W slice read
            // column-major (coopLoad). Every index and the stride are plain values.
            let ia0 = base + a_row * KS + kk;
            let ia1 = base + (a_row + 16u) * KS + kk;
            let ib0 = base + b_row * KS + kk;
            let ib1 = base + (b_row + 16u) * KS + kk;
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
    emit(c00, li, tok0, out0, 0u, 0u);
    emit(c01, li, tok0, out0, 0u, 1u);
    emit(c10, li, tok0, out0, 1u, 0u);
    emit(c11, li, tok0, out0, 1u, 1u);
}
