//! The Rust↔WGSL contract, checked without a GPU: every kernel, in every specialisation the
//! engine builds (each weight format for the weight kernels, the attention head size), is
//! assembled exactly as the engine does it, parsed and validated by naga (the front end wgpu
//! uses), and its bindings compared with the launcher's [`KernelParams`]: binding 0 is a uniform
//! `Params` struct with the Rust struct's size and, member by member, its name, offset, size and
//! type; bindings 1.. are storage buffers named, ordered and accessed as the launcher's buffers
//! struct declares; nothing else is bound, and the entry point uses every binding (pipelines
//! are built with an automatic layout, which leaves out unused bindings).

use naga::valid::{Capabilities, ValidationFlags, Validator};
use naga::{AddressSpace, Scalar, ScalarKind, StorageAccess, TypeInner};

use super::argmax::ArgmaxParams;
use super::attention::{AttentionParams, MergeParams};
use super::attention_row::RowParams;
use super::embed::EmbedParams;
use super::matmul::LinearParams;
use super::matvec_norm::MatvecNormParams;
use super::rmsnorm::RmsNormParams;
use super::rope::RopeParams;
use super::swiglu::SwiGluParams;
use super::{Access, Field, KernelParams};
use crate::gpu::kernels::{assemble, Kernel, ATTENTION_HEAD_DIM};
use crate::gpu::kernels::{ATTENTION_COOP_WORKGROUP_BYTES, MATMUL_COOP_WORKGROUP_BYTES};
use crate::gpu::weights::QTYPES;

/// The Rust side of one kernel's interface.
struct Contract {
    name: &'static str,
    kernels: &'static [Kernel],
    size: usize,
    fields: &'static [Field],
    buffers: &'static [(&'static str, Access)],
}

impl Contract {
    fn of<P: KernelParams>() -> Self {
        Self {
            name: std::any::type_name::<P>(),
            kernels: P::KERNELS,
            size: std::mem::size_of::<P>(),
            fields: P::FIELDS,
            buffers: P::BUFFERS,
        }
    }
}

/// The launcher interface of each kernel. The match is exhaustive, so a new kernel cannot be
/// added without saying which interface it has.
fn contract(kernel: Kernel) -> Contract {
    match kernel {
        Kernel::Matmul | Kernel::MatmulCoop | Kernel::Matvec | Kernel::MatvecSwiGlu => Contract::of::<LinearParams>(),
        Kernel::MatvecNorm => Contract::of::<MatvecNormParams>(),
        Kernel::Embed => Contract::of::<EmbedParams>(),
        Kernel::RmsNorm => Contract::of::<RmsNormParams>(),
        Kernel::SwiGlu => Contract::of::<SwiGluParams>(),
        Kernel::Rope => Contract::of::<RopeParams>(),
        Kernel::Attention | Kernel::AttentionCoop | Kernel::AttentionDecode => Contract::of::<AttentionParams>(),
        Kernel::AttentionMerge => Contract::of::<MergeParams>(),
        Kernel::AttentionRow => Contract::of::<RowParams>(),
        Kernel::Argmax => Contract::of::<ArgmaxParams>(),
    }
}

/// Every (QTYPE, head_dim, subgroup lanes) the engine builds `kernel` with: `Pipelines` is only
/// ever created with the attention head size (`GpuModel::load` refuses others), a weight kernel
/// is specialised for each format `weights::gpu_layout` produces, and a kernel that reduces is
/// built without subgroups and with them (4 lanes as on SwiftShader, 32 as on NVIDIA, 64 as on
/// AMD's GCN, where the 64-wide reductions are butterflies alone, 128 as the most any adapter
/// reports).
fn specialisations(kernel: Kernel) -> Vec<(Option<u32>, usize, u32)> {
    let qtypes: Vec<Option<u32>> =
        if kernel.reads_weights() { QTYPES.iter().map(|&(_, id, _)| Some(id)).collect() } else { vec![None] };
    let lanes: &[u32] = if kernel.reduces() { &[1, 4, 32, 64, 128] } else { &[1] };
    qtypes.iter().flat_map(|&q| lanes.iter().map(move |&l| (q, ATTENTION_HEAD_DIM, l))).collect()
}

