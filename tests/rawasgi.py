"""Calling an App's ASGI side with a hand-built scope and ``receive``, for requests the
test client cannot make (bodies cut short, disconnects on cue). The ASGI twin of
rawwsgi.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from dualweb import App

Receive = Callable[[], Awaitable[dict[str, Any]]]


def http_scope(
    path: str, *, method: str = "GET", headers: Iterable[tuple[bytes, bytes]] = ()
) -> dict[str, Any]:
    """An HTTP scope as uvicorn builds it, for ``path`` on testserver from 127.0.0.1."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": list(headers),
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 5000),
    }


async def run_asgi(app: App, scope: dict[str, Any], receive: Receive) -> tuple[int, bytes]:
    """The status and body ``app`` sends for ``scope``, reading the request from ``receive``."""
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)  # what a server calls
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], body
