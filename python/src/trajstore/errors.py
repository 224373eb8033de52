"""The client's exceptions."""

from __future__ import annotations

from typing import Any


class TrajstoreError(Exception):
    """An error answered by the server (with its HTTP status, its error code and the
    parameter it names) or met on the way to it."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        parameter: str | None = None,
        document: Any = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.parameter = parameter
        self.document = document
        self.retry_after = retry_after
