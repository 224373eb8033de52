#!/usr/bin/env bash
# Set up, build, generate demo data, import it and serve it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. scripts/env.sh
cargo build -p trajstore-cli
exec "$CARGO_TARGET_DIR/debug/trajstore" demo "$@"
