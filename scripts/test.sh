#!/usr/bin/env bash
# Command 2 of the README (and what CI runs): set up, then every test — native (engine, CLI,
# the real model against HF reference values, including the slow 8k case) and the browser test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"

echo "== formatting and lints (rustfmt.toml, clippy.toml) ==" >&2
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy -p ctxscope-app --target wasm32-unknown-unknown --all-targets -- -D warnings

echo "== native tests (cargo test) ==" >&2
cargo test --workspace --exclude ctxscope-app -- --include-ignored
# The app's library (message types, plot geometry, file parsing) also builds natively.
cargo test -p ctxscope-app --lib

echo "== web app build ==" >&2
scripts/build-app.sh

echo "== browser test (headless Chromium, SwiftShader WebGPU) ==" >&2
node --test tests/browser/
