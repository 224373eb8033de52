"""Live-ingest load benchmark (run by hand, with a release build):

    python python/bench/live_load.py --bin ~/.cache/trajstore-target-release/release/trajstore

Starts `trajstore serve` on a fresh store, then for `--seconds` (60) runs `--clients` (8)
processes that each `log()` `--rate` (200) trajectories/s of about `--size` bytes (5,000)
through the Python client, while `--readers` (20) threads page the list. Prints, beside
references measured in the same run: records stored against sent, the `log()` call's
p50/p99 (reference: serialising the same record alone), the list's p50/p99 during the
load (reference: the same readers before the load), the fragments left after the run,
and the server's peak memory.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from trajstore import Client


def record(client_no: int, i: int, size: int, training_id: str | None = None) -> dict[str, Any]:
    filler = "x" * max(0, size - 400)
    return {
        "trajectory_id": f"load-{client_no}-{i}",
        "training_id": training_id or f"run-{client_no % 2}",
        "iteration_id": i // 200,
        "data_id": f"task-{i % 64}",
        "sample_id": i % 8,
        "reward": random.random(),
        "steps": [
            {"role": "user", "content": f"task {i % 64}"},
            {"role": "assistant", "content": filler},
        ],
    }


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def client_process(url: str, client_no: int, rate: float, seconds: float, size: int, out: Any) -> None:
    client = Client(url, flush_interval=0.25, batch_size=200)
    latencies: list[float] = []
    reference: list[float] = []
    start = time.monotonic()
    i = 0
    while time.monotonic() - start < seconds:
        due = start + i / rate
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        r = record(client_no, i, size)
        t0 = time.perf_counter()
        json.dumps(r, separators=(",", ":"))
        t1 = time.perf_counter()
        client.log(r)
        t2 = time.perf_counter()
        reference.append(t1 - t0)
        latencies.append(t2 - t1)
        i += 1
    client.close()
    counts = client.counts
    out.put(
        {
            "sent": i,
            "stored": counts.stored,
            "skipped": counts.skipped,
            "failed": counts.failed,
            "retries": counts.retries,
            "errors": [e.message for e in client.errors][:3],
            "log": latencies,
            "reference": reference,
        }
    )


def readers(url: str, n: int, seconds: float) -> list[float]:
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def read() -> None:
        mine = []
        while time.monotonic() < stop:
            page = random.randint(1, 10)
            sort = random.choice(["created_at", "reward", "step_count"])
            t0 = time.perf_counter()
            with urllib.request.urlopen(f"{url}/api/trajectories?page={page}&page_size=50&sort={sort}") as r:
                r.read()
            mine.append(time.perf_counter() - t0)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=read) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies


def peak_memory_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    m = re.search(r"VmHWM:\s+(\d+) kB", status)
    return int(m.group(1)) / 1024 if m else float("nan")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--rate", type=float, default=200)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--readers", type=int, default=20)
    p.add_argument("--size", type=int, default=5000)
    p.add_argument("--seed-rows", type=int, default=20_000, help="rows stored before the run")
    args = p.parse_args()

    work = Path(tempfile.mkdtemp(prefix="trajstore-load-"))
    db = work / "db"
    server = subprocess.Popen(
        [args.bin, "serve", "--db", str(db), "--port", "0"], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL
    )
    assert server.stderr is not None
    url = None
    for raw in server.stderr:
        m = re.search(r"on (http://[\d.]+:\d+)", raw.decode())
        if m:
            url = m.group(1)
            break
    assert url, "the server did not start"
    threading.Thread(target=lambda: [None for _ in server.stderr], daemon=True).start()  # type: ignore[union-attr]
    try:
        with Client(url, batch_size=1000) as seed:
            for i in range(args.seed_rows):
                seed.log(record(-1, i, args.size, training_id="seed"))
        quiet = readers(url, args.readers, 10)
        queue: Any = multiprocessing.Queue()
        procs = [
            multiprocessing.Process(
                target=client_process, args=(url, k, args.rate, args.seconds, args.size, queue)
            )
            for k in range(args.clients)
        ]
        for proc in procs:
            proc.start()
        loaded = readers(url, args.readers, args.seconds)
        results = [queue.get() for _ in procs]
        for proc in procs:
            proc.join()
        time.sleep(2)
        with urllib.request.urlopen(f"{url}/api/count?training_id=run-*") as r:
            total = json.loads(r.read())["total"]
        with urllib.request.urlopen(f"{url}/api/health") as r:
            health = json.loads(r.read())
        sent = sum(r["sent"] for r in results)
        log = [x for r in results for x in r["log"]]
        ref = [x for r in results for x in r["reference"]]
        ms = 1000
        shape = f"{args.clients} clients x {args.rate:.0f}/s x {args.seconds:.0f} s, ~{args.size} B"
        print(f"{shape}, {args.readers} readers")
        print(
            f"sent {sent:,}  stored (count) {total:,}  client stored {sum(r['stored'] for r in results):,}  "
            f"skipped {sum(r['skipped'] for r in results)}  failed {sum(r['failed'] for r in results)}  "
            f"retries {sum(r['retries'] for r in results)}"
        )
        errors = [e for r in results for e in r["errors"]]
        if errors:
            print("errors:", errors[:3])
        print(
            f"log() p50 {percentile(log, 0.5) * ms:.3f} ms  p99 {percentile(log, 0.99) * ms:.3f} ms  "
            f"(reference json.dumps alone: p50 {percentile(ref, 0.5) * ms:.3f} ms  "
            f"p99 {percentile(ref, 0.99) * ms:.3f} ms)"
        )
        print(
            f"list p50 {percentile(loaded, 0.5) * ms:.1f} ms  p99 {percentile(loaded, 0.99) * ms:.1f} ms  "
            f"over {len(loaded):,} requests under load  (reference before the load: p50 "
            f"{percentile(quiet, 0.5) * ms:.1f} ms  p99 {percentile(quiet, 0.99) * ms:.1f} ms "
            f"over {len(quiet):,})"
        )
        memory = peak_memory_mb(server.pid)
        print(f"fragments after the run: {health['fragments']}  server peak memory {memory:.0f} MB")
        print(f"mean list latency {statistics.mean(loaded) * ms:.1f} ms")
    finally:
        server.terminate()
        server.wait(60)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
