#!/usr/bin/env bash
# Installs everything ctxscope needs to build, serve and test it. Idempotent: anything already
# present at the right version is skipped, so a second run takes seconds. Never downloads tools
# from outside the package registries (Debian, crates.io, npm, PyPI).
set -euo pipefail
cd "$(dirname "$0")/.."

TRUNK_VERSION=0.21.14
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
export PATH="$HOME/.cargo/bin:$PATH"

sudo_if_needed() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
log() { echo "setup: $*" >&2; }

# Debian packages: headless Chromium for the browser test, lavapipe (Mesa's CPU Vulkan) and the
# Vulkan loader for native wgpu tests.
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
dpkg -s mesa-vulkan-drivers >/dev/null 2>&1 || missing+=(mesa-vulkan-drivers)
dpkg -s libvulkan1 >/dev/null 2>&1 || missing+=(libvulkan1)
if [ ${#missing[@]} -gt 0 ]; then
  log "apt-get install ${missing[*]}"
  sudo_if_needed apt-get update -qq
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Rust: the toolchain pinned in rust-toolchain.toml, with the wasm target.
rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown

# Trunk 0.21.x (0.22 needs a newer rustc than we pin).
if [ "$(trunk --version 2>/dev/null)" != "trunk $TRUNK_VERSION" ]; then
  log "cargo install trunk $TRUNK_VERSION (takes ~10-17 minutes on 2 cores)"
  cargo install trunk --version "$TRUNK_VERSION" --locked
fi

# wasm-bindgen-cli exactly at the Cargo.lock version (Trunk runs offline and uses this one).
if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $WASM_BINDGEN_VERSION" ]; then
  log "cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION (takes ~6 minutes)"
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi

# playwright-core for the browser test, from the committed lockfile (no browser download: it
# drives Debian's chromium).
if [ ! -f tests/browser/node_modules/.package-lock.json ] \
   || ! cmp -s tests/browser/package-lock.json tests/browser/node_modules/.package-lock.json.src 2>/dev/null; then
  log "npm ci (tests/browser)"
  (cd tests/browser && npm ci --no-audit --no-fund --silent && cp package-lock.json node_modules/.package-lock.json.src)
fi

# The default model.
scripts/fetch-model.sh
