//! Per-kernel GPU time from timestamp queries (where the adapter offers them), so benchmarks
//! can say which kernel dominates instead of guessing. Off unless asked for.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use super::buffers::read_f32;
use super::context::GpuContext;
use super::kernels::Kernel;
use crate::error::Result;

/// Timestamp pairs one submission can record.
const MAX_DISPATCHES: u32 = 2048;

pub(crate) struct Profiler {
    queries: wgpu::QuerySet,
    resolved: wgpu::Buffer,
    next: Cell<u32>,
    kernels: RefCell<Vec<Kernel>>,
    /// Accumulated GPU nanoseconds and dispatch counts per kernel.
    totals: RefCell<BTreeMap<String, (f64, u64)>>,
}

impl Profiler {
    pub fn new(ctx: &GpuContext) -> Option<Self> {
        if !ctx.device.features().contains(wgpu::Features::TIMESTAMP_QUERY) {
            return None;
        }
        let queries = ctx.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("kernel timestamps"),
            ty: wgpu::QueryType::Timestamp,
            count: MAX_DISPATCHES * 2,
        });
        let resolved = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("resolved timestamps"),
            size: MAX_DISPATCHES as u64 * 16,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        Some(Self {
            queries,
            resolved,
            next: Cell::new(0),
            kernels: RefCell::new(Vec::new()),
            totals: RefCell::new(BTreeMap::new()),
        })
    }

    /// Timestamp writes for the next dispatch of `kernel`, while room remains.
    pub fn writes(&self, kernel: Kernel) -> Option<wgpu::ComputePassTimestampWrites<'_>> {
        let i = self.next.get();
        if i >= MAX_DISPATCHES {
            return None;
        }
        self.next.set(i + 1);
        self.kernels.borrow_mut().push(kernel);
        Some(wgpu::ComputePassTimestampWrites {
            query_set: &self.queries,
            beginning_of_pass_write_index: Some(2 * i),
            end_of_pass_write_index: Some(2 * i + 1),
        })
    }

    /// Records the resolve of this submission's timestamps.
    pub fn resolve(&self, enc: &mut wgpu::CommandEncoder) {
        let n = self.next.get();
        if n > 0 {
            enc.resolve_query_set(&self.queries, 0..2 * n, &self.resolved, 0);
        }
    }

    /// After the submission: reads the timestamps and adds them to the totals.
    pub async fn collect(&self, ctx: &GpuContext) -> Result<()> {
        let n = self.next.replace(0);
        let kernels = std::mem::take(&mut *self.kernels.borrow_mut());
        if n == 0 {
            return Ok(());
        }
        let raw = read_f32(ctx, &self.resolved, 0, n as u64 * 16).await?;
        let ticks: Vec<u64> = bytemuck::cast_slice::<f32, u64>(&raw).to_vec();
        let period = ctx.queue.get_timestamp_period() as f64;
        let mut totals = self.totals.borrow_mut();
        for (i, kernel) in kernels.iter().enumerate() {
            let ns = ticks[2 * i + 1].saturating_sub(ticks[2 * i]) as f64 * period;
            let e = totals.entry(format!("{kernel:?}")).or_insert((0.0, 0));
            e.0 += ns;
            e.1 += 1;
        }
        Ok(())
    }

    /// (kernel, total ms, dispatches), largest first; resets the totals.
    pub fn take_report(&self) -> Vec<(String, f64, u64)> {
        let mut rows: Vec<_> = std::mem::take(&mut *self.totals.borrow_mut())
            .into_iter()
            .map(|(k, (ns, count))| (k, ns / 1e6, count))
            .collect();
        rows.sort_by(|a, b| b.1.total_cmp(&a.1));
        rows
    }
}
