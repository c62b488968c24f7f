//! Rotary embedding from a host-built cos/sin table, fused with the KV-cache write.

use bytemuck::{Pod, Zeroable};

use super::Ops;
use crate::gpu::kernels::{grid, Kernel};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    heads: u32,
    kv_heads: u32,
    head_dim: u32,
    start: u32,
    capacity: u32,
}

/// Where this chunk's K and V go.
pub(crate) struct CacheSlot<'a> {
    pub k: &'a wgpu::Buffer,
    pub v: &'a wgpu::Buffer,
    pub start: usize,
    pub capacity: usize,
}

impl Ops<'_> {
    /// Rotates q ([n, heads, d]) in place and stores rotated k and plain v ([n, kv_heads, d])
    /// at cache rows `start ..` (cache layout [kv_heads, capacity, d]).
    #[allow(clippy::too_many_arguments)]
    pub fn rope_and_cache(
        &self,
        enc: &mut wgpu::CommandEncoder,
        q: &wgpu::Buffer,
        k: &wgpu::Buffer,
        v: &wgpu::Buffer,
        cos: &wgpu::Buffer,
        sin: &wgpu::Buffer,
        slot: CacheSlot<'_>,
        n: usize,
        heads: usize,
        kv_heads: usize,
        head_dim: usize,
    ) {
        let params = Params {
            n: n as u32,
            heads: heads as u32,
            kv_heads: kv_heads as u32,
            head_dim: head_dim as u32,
            start: slot.start as u32,
            capacity: slot.capacity as u32,
        };
        let threads = n * (heads + kv_heads) * head_dim / 2;
        let (gx, gy) = grid(threads.div_ceil(64) as u32);
                let buffers = [q, k, v, cos, sin, slot.k, slot.v];
        self.launch(enc, Kernel::Rope, 0, bytemuck::bytes_of(&params), &buffers, (gx, gy, 1));
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::CacheSlot;
    use crate::rope::RopeFrequencies;

    /// Adjacent-pair rotation, as the CPU reference does it.
    fn rotate(x: &[f32], cos: &[f32], sin: &[f32], heads: usize, d: usize) -> Vec<f32> {
        let pairs = d / 2;
        let mut out = x.to_vec();
        for (t, token) in out.chunks_mut(heads * d).enumerate() {
            for head in token.chunks_mut(d) {
                for k in 0..pairs {
                    let (c, s) = (cos[t * pairs + k], sin[t * pairs + k]);
                    let (a, b) = (head[2 * k], head[2 * k + 1]);
                    head[2 * k] = a * c - b * s;
                    head[2 * k + 1] = a * s + b * c;
                }
            }
        }
        out
    }

    #[test]
    fn rope_rotates_pairs_and_fills_the_cache() {
        let gpu = TestGpu::new();
        let (n, heads, kv_heads, d, start, capacity) = (5, 4, 2, 16, 3, 12);
        let freqs = RopeFrequencies::standard(10_000.0, d);
        let (cos, sin) = freqs.cos_sin(start..start + n);
        let q = random(n * heads * d, 1, 1.0);
        let k = random(n * kv_heads * d, 2, 1.0);
        let v = random(n * kv_heads * d, 3, 1.0);
        let (qb, kb, vb) = (gpu.buffer(&q), gpu.buffer(&k), gpu.buffer(&v));
        let (cb, sb) = (gpu.buffer(&cos), gpu.buffer(&sin));
        let kc = gpu.buffer(&vec![-7.0; kv_heads * capacity * d]);
        let vc = gpu.buffer(&vec![-7.0; kv_heads * capacity * d]);
        gpu.run(|ops, enc| {
            let slot = CacheSlot { k: &kc, v: &vc, start, capacity };
            ops.rope_and_cache(enc, &qb, &kb, &vb, &cb, &sb, slot, n, heads, kv_heads, d)
        });
        assert_close(&gpu.read(&qb), &rotate(&q, &cos, &sin, heads, d), 1e-6, "q");
        let k_rot = rotate(&k, &cos, &sin, kv_heads, d);
        let (k_cache, v_cache) = (gpu.read(&kc), gpu.read(&vc));
        for h in 0..kv_heads {
            for row in 0..capacity {
                let at = (h * capacity + row) * d;
                if (start..start + n).contains(&row) {
                    let src = ((row - start) * kv_heads + h) * d;
                    assert_close(&k_cache[at..at + d], &k_rot[src..src + d], 1e-6, "k cache");
                    assert_close(&v_cache[at..at + d], &v[src..src + d], 0.0, "v cache");
                } else {
                    assert!(k_cache[at..at + d].iter().all(|&x| x == -7.0), "row {row} outside the chunk was written");
                }
            }
        }
    }
}
