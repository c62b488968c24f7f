// matvec.wgsl — y[out] = W[out, in] · x[in] (+ r) for one token (decode). Each group of 32
// threads reduces one output row; 8 rows per workgroup. Rows beyond 65535 workgroups spill
// into the y dimension of the grid (large vocabularies).

// Params and bindings: linear.wgsl (shared with the other linear kernel).

const ROWS_PER_GROUP: u32 = 8u;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let group = (wg.y * nwg.x + wg.x) * ROWS_PER_GROUP;
    let row = group + t / 32u;
    let lane = t % 32u;
    var sum = 0.0;
    if (row < p.out_dim) {
        for (var c = lane * 4u; c < p.in_dim; c += 128u) {
            sum += dot(load_w4(row, c, p.in_dim), x[c / 4u]);
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
