#!/usr/bin/env bash
# Builds the web app into dist/ with Trunk (offline, local wasm-bindgen), then pins Trunk's
# inline loader script in the Content-Security-Policy by its sha256, so the CSP needs no
# 'unsafe-inline'.
set -euo pipefail
cd "$(dirname "$0")/.."
# Trunk finds wasm-opt on the PATH at the version Trunk.toml names (tools/web, from npm).
export PATH="$PWD/tools/web/node_modules/.bin:$HOME/.cargo/bin:$PATH"
trunk build --release --offline
# Trunk's worker loader shim calls wasm_bindgen("….wasm"), a form wasm-bindgen 0.2.130 warns is
# deprecated on every start; give it the object form instead.
printf '%s' 'importScripts("./ctxscope-worker.js");wasm_bindgen({module_or_path:"./ctxscope-worker_bg.wasm"});' > dist/ctxscope-worker_loader.js
python3 - dist/index.html <<'PY'
import base64, hashlib, re, sys
path = sys.argv[1]
html = open(path, encoding="utf-8").read()
scripts = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", html, flags=re.S)
hashes = " ".join("'sha256-%s'" % base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() for s in scripts)
html, n = re.subn(r"script-src 'self'", "script-src 'self' " + hashes, html, count=1)
if n != 1:
    sys.exit("build-app: no script-src in the CSP of dist/index.html")
open(path, "w", encoding="utf-8").write(html)
PY

# The service worker's shell: every file the page needs to start, and a version that changes
# with their content (so a new deploy replaces the old cache).
python3 - dist <<'PY'
import hashlib, json, os, sys
d = sys.argv[1]
shell = ["index.html", "ctxscope-app.js", "ctxscope-app_bg.wasm", "ctxscope-worker_loader.js",
         "ctxscope-worker.js", "ctxscope-worker_bg.wasm", "style.css", "echarts.min.js"]
h = hashlib.sha256()
for f in shell:
    h.update(open(os.path.join(d, f), "rb").read())
sw = os.path.join(d, "sw.js")
text = open(sw, encoding="utf-8").read()
text = text.replace("__VERSION__", h.hexdigest()[:16]).replace("__SHELL__", json.dumps(["./"] + shell))
open(sw, "w", encoding="utf-8").write(text)
PY

# Precompressed copies for static hosts that serve them (nginx gzip_static/brotli_static, …).
for f in dist/*.wasm dist/*.js dist/*.css; do
  gzip -9 -k -f "$f"
  brotli -q 11 -k -f "$f"
done
