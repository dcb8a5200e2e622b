"""Flask, Django and Starlette mounted in one dualweb App, for tests/test_servers_mounts.py.

Served as ``tests.server_apps.mounts_app:app``. The Flask and Starlette apps
are tests/mounted_frameworks.py's, the same the in-process tests mount. The
Flask app also gets what only a real server shows: a page that 20 requests
must be inside at the same time (``/flask/barrier``), a body whose second
chunk waits for the test (``/flask/held/<key>``, released by
``/flask/release/<key>``) and an endless body whose ``close()`` is recorded
(``/flask/endless/<key>``, seen at ``/flask/closed/<key>``). State is per
worker process; the tests run one.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import flask

from dualweb import App
from tests.mounted_frameworks import make_flask, make_starlette

# This process's own setting: the project is importable under this name here.
os.environ["DJANGO_SETTINGS_MODULE"] = "tests.django_project.settings"

from tests.django_project.wsgi import application as django_app

#: Requests that must all be in /flask/barrier at once.
BARRIER_PARTIES = 20
#: How long anything here waits for the test before giving up.
WAIT = 5.0

# -- Flask: the shared pages, and the server-only ones ------------------------------------------

#: Paths of the shared pages' responses whose close() ran (no server test reads it).
streams_closed: list[str] = []
legacy = make_flask(streams_closed)
barrier = threading.Barrier(BARRIER_PARTIES, timeout=WAIT)
releases: dict[str, threading.Event] = {}
closed: dict[str, bool] = {}
_lock = threading.Lock()


def release_event(key: str) -> threading.Event:
    with _lock:
        return releases.setdefault(key, threading.Event())


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
app.mount("/starlette", make_starlette())
