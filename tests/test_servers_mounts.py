"""Flask, Django and Starlette mounted in a dualweb App, under real servers.

``tests/server_apps/mounts_app.py`` runs under uvicorn, gunicorn's sync
worker and gunicorn's ASGI worker; its pages must work over real HTTP. What
only a real server shows is checked under the ASGI servers: the mounted
Flask app is not serialised (20 requests meet inside it at a barrier), its
generator's chunks reach the client one by one, and its response is closed
when the client leaves half-way.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from urllib.parse import urljoin

import httpx
import pytest
from mounted_frameworks import STREAMED
from serverkit import REQUEST_TIMEOUT, Server, Servers

pytestmark = pytest.mark.servers

APP = "tests.server_apps.mounts_app:app"
SERVERS = ["uvicorn", "gunicorn-sync", "gunicorn-asgi"]
ASGI_SERVERS = ["uvicorn", "gunicorn-asgi"]
FRAMEWORKS = ["flask", "django", "starlette"]
#: tests/server_apps/mounts_app.py's BARRIER_PARTIES.
BARRIER_PARTIES = 20
WAIT = 10.0


@pytest.fixture(params=SERVERS)
def server(request: pytest.FixtureRequest, servers: Servers) -> Server:
    return servers.get(request.param, APP)


@pytest.fixture(params=FRAMEWORKS)
def framework(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# -- pages, everywhere --------------------------------------------------------------------------


def test_pages(server: Server, framework: str) -> None:
    with server.client() as client:
        index = client.get(f"/{framework}/")
        hello = client.get(f"/{framework}/hello/zoë")
        outer = client.get("/")
    assert (index.status_code, index.text) == (200, f"{framework} index"), server.describe()
    assert (hello.status_code, hello.text) == (200, "hello zoë"), server.describe()
    assert outer.text == "dualweb index"


def test_urls_include_the_prefix_and_the_host(server: Server, framework: str) -> None:
    with server.client() as client:
        response = client.get(f"/{framework}/urls")
    assert response.status_code == 200, server.describe()
    urls = response.json()
    assert urls["hello"] == f"/{framework}/hello/x"
    # The host the client asked for, as the server passed it on.
    assert urls["absolute"] == f"{server.url}/{framework}/hello/x"


@pytest.mark.parametrize("framework", ["flask", "django"])
def test_redirect_location_includes_the_prefix(server: Server, framework: str) -> None:
    with server.client() as client:
        response = client.get(f"/{framework}/go")
        followed = client.get(f"/{framework}/go", follow_redirects=True)
    assert response.status_code == 302, server.describe()
    location = urljoin(f"{server.url}/{framework}/go", response.headers["location"])
    assert location == f"{server.url}/{framework}/hello/there"
    assert followed.text == "hello there"


def test_outer_route_wins_over_the_mount(server: Server) -> None:
    with server.client() as client:
        outer = client.get("/flask/new")
        mounted = client.post("/flask/new")
    assert (outer.status_code, outer.text) == (200, "dualweb new"), server.describe()
    assert (mounted.status_code, mounted.text) == (200, "flask new (POST)"), server.describe()


def test_not_found_of_the_mounted_app(server: Server) -> None:
    with server.client() as client:
        flask_404 = client.get("/flask/nowhere")
        django_404 = client.get("/django/nowhere")
    assert flask_404.status_code == django_404.status_code == 404, server.describe()
    assert "The requested URL was not found on the server." in flask_404.text
    assert "The requested resource was not found on this server." in django_404.text


def test_head(server: Server, framework: str) -> None:
    with server.client() as client:
        get = client.get(f"/{framework}/hello/x")
        head = client.head(f"/{framework}/hello/x")
    assert head.status_code == 200, server.describe()
    assert head.content == b""
    assert head.headers["content-length"] == get.headers["content-length"] == "7"


def test_flask_form_post(server: Server) -> None:
    fields = {"a": ["1", "2"], "b": ["zoë & co"]}
    with server.client() as client:
        response = client.post("/flask/form", data=fields)
    assert response.status_code == 200, server.describe()
    assert response.json() == fields


def test_django_upload(server: Server) -> None:
    data = bytes(range(256)) * 1200
    with server.client() as client:
        response = client.post(
            "/django/upload",
            data={"note": "binary"},
            files={"file": ("data.bin", data, "application/octet-stream")},
        )
    assert response.status_code == 200, server.describe()
    assert response.json()["sha256"] == hashlib.sha256(data).hexdigest()
    assert response.json()["size"] == len(data)


def test_django_csrf_and_session(server: Server) -> None:
    # Django's WSGI handler gives its Set-Cookie values a leading space, which
    # h11 (uvicorn) would refuse if the mount passed it on.
    with server.client() as client:
        token = client.get("/django/csrf").json()["token"]
        refused = client.post("/django/csrf", data={"text": "hi"})
        accepted = client.post("/django/csrf", data={"text": "hi", "csrfmiddlewaretoken": token})
        counts = [client.get("/django/count").json()["count"] for _ in range(2)]
    assert refused.status_code == 403, server.describe()
    assert (accepted.status_code, accepted.text) == (200, "accepted hi"), server.describe()
    assert counts == [1, 2]


def test_starlette_stream(server: Server) -> None:
    with server.client() as client:
        response = client.get("/starlette/stream")
    assert response.status_code == 200, server.describe()
    assert response.content == STREAMED


# -- the mounted Flask app under ASGI servers ---------------------------------------------------


async def _meet_at_the_barrier(url: str) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=BARRIER_PARTIES)
    async with httpx.AsyncClient(
        base_url=url, timeout=REQUEST_TIMEOUT, trust_env=False, limits=limits
    ) as client:
        requests = (client.get("/flask/barrier") for _ in range(BARRIER_PARTIES))
        return list(await asyncio.gather(*requests))


@pytest.mark.parametrize("name", ASGI_SERVERS)
def test_mounted_flask_app_is_not_serialised(servers: Servers, name: str) -> None:
    """20 requests all pass a 20-party barrier only if they are all inside
    the Flask app at once; one at a time, the first would wait in vain and
    break the barrier for everyone (503)."""
    server = servers.get(name, APP)
    responses = asyncio.run(_meet_at_the_barrier(server.url))
    assert [(r.status_code, r.text) for r in responses] == [(200, "passed")] * BARRIER_PARTIES, (
        server.describe()
    )


@pytest.mark.parametrize("name", ASGI_SERVERS)
def test_flask_generator_chunks_arrive_one_by_one(servers: Servers, name: str) -> None:
    server = servers.get(name, APP)
    key = uuid.uuid4().hex
    with (
        server.client() as client,
        server.client() as other,
        client.stream("GET", f"/flask/held/{key}") as response,
    ):
        assert response.status_code == 200, server.describe()
        chunks = response.iter_raw()
        # The generator now waits for the release: had the response been
        # held back until the body was complete, this would be
        # "first\nnever released\n" (after the generator gave up).
        first = next(chunks)
        assert first == b"first\n", server.describe()
        assert other.get(f"/flask/release/{key}").text == "released"
        rest = b"".join(chunks)
    assert rest == b"second\n", server.describe()


@pytest.mark.parametrize("name", [*ASGI_SERVERS, "gunicorn-sync"])
def test_flask_response_closed_when_the_client_leaves(servers: Servers, name: str) -> None:
    server = servers.get(name, APP)
    key = uuid.uuid4().hex
    with server.client() as client, client.stream("GET", f"/flask/endless/{key}") as response:
        assert response.status_code == 200, server.describe()
        assert next(response.iter_raw()).startswith(b"tick\n")
        # Leaving the block before the end closes the connection.
    with server.client() as client:
        deadline = time.monotonic() + WAIT
        while client.get(f"/flask/closed/{key}").json()["closed"] is not True:
            assert time.monotonic() < deadline, (
                f"close() not called {WAIT} s after the client left: " + server.describe()
            )
            time.sleep(0.05)


# -- last: nothing went wrong on the server side ------------------------------------------------


@pytest.mark.parametrize("name", SERVERS)
def test_no_errors_in_server_output(servers: Servers, name: str) -> None:
    log = servers.get(name, APP).log()
    for sign in ("Traceback", "Exception in", "[ERROR]", "ERROR:"):
        assert sign not in log, servers.get(name, APP).describe()
