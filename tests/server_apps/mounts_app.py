"""Flask, Django and Starlette mounted in one dualweb App, for tests/test_servers_mounts.py.

Served as ``tests.server_apps.mounts_app:app``. The Flask app also has what
only a real server shows: a page that 20 requests must be inside at the same
time (``/flask/barrier``), a body whose second chunk waits for the test
(``/flask/held/<key>``, released by ``/flask/release/<key>``) and an endless
body whose ``close()`` is recorded (``/flask/endless/<key>``, seen at
``/flask/closed/<key>``). State is per worker process; the tests run one.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import flask
from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from dualweb import App

# This process's own setting: the project is importable under this name here.
os.environ["DJANGO_SETTINGS_MODULE"] = "tests.django_project.settings"

from tests.django_project.wsgi import application as django_app

#: Requests that must all be in /flask/barrier at once.
BARRIER_PARTIES = 20
#: How long anything here waits for the test before giving up.
WAIT = 5.0

# -- Flask -------------------------------------------------------------------------------------

legacy = flask.Flask(__name__)
barrier = threading.Barrier(BARRIER_PARTIES, timeout=WAIT)
releases: dict[str, threading.Event] = {}
closed: dict[str, bool] = {}
_lock = threading.Lock()


def release_event(key: str) -> threading.Event:
    with _lock:
        return releases.setdefault(key, threading.Event())


@legacy.get("/")
def flask_index() -> Any:
    return flask.Response("flask index", mimetype="text/plain")


@legacy.get("/hello/<name>")
def flask_hello(name: str) -> Any:
    return flask.Response(f"hello {name}", mimetype="text/plain")


@legacy.get("/urls")
def flask_urls() -> Any:
    return {
        "hello": flask.url_for("flask_hello", name="x"),
        "absolute": flask.url_for("flask_hello", name="x", _external=True),
    }


@legacy.get("/go")
def flask_go() -> Any:
    return flask.redirect(flask.url_for("flask_hello", name="there"))


@legacy.route("/new", methods=["GET", "POST"])
def flask_new() -> Any:
    return flask.Response(f"flask new ({flask.request.method})", mimetype="text/plain")


@legacy.post("/form")
def flask_form() -> Any:
    return {name: flask.request.form.getlist(name) for name in flask.request.form}


@legacy.get("/barrier")
def flask_barrier() -> Any:
    """Answers only once BARRIER_PARTIES requests are in here together."""
    try:
        barrier.wait()
    except threading.BrokenBarrierError:
        return flask.Response("broken", status=503, mimetype="text/plain")
    return flask.Response("passed", mimetype="text/plain")


@legacy.get("/held/<key>")
def flask_held(key: str) -> Any:
    """A first chunk, then a second one once the test has released ``key``."""
    released = release_event(key)

    def chunks() -> Iterator[bytes]:
        yield b"first\n"
        yield b"second\n" if released.wait(WAIT) else b"never released\n"

    return flask.Response(chunks(), mimetype="text/plain")


@legacy.get("/release/<key>")
def flask_release(key: str) -> Any:
    release_event(key).set()
    return flask.Response("released", mimetype="text/plain")


@legacy.get("/endless/<key>")
def flask_endless(key: str) -> Any:
    """Ticks until the client leaves (at most a minute); close() is recorded."""
    closed[key] = False

    def ticks() -> Iterator[bytes]:
        for _ in range(1200):
            yield b"tick\n"
            time.sleep(0.05)

    response = flask.Response(ticks(), mimetype="text/plain")
    response.call_on_close(lambda: closed.__setitem__(key, True))
    return response


@legacy.get("/closed/<key>")
def flask_closed(key: str) -> Any:
    return {"closed": closed.get(key)}


# -- Starlette ---------------------------------------------------------------------------------


async def starlette_index(request: StarletteRequest) -> Response:
    return PlainTextResponse("starlette index")


async def starlette_hello(request: StarletteRequest) -> Response:
    return PlainTextResponse(f"hello {request.path_params['name']}")


async def starlette_urls(request: StarletteRequest) -> Response:
    absolute = request.url_for("hello", name="x")
    return JSONResponse({"hello": absolute.path, "absolute": str(absolute)})


async def starlette_stream(request: StarletteRequest) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        for number in range(5):
            yield f"{number}\n".encode()

    return StreamingResponse(chunks(), media_type="text/plain")


modern = Starlette(
    routes=[
        Route("/", starlette_index),
        Route("/hello/{name}", starlette_hello, name="hello"),
        Route("/urls", starlette_urls),
        Route("/stream", starlette_stream),
    ]
)

# -- the App -------------------------------------------------------------------------------------

app = App()


@app.get("/")
def index(request):
    return "dualweb index"


@app.get("/flask/new")
def new(request):
    return "dualweb new"


app.mount("/flask", legacy)
app.mount("/django", django_app)
app.mount("/starlette", modern)