/// What wgpu's validator allows a device with no optional shader features and WebGPU's downlevel
/// flags: `unpack2x16float` and friends, nothing more; so every kernel but the two cooperative-matrix
/// ones runs in browsers. `matmul_coop.wgsl` and `attention_coop.wgsl` get what the devices they
/// are selected on have: f16 arithmetic
/// (`Features::SHADER_F16`), cooperative matrices (`Features::EXPERIMENTAL_COOPERATIVE_MATRIX`),
/// subgroup operations (`Features::SUBGROUP`) and subgroup barriers (`Features::SUBGROUP_BARRIER`,
/// used by the attention kernel; Vulkan devices report it with subgroups), the capabilities wgpu
/// derives from those features. A reducing kernel built with subgroup
/// lanes (`subgroup_lanes` > 1) gets subgroup operations, all it needs on top of the plain set
/// (what WebGPU's `subgroups` feature gives).
fn capabilities(kernel: Kernel, subgroup_lanes: u32) -> Capabilities {
    let plain = Capabilities::SHADER_FLOAT16_IN_FLOAT32;
    match kernel {
        Kernel::MatmulCoop | Kernel::AttentionCoop => {
            plain
                | Capabilities::SHADER_FLOAT16
                | Capabilities::COOPERATIVE_MATRIX
                | Capabilities::SUBGROUP
                | Capabilities::SUBGROUP_BARRIER
        }
        _ if subgroup_lanes > 1 => plain | Capabilities::SUBGROUP,
        _ => plain,
    }
}

fn wgsl_scalar(inner: &TypeInner) -> Option<&'static str> {
    match inner {
        TypeInner::Scalar(Scalar { kind: ScalarKind::Uint, width: 4 }) => Some("u32"),
        TypeInner::Scalar(Scalar { kind: ScalarKind::Sint, width: 4 }) => Some("i32"),
        TypeInner::Scalar(Scalar { kind: ScalarKind::Float, width: 4 }) => Some("f32"),
        _ => None,
    }
}

