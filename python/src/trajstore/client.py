"""`Client`: log trajectories to a trajstore server as they are produced, and read them back."""

from __future__ import annotations

import atexit
import io
import json
import logging
import os
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from ._http import ParamValue, Transport
from ._sender import SendCounts, Sender, SendError, _Record, encode
from .errors import TrajstoreError

if TYPE_CHECKING:
    import pyarrow

Output = Literal["dicts", "pandas", "arrow"]

log = logging.getLogger("trajstore")

# The server's largest page.
MAX_PAGE_SIZE = 1000


class Client:
    """A connection to one trajstore server.

    Writes (`log`) are batched in a background thread and never wait on the network;
    reads (`query`, `get`, `stats`, `groups`, `export`, `sql`, `tools`) and
    `failure_modes` (which waits for the server's analysis) are plain blocking calls.

    >>> with Client("http://127.0.0.1:8000") as client:       # doctest: +SKIP
    ...     client.log({"trajectory_id": "run-1/0", "steps": [...], "reward": 1.0})
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        batch_size: int = 256,
        batch_bytes: int = 4 << 20,
        flush_interval: float = 1.0,
        max_queue: int = 10_000,
        max_retries: int = 8,
        backoff: float = 0.25,
        max_backoff: float = 30.0,
        timeout: float = 60.0,
        exit_timeout: float = 30.0,
    ) -> None:
        """`url` is the server (`http://host:port`); `token` its bearer token (`serve
        --token`), also read from `TRAJSTORE_TOKEN`. A batch is sent when it holds
        `batch_size` records or `batch_bytes` bytes, or `flush_interval` seconds after its
        first record; `log` waits for room when `max_queue` records are waiting. A send
        that fails for a reason that may pass (no connection, 429, 5xx) is retried
        `max_retries` times with exponential back-off (`backoff` doubling up to
        `max_backoff` seconds, jittered; `Retry-After` is honoured, up to `max_backoff`).
        At interpreter exit, what is still queued is sent for at most `exit_timeout`
        seconds; what could not be is logged."""
        for name, value in [
            ("batch_size", batch_size),
            ("max_queue", max_queue),
            ("batch_bytes", batch_bytes),
        ]:
            if value < 1:
                raise ValueError(f"{name}: expected at least 1, got {value}")
        if flush_interval <= 0:
            raise ValueError(f"flush_interval: expected seconds > 0, got {flush_interval}")
        self._transport = Transport(url, token or os.environ.get("TRAJSTORE_TOKEN"), timeout)
        self._sender: Sender | None = None
        self._sender_options = {
            "batch_size": batch_size,
            "batch_bytes": batch_bytes,
            "flush_interval": flush_interval,
            "max_queue": max_queue,
            "max_retries": max_retries,
            "backoff": backoff,
            "max_backoff": max_backoff,
        }
        self._closed = False
        self._exit_timeout = exit_timeout
        self._at_exit: Callable[[], None] | None = None
        self._pid = os.getpid()

    @property
    def url(self) -> str:
        return self._transport.base

    # ---- writes ----------------------------------------------------------------------------

    def log(self, trajectory: Any, *, format: str = "native", timeout: float | None = None) -> None:
        """Queues one trajectory and returns at once.

        `trajectory` is a dict in trajstore's native format (see the README's data model),
        or, with `format="auto"` or a format name (`verl`, `openai-chat`, ...), one line of
        a JSON Lines format the server reads (whole files of other formats go through
        `log_document`); a `str` or `bytes` is taken as that record's JSON text. It is
        serialised now, so later changes to the dict are not sent. When the queue is full
        this waits for room (back-pressure); with `timeout`, it raises `queue.Full` when
        that passes first. Records refused by the server, and batches not stored after
        their retries, are in `errors` and logged on the `trajstore` logger.
        """
        if self._closed:
            raise TrajstoreError("log: this client is closed")
        try:
            body, trajectory_id = encode(trajectory)
        except (TypeError, ValueError) as e:
            raise TrajstoreError(f"log: the trajectory is not JSON: {e}") from e
        self._started().put(_Record(body=body, format=format, trajectory_id=trajectory_id), timeout)

    def log_document(self, document: Any, *, format: str, timeout: float | None = None) -> None:
        """Queues one whole file of a format the server reads (an Inspect eval log with its
        samples, a Claude Code session, ...), sent on its own rather than as a line of a
        batch. Returns at once, like `log`."""
        if self._closed:
            raise TrajstoreError("log_document: this client is closed")
        try:
            body, _ = encode(document)
        except (TypeError, ValueError) as e:
            raise TrajstoreError(f"log_document: the document is not JSON: {e}") from e
        record = _Record(body=body, format=format, trajectory_id=None, document=True)
        self._started().put(record, timeout)

    def log_many(self, trajectories: Sequence[Any], *, format: str = "native") -> None:
        for t in trajectories:
            self.log(t, format=format)

    def flush(self, timeout: float | None = None) -> bool:
        """Waits until every trajectory logged before this call is stored or reported in
        `errors`; False when `timeout` passed first."""
        if self._sender is None:
            return True
        return self._sender.flush(timeout)

    def close(self, timeout: float | None = None) -> None:
        """Sends what is queued, then stops the sender thread, within `timeout` seconds
        when given; records left unsent then are reported in `errors`. Done at interpreter
        exit for clients still open."""
        if self._closed:
            return
        self._closed = True
        if self._at_exit is not None:
            atexit.unregister(self._at_exit)
        if self._sender is not None:
            _close_sender(self._sender, timeout)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def errors(self) -> list[SendError]:
        """What was not stored: refused records and batches that failed after retries."""
        return list(self._sender.errors) if self._sender else []

    @property
    def counts(self) -> SendCounts:
        """Records queued, stored, skipped as already stored, failed; batches; retries."""
        if self._sender is None:
            return SendCounts()
        c = self._sender.counts
        return SendCounts(c.queued, c.stored, c.skipped, c.failed, c.batches, c.retries)

    def _started(self) -> Sender:
        if self._sender is not None and self._pid != os.getpid():
            # A forked child: the parent's thread did not come along; the child sends its
            # own records with a sender of its own.
            self._sender = None
            self._pid = os.getpid()
        if self._sender is None:
            sender = Sender(self._transport, **self._sender_options)  # type: ignore[arg-type]
            self._sender = sender
            # The exit hook holds the sender, not the client: a client dropped without
            # close still has its records sent at exit.
            exit_timeout = self._exit_timeout

            def at_exit() -> None:
                _close_sender(sender, exit_timeout)

            self._at_exit = at_exit
            atexit.register(at_exit)
        return self._sender

    def add(self, trajectories: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """Stores native trajectories now (no queue) and answers the server's report:
        `{"imported", "skipped", "failed", "errors"}`."""
        body, _ = encode(trajectories if isinstance(trajectories, Mapping) else list(trajectories))
        return dict(
            self._transport.request(
                "POST",
                "/api/trajectories",
                body=body,
                content_type="application/json",
                accept_status=(207,),
            )
        )

    # ---- reads -----------------------------------------------------------------------------

    def query(
        self,
        *,
        sort: str | None = None,
        order: Literal["asc", "desc"] | None = None,
        limit: int | None = None,
        output: Output = "dicts",
        filters: Mapping[str, ParamValue] | None = None,
        **more_filters: ParamValue,
    ) -> Any:
        """The summary rows matching the filters (keyword arguments named as the server's
        filters: `training_id="run-7"`, `reward_min=0.5`, `tags=["a", "b"]`; names with a
        dot, such as `metadata.KEY`, go in `filters={...}`), sorted over the whole set,
        all pages followed up to `limit`. `output="pandas"` or `"arrow"` answers a
        DataFrame or a pyarrow Table, read as Arrow from the server (no JSON)."""
        params = _filters(filters, more_filters)
        if output == "dicts":
            return list(self.iter_rows(sort=sort, order=order, limit=limit, filters=params))
        if output not in ("arrow", "pandas"):
            raise ValueError(f"output: expected dicts, pandas or arrow, got {output!r}")
        table = self._query_arrow(params, sort, order, limit)
        return table.to_pandas() if output == "pandas" else table

    def iter_rows(
        self,
        *,
        sort: str | None = None,
        order: Literal["asc", "desc"] | None = None,
        limit: int | None = None,
        filters: Mapping[str, ParamValue] | None = None,
        **more_filters: ParamValue,
    ) -> Iterator[dict[str, Any]]:
        """The summary rows one at a time, a page fetched when needed (keyset cursors, so
        rows that arrive meanwhile neither repeat nor shift the pages)."""
        params = _filters(filters, more_filters)
        left = limit
        cursor: str | None = None
        while left is None or left > 0:
            page_size = MAX_PAGE_SIZE if left is None else min(MAX_PAGE_SIZE, left)
            page = self._transport.request(
                "GET",
                "/api/trajectories",
                {**params, "sort": sort, "order": order, "page_size": page_size, "cursor": cursor},
            )
            rows = page["data"]
            yield from rows
            if left is not None:
                left -= len(rows)
            cursor = page.get("next_cursor")
            if not cursor or not rows:
                return

    def count(self, filters: Mapping[str, ParamValue] | None = None, **more_filters: ParamValue) -> int:
        """The exact number of trajectories matching the filters."""
        params = _filters(filters, more_filters)
        return int(self._transport.request("GET", "/api/trajectories", {**params, "page_size": 1})["total"])

    def _query_arrow(
        self,
        params: dict[str, ParamValue],
        sort: str | None,
        order: str | None,
        limit: int | None,
    ) -> pyarrow.Table:
        try:
            import pyarrow as pa
            import pyarrow.ipc
        except ImportError as e:
            raise ImportError(
                "output='arrow' or 'pandas' needs pyarrow: pip install 'trajstore[arrow]'"
            ) from e
        if sort is None and order is None and limit is None:
            # The whole set in storage order: one stream of the summary columns, read
            # straight from the store instead of page by page.
            body, _ = self._transport.read_bytes("/api/export", {**params, "format": "arrow-summary"})
            return pyarrow.ipc.open_stream(io.BytesIO(body)).read_all()
        tables = []
        left = limit
        cursor: str | None = None
        while left is None or left > 0:
            page_size = MAX_PAGE_SIZE if left is None else min(MAX_PAGE_SIZE, left)
            body, headers = self._transport.read_bytes(
                "/api/trajectories",
                {
                    **params,
                    "format": "arrow",
                    "sort": sort,
                    "order": order,
                    "page_size": page_size,
                    "cursor": cursor,
                },
            )
            table = pyarrow.ipc.open_stream(io.BytesIO(body)).read_all()
            tables.append(table)
            if left is not None:
                left -= table.num_rows
            cursor = _header(headers, "x-next-cursor")
            if not cursor or table.num_rows == 0:
                break
        return pa.concat_tables(tables)

    def get(self, trajectory_id: str, *, steps: tuple[int, int] | None = None) -> dict[str, Any]:
        """One whole trajectory (or only steps `FROM` to `TO`, `TO` excluded); raises
        `TrajstoreError` with `status == 404` when there is none."""
        params = {"steps": f"{steps[0]}:{steps[1]}"} if steps else None
        return dict(self._transport.request("GET", f"/api/trajectories/{_segment(trajectory_id)}", params))

    def stats(
        self,
        *,
        group_by: str | Sequence[str] | None = None,
        k: int | Sequence[int] | None = None,
        success_threshold: float | None = None,
        filters: Mapping[str, ParamValue] | None = None,
        **more_filters: ParamValue,
    ) -> dict[str, Any]:
        """`{"overall": {...}, "groups": [...]}`: success rate, pass@k and pass^k per task,
        reward and length statistics (the README's Statistics section)."""
        params = _filters(filters, more_filters)
        params.update({"group_by": _list(group_by), "k": _list(k), "success_threshold": success_threshold})
        return dict(self._transport.request("GET", "/api/statistics", params))

    def curves(
        self, *, x: str = "iteration_id", series: str | None = None, **filters: ParamValue
    ) -> dict[str, Any]:
        """A figure per step or epoch (`x`), one line per `series`."""
        return dict(self._transport.request("GET", "/api/curves", {**filters, "x": x, "series": series}))

    def groups(
        self,
        *,
        sort: str | None = None,
        order: Literal["asc", "desc"] | None = None,
        kind: str | None = None,
        page: int | None = None,
        page_size: int | None = None,
        filters: Mapping[str, ParamValue] | None = None,
        **more_filters: ParamValue,
    ) -> dict[str, Any]:
        """A training step's rollouts grouped by prompt, with reward spread and kind
        (`all_success`, `all_fail`, `zero_variance`, `mixed`): docs/training.md."""
        params = _filters(filters, more_filters)
        params.update({"sort": sort, "order": order, "kind": kind, "page": page, "page_size": page_size})
        return dict(self._transport.request("GET", "/api/groups", params))

    def export(
        self,
        path: str | os.PathLike[str],
        *,
        format: Literal["jsonl", "parquet", "atif", "arrow", "arrow-summary"] = "jsonl",
        filters: Mapping[str, ParamValue] | None = None,
        **more_filters: ParamValue,
    ) -> int:
        """Writes every matching trajectory, whole, to `path` (streamed; the file appears
        only once complete); answers the bytes written."""
        params = _filters(filters, more_filters)
        params["format"] = format
        target = os.fspath(path)
        partial = target + ".partial"
        try:
            with open(partial, "wb") as out:
                written = self._transport.download("/api/export", params, out)
            os.replace(partial, target)
        except BaseException:
            if os.path.exists(partial):
                os.remove(partial)
            raise
        return written

    def health(self) -> dict[str, Any]:
        return dict(self._transport.request("GET", "/api/health"))

    def sql(self, query: str, *, max_rows: int | None = None) -> dict[str, Any]:
        """A read-only SQL query over the tables `trajectories`, `steps` and `tool_calls`
        (docs/sql.md): `{"columns": [{"name", "type"}], "rows": [[...]], "truncated",
        "row_limit", "elapsed_ms"}`. `max_rows` lowers the server's row limit. A
        statement that writes raises `TrajstoreError` (status 400)."""
        request: dict[str, Any] = {"sql": query}
        if max_rows is not None:
            request["max_rows"] = max_rows
        body = json.dumps(request).encode()
        return dict(self._transport.request("POST", "/api/sql", body=body, content_type="application/json"))

    def tools(
        self,
        *,
        success_threshold: float | None = None,
        filters: Mapping[str, ParamValue] | None = None,
        **more_filters: ParamValue,
    ) -> dict[str, Any]:
        """Per tool: calls, the share of trajectories using it, its error rate, and its
        share in successful and in failed trajectories."""
        params = _filters(filters, more_filters)
        params["success_threshold"] = success_threshold
        return dict(self._transport.request("GET", "/api/tools", params))

    def failure_modes(
        self,
        *,
        k: int | Literal["auto"] | None = None,
        seed: int | None = None,
        text: Sequence[str] | None = None,
        max_chars: int | None = None,
        include_successful: bool | None = None,
        llm_labels: bool | None = None,
        success_threshold: float | None = None,
        timeout: float = 600.0,
        filters: Mapping[str, ParamValue] | None = None,
        **more_filters: ParamValue,
    ) -> dict[str, Any]:
        """Clusters the matching trajectories (by default the failed ones) by what went
        wrong, waits for the server's analysis, and returns the stored run:
        `{"analysis_id", "clusters": [{"id", "label", "count", "terms",
        "representatives"}], "unclustered", "parameters", ...}`. Each clustered trajectory
        gets the cluster's label as `failure_mode`, a filter like any other.

        One analysis runs at a time on a server: while one runs, another raises
        `TrajstoreError` with status 409. After `timeout` the analysis goes on on the
        server; `TimeoutError` is raised here."""
        params = _filters(filters, more_filters)
        params.update(
            {
                "k": k,
                "seed": seed,
                "text": _list(text),
                "max_chars": max_chars,
                "include_successful": include_successful,
                "llm_labels": llm_labels,
                "success_threshold": success_threshold,
            }
        )
        task_id = str(self._transport.request("POST", "/api/failure-modes", params)["task_id"])
        deadline = time.monotonic() + timeout
        try:
            task = self._transport.wait_task(
                f"/api/failure-modes/tasks/{_segment(task_id)}",
                deadline,
                gone=f"failure-mode task {task_id} is not on the server any more (restarted?); "
                "its stored runs are at GET /api/failure-modes",
                give_up=deadline,
            )
        except TimeoutError:
            raise TimeoutError(
                f"the failure-mode analysis {task_id} did not end within {timeout} s"
            ) from None
        if task["status"] == "failed":
            raise TrajstoreError(f"the failure-mode analysis failed: {task.get('error')}")
        return dict(task["result"])


def _close_sender(sender: Sender, timeout: float | None) -> None:
    unsent = sender.close(timeout)
    if unsent:
        sender.errors.append(SendError(message=f"not sent within {timeout} s of closing", records=unsent))
        log.error("trajstore: %d record(s) were not sent before the client closed", unsent)


def _filters(
    filters: Mapping[str, ParamValue] | None, more: Mapping[str, ParamValue]
) -> dict[str, ParamValue]:
    params: dict[str, ParamValue] = dict(filters or {})
    params.update(more)
    return params


def _list(value: str | int | Sequence[Any] | None) -> str | None:
    if value is None or isinstance(value, (str, int)):
        return None if value is None else str(value)
    return ",".join(str(v) for v in value)


def _segment(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for k, v in headers.items():
        if k.lower() == name:
            return v or None
    return None


__all__ = ["Client"]
