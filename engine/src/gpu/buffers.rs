//! Creating storage buffers and reading results back (async on the web, blocking natively).

use wgpu::util::DeviceExt;

use super::context::GpuContext;
use crate::error::{Error, Quantity, Result};

pub(crate) const STORAGE: wgpu::BufferUsages =
    wgpu::BufferUsages::STORAGE.union(wgpu::BufferUsages::COPY_SRC).union(wgpu::BufferUsages::COPY_DST);

/// A storage buffer holding `data`; fails with a clear message past the binding limit.
pub(crate) fn upload(ctx: &GpuContext, label: &str, data: &[u8]) -> Result<wgpu::Buffer> {
    check_size(ctx, label, data.len() as u64)?;
    let mut contents = data.to_vec();
    contents.resize(data.len().div_ceil(4).max(1) * 4, 0);
    Ok(ctx.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some(label),
        contents: &contents,
        usage: STORAGE,
    }))
}

/// An uninitialised storage buffer of `bytes`.
pub(crate) fn storage(ctx: &GpuContext, label: &str, bytes: u64) -> Result<wgpu::Buffer> {
    check_size(ctx, label, bytes)?;
    Ok(ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: bytes.div_ceil(4).max(1) * 4,
        usage: STORAGE,
        mapped_at_creation: false,
    }))
}

fn check_size(ctx: &GpuContext, label: &str, bytes: u64) -> Result<()> {
    if bytes > ctx.max_binding() {
        return Err(Error::DoesNotFit {
            what: format!("the {label} buffer"),
            needed: Quantity::Bytes(bytes),
            limit: Quantity::Bytes(ctx.max_binding()),
            limit_of: "this GPU's largest binding".into(),
            max_tokens: None,
        });
    }
    Ok(())
}

/// Copies `bytes` bytes of `src` (from `offset`) into a mappable buffer and returns them as f32.
pub(crate) async fn read_f32(ctx: &GpuContext, src: &wgpu::Buffer, offset: u64, bytes: u64) -> Result<Vec<f32>> {
    let staging = readback(ctx, "readback", bytes);
    let mut encoder = ctx.device.create_command_encoder(&Default::default());
    encoder.copy_buffer_to_buffer(src, offset, &staging, 0, bytes);
    let submission = ctx.queue.submit([encoder.finish()]);
    let mapping = map_read(&staging);
    mapped(ctx, mapping, Some(submission)).await?;
    let data = {
        let view = staging.slice(..).get_mapped_range().map_err(|e| Error::Gpu(format!("reading back: {e}")))?;
        bytemuck::pod_collect_to_vec::<u8, f32>(&view)
    };
    staging.unmap();
    Ok(data)
}

/// A host-readable buffer of `bytes` that copies may write.
pub(crate) fn readback(ctx: &GpuContext, label: &str, bytes: u64) -> wgpu::Buffer {
    ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: bytes,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

/// A pending map of a whole [`readback`] buffer, asked for after the submission that writes it.
pub(crate) type Mapping = futures_channel::oneshot::Receiver<std::result::Result<(), wgpu::BufferAsyncError>>;

/// Asks for `buffer` (whole) to be mapped for reading once the work submitted before is done.
pub(crate) fn map_read(buffer: &wgpu::Buffer) -> Mapping {
    let (tx, rx) = futures_channel::oneshot::channel();
    buffer.slice(..).map_async(wgpu::MapMode::Read, move |r| {
        let _ = tx.send(r);
    });
    rx
}

/// Waits for `mapping`: natively by polling the device until `submission` (None: everything
/// submitted) is done, on the web by the browser's event loop. Fails with the device's error
/// (ours, through [`GpuContext::check`]) or as a lost device.
pub(crate) async fn mapped(
    ctx: &GpuContext,
    mapping: Mapping,
    #[cfg_attr(target_arch = "wasm32", allow(unused_variables))] submission: Option<wgpu::SubmissionIndex>,
) -> Result<()> {
    #[cfg(not(target_arch = "wasm32"))]
    ctx.device
        .poll(wgpu::PollType::Wait { submission_index: submission, timeout: None })
        .map_err(|e| Error::Gpu(format!("waiting for the GPU: {e}")))?;
    let result = mapping.await.map_err(|_| Error::DeviceLost("readback was cancelled".into()))?;
    ctx.check()?;
    // Our own mistakes surface through `check` (validation errors); a readback that still cannot
    // be mapped means the device went away (WebGPU rejects mapAsync once it is destroyed or lost,
    // possibly before the lost callback has run).
    result.map_err(|e| Error::DeviceLost(format!("a readback could not be mapped ({e})")))
}
