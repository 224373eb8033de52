"""Small adapters that log from a training loop or an eval as it runs (recipes in
docs/python.md). None of them imports the framework it serves: each takes the objects
that framework hands to its callbacks, so it works with any version that has them.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .client import Client

RewardFunction = Callable[..., Sequence[float]]


def _messages(value: Any, role: str) -> list[dict[str, Any]]:
    """A prompt or completion as chat messages: conversational ones are lists of
    messages already; plain text is one message of `role`."""
    if isinstance(value, list):
        return [dict(m) for m in value]
    return [{"role": role, "content": value}]


def _prompt_key(prompt: Any) -> str:
    text = prompt if isinstance(prompt, str) else repr(prompt)
    return "prompt-" + hashlib.sha256(text.encode()).hexdigest()[:16]


def trl_reward_logger(
    client: Client,
    reward_function: RewardFunction,
    *,
    training_id: str,
    data_id_column: str | None = None,
    agent_name: str | None = None,
) -> RewardFunction:
    """Wraps a TRL `GRPOTrainer` reward function so that each completion it scores is
    logged with its reward, training step and prompt group; the rewards are returned
    unchanged.

    TRL calls reward functions as `f(prompts=..., completions=..., **columns)`, with the
    dataset's other columns and, in recent versions, `trainer_state` among the keyword
    arguments. The step is `trainer_state.global_step` (else a count of calls); the
    group (`data_id`) is the column `data_id_column` when given, else a hash of the
    prompt, so the `num_generations` completions of one prompt share it. Each sample of a
    group in a step gets its own `sample_id`; the process's `RANK` keeps ids of several
    processes apart.
    """
    lock = threading.Lock()
    calls = [0]
    samples: dict[tuple[int, str], int] = {}
    rank = os.environ.get("RANK", "0")

    def logged(prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> Sequence[float]:
        rewards = reward_function(prompts=prompts, completions=completions, **kwargs)
        state = kwargs.get("trainer_state")
        with lock:
            calls[0] += 1
            step = int(getattr(state, "global_step", calls[0] - 1))
            epoch = getattr(state, "epoch", None)
            scored = zip(prompts, completions, rewards, strict=False)
            for i, (prompt, completion, reward) in enumerate(scored):
                column = kwargs.get(data_id_column) if data_id_column else None
                data_id = str(column[i]) if column is not None else _prompt_key(prompt)
                sample = samples.get((step, data_id), 0)
                samples[(step, data_id)] = sample + 1
                record: dict[str, Any] = {
                    "trajectory_id": f"{training_id}/step-{step}/{data_id}/{rank}-{sample}",
                    "training_id": training_id,
                    "iteration_id": step,
                    "data_id": data_id,
                    "sample_id": sample,
                    "reward": None if reward is None else float(reward),
                    "steps": _messages(prompt, "user") + _messages(completion, "assistant"),
                    "source": "trl",
                    "metadata": {"reward_function": getattr(reward_function, "__name__", "reward")},
                }
                if epoch is not None:
                    record["epoch_id"] = int(epoch)
                if agent_name:
                    record["agent_name"] = agent_name
                client.log(record)
        return rewards

    # TRL names each reward's logged metric after the function.
    logged.__name__ = getattr(reward_function, "__name__", "reward")
    logged.__doc__ = reward_function.__doc__
    return logged


class InspectSampleLogger:
    """Logs each Inspect sample as it finishes. Inspect's hooks hand `on_sample_end` an
    object with `eval_id`, `run_id` and `sample` (an `EvalSample`); this sends the sample
    as a one-sample eval log, which the server reads with its `inspect` format (the same
    mapping as an imported log: docs/formats.md). `eval_spec` is the log header's `eval`
    part when the hook has it (from `on_task_start`'s `spec`), for the task, model and
    solver names."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self._specs: dict[str, dict[str, Any]] = {}

    def on_task_start(self, data: Any) -> None:
        spec = getattr(data, "spec", None)
        if spec is not None:
            self._specs[str(data.eval_id)] = _plain(spec)

    def on_sample_end(self, data: Any) -> None:
        sample = _plain(data.sample)
        eval_id = str(getattr(data, "eval_id", ""))
        header = dict(self._specs.get(eval_id, {}))
        header.setdefault("eval_id", eval_id)
        header.setdefault("run_id", str(getattr(data, "run_id", "")))
        header.setdefault("task", header.get("task") or "inspect")
        self.client.log_document(
            {"version": 2, "status": "started", "eval": header, "samples": [sample]}, format="inspect"
        )


def _plain(value: Any) -> dict[str, Any]:
    """A pydantic model (Inspect's) or a mapping as plain JSON values."""
    if hasattr(value, "model_dump"):
        return dict(value.model_dump(mode="json", exclude_none=True))
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"expected a pydantic model or a mapping, got {type(value).__name__}")


__all__ = ["InspectSampleLogger", "trl_reward_logger"]
