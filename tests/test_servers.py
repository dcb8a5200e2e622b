"""Real servers over real sockets: ``examples/hello.py``, unchanged, under every
WSGI and ASGI server dualweb supports, talked to with httpx on 127.0.0.1.

Each server runs as ``python -m <server>`` with this interpreter, from the
project root, in its own session (so the whole process group is stopped by
PID), on a free loopback port, with its output captured to a file that every
failure message quotes. A server starts once per module, on first use, and
all of them stop when the module ends.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from serverkit import (
    HELLO,
    REQUEST_TIMEOUT,
    ROOT,
    SERVERS,
    SLOW,
    WSGI_SERVERS,
    Server,
    Servers,
)

pytestmark = pytest.mark.servers


@pytest.fixture(params=list(SERVERS))
def hello(request: pytest.FixtureRequest, servers: Servers) -> Server:
    """examples/hello.py served by each server in turn."""
    return servers.get(request.param)


# -- examples/hello.py, everywhere -------------------------------------------------------


def test_index(hello: Server) -> None:
    with hello.client() as client:
        response = client.get("/")
    assert response.status_code == 200, hello.describe()
    assert response.content == b"Hello, World!"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["content-length"] == "13"


def test_async_handler_with_int_parameter(hello: Server) -> None:
    with hello.client() as client:
        response = client.get("/users/42")
    assert response.status_code == 200, hello.describe()
    assert response.json() == {"id": 42}
    assert response.content == b'{"id":42}'
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-length"] == str(len(response.content))


def test_head_has_get_headers_and_no_body(hello: Server) -> None:
    with hello.client() as client:
        get = client.get("/")
        head = client.head("/")
    assert head.status_code == 200, hello.describe()
    assert head.content == b""
    assert head.headers["content-length"] == get.headers["content-length"] == "13"
    assert head.headers["content-type"] == get.headers["content-type"]


@pytest.mark.parametrize("path", ["/echo", "/aecho"])
def test_json_echo_keeps_non_ascii(hello: Server, path: str) -> None:
    body = '{"name": "Zoë"}'.encode()
    with hello.client() as client:
        response = client.post(path, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 200, hello.describe()
    assert response.json() == {"name": "Zoë"}
    # Compact UTF-8 JSON, byte for byte: "ë" crossed the server both ways unharmed.
    assert response.content == '{"name":"Zoë"}'.encode()
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-length"] == str(len(response.content)) == "15"


@pytest.mark.parametrize("path", ["/nowhere", "/users/abc", "/users/"])
def test_not_found(hello: Server, path: str) -> None:
    with hello.client() as client:
        response = client.get(path)
    assert response.status_code == 404, hello.describe()
    assert response.text == "Not Found"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", "/echo", {"POST", "OPTIONS"}),
        ("PUT", "/aecho", {"POST", "OPTIONS"}),
        ("POST", "/", {"GET", "HEAD", "OPTIONS"}),
        ("DELETE", "/users/7", {"GET", "HEAD", "OPTIONS"}),
    ],
)
def test_wrong_method_is_405_with_allow(
    hello: Server, method: str, path: str, allowed: set[str]
) -> None:
    with hello.client() as client:
        response = client.request(method, path)
    assert response.status_code == 405, hello.describe()
    assert set(response.headers["allow"].split(", ")) == allowed
    assert response.text == "Method Not Allowed"


@pytest.mark.parametrize("name", WSGI_SERVERS)
def test_async_handler_repeatedly_on_one_wsgi_worker(servers: Servers, name: str) -> None:
    """An async handler under WSGI runs on its worker thread's persistent loop:
    the loop must still be usable for the next request on the same worker."""
    server = servers.get(name)
    boots = server.worker_boots()
    assert boots == 1, server.describe()
    with server.client() as client:
        first = client.get("/users/1")
        second = client.get("/users/2")
        echoed = [client.post("/aecho", json={"n": n}).json() for n in range(3)]
        third = client.get("/users/3")
    assert (first.status_code, first.json()) == (200, {"id": 1}), server.describe()
    assert (second.status_code, second.json()) == (200, {"id": 2}), server.describe()
    assert (third.status_code, third.json()) == (200, {"id": 3}), server.describe()
    assert echoed == [{"n": 0}, {"n": 1}, {"n": 2}]
    # One worker process (--workers 1), never restarted: the same worker answered all.
    assert server.worker_boots() == boots, server.describe()


def test_uvicorn_autodetects_asgi3(servers: Servers, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    server = servers.get("uvicorn")
    assert not any(arg.startswith("--interface") for arg in server.argv)
    with server.client() as client:
        assert client.get("/users/5").json() == {"id": 5}
    log = server.log()
    # Under ASGI 2, App(scope) would fail: lifespan "unsupported", then 500s.
    assert "Application startup complete." in log, server.describe()
    assert "unsupported" not in log, server.describe()

    # And what uvicorn decides, asked directly.
    monkeypatch.syspath_prepend(str(ROOT))
    config = uvicorn.Config(HELLO, log_config=None)
    config.load()
    assert config.interface == "asgi3"


# -- sync handlers under ASGI run in dualweb's thread pool --------------------------------

CONCURRENT_REQUESTS = 50


async def _concurrent_gets(url: str, path: str, count: int) -> tuple[list[httpx.Response], float]:
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
    async with httpx.AsyncClient(
        base_url=url, timeout=REQUEST_TIMEOUT, trust_env=False, limits=limits
    ) as client:
        warm_up = await client.get(path)
        warm_up.raise_for_status()
        started = time.perf_counter()
        responses = await asyncio.gather(*(client.get(path) for _ in range(count)))
        elapsed = time.perf_counter() - started
    return list(responses), elapsed


@pytest.mark.parametrize("name", ["uvicorn", "gunicorn-asgi"])
def test_blocking_sync_handler_does_not_serialise_requests(servers: Servers, name: str) -> None:
    """50 concurrent requests to a sync handler that sleeps 0.2 s: answered within 1 s."""
    server = servers.get(name, SLOW)
    responses, elapsed = asyncio.run(_concurrent_gets(server.url, "/sleep", CONCURRENT_REQUESTS))
    assert [r.status_code for r in responses] == [200] * CONCURRENT_REQUESTS, server.describe()
    threads = [r.json()["thread"] for r in responses]
    assert all(thread.startswith("dualweb-sync") for thread in threads), threads
    assert 0.2 <= elapsed < 1.0, (
        f"{CONCURRENT_REQUESTS} concurrent 0.2 s requests took {elapsed:.3f} s on {name} "
        f"({len(set(threads))} distinct pool threads)"
    )


# -- last: nothing went wrong on the server side ----------------------------------------------


@pytest.mark.parametrize("name", list(SERVERS))
def test_no_errors_in_server_output(servers: Servers, name: str) -> None:
    server = servers.get(name)
    log = server.log()
    for sign in ("Traceback", "Exception in", "[ERROR]", "ERROR:", "unsupported"):
        assert sign not in log, server.describe()
