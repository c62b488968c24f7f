//! Greedy decoding with the pick on the GPU and two steps in flight.
//!
//! A decode step one token at a time is a round trip: record ~270 dispatches, submit, wait, read
//! the logits back, pick, record the next. The CPU's recording and the GPU's work then add up
//! (BENCHMARKS.md: a decode step is bound by the CPU recording it). Here each step ends with
//! `argmax.wgsl`, which writes the picked token where the next step's embedding reads its id, so
//! step i + 1 can be recorded and submitted before step i's pick has reached the host; the host
//! reads 8 bytes per step (the pick and a non-finite flag) through one of two staging buffers.
//! When the caller stops on a pick, the step already queued behind it ran one token too far: its
//! cache write sits past `len` and is dropped (`len` goes back), as a chunk that is never
//! accounted for.
//!
//! llama.cpp's CUDA back end reaches the same overlap with CUDA graphs and an asynchronous
//! sampler; WebGPU has neither reusable command buffers for compute nor device-side
//! scheduling, so a second step in flight is what is left.

use std::collections::VecDeque;

use super::{GpuSession, LogitBuffers, Scratch};
use crate::backend::Interrupt;
use crate::error::{Error, Result};
use crate::gpu::buffers::{self, Mapping};
use crate::rope::Region;

/// Bytes a step returns: the picked id and the non-finite flag (`argmax.wgsl`'s `picked`).
const PICK_BYTES: u64 = 8;

/// Where a step's pick goes: the kernel's output and the host-readable copy for this step.
pub(super) struct Pick<'a> {
    pub picked: &'a wgpu::Buffer,
    pub staging: &'a wgpu::Buffer,
}

/// The kernel's output and one staging copy per step in flight.
pub(crate) struct PickBuffers {
    picked: wgpu::Buffer,
    staging: [wgpu::Buffer; 2],
}

/// What every step of one pipelined run writes: the decode scratch and logits (one token) and
/// the pick buffers.
struct StepBuffers<'a> {
    sc: &'a Scratch,
    lb: &'a LogitBuffers,
    picks: &'a PickBuffers,
}

/// A submitted step: the token it runs (None: the pick of the step before, known to the GPU
/// only), its staging slot and its pending map.
struct Step {
    token: Option<u32>,
    slot: usize,
    submission: wgpu::SubmissionIndex,
    mapping: Mapping,
}

/// How a pipelined run ended.
pub(crate) enum GreedyEnd {
    /// The caller stopped on a pick: nothing more to run.
    Stopped,
    /// The caller accepted this token, but it must run outside the pipeline: the cache is full,
    /// or the key regions change at its position (the session re-rotates or recomputes).
    Handoff(u32),
}

