"""Calling an App's WSGI side with a hand-built environ, for requests the
test client cannot make (raw paths, bodies cut short)."""

from __future__ import annotations

from typing import Any
from wsgiref.validate import validator

from dualweb import App


def run_wsgi(app: App, environ: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
    """The status, headers and body of ``app`` for ``environ``, inside the validator."""
    started: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started[:] = [int(status[:3]), headers]
        return lambda data: None

    result = validator(app.wsgi)(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        result.close()  # type: ignore[attr-defined]
    return started[0], started[1], body
