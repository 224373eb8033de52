"""Writes through `Client.log`: batching, retries, back-pressure, reported failures, the
final flush; against the real server, and against small stand-ins where a failure must
be made to happen."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import Server, start_server, stop_server, trajectory

from trajstore import Client, TrajstoreError


def test_logged_trajectories_are_all_stored_in_batches(fresh_server: Server) -> None:
    with Client(fresh_server.url, batch_size=64, flush_interval=0.2) as client:
        for i in range(1000):
            client.log(trajectory(f"t-{i:04d}", reward=i % 2, training_id="run-1", iteration_id=i // 100))
        assert client.flush(60)
        counts = client.counts
        assert (counts.queued, counts.stored, counts.skipped, counts.failed) == (1000, 1000, 0, 0)
        assert counts.batches >= 1000 // 64
        assert client.errors == []
        assert client.count(training_id="run-1") == 1000
        # Logging the same ids again stores nothing twice.
        for i in range(10):
            client.log(trajectory(f"t-{i:04d}"))
    assert client.counts.skipped == 10
    assert Client(fresh_server.url).count() == 1000


def test_a_batch_is_sent_after_flush_interval_without_a_flush(fresh_server: Server) -> None:
    client = Client(fresh_server.url, batch_size=1000, flush_interval=0.1)
    client.log(trajectory("timed"))
    reader = Client(fresh_server.url)
    for _ in range(100):
        if reader.count() == 1:
            break
        threading.Event().wait(0.05)
    assert reader.count() == 1, "sent by time, not by count"
    client.close()


def test_refused_records_are_reported_and_the_rest_stored(fresh_server: Server) -> None:
    with Client(fresh_server.url) as client:
        client.log(trajectory("good-1"))
        client.log({"trajectory_id": "bad-1", "reward": "high", "steps": []})
        client.log(trajectory("good-2"))
        client.flush(30)
        errors = client.errors
    assert len(errors) == 1, errors
    assert (errors[0].field, errors[0].trajectory_id, errors[0].index) == ("reward", "bad-1", 1)
    assert client.counts.stored == 2 and client.counts.failed == 1
    assert Client(fresh_server.url).count() == 2


def test_a_body_over_the_server_limit_is_split() -> None:
    server = start_server(extra=["--max-body-mb", "1"])
    try:
        big = "x" * 400_000
        with Client(server.url, batch_bytes=64 << 20, batch_size=100, flush_interval=5) as client:
            for i in range(5):
                client.log(trajectory(f"big-{i}", notes=big))
            client.flush(60)
            assert client.errors == []
            assert client.counts.stored == 5
    finally:
        stop_server(server)


def test_an_unreachable_server_is_reported_not_silent(caplog: pytest.LogCaptureFixture) -> None:
    # A port with nothing listening: bind one, then close it.
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    client = Client(f"http://127.0.0.1:{port}", max_retries=2, backoff=0.01)
    for i in range(3):
        client.log(trajectory(f"lost-{i}"))
    with caplog.at_level("ERROR", logger="trajstore"):
        client.flush(30)
    assert len(client.errors) == 1
    assert client.errors[0].records == 3
    assert "could not be reached" in client.errors[0].message
    assert client.counts.retries == 2 and client.counts.failed == 3
    assert any("3 record(s) were not stored" in r.getMessage() for r in caplog.records)
    client.close()


def test_the_token_is_sent() -> None:
    server = start_server(token="s3cret")
    try:
        without = Client(server.url, max_retries=0)
        without.log(trajectory("no-token"))
        without.flush(30)
        assert without.errors and without.errors[0].status == 401
        with Client(server.url, token="s3cret") as client:
            client.log(trajectory("with-token"))
            client.flush(30)
            assert client.errors == []
            assert client.count() == 1
    finally:
        stop_server(server)


class StandIn:
    """An HTTP server that answers POST /api/trajectories as the test says: a number of
    503s first, or only once `release` is set."""

    def __init__(self, failures: int = 0, hold: bool = False) -> None:
        self.failures = failures
        self.release = threading.Event()
        if not hold:
            self.release.set()
        self.received: list[list[dict[str, object]]] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                stand_in.release.wait(30)
                if stand_in.failures > 0:
                    stand_in.failures -= 1
                    self.send_response(503)
                    self.send_header("Retry-After", "0")
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(b'{"error": {"code": "unavailable", "message": "busy"}}')
                    return
                records = json.loads(body)
                stand_in.received.append(records)
                answer = json.dumps(
                    {"imported": len(records), "skipped": 0, "failed": 0, "errors": []}
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"

    def close(self) -> None:
        self.release.set()
        self.http.shutdown()


@pytest.fixture()
def stand_in() -> Iterator[StandIn]:
    s = StandIn(failures=2)
    yield s
    s.close()


def test_a_busy_server_is_retried_with_back_off(stand_in: StandIn) -> None:
    with Client(stand_in.url, backoff=0.01) as client:
        client.log(trajectory("retried"))
        client.flush(30)
        assert client.errors == []
        assert client.counts.retries == 2 and client.counts.stored == 1
    assert [r["trajectory_id"] for batch in stand_in.received for r in batch] == ["retried"]


def test_a_full_queue_makes_log_wait_instead_of_dropping() -> None:
    held = StandIn(hold=True)
    try:
        client = Client(held.url, batch_size=1, max_queue=2, flush_interval=0.01)
        client.log(trajectory("q-0"))  # taken by the sender, which then waits on the server
        threading.Event().wait(0.3)
        client.log(trajectory("q-1"))
        client.log(trajectory("q-2"))
        with pytest.raises(queue.Full):
            client.log(trajectory("q-3"), timeout=0.2)
        held.release.set()
        client.log(trajectory("q-3"), timeout=30)
        client.close()
        sent = [r["trajectory_id"] for batch in held.received for r in batch]
        assert sent == ["q-0", "q-1", "q-2", "q-3"], "in order, nothing dropped"
    finally:
        held.close()


def test_what_was_logged_is_flushed_at_interpreter_exit(fresh_server: Server, tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(
        "import sys\n"
        "from trajstore import Client\n"
        "client = Client(sys.argv[1], batch_size=1000, flush_interval=3600)\n"
        "for i in range(25):\n"
        "    client.log({'trajectory_id': f'exit-{i}', 'steps': [], 'reward': 1.0})\n"
        "# no flush, no close: the interpreter's exit sends them\n"
    )
    subprocess.run([sys.executable, str(script), fresh_server.url], check=True, timeout=60)
    assert Client(fresh_server.url).count() == 25


def test_a_client_dropped_without_close_still_sends_at_exit(fresh_server: Server, tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(
        "import gc, sys\n"
        "from trajstore import Client\n"
        "def step():\n"
        "    Client(sys.argv[1], flush_interval=3600).log({'trajectory_id': 'dropped', 'steps': []})\n"
        "step()\n"
        "gc.collect()\n"
    )
    subprocess.run([sys.executable, str(script), fresh_server.url], check=True, timeout=60)
    assert Client(fresh_server.url).count() == 1


def test_close_keeps_to_its_timeout_and_reports_what_it_could_not_send() -> None:
    held = StandIn(hold=True)
    try:
        client = Client(held.url, batch_size=1, flush_interval=0.01)
        client.log(trajectory("stuck"))
        threading.Event().wait(0.3)  # the sender is now waiting on the server
        started = time.monotonic()
        client.close(timeout=1)
        assert time.monotonic() - started < 5
        assert client.errors and client.errors[-1].records == 1
        assert "not sent within" in client.errors[-1].message
        assert client.flush(0.1) is False, "the send is still under way"
        with pytest.raises(TrajstoreError, match="closed"):
            client.log(trajectory("late"))
    finally:
        held.close()


def test_flush_after_close_returns_at_once(fresh_server: Server) -> None:
    client = Client(fresh_server.url)
    client.log(trajectory("once"))
    client.close()
    started = time.monotonic()
    assert client.flush() is True
    assert time.monotonic() - started < 1


def test_log_refuses_what_is_not_json_and_a_closed_client(fresh_server: Server) -> None:
    client = Client(fresh_server.url)
    with pytest.raises(TrajstoreError, match="not JSON"):
        client.log({"trajectory_id": "nan", "reward": float("nan")})
    client.close()
    with pytest.raises(TrajstoreError, match="closed"):
        client.log(trajectory("late"))


def test_bad_settings_name_the_parameter() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        Client("http://127.0.0.1:1", batch_size=0)
    with pytest.raises(ValueError, match="url"):
        Client("127.0.0.1:8000")
