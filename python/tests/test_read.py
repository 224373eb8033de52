"""Reads: every page followed, filters and sorts as the server has them, one record,
statistics, groups, exports, and Arrow without JSON; checked against values computed here."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc
import pyarrow.parquet
import pytest
from conftest import Server, start_server, stop_server, trajectory

from trajstore import Client, TrajstoreError

N = 2500


def reward_of(i: int) -> float:
    return round((i * 37 % 101) / 100, 2)


@pytest.fixture(scope="module")
def filled() -> Iterator[Server]:
    server = start_server()
    rows = [
        trajectory(
            f"r-{i:05d}",
            reward=reward_of(i),
            training_id=f"run-{i % 2}",
            iteration_id=i % 5,
            data_id=f"task-{i % 50}",
            sample_id=i // 50,
            tags=["even"] if i % 2 == 0 else [],
        )
        for i in range(N)
    ]
    with Client(server.url, batch_size=500) as client:
        client.log_many(rows)
        client.flush(120)
        assert client.counts.stored == N, client.errors
    yield server
    stop_server(server)


def test_query_follows_every_page_sorted_over_the_whole_set(filled: Server) -> None:
    client = Client(filled.url)
    rows = client.query(training_id="run-1", sort="reward", order="asc")
    expected = sorted(
        ((reward_of(i), f"r-{i:05d}") for i in range(N) if i % 2 == 1), key=lambda p: (p[0], p[1])
    )
    assert [(r["reward"], r["trajectory_id"]) for r in rows] == expected
    assert "steps" not in rows[0], "summary rows"


def test_query_limit_and_filters(filled: Server) -> None:
    client = Client(filled.url)
    top = client.query(sort="reward", order="desc", limit=1234)
    assert len(top) == 1234
    assert all(a["reward"] >= b["reward"] for a, b in itertools.pairwise(top))
    some = client.query(reward_min=0.5, iteration_id=3, tags=["even"])
    expected = {f"r-{i:05d}" for i in range(N) if reward_of(i) >= 0.5 and i % 5 == 3 and i % 2 == 0}
    assert {r["trajectory_id"] for r in some} == expected
    assert client.count(filters={"reward_min": 0.5}) == sum(1 for i in range(N) if reward_of(i) >= 0.5)


def test_a_bad_filter_is_an_error_naming_it(filled: Server) -> None:
    with pytest.raises(TrajstoreError) as e:
        Client(filled.url).query(reward_min="lots")
    assert e.value.status == 400 and e.value.parameter == "reward_min"


def test_get_one_and_a_missing_one(filled: Server) -> None:
    client = Client(filled.url)
    record = client.get("r-00007")
    assert record["trajectory_id"] == "r-00007" and len(record["steps"]) == 2
    assert client.get("r-00007", steps=(1, 2))["steps"] == [{"role": "assistant", "content": "an answer"}]
    with pytest.raises(TrajstoreError) as e:
        client.get("no/such id")
    assert e.value.status == 404


def test_stats_match_a_count_made_here(filled: Server) -> None:
    stats = Client(filled.url).stats(group_by="training_id", k=[1, 2], success_threshold=0.5)
    by_run = {g["training_id"]: g for g in stats["groups"]}
    for run in (0, 1):
        members = [i for i in range(N) if i % 2 == run]
        assert by_run[f"run-{run}"]["count"] == len(members)
        successes = sum(1 for i in members if reward_of(i) >= 0.5)
        assert by_run[f"run-{run}"]["success_count"] == successes
    # pass@1 is the mean over tasks of each task's success rate.
    tasks: dict[int, list[bool]] = {}
    for i in range(N):
        tasks.setdefault(i % 50, []).append(reward_of(i) >= 0.5)
    pass1 = sum(sum(v) / len(v) for v in tasks.values()) / len(tasks)
    assert stats["overall"]["pass@1"] == pytest.approx(pass1)


def test_groups_of_a_step(filled: Server) -> None:
    doc = Client(filled.url).groups(training_id="run-0", iteration_id=0, sort="data_id", order="asc")
    # run-0, step 0: i % 10 == 0, so the tasks i % 50 in {0, 10, 20, 30, 40}, 50 samples each.
    members: dict[str, list[float]] = {}
    for i in range(0, N, 10):
        members.setdefault(f"task-{i % 50}", []).append(reward_of(i))
    assert doc["total"] == len(members) == 5
    assert [g["data_id"] for g in doc["data"]] == sorted(members)
    for g in doc["data"]:
        rewards = members[g["data_id"]]
        assert g["n"] == len(rewards) == 50
        assert g["reward_mean"] == pytest.approx(sum(rewards) / len(rewards))
        assert g["reward_spread"] == pytest.approx(max(rewards) - min(rewards))


def test_arrow_and_pandas_hold_the_same_rows_as_json(filled: Server) -> None:
    client = Client(filled.url)
    rows = client.query(training_id="run-0", sort="reward", order="desc")
    table = client.query(training_id="run-0", sort="reward", order="desc", output="arrow")
    assert isinstance(table, pa.Table)
    assert table.num_rows == len(rows) == N // 2
    assert table.column("trajectory_id").to_pylist() == [r["trajectory_id"] for r in rows]
    assert table.column("reward").to_pylist() == [r["reward"] for r in rows]
    assert table.column("tags").to_pylist()[:3] == [r["tags"] for r in rows[:3]]
    assert pa.types.is_timestamp(table.schema.field("created_at").type)
    frame = client.query(iteration_id=2, output="pandas", limit=300)
    assert len(frame) == 300 and set(frame["iteration_id"]) == {2}
    # Without sort and limit: one stream of every matching row.
    whole = client.query(training_id="run-0", output="arrow")
    assert sorted(whole.column("trajectory_id").to_pylist()) == sorted(r["trajectory_id"] for r in rows)
    assert whole.schema == table.schema


def test_exports_in_every_format(filled: Server, tmp_path: Path) -> None:
    client = Client(filled.url)
    expected = {f"r-{i:05d}" for i in range(N) if i % 5 == 4}
    jsonl = tmp_path / "a.jsonl"
    client.export(jsonl, iteration_id=4)
    assert {json.loads(line)["trajectory_id"] for line in jsonl.read_text().splitlines()} == expected
    arrows = tmp_path / "a.arrows"
    client.export(arrows, format="arrow", iteration_id=4)
    table = pyarrow.ipc.open_stream(arrows.read_bytes()).read_all()
    assert set(table.column("trajectory_id").to_pylist()) == expected
    assert json.loads(table.column("steps")[0].as_py())[1]["content"] == "an answer"
    parquet = tmp_path / "a.parquet"
    client.export(parquet, format="parquet", iteration_id=4)
    assert set(pyarrow.parquet.read_table(parquet).column("trajectory_id").to_pylist()) == expected
    with pytest.raises(TrajstoreError):
        client.export(tmp_path / "bad.out", format="xml")  # type: ignore[arg-type]
    assert not (tmp_path / "bad.out").exists() and not (tmp_path / "bad.out.partial").exists()


def test_records_of_another_format_are_imported_by_the_server(filled: Server) -> None:
    chats = [
        {"messages": [{"role": "user", "content": f"hi {i}"}, {"role": "assistant", "content": "hello"}]}
        for i in range(3)
    ]
    server = start_server()
    try:
        with Client(server.url) as client:
            for c in chats:
                client.log(c, format="auto")
            client.log({"input": "2+2?", "output": "4", "score": 1.0, "step": 7}, format="verl")
            client.flush(60)
            assert client.errors == []
            assert client.counts.stored == 4
            assert client.count(iteration_id=7) == 1
            assert client.count() == 4
    finally:
        stop_server(server)
