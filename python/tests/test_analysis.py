"""Analyses through the client: SQL, the tool panel and failure modes, against a store
whose contents the test planted (two kinds of failure, tools with known error rates)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import Server, start_server, stop_server

from trajstore import Client, TrajstoreError

PER_KIND = 30
# Each kind of failure in several wordings, so that clusters follow the kind, not the words.
KINDS = {
    "timeout": [
        "the command timed out after 600 seconds waiting for the build",
        "timeout: the test suite did not finish within the time limit",
        "process killed: wall clock time limit exceeded while running tests",
    ],
    "import": [
        "ModuleNotFoundError: No module named 'numpy' when importing the package",
        "ImportError: cannot import name 'parse' from the module",
        "failed to import the module: no module named requests",
    ],
}


def failed(tid: str, kind: str, i: int) -> dict[str, object]:
    tool_error = kind == "import"
    return {
        "trajectory_id": tid,
        "training_id": "planted",
        "reward": 0.0,
        "is_success": False,
        "steps": [
            {"role": "user", "content": "fix the failing test"},
            {
                "role": "assistant",
                "content": "running it",
                "tool_calls": [{"id": "c1", "function": {"name": "bash", "arguments": '{"cmd": "pytest"}'}}],
            },
            {"role": "tool", "tool_call_id": "c1", "content": KINDS[kind][i % 3], "is_error": tool_error},
            {"role": "assistant", "content": KINDS[kind][(i + 1) % 3]},
        ],
    }


def other(i: int) -> dict[str, object]:
    """A successful trajectory of another run, with another tool: outside the filters."""
    return {
        "trajectory_id": f"other-{i:03d}",
        "training_id": "other",
        "reward": 1.0,
        "is_success": True,
        "steps": [
            {"role": "user", "content": "find the file"},
            {
                "role": "assistant",
                "tool_calls": [{"id": "g", "function": {"name": "grep", "arguments": "{}"}}],
            },
            {"role": "tool", "tool_call_id": "g", "content": "x.py", "is_error": True},
            {"role": "assistant", "content": "found it"},
        ],
    }


OTHERS = 10


@pytest.fixture(scope="module")
def planted() -> Iterator[Server]:
    server = start_server()
    rows = [failed(f"{kind}-{i:03d}", kind, i) for kind in KINDS for i in range(PER_KIND)]
    rows += [other(i) for i in range(OTHERS)]
    with Client(server.url) as client:
        client.log_many(rows)
        client.flush(120)
        assert client.counts.stored == len(rows), client.errors
    yield server
    stop_server(server)


def test_sql_answers_what_was_stored_and_refuses_writes(planted: Server) -> None:
    client = Client(planted.url)
    answer = client.sql(
        "SELECT tool_name, count(*) AS calls, sum(CASE WHEN result_is_error THEN 1 ELSE 0 END) AS errors "
        "FROM tool_calls GROUP BY tool_name ORDER BY tool_name"
    )
    assert [c["name"] for c in answer["columns"]] == ["tool_name", "calls", "errors"]
    assert answer["rows"] == [["bash", 2 * PER_KIND, PER_KIND], ["grep", OTHERS, OTHERS]]
    assert answer["truncated"] is False
    cut = client.sql("SELECT trajectory_id FROM trajectories", max_rows=5)
    assert (len(cut["rows"]), cut["truncated"]) == (5, True)
    with pytest.raises(TrajstoreError) as refused:
        client.sql("DELETE FROM trajectories")
    assert refused.value.status == 400
    assert client.count() == 2 * PER_KIND + OTHERS


def test_tools_give_the_planted_error_rate(planted: Server) -> None:
    tools = Client(planted.url).tools(training_id="planted")
    assert [t["tool_name"] for t in tools["tools"]] == ["bash"], "the filter leaves the other run's grep out"
    assert tools["tools"][0]["calls"] == 2 * PER_KIND
    assert tools["tools"][0]["error_rate"] == pytest.approx(0.5)


def test_failure_modes_recover_the_planted_kinds_and_label_them(planted: Server) -> None:
    client = Client(planted.url)
    run = client.failure_modes(k=2, training_id="planted", timeout=300)
    assert (run["parameters"]["k"], run["parameters"]["fit"]["k"]) == ({"fixed": 2}, 2)
    assert "planted" in run["parameters"]["filters"]
    assert sorted(c["count"] for c in run["clusters"]) == [PER_KIND, PER_KIND]
    for cluster in run["clusters"]:
        # Every member of a cluster is of one planted kind, found through the new column.
        members = client.query(failure_mode=cluster["label"], limit=1000)
        kinds = {row["trajectory_id"].split("-")[0] for row in members}
        assert len(members) == PER_KIND and len(kinds) == 1, (cluster["label"], kinds)
        assert set(cluster["representatives"]) <= {row["trajectory_id"] for row in members}
    # The same parameters give the same clusters.
    again = client.failure_modes(k=2, training_id="planted", timeout=300)
    assert sorted(c["label"] for c in again["clusters"]) == sorted(c["label"] for c in run["clusters"])
