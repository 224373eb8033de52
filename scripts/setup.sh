#!/usr/bin/env bash
# Installs what building and testing trajstore needs on a fresh Debian machine.
# Idempotent: skips what is already there.
set -euo pipefail

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

need_apt=()
command -v protoc >/dev/null 2>&1 || need_apt+=(protobuf-compiler)   # the Lance crates compile .proto files
command -v npm >/dev/null 2>&1 || need_apt+=(nodejs npm)               # fetches the web UI's chart and Markdown libraries
if [ "${TRAJSTORE_SETUP_BROWSER:-0}" = 1 ]; then
  command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)          # web UI tests (never downloaded by a test tool)
  command -v chromedriver >/dev/null 2>&1 || need_apt+=(chromium-driver)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]}" >&2
  $SUDO apt-get update -qq >/dev/null || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

command -v cargo >/dev/null 2>&1 || { echo "setup: cargo (Rust stable) is required" >&2; exit 1; }
# rustfmt and clippy are gates of the test command; they ship with the stable toolchain.
for tool in fmt clippy; do
  cargo "$tool" --version >/dev/null 2>&1 || rustup component add "$([ "$tool" = fmt ] && echo rustfmt || echo clippy)" || {
    echo "setup: cargo $tool is required (rustup component add $([ "$tool" = fmt ] && echo rustfmt || echo clippy))" >&2; exit 1; }
done

# The web UI's browser libraries (Chart.js, marked, DOMPurify), embedded into the binary
# at build time, playwright-core for the browser tests (it never downloads a browser), and
# prettier and eslint for the test command's JavaScript checks (devDependencies: never
# --omit=dev here). Pinned by package-lock.json; skipped when node_modules already matches it.
web=crates/trajstore-web
if [ ! -f "$web/node_modules/.package-lock.json" ] || ! cmp -s "$web/package-lock.json" "$web/node_modules/.trajstore-lock"; then
  echo "setup: npm ci in $web" >&2
  (cd "$web" && npm ci --no-audit --no-fund --loglevel=error && cp package-lock.json node_modules/.trajstore-lock)
fi
# A Python virtual environment, outside the clone so that a fresh clone (CI) reuses it,
# with the test tools pinned in scripts/python-requirements.txt: schemathesis (the API's
# contract test), pytest, ruff and mypy (the Python client's tests, lints and type check),
# pyarrow and pandas (the client's Arrow and DataFrame reads), setuptools (its wheel),
# OpenTelemetry's Python SDK and OTLP/HTTP exporter (the tests of POST /v1/traces), and
# the object-storage tests' S3 servers and outside readers (see the requirements file).
VENV="${TRAJSTORE_VENV:-$HOME/.cache/trajstore/venv}"
requirements="$(dirname "$0")/python-requirements.txt"
[ -x "$VENV/bin/pip" ] || python3 -m venv "$VENV"
if ! cmp -s "$requirements" "$VENV/.trajstore-requirements"; then
  echo "setup: installing $requirements into $VENV" >&2
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$requirements"
  cp "$requirements" "$VENV/.trajstore-requirements"
fi
# The Python client (python/), built as a wheel and installed into the venv as a user
# would install it; rebuilt each time, since it is small and the clone may have changed.
wheels="$HOME/.cache/trajstore/wheels"
rm -rf "$wheels" && mkdir -p "$wheels"
"$VENV/bin/pip" wheel -q --disable-pip-version-check --no-deps --no-build-isolation -w "$wheels" "$(dirname "$0")/../python" >/dev/null
"$VENV/bin/pip" install -q --disable-pip-version-check --no-deps --force-reinstall "$wheels"/trajstore-*.whl
bash "$(dirname "$0")/fetch-model.sh" || echo "setup: the embedding model could not be installed; similarity tests that need it will be skipped" >&2
