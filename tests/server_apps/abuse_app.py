"""Routes for the hostile-body and hostile-WebSocket suites (tests/test_abuse_bodies.py,
tests/test_abuse_websockets.py), served in-process by the TestClient and by real
servers as ``tests.server_apps.abuse_app:app``.

Each route reads the body one way (json(), form(), parts()...) and answers
with a small summary of what it got; WebSocket routes record what their
handler saw (how it ended, whether its ``finally`` ran) under a key, served
at ``/seen/{key}`` (per worker process; the tests run one worker).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from dualweb import App, WebSocket, WebSocketDisconnect

app = App()

#: Raised body limit of the /big-* routes: room for 100,000 fields or
#: 10,000 files, so that the count limits are what stops them.
BIG_BODY = 8 * 1024 * 1024
#: max_message_size of the /ws/small route.
SMALL_MESSAGE = 1024
#: What the WebSocket handlers saw, by key.
seen: dict[str, dict[str, Any]] = {}


@app.get("/")
def index(request):
    return "ok"


@app.get("/pid")
def pid(request):
    """The process serving requests (gunicorn's worker, not its master): for RSS."""
    return {"pid": os.getpid()}


@app.get("/seen/{key}")
def seen_by_app(request, key: str):
    return seen.get(key, {})


# -- bodies ------------------------------------------------------------------------------


@app.post("/json")
def read_json(request):
    return {"got": request.json()}


@app.post("/ajson")
async def read_ajson(request):
    return {"got": await request.ajson()}


def summary(form: Any) -> dict[str, Any]:
    return {
        "fields": len(form),
        "files": [
            {"name": name, "filename": upload.filename, "safe": upload.safe_filename}
            for name, upload in form.files.items()
        ],
    }


@app.post("/form")
def read_form(request):
    return summary(request.form())


@app.post("/aform")
async def read_aform(request):
    return summary(await request.aform())


@app.post("/big-form", max_body_size=BIG_BODY)
def read_big_form(request):
    return summary(request.form())


@app.post("/big-aform", max_body_size=BIG_BODY)
async def read_big_aform(request):
    return summary(await request.aform())


@app.post("/parts")
def read_parts(request):
    return {"parts": [[part.name, part.filename, len(part.read())] for part in request.parts()]}


@app.post("/aparts")
async def read_aparts(request):
    return {
        "parts": [
            [part.name, part.filename, len(await part.aread())] async for part in request.aparts()
        ]
    }


@app.post("/big-parts", max_body_size=BIG_BODY)
def read_big_parts(request):
    return {"parts": len([part.name for part in request.parts()])}


@app.post("/body")
def read_body(request):
    return {"size": len(request.body())}


@app.post("/abody")
async def read_abody(request):
    return {"size": len(await request.abody())}


# -- WebSockets ----------------------------------------------------------------------------


@app.websocket("/ws/echo")
async def echo(ws: WebSocket):
    await ws.accept()
    async for message in ws:
        if isinstance(message, str):
            await ws.send_text(message)
        else:
            await ws.send_bytes(message)


@app.websocket("/ws/small", max_message_size=SMALL_MESSAGE)
async def small(ws: WebSocket):
    await ws.accept()
    async for message in ws:
        await ws.send_text(f"{len(message)}")


@app.websocket("/ws/text")
async def text_only(ws: WebSocket):
    """Takes text messages only: a binary one closes the connection with 1003."""
    await ws.accept()
    while True:
        await ws.send_text((await ws.receive_text()).upper())


@app.websocket("/ws/json")
async def json_echo(ws: WebSocket):
    await ws.accept()
    while True:
        await ws.send_json({"echo": await ws.receive_json()})


@app.websocket("/ws/count/{key}")
async def count(ws: WebSocket, key: str):
    """Counts messages until the client closes: a flood must all arrive, in order."""
    received = 0
    await ws.accept()
    try:
        async for message in ws:
            if message != str(received):
                seen[key] = {"out_of_order": message, "expected": received}
                await ws.close(1008)
                return
            received += 1
        seen[key] = {"received": received, "code": ws.close_code}
    finally:
        seen.setdefault(key, {})["finally"] = True


@app.websocket("/ws/hold/{key}")
async def hold(ws: WebSocket, key: str):
    """Waits for a message the client never finishes (or never sends)."""
    await ws.accept()
    await ws.send_text("ready")
    try:
        await ws.receive()
        seen[key] = {"ended": "message"}
    except WebSocketDisconnect as exc:
        seen[key] = {"ended": "disconnect", "code": exc.code}
    finally:
        seen.setdefault(key, {})["finally"] = True


@app.websocket("/ws/sleep/{key}")
async def sleep_then_send(ws: WebSocket, key: str):
    """Awaits something else (a sleep) when the client leaves, then tries to send."""
    await ws.accept()
    await ws.send_text("ready")
    try:
        await asyncio.sleep(0.5)
        await ws.send_text("late")
        await ws.receive()  # the disconnect, if sending did not notice
        seen[key] = {"ended": "normally"}
    except WebSocketDisconnect as exc:
        seen[key] = {"ended": "disconnect", "code": exc.code}
    finally:
        seen.setdefault(key, {})["finally"] = True


@app.websocket("/ws/firehose/{key}")
async def firehose(ws: WebSocket, key: str):
    """Sends until the client leaves: the disconnect must reach the handler as such."""
    await ws.accept()
    sent = 0
    try:
        while True:
            await ws.send_bytes(b"x" * 4096)
            sent += 1
            if sent % 64 == 0:
                await asyncio.sleep(0)  # let the server notice the disconnect
    except WebSocketDisconnect as exc:
        seen[key] = {"ended": "disconnect", "code": exc.code}
    finally:
        seen.setdefault(key, {})["finally"] = True
