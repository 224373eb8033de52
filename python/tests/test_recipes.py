"""The recipes of docs/python.md, run with small stand-ins for the frameworks: a TRL
GRPO reward function, verl's rollout_data_dir followed by `trajstore import --follow`,
and an Inspect eval's samples logged by a hook."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from conftest import Server, binary

from trajstore import Client
from trajstore.integrations import InspectSampleLogger, trl_reward_logger


def test_trl_reward_function_logs_each_completion_with_its_group(fresh_server: Server) -> None:
    def correctness(
        prompts: list[Any], completions: list[Any], answer: list[str], **kwargs: Any
    ) -> list[float]:
        return [1.0 if c[0]["content"] == a else 0.0 for c, a in zip(completions, answer, strict=False)]

    client = Client(fresh_server.url)
    reward = trl_reward_logger(client, correctness, training_id="grpo-1", data_id_column="task_id")
    assert reward.__name__ == "correctness", "TRL logs the metric under the function's name"
    num_generations = 4
    for step in range(3):
        # What GRPOTrainer passes: each prompt repeated num_generations times, with the
        # dataset's columns repeated alongside, and the trainer's state.
        prompts, completions, answers, task_ids = [], [], [], []
        for task in range(2):
            for g in range(num_generations):
                prompts.append([{"role": "user", "content": f"{task} + {task}?"}])
                completions.append([{"role": "assistant", "content": str(2 * task) if g <= step else "?"}])
                answers.append(str(2 * task))
                task_ids.append(f"task-{task}")
        state = SimpleNamespace(global_step=step, epoch=0.5)
        rewards = reward(
            prompts=prompts, completions=completions, answer=answers, task_id=task_ids, trainer_state=state
        )
        assert rewards == [1.0 if g <= step else 0.0 for _ in range(2) for g in range(num_generations)]
    client.close()
    assert client.errors == []
    assert client.count(training_id="grpo-1") == 3 * 2 * num_generations
    groups = client.groups(training_id="grpo-1", iteration_id=1, sort="data_id", order="asc")
    assert [(g["data_id"], g["n"], g["success_count"]) for g in groups["data"]] == [
        ("task-0", 4, 2),
        ("task-1", 4, 2),
    ]
    one = client.get("grpo-1/step-2/task-1/0-0")
    assert [s["role"] for s in one["steps"]] == ["user", "assistant"]
    assert (one["iteration_id"], one["epoch_id"], one["sample_id"], one["reward"]) == (2, 0, 0, 1.0)


def verl_line(step: int, i: int) -> str:
    record = {
        "input": f"prompt {i % 3}",
        "output": f"answer {i}",
        "gts": "x",
        "score": float(i % 2),
        "step": step,
    }
    return json.dumps(record) + "\n"


def count(db: Path, *filters: str) -> int:
    args = [binary(), "query", "--db", str(db), "--json", "--page-size", "1"]
    for f in filters:
        args += ["--filter", f]
    out = subprocess.run(args, check=True, capture_output=True, timeout=60).stdout
    return int(json.loads(out)["total"])


def wait_for(predicate: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("timed out")


def follow(db: Path, rollouts: Path) -> subprocess.Popen[bytes]:
    args = [
        binary(),
        "import",
        "--follow",
        str(rollouts),
        "--db",
        str(db),
        "--format",
        "verl",
        "--interval",
        "0.2",
    ]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_verl_rollout_data_dir_followed_while_training(tmp_path: Path) -> None:
    rollouts, db = tmp_path / "rollouts", tmp_path / "db"
    rollouts.mkdir()
    follower = follow(db, rollouts)
    try:
        # verl writes {rollout_data_dir}/{step}.jsonl, one line per sample.
        with open(rollouts / "1.jsonl", "w") as f:
            f.writelines(verl_line(1, i) for i in range(8))
            f.write(verl_line(1, 8)[:15])  # half a line, flushed
            f.flush()
            wait_for(lambda: count(db) == 8)
            f.write(verl_line(1, 8)[15:])
        (rollouts / "2.jsonl").write_text("".join(verl_line(2, i) for i in range(8)))
        wait_for(lambda: count(db) == 17)
        assert count(db, "iteration_id=2") == 8
    finally:
        follower.send_signal(signal.SIGINT)
        out, err = follower.communicate(timeout=60)
    assert follower.returncode == 0, err.decode()
    printed = out.decode().splitlines()
    assert any("1.jsonl (verl)" in line and "imported 8" in line for line in printed), printed

    # Killed without warning, then restarted: it resumes, and stores nothing twice.
    (rollouts / "3.jsonl").write_text("".join(verl_line(3, i) for i in range(8)))
    follower = follow(db, rollouts)
    wait_for(lambda: count(db) == 25)
    follower.kill()
    follower.wait(30)
    with open(rollouts / "3.jsonl", "a") as f:
        f.writelines(verl_line(3, i) for i in range(8, 12))
    follower = follow(db, rollouts)
    try:
        wait_for(lambda: count(db) == 29)
        time.sleep(1)
        assert count(db) == 29 and count(db, "iteration_id=3") == 12
    finally:
        follower.send_signal(signal.SIGINT)
        follower.communicate(timeout=60)


def test_inspect_samples_logged_as_the_eval_runs(fresh_server: Server) -> None:
    client = Client(fresh_server.url)
    logger = InspectSampleLogger(client)
    spec = {
        "task": "arith",
        "model": "openai/gpt-x",
        "solver": "basic",
        "created": "2026-12-01T00:00:00+00:00",
    }
    logger.on_task_start(SimpleNamespace(eval_id="ev1", run_id="run1", spec=spec))
    for i, value in enumerate(["C", "I", "C"]):
        sample = {
            "id": i,
            "epoch": 1,
            "input": f"What is {i} + {i}?",
            "target": str(2 * i),
            "messages": [
                {"role": "user", "content": f"What is {i} + {i}?"},
                {"role": "assistant", "content": str(2 * i)},
            ],
            "scores": {"match": {"value": value}},
        }
        logger.on_sample_end(SimpleNamespace(eval_id="ev1", run_id="run1", sample=sample))
    client.close()
    assert client.errors == []
    rows = client.query(sort="data_id", order="asc")
    assert [(r["data_id"], r["reward"], r["is_success"], r["model"]) for r in rows] == [
        ("arith:0", 1.0, True, "openai/gpt-x"),
        ("arith:1", 0.0, False, "openai/gpt-x"),
        ("arith:2", 1.0, True, "openai/gpt-x"),
    ]
