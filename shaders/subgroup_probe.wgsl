// subgroup_probe.wgsl — what the prelude's reductions assume of the device's subgroups, measured
// once when the engine opens the device (engine/src/gpu/context.rs), before any kernel uses
// them. WGSL leaves the mapping from local_invocation_index to subgroup lanes to the device;
// the reductions take thread t as lane t % SUBGROUP_LANES. Thread t writes its subgroup's size,
// then, for k = 0..7, which thread's index a shuffle with mask 2^k brings it (t ^ 2^k where the
// assumption holds; masks at or past the subgroup size give indeterminate values, which the host
// does not read). Not a kernel of the model: no parameters, one 9 × 256-word buffer. The engine
// puts `enable subgroups;` in front for the browser (kernels::SUBGROUPS_ENABLE).

@group(0) @binding(0) var<storage, read_write> seen: array<u32>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) t: u32, @builtin(subgroup_size) size: u32) {
    seen[t] = size;
    for (var k = 0u; k < 8u; k++) {
        seen[256u * (k + 1u) + t] = subgroupShuffleXor(t, 1u << k);
    }
}
