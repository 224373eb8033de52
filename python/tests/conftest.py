"""Starts the real trajstore server (the binary the test command built) on a free port of
127.0.0.1, with an empty store per test module."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


def binary() -> str:
    explicit = os.environ.get("TRAJSTORE_BIN")
    if explicit:
        return explicit
    target = os.environ.get("CARGO_TARGET_DIR", str(Path.home() / ".cache" / "trajstore-target"))
    path = Path(target) / "debug" / "trajstore"
    if not path.exists():
        # Never skip silently: the test command builds the binary before these tests.
        raise RuntimeError(
            f"no trajstore binary at {path}; build it (cargo build -p trajstore-cli) or set TRAJSTORE_BIN"
        )
    return str(path)


@dataclass
class Server:
    url: str
    db: Path
    dir: Path
    process: subprocess.Popen[bytes]
    token: str | None = None


def start_server(token: str | None = None, extra: list[str] | None = None) -> Server:
    directory = Path(tempfile.mkdtemp(prefix="trajstore-py-"))
    db = directory / "db"
    args = [binary(), "serve", "--db", str(db), "--host", "127.0.0.1", "--port", "0", *(extra or [])]
    env = dict(os.environ)
    env.pop("TRAJSTORE_TOKEN", None)
    if token:
        args += ["--token", token]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    assert process.stderr is not None
    seen: list[str] = []
    found: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert process.stderr is not None
        for raw in process.stderr:
            text = raw.decode(errors="replace")
            seen.append(text)
            m = re.search(r"on (http://[\d.]+:\d+)", text)
            if m and not found:
                found.append(m.group(1))
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(60) or not found:
        process.kill()
        raise RuntimeError("the server did not start:\n" + "".join(seen))
    return Server(url=found[0], db=db, dir=directory, process=process, token=token)


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(30)
    except subprocess.TimeoutExpired:
        server.process.kill()
    shutil.rmtree(server.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    s = start_server()
    yield s
    stop_server(s)


@pytest.fixture()
def fresh_server() -> Iterator[Server]:
    s = start_server()
    yield s
    stop_server(s)


def trajectory(tid: str, reward: float = 1.0, **fields: object) -> dict[str, object]:
    """A small native trajectory."""
    return {
        "trajectory_id": tid,
        "reward": reward,
        "steps": [
            {"role": "user", "content": f"question of {tid}"},
            {"role": "assistant", "content": "an answer"},
        ],
        **fields,
    }
