#!/usr/bin/env bash
# Installs everything ctxscope needs to build, serve and test it. Idempotent: anything already
# present at the right version is skipped, so a second run takes seconds. Never downloads tools
# from outside the package registries (Debian, crates.io, npm, PyPI).
set -euo pipefail
cd "$(dirname "$0")/.."

TRUNK_VERSION=0.21.14
TRUNK_CRATE_SHA256=4f7fe1b23957a580be9a7a8b305c331b2977989f33695128d663380d09eaea37
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
export PATH="$HOME/.cargo/bin:$PATH"

sudo_if_needed() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
log() { echo "setup: $*" >&2; }

# Debian packages: headless Chromium for the browser test, lavapipe (Mesa's CPU Vulkan) and the
# Vulkan loader for native wgpu tests.
missing=()
command -v curl >/dev/null || missing+=(curl ca-certificates)
command -v brotli >/dev/null || missing+=(brotli)
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
dpkg -s mesa-vulkan-drivers >/dev/null 2>&1 || missing+=(mesa-vulkan-drivers)
dpkg -s libvulkan1 >/dev/null 2>&1 || missing+=(libvulkan1)
if [ ${#missing[@]} -gt 0 ]; then
  log "apt-get install ${missing[*]}"
  sudo_if_needed apt-get update -qq
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Rust: the toolchain pinned in rust-toolchain.toml, with the wasm target and the lint tools
# (rustup installs the file's components on first use; older rustups need them asked for).
rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
for c in rustfmt clippy; do
  rustup component list --installed | grep -q "^$c" || rustup component add "$c"
done

# Tools are rebuilt when their recipe (lockfile, sources) changes: a stamp beside each binary
# holds the recipe's hash.
stamp_of() { cat "$@" | sha256sum | cut -d' ' -f1; }
stamped() { [ -f "$HOME/.cargo/bin/.$1.ctxscope-stamp" ] && [ "$(cat "$HOME/.cargo/bin/.$1.ctxscope-stamp")" = "$2" ]; }

# Trunk 0.21.x (0.22 needs a newer rustc than we pin), from its crates.io source with
# tools/trunk/Cargo.lock (its own lockfile minus a yanked crate; see tools/trunk/README.md).
trunk_stamp=$(stamp_of tools/trunk/Cargo.lock)
if [ "$(trunk --version 2>/dev/null)" != "trunk $TRUNK_VERSION" ] || ! stamped trunk "$trunk_stamp"; then
  log "building trunk $TRUNK_VERSION (takes ~10-17 minutes on 2 cores)"
  tmp=$(mktemp -d)
  curl -sSfL -o "$tmp/trunk.crate" "https://static.crates.io/crates/trunk/trunk-$TRUNK_VERSION.crate"
  echo "$TRUNK_CRATE_SHA256  $tmp/trunk.crate" | sha256sum --check --quiet
  tar xzf "$tmp/trunk.crate" -C "$tmp"
  cp tools/trunk/Cargo.lock "$tmp/trunk-$TRUNK_VERSION/Cargo.lock"
  cargo install --path "$tmp/trunk-$TRUNK_VERSION" --locked --force
  rm -rf "$tmp"
  echo "$trunk_stamp" > "$HOME/.cargo/bin/.trunk.ctxscope-stamp"
fi

# wasm-bindgen exactly at the Cargo.lock version (Trunk runs offline and uses this one), built
# from wasm-bindgen-cli-support by tools/wasm-bindgen (see its main.rs for why).
tool_version=$(awk -F'"' '/^wasm-bindgen-cli-support = /{print $2}' tools/wasm-bindgen/Cargo.toml | tr -d '=')
if [ "$tool_version" != "$WASM_BINDGEN_VERSION" ]; then
  echo "setup: tools/wasm-bindgen pins wasm-bindgen-cli-support $tool_version but Cargo.lock has wasm-bindgen $WASM_BINDGEN_VERSION" >&2
  exit 1
fi
bindgen_stamp=$(stamp_of tools/wasm-bindgen/Cargo.toml tools/wasm-bindgen/Cargo.lock tools/wasm-bindgen/src/main.rs)
if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $WASM_BINDGEN_VERSION" ] || ! stamped wasm-bindgen "$bindgen_stamp"; then
  log "building wasm-bindgen $WASM_BINDGEN_VERSION from tools/wasm-bindgen (takes ~3 minutes)"
  cargo install --path tools/wasm-bindgen --locked --force
  echo "$bindgen_stamp" > "$HOME/.cargo/bin/.wasm-bindgen.ctxscope-stamp"
fi

# playwright-core for the browser test, from the committed lockfile (no browser download: it
# drives Debian's chromium).
if [ ! -f tests/browser/node_modules/.package-lock.json ] \
   || ! cmp -s tests/browser/package-lock.json tests/browser/node_modules/.package-lock.json.src 2>/dev/null; then
  log "npm ci (tests/browser)"
  (cd tests/browser && npm ci --no-audit --no-fund --silent && cp package-lock.json node_modules/.package-lock.json.src)
fi

# binaryen's wasm-opt for Trunk (npm's current release; Debian's 108 rejects what rustc emits).
if [ ! -f tools/web/node_modules/.package-lock.json ] \
   || ! cmp -s tools/web/package-lock.json tools/web/node_modules/.package-lock.json.src 2>/dev/null; then
  log "npm ci (tools/web: binaryen)"
  (cd tools/web && npm ci --no-audit --no-fund --silent && cp package-lock.json node_modules/.package-lock.json.src)
fi

# The default model.
scripts/fetch-model.sh
