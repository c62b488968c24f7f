// swiglu.wgsl — act = silu(gate) · up (llama FFN), from the stacked gate/up projection:
//   gate_up [n, 2·ff] (gate in each row's first ff values, up in the rest) → act [n, ff].

struct Params {
    n: u32,
    ff: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> gate_up: array<f32>;
@group(0) @binding(2) var<storage, read_write> act: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.y * nwg.x * 256u + gid.x;
    if (i < p.n * p.ff) {
        let row = i / p.ff;
        let g = gate_up[i + row * p.ff];
        act[i] = g / (1.0 + exp(-g)) * gate_up[i + (row + 1u) * p.ff];
    }
}
