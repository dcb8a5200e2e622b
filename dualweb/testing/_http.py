"""What the WSGI and the ASGI transport do alike, as a server does either way."""

from __future__ import annotations

import httpx


def _path_and_query(url: httpx.URL) -> tuple[bytes, bytes]:
    raw_path, _, query = url.raw_path.partition(b"?")
    return raw_path, query


def _truncated() -> httpx.RemoteProtocolError:
    return httpx.RemoteProtocolError("the app ended the response before its body was complete")
