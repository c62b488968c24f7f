//! Records a forward pass into one command encoder, with every run of consecutive dispatches in
//! one compute pass.
//!
//! A compute pass per dispatch cost wgpu-core a pass object, its own usage-scope tracking and
//! its replay into the encoder; a decode step recorded ~390 dispatches (~240 since the
//! fusions), and that CPU work, not the GPU, set its speed (BENCHMARKS.md). Dispatches in one pass keep the WebGPU ordering
//! guarantees: each dispatch is its own usage scope, and wgpu inserts the barriers a storage
//! write followed by a read needs (WebGPU spec, "Programmable pass encoding": a dispatch's
//! writes are visible to the next dispatch in the pass).
//!
//! Copies and query resolves are encoder commands and end the open pass. When the profiler is
//! on, each dispatch gets a pass of its own, because its timestamps are written at the pass's
//! beginning and end.

use super::kernels::Kernel;
use super::profiler::Profiler;

/// An encoder plus the compute pass currently open on it, if any.
pub(crate) struct Recorder {
    encoder: wgpu::CommandEncoder,
    /// The open pass. `forget_lifetime` lets it live beside its encoder, which wgpu keeps
    /// locked (any encoder command is an error) until the pass is dropped.
    pass: Option<wgpu::ComputePass<'static>>,
    /// Dispatches recorded so far (read by tests).
    #[cfg(test)]
    dispatches: usize,
    /// Compute passes begun so far (read by tests).
    #[cfg(test)]
    passes: usize,
}

impl Recorder {
    pub fn new(device: &wgpu::Device) -> Self {
        Self {
            encoder: device.create_command_encoder(&Default::default()),
            pass: None,
            #[cfg(test)]
            dispatches: 0,
            #[cfg(test)]
            passes: 0,
        }
    }

    /// The encoder, for copies and resolves: ends the open compute pass first.
    pub fn encoder(&mut self) -> &mut wgpu::CommandEncoder {
        self.pass = None;
        &mut self.encoder
    }

    /// Records one dispatch: into the open pass, or (profiling) into a pass of its own whose
    /// beginning and end write the kernel's timestamps.
    pub fn dispatch(
        &mut self,
        profiler: Option<&Profiler>,
        kernel: Kernel,
        pipeline: &wgpu::ComputePipeline,
        bind_group: &wgpu::BindGroup,
        groups: (u32, u32, u32),
    ) {
        #[cfg(test)]
        {
            self.dispatches += 1;
        }
        if let Some(timestamp_writes) = profiler.and_then(|p| p.writes(kernel)) {
            self.pass = None;
            #[cfg(test)]
            {
                self.passes += 1;
            }
            let desc = wgpu::ComputePassDescriptor { label: None, timestamp_writes: Some(timestamp_writes) };
            let mut pass = self.encoder.begin_compute_pass(&desc);
            pass.set_pipeline(pipeline);
            pass.set_bind_group(0, bind_group, &[]);
            pass.dispatch_workgroups(groups.0, groups.1, groups.2);
            return;
        }
        let pass = match &mut self.pass {
            Some(pass) => pass,
            none => {
                #[cfg(test)]
                {
                    self.passes += 1;
                }
                let pass = self.encoder.begin_compute_pass(&wgpu::ComputePassDescriptor::default());
                none.insert(pass.forget_lifetime())
            }
        };
        pass.set_pipeline(pipeline);
        pass.set_bind_group(0, bind_group, &[]);
        pass.dispatch_workgroups(groups.0, groups.1, groups.2);
    }

    /// (dispatches, compute passes) recorded so far.
    #[cfg(test)]
    pub fn counts(&self) -> (usize, usize) {
        (self.dispatches, self.passes)
    }

    /// Ends the open pass and finishes the encoder.
    pub fn finish(mut self) -> wgpu::CommandBuffer {
        self.pass = None;
        self.encoder.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::Recorder;
    use crate::gpu::ops::testutil::*;

    fn silu(x: f32) -> f32 {
        x / (1.0 + (-x).exp())
    }

    /// A copy ends the pass and sees the dispatch before it; the next two dispatches share a
    /// pass and the second sees the first's writes.
    #[test]
    fn dispatches_share_a_pass_and_see_each_others_writes() {
        let gpu = TestGpu::new();
        let ff = 300;
        let (g, u) = (random(ff, 1, 2.0), random(ff, 2, 2.0));
        let gate_up = gpu.buffer(&[g.clone(), u.clone()].concat());
        let (act, out) = (gpu.zeros(ff), gpu.zeros(ff / 2));
        let ops = gpu.ops();
        let mut rec = Recorder::new(&gpu.ctx.device);
        ops.swiglu(&mut rec, &gate_up, &act, 1, ff).unwrap();
        rec.encoder().copy_buffer_to_buffer(&act, 0, &gate_up, 0, (ff * 4) as u64);
        ops.swiglu(&mut rec, &gate_up, &act, 1, ff).unwrap();
        ops.swiglu(&mut rec, &act, &out, 1, ff / 2).unwrap();
        assert_eq!(rec.counts(), (3, 2), "(dispatches, passes)");
        gpu.ctx.queue.submit([rec.finish()]);
        gpu.ctx.check().unwrap();

        let a1: Vec<f32> = g.iter().zip(&u).map(|(&g, &u)| silu(g) * u).collect();
        let a2: Vec<f32> = a1.iter().zip(&u).map(|(&a, &u)| silu(a) * u).collect();
        let expected: Vec<f32> = a2[..ff / 2].iter().zip(&a2[ff / 2..]).map(|(&a, &b)| silu(a) * b).collect();
        assert_close(&gpu.read(&out), &expected, 1e-5, "swiglu, copy, swiglu, swiglu");
    }
}
