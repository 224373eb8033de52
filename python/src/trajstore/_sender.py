"""The background sender behind `Client.log`: a bounded queue, one thread that batches by
count, size and time, and retries with back-off.

`log()` only serialises the record and puts it on the queue, so a training loop never
waits on the network; when the queue is full it waits for room (back-pressure) rather
than dropping anything. Every record ends stored, skipped as a duplicate, or in
`errors` with a log line.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ._http import HttpError, Transport
from .errors import TrajstoreError

log = logging.getLogger("trajstore")

# A request that the server may well answer on a later try.
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})

# How long the status of an upload of non-native records is followed.
IMPORT_WAIT = 600.0


@dataclass(frozen=True)
class SendError:
    """Records the server did not store: a whole batch after its retries, or single
    records it refused (then `index` is the record's place in its batch and `field` the
    field at fault, as the server names it)."""

    message: str
    records: int
    status: int | None = None
    format: str = "native"
    index: int | None = None
    field: str | None = None
    trajectory_id: str | None = None


@dataclass
class SendCounts:
    """What the sender has done so far, in records."""

    queued: int = 0
    stored: int = 0
    skipped: int = 0
    failed: int = 0
    batches: int = 0
    retries: int = 0


@dataclass
class _Record:
    body: bytes
    format: str
    trajectory_id: str | None
    # A whole file of its format (an Inspect eval log, say): sent alone, not as one line
    # of a batch.
    document: bool = False


@dataclass
class _Flush:
    done: threading.Event = field(default_factory=threading.Event)


_STOP = object()


class Sender:
    def __init__(
        self,
        transport: Transport,
        *,
        batch_size: int,
        batch_bytes: int,
        flush_interval: float,
        max_queue: int,
        max_retries: int,
        backoff: float,
        max_backoff: float,
    ) -> None:
        self._transport = transport
        self._batch_size = batch_size
        self._batch_bytes = batch_bytes
        self._flush_interval = flush_interval
        self._max_retries = max_retries
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_queue)
        self._lock = threading.Lock()
        # Held while a record is put and while closing begins: a put either lands before
        # the stop or is refused.
        self._closing = threading.Lock()
        self._closed = False
        self.errors: list[SendError] = []
        self.counts = SendCounts()
        self._thread = threading.Thread(target=self._run, name="trajstore-sender", daemon=True)
        self._thread.start()

    # ---- the caller's side -------------------------------------------------------------

    def put(self, record: _Record, timeout: float | None) -> None:
        """Waits for room when the queue is full (back-pressure); raises `queue.Full` when
        `timeout` passes first. Refuses once `close` has begun, so that no record lands
        behind the stop and is lost unreported."""
        with self._closing:
            if self._closed:
                raise TrajstoreError("log: this client is closed")
            self._queue.put(record, timeout=timeout)
            with self._lock:
                self.counts.queued += 1

    def flush(self, timeout: float | None) -> bool:
        """Waits until every record put before this call is stored or reported; False
        when `timeout` passed first. After `close`, there is nothing left to wait for."""
        if self._closed:
            return not self._thread.is_alive()
        marker = _Flush()
        try:
            self._queue.put(marker, timeout=timeout)
        except queue.Full:
            return False
        return marker.done.wait(timeout)

    def close(self, timeout: float | None) -> int:
        """Sends what is queued, then stops the thread, within `timeout` seconds in all;
        answers how many queued records were left unsent."""
        deadline = None if timeout is None else time.monotonic() + timeout

        def left() -> float | None:
            return None if deadline is None else max(0.0, deadline - time.monotonic())

        with self._closing:
            if self._closed:
                return 0
            self._closed = True
        with contextlib.suppress(queue.Full):
            self._queue.put(_STOP, timeout=left())
        self._thread.join(left())
        if not self._thread.is_alive():
            return 0
        with self._lock:
            c = self.counts
            return max(0, c.queued - c.stored - c.skipped - c.failed)

    def alive(self) -> bool:
        return self._thread.is_alive()

    # ---- the sender thread ---------------------------------------------------------------

    def _run(self) -> None:
        batch: list[_Record] = []
        size = 0
        deadline = 0.0
        while True:
            wait = None if not batch else max(0.0, deadline - time.monotonic())
            try:
                item = self._queue.get(timeout=wait)
            except queue.Empty:
                item = None  # the batch's time is up
            if isinstance(item, _Record):
                if not batch:
                    deadline = time.monotonic() + self._flush_interval
                batch.append(item)
                size += len(item.body)
                if len(batch) < self._batch_size and size < self._batch_bytes:
                    continue
            self._send_all(batch)
            batch, size = [], 0
            if isinstance(item, _Flush):
                item.done.set()
            elif item is _STOP:
                return

    def _send_all(self, batch: list[_Record]) -> None:
        # One request per format (and one per document), in the order the records came.
        groups: dict[tuple[str, int], list[_Record]] = {}
        for i, r in enumerate(batch):
            groups.setdefault((r.format, i if r.document else -1), []).append(r)
        for (fmt, _), records in groups.items():
            try:
                self._send(fmt, records)
            except Exception as e:  # never let the thread die: report and go on
                self._fail(records, fmt, f"unexpected error while sending: {e!r}", None)

    def _send(self, fmt: str, records: list[_Record]) -> None:
        if fmt == "native":
            body = b"[" + b",".join(r.body for r in records) + b"]"

            def send() -> Any:
                return self._transport.request(
                    "POST",
                    "/api/trajectories",
                    body=body,
                    content_type="application/json",
                    accept_status=(207,),
                )
        else:
            body = b"\n".join(r.body for r in records) + b"\n"

            def send() -> Any:
                task_id = self._with_retries(lambda: self._transport.start_import(body, fmt))
                return self._transport.wait_import(task_id, time.monotonic() + IMPORT_WAIT)

        try:
            report = send() if fmt != "native" else self._with_retries(send)
        except HttpError as e:
            if e.status == 413 and len(records) > 1 and not records[0].document:
                half = len(records) // 2
                self._send(fmt, records[:half])
                self._send(fmt, records[half:])
                return
            self._fail(records, fmt, str(e), e.status)
            return
        except OSError as e:
            self._fail(records, fmt, f"the server could not be reached: {e}", None)
            return
        self._account(records, fmt, report)

    def _with_retries(self, send: Callable[[], Any]) -> Any:
        attempt = 0
        while True:
            try:
                return send()
            except HttpError as e:
                if e.status not in RETRYABLE_STATUS or attempt >= self._max_retries:
                    raise
                pause = e.retry_after
            except OSError:
                if attempt >= self._max_retries:
                    raise
                pause = None
            attempt += 1
            with self._lock:
                self.counts.retries += 1
            if pause is None:
                # Exponential back-off with full jitter, so that many clients do not
                # come back at the same instant.
                pause = random.uniform(0, min(self._max_backoff, self._backoff * 2 ** (attempt - 1)))
            time.sleep(min(pause, self._max_backoff))

    def _account(self, records: list[_Record], fmt: str, report: dict[str, Any]) -> None:
        errors = report.get("errors") or []
        with self._lock:
            self.counts.batches += 1
            self.counts.stored += int(report.get("imported", 0))
            self.counts.skipped += int(report.get("skipped", 0))
            self.counts.failed += int(report.get("failed", 0))
            for e in errors:
                index = e.get("index")
                if index is None and e.get("line") is not None:
                    index = int(e["line"]) - 1  # an upload's records are one per line
                tid = (
                    records[index].trajectory_id if index is not None and 0 <= index < len(records) else None
                )
                self.errors.append(
                    SendError(
                        message=str(e.get("message", "refused")),
                        records=1,
                        status=207,
                        format=fmt,
                        index=index,
                        field=e.get("field"),
                        trajectory_id=tid,
                    )
                )
        for e in errors:
            log.error(
                "trajstore: the server refused a record (field %s): %s", e.get("field"), e.get("message")
            )

    def _fail(self, records: list[_Record], fmt: str, message: str, status: int | None) -> None:
        with self._lock:
            self.counts.failed += len(records)
            self.errors.append(SendError(message=message, records=len(records), status=status, format=fmt))
        log.error("trajstore: %d record(s) were not stored: %s", len(records), message)


def encode(record: Any) -> tuple[bytes, str | None]:
    """The record as compact JSON on one line, and its trajectory_id when it has one.
    Serialised on the caller's thread, so that later changes to the caller's dict do not
    change what is sent, and so that a record that is not JSON fails there, not in a batch
    with others."""
    if isinstance(record, (bytes, bytearray, str)):
        text = record.decode() if isinstance(record, (bytes, bytearray)) else record
        value = json.loads(text)  # ValueError when it is not JSON
        body = text.encode() if "\n" not in text else _dumps(value)
    else:
        value = record
        body = _dumps(record)
    tid = value.get("trajectory_id") if isinstance(value, dict) else None
    return body, tid if isinstance(tid, str) else None


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
