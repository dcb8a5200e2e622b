"""The app benchmarks/soak.py keeps busy: one dualweb App, served by uvicorn and gunicorn.

Each route is one kind of request of the soak mix, sync and async handlers
alternating so that both paths of each interface are loaded (under ASGI, the
``def`` handlers and the sync stream run in the thread pool; under WSGI, the
``async def`` ones on the worker thread's loop):

* ``GET /plaintext`` (async) and ``POST /json`` (sync, echoes a summary);
* ``POST /form`` (async, url-encoded) and ``POST /upload`` (sync, multipart
  with small files, each read back);
* ``GET /stream`` (a sync generator) and ``GET /astream`` (an async one);
* ``/ws``: WebSocket echo (ASGI servers only).

``GET /missing`` is not routed: its 404 is the mix's one intended non-2xx
answer. A middleware marks it (``x-soak-intended: 404``) so that the load
generator can tell it from any other error answer.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterator

from dualweb import App, Middleware, Request, Response, StreamingResponse, WebSocket

#: The stream routes send this many chunks of CHUNK.
CHUNKS = 16
CHUNK = b"x" * 1024
INTENDED_404 = "/missing"


class MarkIntended(Middleware):
    """Mark the deliberate 404, so that it is counted apart from unintended errors."""

    inline = True

    def after_request(self, request: Request, response: Response) -> None:
        if response.status_code == 404 and request.path == INTENDED_404:
            response.headers["x-soak-intended"] = "404"


app = App()
app.add_middleware(MarkIntended())


@app.get("/")
def index(request: Request) -> str:
    return "soak"


@app.get("/plaintext")
async def plaintext(request: Request) -> str:
    return "Hello, World!"


@app.post("/json")
def echo_json(request: Request) -> dict[str, object]:
    document = request.json()
    return {"name": document["name"], "items": len(document["items"])}


@app.post("/form")
async def form(request: Request) -> dict[str, object]:
    fields = await request.aform()
    return {"fields": len(fields), "first": fields.get("field0")}


@app.post("/upload")
def upload(request: Request) -> dict[str, object]:
    form = request.form()
    files = form.files.getlist("file")
    digests = [hashlib.sha256(file.read()).hexdigest()[:8] for file in files]
    return {"title": form.get("title"), "files": len(files), "sha256": digests}


@app.get("/stream")
def stream(request: Request) -> StreamingResponse:
    def chunks() -> Iterator[bytes]:
        for _ in range(CHUNKS):
            yield CHUNK

    return StreamingResponse(chunks(), media_type="application/octet-stream")


@app.get("/astream")
async def astream(request: Request) -> StreamingResponse:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(CHUNKS):
            yield CHUNK

    return StreamingResponse(chunks(), media_type="application/octet-stream")


@app.websocket("/ws")
async def echo(ws: WebSocket) -> None:
    await ws.accept()
    async for message in ws:
        if isinstance(message, str):
            await ws.send_text(message)
        else:
            await ws.send_bytes(message)
