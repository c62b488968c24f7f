//! Test harness for kernels: a device (lavapipe in CI), buffers in and out, CPU references.

use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};

use super::Ops;
use crate::error::Result;
use crate::gpu::buffers;
use crate::gpu::context::GpuContext;
use crate::gpu::kernels::Pipelines;
use crate::gpu::recorder::Recorder;
use crate::gpu::weights::{gpu_layout, GpuWeight};
use crate::gpu::PrecisionKernels;

pub(crate) struct TestGpu {
    pub ctx: GpuContext,
    pub pipes: Pipelines,
}

/// Deterministic values in [-scale, scale).
pub(crate) fn random(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut rng = crate::rng::SplitMix64(seed);
    (0..n).map(|_| rng.signed_unit() * scale).collect()
}

pub(crate) fn assert_close(got: &[f32], expected: &[f32], tol: f32, what: &str) {
    assert_eq!(got.len(), expected.len(), "{what}: length");
    for (i, (g, e)) in got.iter().zip(expected).enumerate() {
        let bound = tol * (1.0 + e.abs());
        assert!((g - e).abs() <= bound, "{what}: element {i}: GPU {g} vs CPU {e} (tolerance {bound})");
    }
}

/// Reference `x · wᵀ` in f64.
pub(crate) fn cpu_matmul(x: &[f32], w: &[f32], n: usize, in_dim: usize, out_dim: usize) -> Vec<f32> {
    let mut y = vec![0.0; n * out_dim];
    for t in 0..n {
        for o in 0..out_dim {
            let s: f64 = (0..in_dim).map(|c| x[t * in_dim + c] as f64 * w[o * in_dim + c] as f64).sum();
            y[t * out_dim + o] = s as f32;
        }
    }
    y
}

impl TestGpu {
    /// The adapter `GpuContext` picks (CTXSCOPE_GPU_ADAPTER honoured), running the exact f32
    /// kernels whatever CTXSCOPE_PRECISION_KERNELS says: kernel tests hold them to f32
    /// tolerances; a test of the fast kernels switches them on itself.
    pub fn new() -> Self {
        let mut ctx = GpuContext::new_blocking()
            .expect("kernel tests need a GPU adapter (lavapipe: apt install mesa-vulkan-drivers)");
        ctx.set_precision_kernels(PrecisionKernels::F32);
        Self { ctx, pipes: Pipelines::new(64) }
    }

    /// Whether the adapter can run the cooperative-matrix kernels; if not, says so for `test`
    /// (which then passes without running them, e.g. on lavapipe).
    pub fn has_coop(&self, test: &str) -> bool {
        let has = self.ctx.coop_matmul_supported();
        if !has {
            eprintln!(
                "{test}: skipped: {} has no 16×16×16 f16 × f16 → f32 cooperative matrices on 32-wide subgroups with subgroup operations and barriers and 44 KiB of workgroup memory",
                self.ctx.adapter_label()
            );
        }
        has
    }

    /// Whether the device's subgroups finish the reductions (subgroup lanes > 1); if not, says
    /// so for `test` (which then passes without comparing the two ways).
    pub fn has_subgroups(&self, test: &str) -> bool {
        let lanes = self.ctx.subgroup_lanes();
        if lanes == 1 {
            eprintln!("{test}: skipped: {} gives the reductions no subgroup lanes", self.ctx.adapter_label());
        }
        lanes > 1
    }

    pub fn buffer(&self, data: &[f32]) -> wgpu::Buffer {
        buffers::upload(&self.ctx, "test", bytemuck::cast_slice(data)).unwrap()
    }

    pub fn buffer_u32(&self, data: &[u32]) -> wgpu::Buffer {
        buffers::upload(&self.ctx, "test", bytemuck::cast_slice(data)).unwrap()
    }

    pub fn zeros(&self, n: usize) -> wgpu::Buffer {
        self.buffer(&vec![0.0; n])
    }

    pub fn read(&self, b: &wgpu::Buffer) -> Vec<f32> {
        pollster::block_on(buffers::read_f32(&self.ctx, b, 0, b.size())).unwrap()
    }

    /// The launchers, without a profiler or bind-group cache.
    pub fn ops(&self) -> Ops<'_> {
        Ops { ctx: &self.ctx, pipes: &self.pipes, prof: None, binds: None }
    }

    /// Records what `f` launches and submits it; panics on a launcher or device error.
    pub fn run(&self, f: impl FnOnce(&Ops<'_>, &mut Recorder) -> Result<()>) {
        let ops = self.ops();
        let mut enc = Recorder::new(&self.ctx.device);
        f(&ops, &mut enc).unwrap();
        self.ctx.queue.submit([enc.finish()]);
        self.ctx.check().unwrap();
    }

    /// Asserts that the launcher `f` calls refuses, with a message containing `needle`, before
    /// it records anything (nothing is submitted).
    pub fn expect_error(&self, f: impl FnOnce(&Ops<'_>, &mut Recorder) -> Result<()>, needle: &str) {
        let ops = self.ops();
        let mut enc = Recorder::new(&self.ctx.device);
        match f(&ops, &mut enc) {
            Ok(()) => panic!("expected an error mentioning {needle:?}, the launch was accepted"),
            Err(e) => assert!(e.to_string().contains(needle), "expected an error mentioning {needle:?}, got: {e}"),
        }
        drop(enc);
        self.ctx.check().unwrap();
    }

    /// A random [rows, cols] weight in `dtype`, on the GPU, plus its dequantized values
    /// (candle's dequantization: the CPU reference's).
    pub fn weight(&self, dtype: GgmlDType, rows: usize, cols: usize, seed: u64) -> (GpuWeight, Vec<f32>) {
        let t = Tensor::from_vec(random(rows * cols, seed, 1.0), (rows, cols), &Device::Cpu).unwrap();
        let q = QTensor::quantize(&t, dtype).unwrap();
        let f32s = q.dequantize(&Device::Cpu).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let raw = q.data().unwrap();
        let (qtype, bytes) = gpu_layout(dtype, &raw).unwrap();
        let buffer = buffers::upload(&self.ctx, "weight", &bytes).unwrap();
        (GpuWeight { buffer, qtype, rows, cols }, f32s)
    }
}
