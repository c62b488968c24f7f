// linear.wgsl — the interface shared by matmul.wgsl (prefill) and matvec.wgsl (decode):
// Y[n, out] = X[n, in] · W[out, in]ᵀ (+ R when add_residual != 0). Prepended by kernels.rs.

struct Params {
    n: u32,
    in_dim: u32,
    out_dim: u32,
    add_residual: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> w: array<u32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read> r: array<f32>;