/// The module the engine builds for `kernel` with `qtype`, validated with its overrides
/// resolved as the pipeline resolves them; every mismatch with the Rust side, as lines.
fn check(kernel: Kernel, qtype: Option<u32>, head_dim: usize, lanes: u32, c: &Contract) -> Vec<String> {
    let what = format!("{kernel:?} (QTYPE {qtype:?}, head_dim {head_dim}, subgroup lanes {lanes})");
    let source = assemble(kernel, head_dim, lanes);
    let module = match naga::front::wgsl::parse_str(&source) {
        Ok(m) => m,
        Err(e) => return vec![format!("{what}: WGSL does not parse:\n{}", e.emit_to_string(&source))],
    };
    let mut validator = Validator::new(ValidationFlags::all(), capabilities(kernel, lanes));
    let info = match validator.validate(&module) {
        Ok(info) => info,
        Err(e) => return vec![format!("{what}: WGSL does not validate:\n{}", e.emit_to_string(&source))],
    };
    let constants: naga::back::PipelineConstants =
        kernel.overrides(qtype.unwrap_or(0)).into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    let (module, info) = match naga::back::pipeline_constants::process_overrides(
        &module,
        &info,
        Some((naga::ShaderStage::Compute, "main")),
        &constants,
    ) {
        Ok(processed) => processed,
        Err(e) => return vec![format!("{what}: overrides do not resolve: {e}")],
    };
    if let Err(e) =
        Validator::new(ValidationFlags::all(), capabilities(kernel, lanes)).validate_resolved_overrides(&module)
    {
        return vec![format!("{what}: the specialised module does not validate:\n{}", e.emit_to_string(&source))];
    }

    let what = format!("{what} vs {}", c.name);
    let mut errors = Vec::new();
    let gctx = module.to_ctx();
    let entry = module.entry_points.iter().position(|ep| ep.name == "main" && ep.stage == naga::ShaderStage::Compute);
    let Some(entry) = entry else {
        return vec![format!("{what}: no compute entry point `main`")];
    };
    let uses = info.get_entry_point(entry);
    let mut seen = vec![false; c.buffers.len() + 1];
    for (handle, var) in module.global_variables.iter() {
        let Some(rb) = &var.binding else { continue };
        let name = var.name.as_deref().unwrap_or("?");
        let at = format!("{what}: @group({}) @binding({}) `{name}`", rb.group, rb.binding);
        if rb.group != 0 {
            errors.push(format!("{at}: every binding is in group 0"));
            continue;
        }
        let index = rb.binding as usize;
        if index >= seen.len() {
            errors.push(format!("{at}: the launcher binds only 0..={}", c.buffers.len()));
            continue;
        }
        seen[index] = true;
        if uses[handle].is_empty() {
            errors.push(format!("{at}: unused by `main`, so the automatic pipeline layout leaves it out"));
        }
        let inner = &module.types[var.ty].inner;
        if index == 0 {
            if var.space != AddressSpace::Uniform {
                errors.push(format!("{at}: binding 0 must be the uniform params, not {:?}", var.space));
                continue;
            }
            let TypeInner::Struct { members, span } = inner else {
                errors.push(format!("{at}: the uniform must be a struct"));
                continue;
            };
            if *span as usize != c.size {
                errors.push(format!("{at}: WGSL struct is {span} bytes, Rust's is {}", c.size));
            }
            if members.len() != c.fields.len() {
                errors.push(format!("{at}: WGSL struct has {} members, Rust's has {}", members.len(), c.fields.len()));
            }
            for (m, f) in members.iter().zip(c.fields) {
                let m_name = m.name.as_deref().unwrap_or("?");
                let m_inner = &module.types[m.ty].inner;
                let m_size = m_inner.size(gctx) as usize;
                let m_type = wgsl_scalar(m_inner);
                if m_name != f.name || m.offset as usize != f.offset || m_size != f.size || m_type != Some(f.wgsl) {
                    errors.push(format!(
                        "{at}: WGSL member `{m_name}: {}` at offset {} ({m_size} bytes) vs Rust `{}: {}` at offset {} ({} bytes)",
                        m_type.unwrap_or("(not a 32-bit scalar)"),
                        m.offset,
                        f.name,
                        f.wgsl,
                        f.offset,
                        f.size
                    ));
                }
            }
        } else {
            let (expected_name, expected_access) = c.buffers[index - 1];
            let access = match var.space {
                AddressSpace::Storage { access } if access == StorageAccess::LOAD => Access::Read,
                AddressSpace::Storage { access } if access == StorageAccess::LOAD | StorageAccess::STORE => {
                    Access::ReadWrite
                }
                other => {
                    errors.push(format!("{at}: bindings 1.. must be storage buffers, not {other:?}"));
                    continue;
                }
            };
            if name != expected_name || access != expected_access {
                errors.push(format!(
                    "{at} ({access:?}): the launcher passes `{expected_name}` ({expected_access:?}) here"
                ));
            }
            if !matches!(inner, TypeInner::Array { .. }) {
                errors.push(format!("{at}: expected a runtime-sized array"));
            }
        }
    }
    for (index, seen) in seen.iter().enumerate() {
        if !seen {
            errors.push(format!("{what}: the launcher binds {index}, the WGSL declares no @binding({index})"));
        }
    }
    errors
}

#[test]
fn every_kernel_matches_its_launcher_interface() {
    let mut errors = Vec::new();
    for &kernel in Kernel::ALL {
        let c = contract(kernel);
        assert!(c.kernels.contains(&kernel), "{kernel:?}: its interface {} does not list it", c.name);
        for (qtype, head_dim, lanes) in specialisations(kernel) {
            errors.extend(check(kernel, qtype, head_dim, lanes, &c));
        }
    }
    assert!(errors.is_empty(), "{} mismatch(es):\n{}", errors.join("\n").lines().count(), errors.join("\n"));
}

