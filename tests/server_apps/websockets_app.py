"""WebSocket routes for the real-server tests and benchmarks/bench_websockets.py.

``app`` is the dualweb app; ``raw_app`` is a hand-written ASGI echo app, the
floor the benchmark measures dualweb against. What the app saw of a
connection that the client closed is kept per key and served at
``/seen/{key}`` (per worker process; the tests run one worker).
"""

from __future__ import annotations

import asyncio
from typing import Any

from dualweb import App, HTTPException, WebSocket, WebSocketClosed, WebSocketDisconnect

app = App()
seen: dict[str, dict[str, Any]] = {}
# Set through GET /go/{key}; the handler of /late-send/{key} waits for it.
go_signals: dict[str, asyncio.Event] = {}
SMALL_LIMIT = 1024


@app.get("/")
def index(request):
    return "ok"


@app.get("/seen/{key}")
def seen_by_app(request, key: str):
    return seen.get(key, {})


@app.websocket("/echo")
async def echo(ws: WebSocket):
    await ws.accept()
    async for message in ws:
        if isinstance(message, str):
            await ws.send_text(message)
        else:
            await ws.send_bytes(message)


@app.websocket("/small", max_message_size=SMALL_LIMIT)
async def small(ws: WebSocket):
    await ws.accept()
    try:
        while True:
            await ws.send_bytes(await ws.receive_bytes())
    except WebSocketDisconnect as exc:
        seen["small"] = {"code": exc.code, "reason": exc.reason}
        raise


@app.websocket("/json")
async def json_echo(ws: WebSocket):
    await ws.accept()
    while True:
        try:
            document = await ws.receive_json()
        except WebSocketDisconnect:
            return
        await ws.send_json({"echo": document})


@app.websocket("/close-with/{code:int}")
async def close_with(ws: WebSocket, code: int):
    await ws.accept()
    await ws.close(code, ws.query_params.get("reason", ""))


@app.websocket("/record/{key}")
async def record(ws: WebSocket, key: str):
    """Wait for the client to close, and keep the code and reason it gave."""
    await ws.accept()
    await ws.send_text("ready")
    try:
        while True:
            await ws.receive()
    except WebSocketDisconnect as exc:
        seen[key] = {"code": exc.code, "reason": exc.reason}


@app.get("/go/{key}")
async def go(request, key: str):
    go_signals.setdefault(key, asyncio.Event()).set()
    return "ok"


@app.websocket("/late-send/{key}")
async def late_send(ws: WebSocket, key: str):
    """Send once told to, without receiving first: the client may have left by then."""
    signal = go_signals.setdefault(key, asyncio.Event())
    await ws.accept()
    await ws.send_text("ready")
    await signal.wait()
    try:
        await ws.send_text("too late?")
    except (WebSocketDisconnect, WebSocketClosed) as exc:
        seen[key] = {"error": type(exc).__name__, "code": getattr(exc, "code", None)}
    else:
        seen[key] = {"error": None}


@app.websocket("/reject")
async def reject(ws: WebSocket):
    await ws.close(1008)


@app.websocket("/deny")
async def deny(ws: WebSocket):
    await ws.deny(401, "Who are you?", headers={"WWW-Authenticate": "Bearer"})


@app.websocket("/forbidden")
async def forbidden(ws: WebSocket):
    raise HTTPException(403, "No entry")


@app.websocket("/subprotocol")
async def subprotocol(ws: WebSocket):
    supported = ["chat.v2", "chat.v1"]
    chosen = next((name for name in supported if name in ws.subprotocols), None)
    await ws.accept(subprotocol=chosen)
    await ws.send_json({"offered": ws.subprotocols, "chosen": chosen})
    await ws.close()


@app.websocket("/info/{name}")
async def info(ws: WebSocket, name: str):
    await ws.accept(headers=[("x-greeting", f"hello {name}")])
    await ws.send_json(
        {
            "name": name,
            "path": ws.path,
            "query": dict(ws.query_params),
            "scheme": ws.scheme,
            "client_host": ws.client.host if ws.client else None,
            "url_for": ws.url_for("info", name="x"),
        }
    )


@app.websocket("/boom")
async def boom(ws: WebSocket):
    await ws.accept()
    await ws.send_text("about to fail")
    raise RuntimeError("boom")


async def raw_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The floor: an ASGI echo app with nothing but the protocol (HTTP says ok)."""
    if scope["type"] == "websocket":
        message = await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") is not None:
                await send({"type": "websocket.send", "text": message["text"]})
            else:
                await send({"type": "websocket.send", "bytes": message["bytes"]})
    elif scope["type"] == "http":
        await receive()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"2")],
            }
        )
        await send({"type": "http.response.body", "body": b"ok"})
    elif scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
