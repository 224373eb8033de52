"""trajstore over s3:// on real S3-compatible servers (SeaweedFS and moto, on loopback):
every command, concurrent importers, a kill mid-import, a second server following the
first's writes, and the refusal of a store that ignores conditional puts."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

from conftest import S3Server, binary, boto, run, run_json, write_jsonl


def count(db: str, env: dict[str, str], *filters: str) -> int:
    args = ["query", "--db", db]
    for f in filters:
        args += ["--filter", f]
    result: Any = run_json(args, env)
    return int(result["total"])


def all_ids(db: str, env: dict[str, str], out: Path) -> list[str]:
    run(["export", str(out), "--db", db, "--format", "jsonl"], env)
    return [json.loads(line)["trajectory_id"] for line in out.read_text().splitlines()]


def test_every_command_works_over_s3(s3: S3Server, workdir: Path) -> None:
    env, db = s3.env, s3.store()
    data = write_jsonl(workdir / f"commands-{s3.name}.jsonl", range(300))

    report: Any = run_json(["import", str(data), "--db", db], env)
    assert (report["imported"], report["skipped"], report["failed"]) == (300, 0, 0)

    assert count(db, env) == 300
    assert count(db, env, "training_id=run-1") == 100
    shown: Any = run_json(["show", "traj-00007", "--db", db], env)
    assert shown["trajectory_id"] == "traj-00007"
    assert shown["steps"][0]["content"] == "fix the parser bug number traj-00007"

    stats: Any = run_json(["stats", "--db", db], env)
    assert stats["overall"]["count"] == 300
    # Rewards cycle 0, 1/3, 2/3, 1: a quarter of the rows reach the threshold of 1.
    assert stats["overall"]["success_count"] == 75

    # SQL reads the datasets on the object store: the summaries and the step facts.
    sql: Any = run_json(
        ["sql", "SELECT training_id, count(*) AS n FROM trajectories GROUP BY training_id ORDER BY 1", "--db", db],
        env,
    )
    assert sql["rows"] == [["run-0", 100], ["run-1", 100], ["run-2", 100]]
    steps: Any = run_json(["sql", "SELECT role, count(*) FROM steps GROUP BY role ORDER BY role", "--db", db], env)
    assert steps["rows"] == [["assistant", 300], ["user", 300]]

    # Before optimize no row is in the full-text index: the search scans them.
    hits: Any = run_json(["search", "zebras", "--db", db, "--limit", "1000"], env)
    assert len(hits["data"]) == 300
    hits = run_json(["search", "traj-00042", "--db", db], env)
    assert [h["trajectory_id"] for h in hits["data"]][:1] == ["traj-00042"]

    run_json(["optimize", "--db", db], env)
    hits = run_json(["search", "zebras", "--db", db, "--limit", "1000"], env)
    assert len(hits["data"]) == 300

    ids = all_ids(db, env, workdir / f"export-{s3.name}.jsonl")
    assert sorted(ids) == [f"traj-{i:05d}" for i in range(300)]

    again: Any = run_json(["import", str(data), "--db", db], env)
    assert (again["imported"], again["skipped"]) == (0, 300)
    assert count(db, env) == 300


def test_concurrent_importers_store_each_id_once(s3: S3Server, workdir: Path) -> None:
    """8 processes, files that overlap: each id stored once, and the reports add up."""
    env, db = s3.env, s3.store()
    # File k holds ids 40k .. 40k+119: each id is in up to three files.
    files = [write_jsonl(workdir / f"overlap-{s3.name}-{k}.jsonl", range(40 * k, 40 * k + 120)) for k in range(8)]
    distinct = {f"traj-{i:05d}" for k in range(8) for i in range(40 * k, 40 * k + 120)}
    procs = [
        subprocess.Popen(
            [binary(), "import", str(f), "--db", db, "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for f in files
    ]
    reports = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, out.decode() + err.decode()
        reports.append(json.loads(out))
    for r in reports:
        assert r["imported"] + r["skipped"] == 120 and r["failed"] == 0, r
    assert sum(r["imported"] for r in reports) == len(distinct)
    ids = all_ids(db, env, workdir / f"overlap-{s3.name}.jsonl")
    assert len(ids) == len(set(ids)) == len(distinct)
    assert set(ids) == distinct


def test_an_importer_killed_mid_write_then_rerun_leaves_each_id_once(s3: S3Server, workdir: Path) -> None:
    env, db = s3.env, s3.store()
    # Five batches of the import's 4096 rows: the kill lands after the first commit.
    n = 20000
    data = write_jsonl(workdir / f"kill-{s3.name}.jsonl", range(n))
    proc = subprocess.Popen([binary(), "import", str(data), "--db", db], env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    stored = 0
    while time.monotonic() < deadline and proc.poll() is None:
        stored = count(db, s3.env)
        if stored > 0:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    after_kill = count(db, s3.env)
    assert 0 < stored <= after_kill < n, (stored, after_kill)
    report: Any = run_json(["import", str(data), "--db", db], s3.env)
    assert report["imported"] + report["skipped"] == n
    assert report["skipped"] >= after_kill
    ids = all_ids(db, s3.env, workdir / f"kill-{s3.name}-ids.jsonl")
    assert len(ids) == len(set(ids)) == n


def objects_under(server: S3Server, db: str) -> list[str]:
    s3 = boto("s3", server.endpoint)
    prefix = db.split("://", 1)[1].split("/", 1)[1]
    listed = s3.list_objects_v2(Bucket="trajstore", Prefix=prefix + "/")
    return [o["Key"] for o in listed.get("Contents", [])]


class Server:
    def __init__(self, db: str, env: dict[str, str], refresh: float) -> None:
        args = [binary(), "serve", "--db", db, "--host", "127.0.0.1", "--port", "0"]
        args += ["--refresh-interval", str(refresh), "--index-interval", "0"]
        self.process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert self.process.stderr is not None
        deadline = time.monotonic() + 120
        self.url = ""
        seen = []
        while time.monotonic() < deadline:
            line = self.process.stderr.readline().decode(errors="replace")
            if not line:
                break
            seen.append(line)
            if "on http://" in line:
                self.url = "http://" + line.split("on http://")[1].split()[0]
                break
        assert self.url, "the server did not start:\n" + "".join(seen)

    def total(self) -> int:
        return self.total_where("")

    def total_where(self, query: str) -> int:
        with urllib.request.urlopen(f"{self.url}/api/trajectories?page_size=1&{query}", timeout=30) as r:
            return int(json.load(r)["total"])

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> None:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path, data=data, headers={"Content-Type": "application/json"}, method=method
        )
        with urllib.request.urlopen(request, timeout=60) as r:
            assert r.status in (200, 201, 204), r.status

    def memory_index(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/api/health", timeout=30) as r:
            info: dict[str, Any] = json.load(r)["memory_index"]
            return info

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def test_a_second_server_sees_a_write_within_the_refresh_interval(s3: S3Server, workdir: Path) -> None:
    env, db = s3.env, s3.store()
    run(["import", str(write_jsonl(workdir / f"servers-{s3.name}.jsonl", range(50))), "--db", db], env)
    refresh = 1.0
    first, second = Server(db, env, refresh), Server(db, env, refresh)
    try:
        assert first.total() == second.total() == 50
        while second.memory_index() is None:
            time.sleep(0.1)
        builds = second.memory_index()["builds"]
        first.call("POST", "/api/trajectories", {"trajectory_id": "written-by-first", "steps": [], "reward": 1.0})
        written = time.monotonic()
        assert first.total() == 51
        while second.total() != 51:
            assert time.monotonic() - written < refresh + 10, "the second server never saw the write"
            time.sleep(0.1)
        # It followed the write by reading only the added row, not the whole table.
        deadline = time.monotonic() + 10
        while second.memory_index()["followed_elsewhere"] < 1:
            assert time.monotonic() < deadline, second.memory_index()
            time.sleep(0.1)
        assert second.memory_index()["builds"] == builds

        # The first's update and delete are followed the same way.
        first.call("PATCH", "/api/trajectories/traj-00003", {"tags": ["seen-by-second"]})
        first.call("DELETE", "/api/trajectories/traj-00004")
        changed = time.monotonic()
        while second.total_where("tags=seen-by-second") != 1 or second.total() != 50:
            assert time.monotonic() - changed < refresh + 10, "the second server never saw the update and delete"
            time.sleep(0.1)
        assert second.memory_index()["builds"] == builds, second.memory_index()
        assert second.memory_index()["rows"] == 50
    finally:
        first.stop()
        second.stop()


def test_a_store_that_ignores_conditional_puts_gets_no_writes(ignoring_proxy: S3Server, workdir: Path) -> None:
    env, db = ignoring_proxy.env, ignoring_proxy.store()
    data = write_jsonl(workdir / "ignored.jsonl", range(20))
    refused = run(["import", str(data), "--db", db, "--json"], env, check=False)
    assert refused.returncode != 0
    error = json.loads(refused.stdout)["error"]
    assert "conditional put" in error["message"] and "s3+ddb://" in error["message"], error
    assert "--single-writer" in error["message"]
    # Nothing was written: no object under the store's prefix (the probe's own is gone).
    assert objects_under(ignoring_proxy, db) == []
    single: Any = run_json(["import", str(data), "--db", db, "--single-writer"], env)
    assert single["imported"] == 20
    assert int(json.loads(run(["query", "--db", db, "--single-writer", "--json"], env).stdout)["total"]) == 20


def test_s3_ddb_commits_through_dynamodb(moto: S3Server, workdir: Path) -> None:
    table = "trajstore-commits"
    ddb = boto("dynamodb", moto.endpoint)
    if table not in ddb.list_tables()["TableNames"]:
        # The layout Lance's DynamoDB commit handler expects.
        ddb.create_table(
            TableName=table,
            KeySchema=[
                {"AttributeName": "base_uri", "KeyType": "HASH"},
                {"AttributeName": "version", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "base_uri", "AttributeType": "S"},
                {"AttributeName": "version", "AttributeType": "N"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
    env = {**moto.env, "DYNAMODB_ENDPOINT": moto.endpoint}
    db = moto.store("s3+ddb", f"?ddbTableName={table}")
    data = write_jsonl(workdir / "ddb.jsonl", range(40))
    report: Any = run_json(["import", str(data), "--db", db], env)
    assert report["imported"] == 40
    assert count(db, env) == 40
    assert count(db, env, "training_id=run-2") == 13
