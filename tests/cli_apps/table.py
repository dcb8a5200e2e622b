"""The App whose route table tests/test_cli.py prints: every kind of entry.

Sync and async routes, a WebSocket route, and three mounts: a Flask app
(WSGI), a raw ASGI function and another dualweb App with routes of its own.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import flask

from dualweb import App, WebSocket

legacy = flask.Flask(__name__)


@legacy.get("/")
def legacy_index() -> str:
    return "legacy"


async def raw_asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


api = App()


@api.get("/items/{item_id:int}")
async def get_item(request, item_id: int):
    return {"id": item_id}


@api.websocket("/feed")
async def feed(ws: WebSocket):
    await ws.accept()


app = App()
app.mount("/legacy", legacy)
app.mount("/raw", raw_asgi, name="raw")
app.mount("/api", api)


@app.get("/")
def index(request):
    return "index"


@app.route("/users/{user_id:int}", ["GET", "POST"], name="user")
async def user(request, user_id: int):
    return {"id": user_id}


@app.websocket("/ws")
async def chat(ws: WebSocket):
    await ws.accept()


def not_an_app() -> None:
    """A function where the command line expects an App."""


#: For ``MODULE:APP`` with a dotted APP: ``tests.cli_apps.table:apps.api``.
apps = SimpleNamespace(api=api)
