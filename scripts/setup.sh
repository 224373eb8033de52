#!/usr/bin/env bash
# Installs what building and testing trajstore needs on a fresh Debian machine.
# Idempotent: skips what is already there.
set -euo pipefail

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

need_apt=()
command -v protoc >/dev/null 2>&1 || need_apt+=(protobuf-compiler)   # the Lance crates compile .proto files
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
bash "$(dirname "$0")/fetch-model.sh" || echo "setup: the embedding model could not be installed; similarity tests that need it will be skipped" >&2