/// The check itself: planted mismatches (two members swapped, a member resized, buffers in the
/// wrong order, the wrong access, a missing buffer) are each reported.
#[test]
fn the_contract_check_reports_planted_mismatches() {
    let rmsnorm = || contract(Kernel::RmsNorm);
    assert!(check(Kernel::RmsNorm, None, ATTENTION_HEAD_DIM, 1, &rmsnorm()).is_empty());
    static SWAPPED: &[Field] = &[
        Field { name: "n", offset: 0, size: 4, wgsl: "u32" },
        Field { name: "eps", offset: 4, size: 4, wgsl: "f32" },
        Field { name: "dim", offset: 8, size: 4, wgsl: "u32" },
        Field { name: "_pad", offset: 12, size: 4, wgsl: "u32" },
    ];
    static WIDE: &[Field] = &[
        Field { name: "n", offset: 0, size: 4, wgsl: "u32" },
        Field { name: "dim", offset: 4, size: 4, wgsl: "u32" },
        Field { name: "eps", offset: 8, size: 8, wgsl: "f32" },
    ];
    let planted = [
        ("swapped members", Contract { fields: SWAPPED, ..rmsnorm() }),
        ("a wider member", Contract { fields: WIDE, size: 16, ..rmsnorm() }),
        ("a larger struct", Contract { size: 32, ..rmsnorm() }),
        (
            "buffers out of order",
            Contract {
                buffers: &[("weight", Access::Read), ("x", Access::Read), ("y", Access::ReadWrite)],
                ..rmsnorm()
            },
        ),
        (
            "the wrong access",
            Contract { buffers: &[("x", Access::Read), ("weight", Access::Read), ("y", Access::Read)], ..rmsnorm() },
        ),
        ("a missing buffer", Contract { buffers: &[("x", Access::Read), ("weight", Access::Read)], ..rmsnorm() }),
        (
            "an extra buffer",
            Contract {
                buffers: &[
                    ("x", Access::Read),
                    ("weight", Access::Read),
                    ("y", Access::ReadWrite),
                    ("z", Access::Read),
                ],
                ..rmsnorm()
            },
        ),
    ];
    for (what, c) in planted {
        let errors = check(Kernel::RmsNorm, None, ATTENTION_HEAD_DIM, 1, &c);
        assert!(!errors.is_empty(), "{what} went unnoticed");
    }
}

/// Every kernel fits WebGPU's default limits, the ones a browser grants without asking (the
/// device falls back to them, `context.rs`): at most 8 storage buffers, 16 KiB of workgroup
/// memory and 256 invocations a workgroup. The cooperative-matrix kernels never run in a
/// browser and need more workgroup memory than the default: each is held to the invocation
/// limit and to exactly the workgroup memory the host checks the device's limit against before
/// selecting it (`MATMUL_COOP_WORKGROUP_BYTES`, `ATTENTION_COOP_WORKGROUP_BYTES`).
#[test]
fn every_kernel_fits_webgpus_default_limits() {
    let defaults = wgpu::Limits::default();
    let mut errors = Vec::new();
    for &kernel in Kernel::ALL {
        let source = assemble(kernel, ATTENTION_HEAD_DIM, 1);
        let module = naga::front::wgsl::parse_str(&source).expect("parses (the contract test says why not)");
        let info =
            Validator::new(ValidationFlags::all(), capabilities(kernel, 1)).validate(&module).expect("validates");
        let gctx = module.to_ctx();
        let index = module.entry_points.iter().position(|ep| ep.name == "main").expect("a main entry point");
        let ep = &module.entry_points[index];
        // What the entry point uses: the prelude declares a reduction buffer every kernel
        // sees, and a pipeline gets only the globals its entry point reaches.
        let used: Vec<_> = module
            .global_variables
            .iter()
            .filter(|(handle, _)| !info.get_entry_point(index)[*handle].is_empty())
            .map(|(_, g)| g)
            .collect();
        let storage = used.iter().filter(|g| matches!(g.space, AddressSpace::Storage { .. })).count() as u32;
        let workgroup_bytes: u32 = used
            .iter()
            .filter(|g| g.space == AddressSpace::WorkGroup)
            .map(|g| module.types[g.ty].inner.size(gctx))
            .sum();
        let invocations: u32 = ep.workgroup_size.iter().product();
        if kernel != Kernel::MatmulCoop && storage > defaults.max_storage_buffers_per_shader_stage {
            errors.push(format!("{kernel:?}: {storage} storage buffers"));
        }
        let checked = match kernel {
            Kernel::AttentionCoop => Some(ATTENTION_COOP_WORKGROUP_BYTES),
            Kernel::MatmulCoop => Some(MATMUL_COOP_WORKGROUP_BYTES),
            _ => None,
        };
        if let Some(checked) = checked {
            if workgroup_bytes != checked {
                errors.push(format!(
                    "{kernel:?}: {workgroup_bytes} bytes of workgroup memory, the host checks for {checked}"
                ));
            }
        } else if workgroup_bytes > defaults.max_compute_workgroup_storage_size {
            errors.push(format!("{kernel:?}: {workgroup_bytes} bytes of workgroup memory"));
        }
        if invocations > defaults.max_compute_invocations_per_workgroup {
            errors.push(format!("{kernel:?}: {invocations} invocations a workgroup"));
        }
    }
    assert!(errors.is_empty(), "over WebGPU's default limits:\n{}", errors.join("\n"));
}

