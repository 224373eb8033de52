#!/usr/bin/env bash
# Set up and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
TRAJSTORE_SETUP_BROWSER=1 bash scripts/setup.sh   # also Debian's chromium for the UI tests
. scripts/env.sh
# Formatting and lints are gates: unformatted or lint-failing code fails the suite.
cargo fmt --all --check
cargo clippy --workspace --all-targets -q -- -D warnings
# Source files stay small enough to read (see the script).
python3 scripts/check_sizes.py
# The static tier of the embedding model, distilled once (the tests that embed would
# otherwise each distil it).
cargo build -p trajstore-cli
"$CARGO_TARGET_DIR/debug/trajstore" embed --prepare-model
cargo test --workspace "$@"
# The web UI's JavaScript: formatted by the pinned Prettier, clean under the pinned ESLint.
(cd crates/trajstore-web && npm run --silent format:check && npm run --silent lint)
# The web UI in headless Chromium against a real server (the debug binary built above).
# Screenshots land in $TRAJSTORE_E2E_ARTIFACTS (default $CARGO_TARGET_DIR/e2e-artifacts).
cargo build -p trajstore-cli
# The Python client: lint, format and type gates, then its tests against that binary
# (the venv and the client's wheel come from setup.sh).
VENV="${TRAJSTORE_VENV:-$HOME/.cache/trajstore/venv}"
"$VENV/bin/ruff" check python tests
"$VENV/bin/ruff" format --check python tests
(cd python && "$VENV/bin/mypy" src)
(cd python && TRAJSTORE_BIN="$CARGO_TARGET_DIR/debug/trajstore" "$VENV/bin/python" -m pytest -q -p no:cacheprovider tests)
# s3:// and s3+ddb:// on real S3-compatible servers started on 127.0.0.1 (SeaweedFS,
# moto), and DuckDB and pylance reading a store trajstore wrote.
(cd tests/object_storage && TRAJSTORE_BIN="$CARGO_TARGET_DIR/debug/trajstore" "$VENV/bin/python" -m pytest -q -p no:cacheprovider .)
TRAJSTORE_BIN="$CARGO_TARGET_DIR/debug/trajstore" node --test crates/trajstore-web/e2e/
# The API's contract: schemathesis against the generated OpenAPI document (see the script).
bash scripts/schemathesis.sh
