#!/usr/bin/env bash
# Command 1 of the README: set up, build the app, serve it on http://127.0.0.1:8080.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build-app.sh
PORT="${PORT:-8080}"
echo "ctxscope: serving http://127.0.0.1:$PORT (Ctrl-C to stop)" >&2
exec python3 -m http.server "$PORT" --bind 127.0.0.1 --directory dist