/// Every kernel compiles to SPIR-V through naga's back end, as wgpu's Vulkan back end compiles it:
/// at SPIR-V 1.3 (what wgpu-hal asks for on Vulkan 1.1) and 1.6 (Vulkan 1.3, e.g. the H200's
/// driver; the cooperative-matrix kernels only there). The cooperative-matrix kernels run on no
/// GPU of the development machines (lavapipe has no cooperative matrices), so without this
/// check a back-end failure shows only on the device box: the first `attention_coop.wgsl`
/// panicked inside naga's SPIR-V writer there, and this test reproduced it. (wgpu-hal also
/// passes the device's capability list; the default here allows every capability.)
#[test]
fn every_kernel_compiles_to_spirv() {
    for &kernel in Kernel::ALL {
        for (qtype, head_dim, lanes) in specialisations(kernel) {
            let source = assemble(kernel, head_dim, lanes);
            let module = naga::front::wgsl::parse_str(&source).expect("parses (the contract test says why not)");
            let info = Validator::new(ValidationFlags::all(), capabilities(kernel, lanes))
                .validate(&module)
                .expect("validates");
            let constants: naga::back::PipelineConstants =
                kernel.overrides(qtype.unwrap_or(0)).into_iter().map(|(k, v)| (k.to_string(), v)).collect();
            let (module, info) = naga::back::pipeline_constants::process_overrides(
                &module,
                &info,
                Some((naga::ShaderStage::Compute, "main")),
                &constants,
            )
            .expect("overrides resolve");
            let versions: &[(u8, u8)] = if capabilities(kernel, lanes).contains(Capabilities::COOPERATIVE_MATRIX) {
                &[(1, 6)]
            } else {
                &[(1, 3), (1, 6)]
            };
            for &lang_version in versions {
                let options = naga::back::spv::Options { lang_version, ..Default::default() };
                let pipeline = naga::back::spv::PipelineOptions {
                    shader_stage: naga::ShaderStage::Compute,
                    entry_point: "main".to_string(),
                };
                let words = naga::back::spv::write_vec(&module, &info, &options, Some(&pipeline));
                assert!(words.is_ok(), "{kernel:?} (QTYPE {qtype:?}, SPIR-V {lang_version:?}): {:?}", words.err());
            }
        }
    }
}

/// [`Kernel::reduces`] names exactly the kernels whose own source calls the prelude's
/// reductions: a kernel left out would reduce without its subgroup shuffles, one wrongly in
/// would get `enable subgroups;` for nothing (and need the feature in the browser).
#[test]
fn reduces_names_the_kernels_that_reduce() {
    for &kernel in Kernel::ALL {
        let own = crate::gpu::kernels::own_source(kernel);
        let calls = own.contains("workgroup_sum(") || own.contains("workgroup_max(");
        assert_eq!(kernel.reduces(), calls, "{kernel:?}");
    }
}

/// The subgroup probe (not a model kernel) parses and validates with subgroup operations, and
/// only with them.
#[test]
fn subgroup_probe_needs_subgroups_and_nothing_else() {
    let source = include_str!("../../../../shaders/subgroup_probe.wgsl");
    let module = naga::front::wgsl::parse_str(source).expect("parses");
    Validator::new(ValidationFlags::all(), Capabilities::SUBGROUP).validate(&module).expect("validates with subgroups");
    assert!(Validator::new(ValidationFlags::all(), Capabilities::empty()).validate(&module).is_err());
}
