"""Calling an App's WSGI side with a hand-built environ, for requests the
test client cannot make (raw paths, bodies cut short)."""

from __future__ import annotations

import io
from typing import IO, Any
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


def http_environ(
    path: str, *, method: str = "GET", body: IO[bytes] | None = None, **extra: Any
) -> dict[str, Any]:
    """An environ as a WSGI server builds it, for ``path`` (already a WSGI native
    string) on testserver; ``extra`` adds or replaces keys (CONTENT_TYPE, ...)."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": body if body is not None else io.BytesIO(),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    environ.update(extra)
    return environ
