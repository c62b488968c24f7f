//! The greedy pick on the GPU (`shaders/argmax.wgsl`): the largest logit's index, written where
//! the next decode step reads its token id, so decode steps can be queued back to back without
//! the logits coming back to the host in between (see `GpuSession::decode_greedy`).

use super::{kernel_interface, require, Bound, Ops};
use crate::error::Result;
use crate::gpu::kernels::Kernel;
use crate::gpu::recorder::Recorder;

kernel_interface! {
    params ArgmaxParams for [Argmax] { n: u32 }
    buffers ArgmaxBuffers { logits: Read, ids: ReadWrite, picked: ReadWrite }
}

impl Ops<'_> {
    /// ids[0] = picked[0] = the index of the largest of logits[0..n] (f32::total_cmp's order,
    /// ties to the lowest index, as [`crate::score::top_k`]); picked[1] = 1 if any of them is
    /// infinite or NaN, else 0. `logits` is indexed as [n], `ids` as [1], `picked` as [2].
    /// Errors: n = 0 (nothing to pick from) or n ≥ 2³² − 257 (the kernel's "none" index and
    /// its index stepping must not wrap).
    pub fn argmax(
        &self,
        enc: &mut Recorder,
        logits: &wgpu::Buffer,
        n: usize,
        ids: &wgpu::Buffer,
        picked: &wgpu::Buffer,
    ) -> Result<()> {
        require(n > 0 && n < (u32::MAX - 256) as usize, Kernel::Argmax, || format!("{n} logits"))?;
        let params = ArgmaxParams { n: n as u32 };
        let buffers = ArgmaxBuffers {
            logits: Bound::words(logits, &[n]),
            ids: Bound::words(ids, &[1]),
            picked: Bound::words(picked, &[2]),
        };
        self.launch(enc, Kernel::Argmax, 0, &params, &buffers, (1, 1, 1))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use crate::gpu::buffers;
    use crate::score::top_k;

    fn pick(gpu: &TestGpu, logits: &[f32]) -> (u32, u32, u32) {
        let (lb, ids, picked) = (gpu.buffer(logits), gpu.buffer_u32(&[7]), gpu.buffer_u32(&[9, 9]));
        gpu.run(|ops, enc| ops.argmax(enc, &lb, logits.len(), &ids, &picked));
        let read = |b: &wgpu::Buffer| -> Vec<u32> {
            let words = pollster::block_on(buffers::read_f32(&gpu.ctx, b, 0, b.size())).unwrap();
            words.iter().map(|w| w.to_bits()).collect()
        };
        let (id, p) = (read(&ids), read(&picked));
        (id[0], p[0], p[1])
    }

    /// The CPU's pick on the same values: sizes below, at and past the workgroup, a vocabulary
    /// the size of the default model's, ties (lowest index wins, also across threads), signed
    /// zeros (total order: +0 > −0), all-negative rows, and the non-finite flag.
    #[test]
    fn argmax_picks_what_the_cpu_picks() {
        let gpu = TestGpu::new();
        let mut cases: Vec<(String, Vec<f32>)> = Vec::new();
        for n in [1, 2, 255, 256, 257, 1000, 49_152 + 3] {
            cases.push((format!("random n={n}"), random(n, n as u64, 20.0)));
        }
        let mut tie = random(49_152, 3, 5.0);
        let max = tie.iter().copied().fold(f32::MIN, f32::max) + 1.0;
        // Index 300 is walked by thread 44, index 40_000 by thread 64: the lower must win.
        tie[40_000] = max;
        tie[300] = max;
        cases.push(("tie across threads".into(), tie.clone()));
        tie[44] = max; // same thread as 300, earlier
        cases.push(("tie within a thread".into(), tie));
        let mut zeros = vec![-1.0f32; 600];
        zeros[3] = -0.0;
        zeros[500] = 0.0;
        cases.push(("+0 beats -0".into(), zeros));
        cases.push(("all negative".into(), random(777, 8, 3.0).iter().map(|x| -x.abs() - 1.0).collect()));
        cases.push(("all equal".into(), vec![2.5; 513]));
        for (what, logits) in &cases {
            let want = top_k(logits, 1)[0] as u32;
            assert_eq!(pick(&gpu, logits), (want, want, 0), "{what}");
        }
        for bad in [f32::INFINITY, f32::NEG_INFINITY, f32::NAN] {
            let mut logits = random(1000, 4, 1.0);
            logits[999] = bad;
            assert_eq!(pick(&gpu, &logits).2, 1, "{bad} is flagged");
        }
    }

    #[test]
    fn argmax_refuses_empty_rows_and_short_buffers() {
        let gpu = TestGpu::new();
        let (lb, ids, picked) = (gpu.zeros(10), gpu.zeros(1), gpu.zeros(2));
        gpu.expect_error(|ops, enc| ops.argmax(enc, &lb, 0, &ids, &picked), "0 logits");
        gpu.expect_error(|ops, enc| ops.argmax(enc, &lb, 11, &ids, &picked), "'logits' buffer");
        let short = gpu.zeros(1);
        gpu.expect_error(|ops, enc| ops.argmax(enc, &lb, 10, &ids, &short), "'picked' buffer");
    }
}
