#!/usr/bin/env bash
# Contract test of the HTTP API: schemathesis (pinned, installed by setup.sh) against the
# generated /api/openapi.json of a debug server over demo data, all checks, bounded
# examples. Fails on any failure. Usage: bash scripts/schemathesis.sh [MAX_EXAMPLES]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
VENV="${TRAJSTORE_VENV:-$HOME/.cache/trajstore/venv}"
BIN="$CARGO_TARGET_DIR/debug/trajstore"
TMP="$(mktemp -d)"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
# The debug binary must be the one of this tree (test.sh builds it first).
cargo build -q -p trajstore-cli
"$BIN" demo --db "$TMP/db" --trajectories 300 --no-serve >/dev/null
"$BIN" serve --db "$TMP/db" --host 127.0.0.1 --port "$PORT" >"$TMP/server.log" 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null; wait "$SERVER" 2>/dev/null; rm -rf "$TMP"' EXIT
# The stateful phase is left out: the links it infers between operations fed a stored
# trajectory id into integer filters (sample_id), a request no schema link describes.
"$VENV/bin/st" --config-file scripts/schemathesis.toml run "http://127.0.0.1:$PORT/api/openapi.json" --checks all \
  --phases examples,coverage,fuzzing \
  --max-examples "${1:-20}" --wait-for-schema 60 --seed 1
