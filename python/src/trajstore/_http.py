"""HTTP with the standard library: requests, the server's error documents, and waits on
background imports."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from typing import IO, Any

from .errors import TrajstoreError

# A parameter value: lists become comma-separated values, booleans `true`/`false`.
ParamValue = str | int | float | bool | Iterable[str | int | float] | None


class HttpError(TrajstoreError):
    """An answer outside 2xx, or one the client could not read."""


def encode_params(params: Mapping[str, ParamValue]) -> str:
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            pairs.append((key, "true" if value else "false"))
        elif isinstance(value, (str, int, float)):
            pairs.append((key, str(value)))
        else:
            pairs.append((key, ",".join(str(v) for v in value)))
    return urllib.parse.urlencode(pairs, quote_via=urllib.parse.quote)


class Transport:
    def __init__(self, url: str, token: str | None, timeout: float) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"url: expected http://HOST:PORT or https://..., got {url!r}")
        self.base = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def _open(
        self,
        method: str,
        path: str,
        params: Mapping[str, ParamValue] | None = None,
        body: bytes | None = None,
        content_type: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        url = self.base + path
        if params:
            query = encode_params(params)
            if query:
                url += "?" + query
        request = urllib.request.Request(url, data=body, method=method)
        if content_type:
            request.add_header("Content-Type", content_type)
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        for k, v in (headers or {}).items():
            request.add_header(k, v)
        try:
            return urllib.request.urlopen(request, timeout=self.timeout)
        except urllib.error.HTTPError as e:
            raise _error_from(e, method, path) from None

    def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, ParamValue] | None = None,
        body: bytes | None = None,
        content_type: str | None = None,
        accept_status: tuple[int, ...] = (),
    ) -> Any:
        """The JSON document of the answer. Statuses in `accept_status` (207, say) are
        answers, not errors."""
        try:
            with self._open(method, path, params, body, content_type) as r:
                return json.loads(r.read() or b"null")
        except HttpError as e:
            if e.status in accept_status and e.document is not None:
                return e.document
            raise

    def download(self, path: str, params: Mapping[str, ParamValue], out: IO[bytes]) -> int:
        """Streams the answer's body into `out`; returns the bytes written."""
        written = 0
        with self._open("GET", path, params) as r:
            while True:
                chunk = r.read(1 << 20)
                if not chunk:
                    return written
                out.write(chunk)
                written += len(chunk)

    def read_bytes(self, path: str, params: Mapping[str, ParamValue]) -> tuple[bytes, Mapping[str, str]]:
        with self._open("GET", path, params) as r:
            return r.read(), dict(r.headers.items())

    def start_import(self, body: bytes, fmt: str) -> str:
        """Sends records in a format other than the native one as a background import of
        a JSON Lines upload; answers the import's task id."""
        started = self.request(
            "POST",
            "/api/imports",
            params={"format": fmt},
            body=body,
            content_type="application/octet-stream",
        )
        return str(started["task_id"])

    def wait_import(self, task_id: str, deadline: float) -> dict[str, Any]:
        """The report of an import, once done. Reading its status is retried on errors
        that may pass (never the upload itself, which would import the records twice)
        until `deadline` (a `time.monotonic()` value)."""
        task = self.wait_task(
            f"/api/imports/{urllib.parse.quote(task_id, safe='')}",
            deadline,
            gone=f"import task {task_id} is not on the server any more (restarted?): "
            "its records may or may not be stored",
        )
        if task["status"] == "failed":
            raise HttpError(f"the import of a batch failed: {task.get('error')}", status=None)
        return dict(task["result"])

    def wait_task(
        self, path: str, deadline: float, *, gone: str, give_up: float | None = None
    ) -> dict[str, Any]:
        """The document of the background task at `path` once its status is `done` or
        `failed`. Errors that may pass (a 5xx, a dropped connection) are retried until
        `deadline`; a task the server no longer has raises with the message `gone`; a task
        still running at `give_up` (a `time.monotonic()` value) raises `TimeoutError`."""
        pause = 0.05
        while True:
            try:
                task = self.request("GET", path)
            except HttpError as e:
                if e.status == 404:
                    raise HttpError(gone, status=404) from None
                if e.status is None or e.status < 500 or time.monotonic() > deadline:
                    raise
                task = {"status": "running"}
            except OSError:
                if time.monotonic() > deadline:
                    raise
                task = {"status": "running"}
            if task["status"] in ("done", "failed"):
                return dict(task)
            if give_up is not None and time.monotonic() > give_up:
                raise TimeoutError(f"the task at {path} did not end in time")
            time.sleep(pause)
            pause = min(pause * 2, 1.0)


def _error_from(e: urllib.error.HTTPError, method: str, path: str) -> HttpError:
    raw = e.read()
    document: Any = None
    code = message = parameter = None
    try:
        document = json.loads(raw)
        detail = document.get("error") if isinstance(document, dict) else None
        if isinstance(detail, dict):
            code, message, parameter = detail.get("code"), detail.get("message"), detail.get("parameter")
    except ValueError:
        pass
    text = message or raw[:200].decode(errors="replace") or e.reason
    where = f" (parameter {parameter})" if parameter else ""
    retry_after: float | None = None
    header = e.headers.get("Retry-After") if e.headers else None
    if header:
        try:
            retry_after = float(header)
        except ValueError:
            retry_after = None
    return HttpError(
        f"{method} {path}: {e.code} {code or ''}{where}: {text}".replace(" :", ":"),
        status=e.code,
        code=code,
        parameter=parameter,
        document=document,
        retry_after=retry_after,
    )
