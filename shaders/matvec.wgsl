// matvec.wgsl — y[out] = W[out, in] · x[in] (+ r) for one token (decode). Each group of 32
// threads reduces one output row; 8 rows per workgroup. Rows beyond 65535 workgroups spill
// into the y dimension of the grid (large vocabularies).

// Params and bindings: linear.wgsl (shared with the other linear kernel).
//
// Built a second time as the kernel MatvecSwiGlu (GATED = true): x then holds one token's
// stacked gate and up projections ([2, in]) and the input is silu(gate) · up, in swiglu.wgsl's
// arithmetic element for element, so decode's FFN runs its down projection without a separate
// SwiGLU dispatch (30 fewer dispatches a token for SmolLM2; decode is bound by their count).

override GATED: bool = false;

const ROWS_PER_GROUP: u32 = 8u;

// Elements c..c+3 of the input (c a multiple of 4).
fn input4(c: u32) -> vec4<f32> {
    if (GATED) {
        let g = x[c / 4u];
        return g / (1.0 + exp(-g)) * x[(p.in_dim + c) / 4u];
    }
    return x[c / 4u];
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let group = (wg.y * nwg.x + wg.x) * ROWS_PER_GROUP;
    let row = group + t / 32u;
    let lane = t % 32u;
    var sum = 0.0;
    if (row < p.out_dim) {
        for (var c = lane * 4u; c < p.in_dim; c += 128u) {
            sum += dot(load_w4(row, c, p.in_dim), input4(c));
        }
    }
    let total = workgroup_sum(t, sum, 32u);
    if (lane == 0u && row < p.out_dim) {
        var v = total;
        if (p.add_residual != 0u) {
            v += r[row];
        }
        y[row] = v;
    }
}
