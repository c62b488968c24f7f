// embed.wgsl — x[i, :] = W[ids[i], :]: token-embedding gather from quantized storage.
// An id past the table reads its last row: the ids are GPU data the host cannot bounds-check
// (the engine checks them against the vocabulary before upload).

struct Params {
    n: u32,
    dim: u32,
    rows: u32, // rows of W
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read> w: array<u32>;
@group(0) @binding(3) var<storage, read_write> x: array<vec4<f32>>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.y * nwg.x * 64u + gid.x;
    let quads = p.dim / 4u;
    let i = idx / quads;
    let c = (idx % quads) * 4u;
    if (i < p.n) {
        x[idx] = load_w4(min(ids[i], p.rows - 1u), c, p.dim);
    }
}
