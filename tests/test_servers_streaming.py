"""Streaming under real servers: a client that leaves stops the event source,
and a body that fails half-way drops only its own connection."""

from __future__ import annotations

import time

import httpx
import pytest
from serverkit import Servers

pytestmark = pytest.mark.servers

STREAMS = "tests.server_apps.streams:app"
WAIT = 5.0


def closed_count(client: httpx.Client) -> int:
    return int(client.get("/closed").json()["closed"])


@pytest.mark.parametrize("name", ["uvicorn", "gunicorn-asgi", "gunicorn-sync", "granian-asgi"])
@pytest.mark.parametrize("path", ["/events", "/sync-events"])
def test_event_source_is_closed_when_the_client_leaves(
    servers: Servers, name: str, path: str
) -> None:
    server = servers.get(name, STREAMS)
    with server.client() as client:
        before = closed_count(client)
        with client.stream("GET", path) as response:
            assert response.status_code == 200, server.describe()
            first = next(response.iter_lines())
            assert first == "data: hello", server.describe()
        # Leaving the block before the end closes the connection.
        deadline = time.monotonic() + WAIT
        while closed_count(client) == before:
            assert time.monotonic() < deadline, (
                f"the event source still runs {WAIT} s after the client left: " + server.describe()
            )
            time.sleep(0.05)


@pytest.mark.parametrize("name", ["uvicorn", "gunicorn-asgi", "gunicorn-sync"])
def test_failing_body_truncates_the_response_and_the_worker_serves_on(
    servers: Servers, name: str
) -> None:
    server = servers.get(name, STREAMS)
    with server.client() as client:
        with pytest.raises(httpx.RemoteProtocolError):
            client.get("/broken")
        assert client.get("/").text == "ok", server.describe()
    assert "Exception in the streamed body of GET /broken" in server.log(), server.describe()
    assert "RuntimeError: failed half-way" in server.log()
