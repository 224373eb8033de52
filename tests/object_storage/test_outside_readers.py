"""Other engines read a store trajstore wrote, without trajstore: DuckDB (its lance
extension, installed offline from the `duckdb-extension-lance` wheel) and pylance. Each
recipe here is the one in docs/outside-readers.md, and each must agree with
`trajstore query` and `trajstore stats` on the same store."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import duckdb
import duckdb_extension_lance
import lance
import pytest
from conftest import S3Server, run, run_json, write_jsonl


def duckdb_with_lance() -> duckdb.DuckDBPyConnection:
    extension = next(Path(duckdb_extension_lance.__file__).parent.glob("extensions/*/lance.duckdb_extension"))
    con = duckdb.connect()
    con.execute(f"LOAD '{extension}'")
    return con


@pytest.fixture(scope="module")
def local_store(workdir: Path) -> str:
    db = workdir / "outside-readers"
    data = write_jsonl(workdir / "outside-readers.jsonl", range(500))
    run(["import", str(data), "--db", str(db)], {})
    # A second import of overlapping ids: its skipped rows' payloads are written and
    # left unreferenced until optimize, which the join recipe must not count.
    run(["import", str(write_jsonl(workdir / "outside-overlap.jsonl", range(450, 520))), "--db", str(db)], {})
    return str(db)


def trajstore_counts_by_run(db: str, env: dict[str, str]) -> dict[str, int]:
    stats: Any = run_json(["stats", "--db", db, "--group-by", "training_id"], env)
    return {g["training_id"]: g["count"] for g in stats["groups"]}


def trajstore_reward_by_epoch(db: str, env: dict[str, str]) -> dict[int, float]:
    stats: Any = run_json(["stats", "--db", db, "--group-by", "epoch_id"], env)
    return {g["epoch_id"]: g["reward_mean"] for g in stats["groups"]}


def test_duckdb_reads_the_store(local_store: str) -> None:
    con = duckdb_with_lance()
    summaries = f"'{local_store}/summaries.lance'"
    payloads = f"'{local_store}/payloads.lance'"
    by_run = dict(con.execute(f"SELECT training_id, count(*) FROM {summaries} GROUP BY training_id").fetchall())
    assert by_run == trajstore_counts_by_run(local_store, {})
    assert sum(by_run.values()) == 520

    by_epoch = dict(con.execute(f"SELECT epoch_id, avg(reward) FROM {summaries} GROUP BY epoch_id").fetchall())
    expected = trajstore_reward_by_epoch(local_store, {})
    assert by_epoch.keys() == expected.keys()
    for epoch, mean in by_epoch.items():
        assert math.isclose(mean, expected[epoch], rel_tol=1e-9), (epoch, mean, expected[epoch])

    # The steps of each trajectory: payloads join on the id and the write that stored it.
    joined = con.execute(
        f"SELECT count(*), count(DISTINCT s.trajectory_id) FROM {summaries} s "
        f"JOIN {payloads} p USING (trajectory_id, write_id)"
    ).fetchone()
    assert joined == (520, 520)
    steps = con.execute(
        f"SELECT p.steps FROM {summaries} s JOIN {payloads} p USING (trajectory_id, write_id) "
        "WHERE s.trajectory_id = 'traj-00007'"
    ).fetchone()
    assert steps is not None and "fix the parser bug number traj-00007" in steps[0]


def test_pylance_reads_the_store(local_store: str) -> None:
    summaries = lance.dataset(f"{local_store}/summaries.lance")
    total: Any = run_json(["query", "--db", local_store, "--filter", "training_id=run-1"], {})
    assert summaries.count_rows(filter="training_id = 'run-1'") == total["total"]
    table = summaries.to_table(columns=["epoch_id", "reward"])
    sums: dict[int, list[float]] = {}
    for epoch, reward in zip(table.column("epoch_id").to_pylist(), table.column("reward").to_pylist(), strict=True):
        sums.setdefault(epoch, []).append(reward)
    expected = trajstore_reward_by_epoch(local_store, {})
    assert {e: sum(r) / len(r) for e, r in sums.items()} == pytest.approx(expected)


def test_pylance_reads_a_store_on_s3(s3: S3Server, workdir: Path) -> None:
    db = s3.store()
    run(["import", str(write_jsonl(workdir / f"pylance-{s3.name}.jsonl", range(90))), "--db", db], s3.env)
    options = {
        "aws_endpoint": s3.endpoint,
        "aws_allow_http": "true",
        "aws_region": "us-east-1",
        "aws_access_key_id": "trajstore-test",
        "aws_secret_access_key": "trajstore-test-secret",
    }
    summaries = lance.dataset(f"{db}/summaries.lance", storage_options=options)
    assert summaries.count_rows() == 90
    assert summaries.count_rows(filter="training_id = 'run-0'") == 30
    assert trajstore_counts_by_run(db, s3.env) == {"run-0": 30, "run-1": 30, "run-2": 30}
