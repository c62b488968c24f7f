// matvec_norm.wgsl — y[out] = W[out, in] · (x / sqrt(mean(x²) + eps) · gamma) for one token:
// the RMSNorm before a decode projection, fused into it. Every workgroup recomputes the norm
// of x (in = 576 for SmolLM2: a few loads per thread), which costs less than the separate
// dispatch, its barrier and the normed row's round trip through memory. Rows as in matvec.wgsl:
// 32 threads a row, 8 rows a workgroup, rows past 65535 workgroups in the grid's y dimension.

struct Params {
    in_dim: u32,
    out_dim: u32,
    eps: f32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> gamma: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> w: array<u32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

const ROWS_PER_GROUP: u32 = 8u;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    var squares = 0.0;
    for (var c = t * 4u; c < p.in_dim; c += 1024u) {
        let v = x[c / 4u];
        squares += dot(v, v);
    }
    let inv = 1.0 / sqrt(workgroup_sum(t, squares, 256u) / f32(p.in_dim) + p.eps);

    let row = (wg.y * nwg.x + wg.x) * ROWS_PER_GROUP + t / 32u;
    let lane = t % 32u;
    var sum = 0.0;
    if (row < p.out_dim) {
        for (var c = lane * 4u; c < p.in_dim; c += 128u) {
            sum += dot(load_w4(row, c, p.in_dim), x[c / 4u] * inv * gamma[c / 4u]);
        }
    }
    let total = workgroup_sum(t, sum, 32u);
    if (lane == 0u && row < p.out_dim) {
        y[row] = total;
    }
}
