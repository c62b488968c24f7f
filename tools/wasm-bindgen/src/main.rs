//! `wasm-bindgen`, as Trunk calls it, built on `wasm-bindgen-cli-support` — the library that does
//! all the work of the upstream `wasm-bindgen-cli` binary.
//!
//! Why not the upstream binary: `wasm-bindgen-cli` bundles its test runner, whose HTTP server
//! (`rouille`) pulls `multipart` and `buf_redux`, unmaintained crates that current cargo flags as
//! "will be rejected by a future version of Rust". Trunk only needs the bindgen step; this binary
//! accepts exactly the flags Trunk 0.21 passes (`pipelines/rust/mod.rs`, `wasm_bindgen_build`)
//! and answers `--version` the same way, so Trunk runs it offline like the upstream one.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use wasm_bindgen_cli_support::Bindgen;

#[derive(Clone, Copy, ValueEnum)]
enum Target {
    Web,
    NoModules,
    Bundler,
}

#[derive(Parser)]
#[command(name = "wasm-bindgen", version)]
struct Args {
    /// The .wasm file cargo built.
    input: PathBuf,
    #[arg(long, value_enum, default_value = "bundler")]
    target: Target,
    #[arg(long)]
    out_dir: PathBuf,
    #[arg(long)]
    out_name: Option<String>,
    #[arg(long)]
    keep_debug: bool,
    #[arg(long)]
    no_demangle: bool,
    /// Accepted for Trunk's sake: wasm-bindgen detects reference types from the module.
    #[arg(long)]
    reference_types: bool,
    /// Accepted for Trunk's sake: weak references are always on in this wasm-bindgen.
    #[arg(long)]
    weak_refs: bool,
    #[arg(long)]
    no_typescript: bool,
    #[arg(long)]
    debug: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut b = Bindgen::new();
    match args.target {
        Target::Web => b.web(true)?,
        Target::NoModules => b.no_modules(true)?,
        Target::Bundler => b.bundler(true)?,
    };
    b.input_path(&args.input)
        .debug(args.debug)
        .demangle(!args.no_demangle)
        .keep_debug(args.keep_debug)
        .typescript(!args.no_typescript);
    if let Some(name) = &args.out_name {
        b.out_name(name);
    }
    b.generate(&args.out_dir)
}
