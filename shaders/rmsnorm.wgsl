// rmsnorm.wgsl — y[i, :] = x[i, :] / sqrt(mean(x[i, :]²) + eps) · weight (one workgroup per row).

struct Params {
    n: u32,
    dim: u32,
    eps: f32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let row = wg.y * nwg.x + wg.x;
    if (row >= p.n) {
        return; // uniform per workgroup
    }
    let base = row * p.dim;
    var sum = 0.0;
    for (var c = t; c < p.dim; c += 256u) {
        let v = x[base + c];
        sum += v * v;
    }
    let inv = 1.0 / sqrt(workgroup_sum(t, sum, 256u) / f32(p.dim) + p.eps);
    for (var c = t; c < p.dim; c += 256u) {
        y[base + c] = x[base + c] * inv * weight[c];
    }
}