impl GpuSession<'_> {
    /// Decode steps run by [`Self::decode_greedy`] so far (a step dropped past a refused pick
    /// does not count).
    pub(crate) fn pipelined_steps(&self) -> usize {
        self.pipelined_steps
    }

    /// Whether [`Self::decode_greedy`] may run: nothing read back per step besides the pick
    /// (no entropy recording, no attention row pending capture) and no kernel profiler (its
    /// timestamps are collected per forward pass).
    pub(crate) fn can_pipeline(&self) -> bool {
        let capturing = self.map.as_ref().is_some_and(|m| !m.pending_in(self.len, self.capacity - self.len).is_empty());
        self.entropy.is_none() && !capturing && self.model.profiler.is_none()
    }

    /// Greedy decoding from `first` at position `len()`: runs it, picks the argmax of its
    /// logits on the GPU, hands the pick to `accept`, and runs it if accepted, and so on, with
    /// the next step submitted before the current one's pick is read. Every token that ran is
    /// pushed to `ran` (the session's history) once its step is confirmed. The caller has
    /// checked `first` (vocabulary, room in the cache) and that `regions` are the key regions
    /// of the cached keys and of position `len()`, and awaited the interrupt for the first step;
    /// `interrupt` is awaited here before each step queued behind another.
    ///
    /// Errors: `accept`'s, [`Error::NonFinite`] for non-finite logits, [`Error::Cancelled`],
    /// and the device's. After any but a cancel the session must be reset.
    pub(crate) async fn decode_greedy(
        &mut self,
        first: u32,
        regions: &[Region],
        interrupt: &Interrupt,
        ran: &mut Vec<u32>,
        accept: &mut dyn FnMut(u32) -> Result<bool>,
    ) -> Result<GreedyEnd> {
        let sc = self.take_scratch(1)?;
        let lb = self.take_logit_buffers(1)?;
        let picks = match self.picks.take() {
            Some(p) => p,
            None => {
                let ctx = &self.model.ctx;
                let staging = || buffers::readback(ctx, "greedy pick", PICK_BYTES);
                PickBuffers {
                    picked: buffers::storage(ctx, "greedy pick", PICK_BYTES)?,
                    staging: [staging(), staging()],
                }
            }
        };
        let bufs = StepBuffers { sc: &sc, lb: &lb, picks: &picks };
        let out = self.pipeline(first, regions, interrupt, ran, accept, &bufs).await;
        self.scratch = Some((1, sc));
        self.logit_bufs = Some((1, lb));
        // After an error a staging buffer may still be mapped or waiting for a map: made again.
        if out.is_ok() || matches!(out, Err(Error::Cancelled)) {
            self.picks = Some(picks);
        }
        out
    }

    async fn pipeline(
        &mut self,
        first: u32,
        regions: &[Region],
        interrupt: &Interrupt,
        ran: &mut Vec<u32>,
        accept: &mut dyn FnMut(u32) -> Result<bool>,
        bufs: &StepBuffers<'_>,
    ) -> Result<GreedyEnd> {
        let mut queue: VecDeque<Step> = VecDeque::with_capacity(2);
        queue.push_back(self.submit_step(Some(first), 0, regions, bufs)?);
        loop {
            // Queue the step after the one in flight: it runs that step's pick, on the GPU.
            let fits = self.len < self.capacity && self.plan.regions(self.len + 1) == regions;
            if queue.len() == 1 && fits {
                if let Err(e) = interrupt.checkpoint().await {
                    return self.end(queue, bufs.picks, Err(e)).await;
                }
                let slot = 1 - queue[0].slot;
                queue.push_back(self.submit_step(None, slot, regions, bufs)?);
            }
            let step = queue.pop_front().expect("a step is in flight");
            let (pick, nonfinite) = self.read_pick(step, bufs.picks, ran).await?;
            if nonfinite {
                let e = Error::NonFinite { experiment: self.plan.experiment.describe(), what: "logits".into() };
                return self.end(queue, bufs.picks, Err(e)).await;
            }
            match accept(pick) {
                Ok(true) => {}
                Ok(false) => return self.end(queue, bufs.picks, Ok(GreedyEnd::Stopped)).await,
                Err(e) => return self.end(queue, bufs.picks, Err(e)).await,
            }
            match queue.front_mut() {
                Some(next) => next.token = Some(pick),
                None => return Ok(GreedyEnd::Handoff(pick)),
            }
        }
    }

    /// Records and submits one decode step at position `len()` into staging slot `slot`: its
    /// token written from the host (`Some`) or left where the previous step's pick put it.
    fn submit_step(
        &mut self,
        token: Option<u32>,
        slot: usize,
        regions: &[Region],
        bufs: &StepBuffers<'_>,
    ) -> Result<Step> {
        let StepBuffers { sc, lb, picks } = *bufs;
        let ctx = &self.model.ctx;
        if let Some(t) = token {
            ctx.queue.write_buffer(&sc.ids, 0, bytemuck::cast_slice(&[t]));
        }
        let chunk = self.prepare_chunk(1, regions, sc)?;
        let pick = Pick { picked: &picks.picked, staging: &picks.staging[slot] };
        let recorded = self.record_chunk(sc, Some(lb), &[0], &chunk, Some(pick));
        self.binds.reset();
        let submission = recorded?;
        ctx.check()?;
        self.len += 1;
        self.pipelined_steps += 1;
        Ok(Step { token, slot, submission, mapping: buffers::map_read(&picks.staging[slot]) })
    }

    /// Waits for `step`, records its token as run, and returns its pick and non-finite flag.
    async fn read_pick(&mut self, step: Step, picks: &PickBuffers, ran: &mut Vec<u32>) -> Result<(u32, bool)> {
        let staging = &picks.staging[step.slot];
        buffers::mapped(&self.model.ctx, step.mapping, Some(step.submission)).await?;
        let words: [u32; 2] = {
            let view = staging.slice(..).get_mapped_range().map_err(|e| Error::Gpu(format!("reading back: {e}")))?;
            bytemuck::pod_read_unaligned(&view[..PICK_BYTES as usize])
        };
        staging.unmap();
        ran.push(step.token.expect("a step's token is known once the step before it is read"));
        Ok((words[0], words[1] != 0))
    }

    /// Ends a run with `out` once the steps still in flight are taken back ([`Self::drain`]); a
    /// device error while draining wins over `out`.
    async fn end<T>(&mut self, queue: VecDeque<Step>, picks: &PickBuffers, out: Result<T>) -> Result<T> {
        self.drain(queue, picks).await?;
        out
    }

    /// Waits for the steps still in flight and takes them back: they ran past what the caller
    /// accepted, so their positions are dropped (their staging buffers end unmapped).
    async fn drain(&mut self, queue: VecDeque<Step>, picks: &PickBuffers) -> Result<()> {
        for step in queue {
            buffers::mapped(&self.model.ctx, step.mapping, Some(step.submission)).await?;
            picks.staging[step.slot].unmap();
            self.len -= 1;
            self.pipelined_steps -= 1;
        }
        Ok(())
    }
}
