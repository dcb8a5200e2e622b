"""The whole framework in one app: pages, a JSON API, an upload form, a WebSocket
chat, a server-sent-events clock and a legacy Flask app, on one ``App`` object
that is both a WSGI and an ASGI application.

Run it from the repository root with any of::

    uvicorn examples.showcase:app --host 127.0.0.1 --port 8000   # ASGI: everything
    gunicorn -k asgi examples.showcase:app    # gunicorn's own ASGI worker: everything
    gunicorn examples.showcase:app            # WSGI (sync worker): all but the chat
    dualweb run examples.showcase:app         # uvicorn, through dualweb's command

then open http://127.0.0.1:8000/. What each URL shows:

=======================  ==============================================================
``/``                    what dualweb is, which interface serves the request, links
``/api/sync``            JSON from a ``def`` handler: its thread, no event loop
``/api/async``           JSON from an ``async def`` handler: its thread and loop
``/api/chat``            the chat's recent messages (GET, sync); POST one (async, 422)
``/upload``              a form; POST streams the file through SHA-256 (5 MiB, 413)
``/chat``, ``/ws/chat``  a WebSocket chat room (ASGI; WSGI answers 426)
``/clock``               a clock ticking through server-sent events
``/legacy/``             a Flask app mounted as it is (its ``url_for`` knows the prefix)
``/routes``              every route, and which interface and server serve the request
=======================  ==============================================================

It needs Flask (``pip install flask``). Everything lives in this process's
memory: with several worker processes each has its own chat history, and
chat members connected to different workers do not hear each other.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import itertools
import json
import os
import sys
import threading
from collections import deque
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import flask

from dualweb import (
    App,
    EventSourceResponse,
    HTMLResponse,
    HTTPException,
    JSONResponse,
    Request,
    Response,
    ServerSentEvent,
    WebSocket,
    WebSocketClosed,
    WebSocketDisconnect,
)
from dualweb.cli import route_rows
from dualweb.middleware import Middleware

app = App()

#: Seconds between two ticks of the clock (the tests make it shorter).
TICK_SECONDS = 1.0
#: Uploads of up to 5 MiB; a larger file gets 413.
MAX_FILE_SIZE = 5 * 1024 * 1024
# The form's own bytes around the file: boundaries, part headers.
FORM_OVERHEAD = 64 * 1024
#: The chat keeps this many recent messages, which a newcomer receives first.
HISTORY_SIZE = 50
MAX_NAME_LENGTH = 30
MAX_TEXT_LENGTH = 500
# Last-Event-ID comes from the client: anything but a small count starts afresh.
MAX_ID_DIGITS = 12
CHUNK_SIZE = 64 * 1024


# -- every response: nothing but this server ------------------------------------------------


class ContentSecurityPolicy(Middleware):
    """Pages may load and connect to nothing but this server.

    The pages use no external asset; the policy makes the browser enforce it
    (their scripts and styles are inline). It applies to the mounted Flask
    app's pages too: a mount's responses go through the App's middleware.
    """

    inline = True  # sets a header: fine on the event loop
    POLICY = (
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "connect-src 'self'; img-src 'self' data:; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    )

    def after_request(self, request: Request, response: Response) -> None:
        response.headers.setdefault("Content-Security-Policy", self.POLICY)


app.add_middleware(ContentSecurityPolicy())


# -- which interface, which server ----------------------------------------------------------


def server_program() -> str:
    """The program this process runs: ``uvicorn``, ``python -m gunicorn``, ``dualweb``...

    A request knows which interface serves it (``request.interface``), but
    not which server: ASGI's scope does not name it, and the Request does not
    expose WSGI's ``SERVER_SOFTWARE`` (the Flask page below shows it). The
    program that started the process is an honest answer. Only its name: the
    arguments may hold secrets.
    """
    program = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path("python")
    if program.name == "__main__.py":  # python -m NAME
        return f"python -m {program.parent.name}"
    return program.name


def served_by(request: Request) -> str:
    """The footer of every page: interface and server, as HTML."""
    return (
        f'Served through <strong id="interface">{request.interface.upper()}</strong> by '
        f'<code id="server">{html.escape(server_program())}</code> (process {os.getpid()}).'
    )


# -- the pages' frame ----------------------------------------------------------------------

STYLE = """
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 48rem; margin: 0 auto; padding: 1rem; }
  nav { display: flex; flex-wrap: wrap; gap: .3rem 1rem; padding-bottom: .5rem;
        border-bottom: 1px solid #ddd; }
  footer { margin-top: 2rem; padding-top: .5rem; border-top: 1px solid #ddd; color: #555; }
  code { background: #f3f3f3; padding: 0 .2rem; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: .2rem .5rem; border-bottom: 1px solid #eee; }
  tr.current { background: #fff6d5; }
  .notice { background: #fff3f3; border: 1px solid #e99; padding: .5rem 1rem; }
  #log { border: 1px solid #ccc; height: 18rem; overflow-y: auto; padding: .5rem; }
  #log p { margin: .1rem 0; }
  form.line { display: flex; gap: .5rem; margin-top: .5rem; }
  form.line #text { flex: 1; }
  #time { font-size: 4rem; font-variant-numeric: tabular-nums; margin: 0; }
"""

#: (route name, label) of the navigation bar, in order.
NAV = [
    ("home", "Home"),
    ("api_sync", "API (sync)"),
    ("api_async", "API (async)"),
    ("upload_form", "Upload"),
    ("chat_page", "Chat"),
    ("clock_page", "Clock"),
    ("legacy:legacy_index", "Legacy (Flask)"),
    ("routes_page", "Routes"),
]


def page(request: Request, title: str, body: str) -> HTMLResponse:
    """A whole page around ``body``, which is HTML: whatever it echoes is escaped already."""
    links = " ".join(
        f'<a href="{html.escape(request.url_path_for(name))}">{label}</a>' for name, label in NAV
    )
    return HTMLResponse(f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} · dualweb showcase</title>
<link rel="icon" href="data:,">
<style>{STYLE}</style>
</head>
<body>
<nav>{links}</nav>
<h1>{html.escape(title)}</h1>
{body}
<footer>{served_by(request)}</footer>
</body>
</html>
""")


def link(request: Request, name: str, **params: Any) -> str:
    """An <a> to the route ``name``, its path as the text."""
    path = html.escape(request.url_path_for(name, **params))
    return f'<a href="{path}"><code>{path}</code></a>'


# -- the home page -------------------------------------------------------------------------


@app.get("/")
def home(request: Request) -> HTMLResponse:
    return page(
        request,
        "dualweb showcase",
        f"""
<p>dualweb is a Python web framework whose one <code>App</code> object is both a WSGI
and an ASGI application. Sync and async handlers run under either kind of server,
with one router and one request and response model.</p>
<p>This request is served through <strong>{request.interface.upper()}</strong>.</p>
<ul>
  <li>{link(request, "api_sync")} and {link(request, "api_async")}: JSON from a
      <code>def</code> and an <code>async def</code> handler, saying where each ran;
      {link(request, "chat_history")} is the chat's history (POST adds a message).</li>
  <li>{link(request, "upload_form")}: a file upload, streamed through SHA-256.</li>
  <li>{link(request, "chat_page")}: a WebSocket chat room (needs an ASGI server).</li>
  <li>{link(request, "clock_page")}: a clock ticking through server-sent events.</li>
  <li>{link(request, "legacy:legacy_index")}: a Flask app mounted as it is.</li>
  <li>{link(request, "routes_page")}: every route, and who serves this request.</li>
</ul>
""",
    )


# -- the JSON API: sync and async handlers side by side -------------------------------------


def where_it_runs(request: Request, handler: str) -> dict[str, Any]:
    try:
        loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    return {
        "handler": handler,
        "interface": request.interface,
        "thread": threading.current_thread().name,
        # Under ASGI a def handler runs in the App's thread pool, away from the
        # loop; under WSGI an async def handler gets a loop of its worker thread.
        "event_loop": None if loop is None else type(loop).__name__,
    }


@app.get("/api/sync")
def api_sync(request: Request) -> dict[str, Any]:
    return where_it_runs(request, "def")


@app.get("/api/async")
async def api_async(request: Request) -> dict[str, Any]:
    return where_it_runs(request, "async def")


class ChatHistory:
    """The chat's recent messages.

    Added to by async handlers on the event loop and read by sync handlers
    in pool threads (or by several WSGI threads at once): the lock is held
    for a few operations, never across an ``await``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._messages: deque[dict[str, Any]] = deque(maxlen=HISTORY_SIZE)

    def add(self, name: str, text: str) -> dict[str, Any]:
        now = datetime.now(timezone.utc).strftime("%H:%M:%S")
        with self._lock:
            message = {"id": next(self._ids), "name": name, "text": text, "time": now}
            self._messages.append(message)
        return message

    def recent(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._messages)


history = ChatHistory()


def check_message(document: Any) -> tuple[dict[str, str], list[dict[str, str]]]:
    """``{"name", "text"}`` from a posted message, and the problems with it (if any)."""
    if not isinstance(document, dict):
        return {}, [{"field": "body", "message": "must be a JSON object"}]
    errors = []
    name = document.get("name", "")
    if not isinstance(name, str) or len(name.strip()) > MAX_NAME_LENGTH:
        message = f"must be a string of at most {MAX_NAME_LENGTH} characters"
        errors.append({"field": "name", "message": message})
    text = document.get("text")
    if not isinstance(text, str) or not 0 < len(text.strip()) <= MAX_TEXT_LENGTH:
        message = f"must be a non-blank string of at most {MAX_TEXT_LENGTH} characters"
        errors.append({"field": "text", "message": message})
    if errors:
        return {}, errors
    return {"name": name.strip() or "anonymous", "text": text.strip()}, []


@app.get("/api/chat", name="chat_history")
def get_chat_history(request: Request) -> dict[str, Any]:
    return {"messages": history.recent()}


@app.post("/api/chat")
async def post_chat_message(request: Request) -> Any:
    fields, errors = check_message(await request.ajson())
    if errors:
        return JSONResponse({"detail": errors}, 422)
    message = history.add(**fields)
    # Under ASGI the chat's sockets live on this loop: they hear it at once.
    await room.broadcast({"type": "message", "message": message})
    return message, 201


# -- the upload form -----------------------------------------------------------------------


@app.get("/upload", name="upload_form")
def upload_form(request: Request) -> HTMLResponse:
    action = html.escape(request.url_path_for("upload"))
    return page(
        request,
        "Upload a file",
        f"""
<p>The file is hashed as it arrives and kept nowhere (<code>request.parts()</code> in a
<code>def</code> handler). Files of up to {MAX_FILE_SIZE // 1024 // 1024} MiB; a larger one
gets 413.</p>
<form method="post" action="{action}" enctype="multipart/form-data">
  <input type="file" name="file" required>
  <button id="upload">Upload</button>
</form>
""",
    )


@app.post("/upload", max_file_size=MAX_FILE_SIZE, max_body_size=MAX_FILE_SIZE + FORM_OVERHEAD)
def upload(request: Request) -> Any:
    """Name, size and SHA-256 of the file in the form field ``file``: HTML for a
    browser's form, JSON for anyone else."""
    # Under ASGI this def handler runs in the thread pool, where waiting for
    # the body's next chunk blocks nothing else.
    for part in request.parts():
        if part.name != "file" or part.filename is None:
            continue  # another field: moving on skips it
        digest = hashlib.sha256()
        size = 0
        for chunk in part:
            digest.update(chunk)
            size += len(chunk)
        # A file input left empty sends a file with no name and no bytes.
        if part.filename or size:
            return upload_result(request, part.filename, size, digest.hexdigest())
        break
    raise HTTPException(400, "No file: send one in the form field 'file'")


def upload_result(request: Request, filename: str, size: int, sha256: str) -> Any:
    if "text/html" not in request.headers.get("accept", ""):
        return {"filename": filename, "size": size, "sha256": sha256}
    return page(
        request,
        "Uploaded",
        f"""
<dl>
  <dt>File name</dt><dd id="filename">{html.escape(filename)}</dd>
  <dt>Size in bytes</dt><dd id="size">{size}</dd>
  <dt>SHA-256</dt><dd id="sha256"><code>{sha256}</code></dd>
</dl>
<p>{link(request, "upload_form")}: another one.</p>
""",
    )


# -- the chat: a WebSocket room ------------------------------------------------------------


class Room:
    """The sockets in the chat room."""

    def __init__(self) -> None:
        self.members: set[WebSocket] = set()

    async def broadcast(self, event: dict[str, Any]) -> None:
        # One member after the other, over a copy: members whose connection
        # is gone are dropped on the way (their handler cleans up as well).
        for member in list(self.members):
            try:
                await member.send_json(event)
            except (WebSocketClosed, WebSocketDisconnect):
                self.members.discard(member)


room = Room()


@app.get("/chat", name="chat_page")
def chat_page(request: Request) -> HTMLResponse:
    socket_path = html.escape(request.url_path_for("chat_socket"))
    if request.interface == "wsgi":
        # The page knows before the browser tries: a WSGI server cannot hand a
        # connection over to a WebSocket (the socket route answers 426 here).
        notice = (
            '<p class="notice" id="notice">WebSockets need an ASGI server: this one speaks '
            "WSGI, so the chat is off. Serve the app with <code>uvicorn</code> or "
            "<code>gunicorn -k asgi</code> to chat.</p>"
        )
    else:
        notice = ""
    return page(
        request,
        "Chat",
        f"""{notice}
<p>Open this page in two tabs: what one sends, both see. Status:
<strong id="status">connecting...</strong></p>
<div id="log" data-socket="{socket_path}" data-interface="{request.interface}"></div>
<form class="line" id="send">
  <input id="name" placeholder="name" maxlength="{MAX_NAME_LENGTH}" size="10">
  <input id="text" placeholder="message" maxlength="{MAX_TEXT_LENGTH}" autocomplete="off">
  <button id="send-button" disabled>Send</button>
</form>
<script>{CHAT_SCRIPT}</script>
""",
    )


CHAT_SCRIPT = """
  const log = document.getElementById("log");
  const status = document.getElementById("status");
  const button = document.getElementById("send-button");
  function show(text) {
    const line = document.createElement("p");
    line.textContent = text;  // never innerHTML: messages are untrusted
    log.append(line);
    log.scrollTop = log.scrollHeight;
  }
  function showMessage(m) { show(`[${m.time}] ${m.name}: ${m.text}`); }
  if (log.dataset.interface === "wsgi") {
    status.textContent = "off (WebSockets need an ASGI server)";
  } else {
    const url = new URL(log.dataset.socket, location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(url);
    let opened = false;
    socket.onopen = () => {
      opened = true;
      status.textContent = "connected";
      button.disabled = false;
    };
    socket.onmessage = (event) => {
      const data = JSON.parse(event.data);
      if (data.type === "history") data.messages.forEach(showMessage);
      else if (data.type === "message") showMessage(data.message);
      else if (data.type === "error") {
        show("(not sent: " + data.detail.map((e) => `${e.field} ${e.message}`).join("; ") + ")");
      }
    };
    socket.onclose = (event) => {
      button.disabled = true;
      status.textContent = opened
        ? `disconnected (${event.code})`
        : "could not connect: WebSockets need an ASGI server";
    };
    document.getElementById("send").onsubmit = (event) => {
      event.preventDefault();
      const text = document.getElementById("text");
      if (!text.value.trim()) return;
      socket.send(JSON.stringify({name: document.getElementById("name").value, text: text.value}));
      text.value = "";
    };
  }
"""


@app.websocket("/ws/chat", name="chat_socket", max_message_size=4096)
async def chat_socket(ws: WebSocket) -> None:
    await ws.accept()
    await ws.send_json({"type": "history", "messages": history.recent()})
    room.members.add(ws)
    try:
        async for data in ws:
            try:
                document = json.loads(data)
            except ValueError:  # bytes that are not UTF-8 JSON, or text that is not JSON
                document = None
            fields, errors = check_message(document)
            if errors:
                await ws.send_json({"type": "error", "detail": errors})
                continue
            await room.broadcast({"type": "message", "message": history.add(**fields)})
    finally:
        room.members.discard(ws)


# -- the clock: server-sent events ---------------------------------------------------------


@app.get("/clock", name="clock_page")
def clock_page(request: Request) -> HTMLResponse:
    events = html.escape(request.url_path_for("clock_events"))
    if request.interface == "wsgi":
        mode = (
            "one event per request: a stream would hold a WSGI worker for as long as the "
            "page is open, so the browser reconnects for each tick"
        )
    else:
        mode = "one stream, an event per tick"
    return page(
        request,
        "Server clock (UTC)",
        f"""
<p id="time">--:--:--</p>
<p>Tick <strong id="count"></strong> <span id="state"></span></p>
<p>Server-sent events, {mode}. When the connection drops, the browser reconnects
and sends the last id it saw (<code>Last-Event-ID</code>): the count goes on.</p>
<script data-events="{events}" data-interface="{request.interface}">
  const config = document.currentScript.dataset;
  const source = new EventSource(config.events);
  source.addEventListener("tick", (event) => {{
    document.getElementById("time").textContent = event.data;
    document.getElementById("count").textContent = event.lastEventId;
    document.getElementById("state").textContent = "";
  }});
  source.onerror = () => {{
    // Under WSGI each response ends after one tick: reconnecting is the plan.
    if (config.interface !== "wsgi") {{
      document.getElementById("state").textContent = "(reconnecting...)";
    }}
  }};
</script>
""",
    )


@app.get("/clock/events", name="clock_events")
async def clock_events(request: Request) -> EventSourceResponse:
    last_id = request.headers.get("last-event-id", "")
    first = int(last_id) + 1 if last_id.isdigit() and len(last_id) <= MAX_ID_DIGITS else 1
    if request.interface == "wsgi":
        # A WSGI server gives each response a thread (or a whole process) until
        # it ends: one event, then the browser comes back after ``retry``.
        return EventSourceResponse([tick(first)], ping=None)
    return EventSourceResponse(ticks(first))


def tick(number: int) -> ServerSentEvent:
    now = datetime.now(timezone.utc).strftime("%H:%M:%S")
    return ServerSentEvent(now, event="tick", id=str(number), retry=int(TICK_SECONDS * 1000))


async def ticks(first: int) -> AsyncIterator[ServerSentEvent]:
    """A tick at once, then one per TICK_SECONDS, until the client leaves (which
    cancels the pending sleep)."""
    for number in itertools.count(first):
        yield tick(number)
        await asyncio.sleep(TICK_SECONDS)


# -- the legacy Flask app, mounted as it is ------------------------------------------------

legacy = flask.Flask(__name__)

LEGACY_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Legacy (Flask)</title><link rel="icon" href="data:,"></head>
<body>
<h1>A Flask page</h1>
<p>Rendered by Flask, mounted at <code>{{ request.script_root }}</code>.
{% set hello = url_for('legacy_hello', name='world') -%}
Its <code>url_for</code> knows the prefix: <a id="hello" href="{{ hello }}">{{ hello }}</a>.</p>
<p>Flask sees a WSGI environ, under either interface (under ASGI, dualweb builds it
from the scope):</p>
<table>
{% for key, value in environ %}<tr><th>{{ key }}</th><td><code>{{ value }}</code></td></tr>
{% endfor %}</table>
<p><a href="../">Back to the showcase</a></p>
</body>
</html>
"""


@legacy.get("/")
def legacy_index() -> str:
    shown = ("SCRIPT_NAME", "PATH_INFO", "SERVER_SOFTWARE", "wsgi.multithread")
    environ = [(key, flask.request.environ.get(key, "(not set)")) for key in shown]
    # Flask escapes what render_template_string() puts in the page.
    return flask.render_template_string(LEGACY_PAGE, environ=environ)


@legacy.get("/hello/<name>")
def legacy_hello(name: str) -> str:
    return flask.render_template_string(
        "<p>Hello, {{ name }}!</p><a href=\"{{ url_for('legacy_index') }}\">back</a>", name=name
    )


@legacy.get("/old")
def legacy_old() -> Any:
    """An old address, kept for bookmarks."""
    return flask.redirect(flask.url_for("legacy_index"), 301)


app.mount("/legacy", legacy)


# -- the routes page -----------------------------------------------------------------------


@app.get("/routes", name="routes_page")
def routes_page(request: Request) -> HTMLResponse:
    here = request.route.path if request.route is not None else None
    rows = []
    for row in route_rows(app):
        # The route serving this very request is marked.
        current = row.path == here and request.method in row.methods.split(",")
        attributes = ' class="current"' if current else ""
        cells = (row.methods, row.path, row.name, row.kind, row.handler)
        rows.append(
            f"<tr{attributes}>"
            + "".join(f"<td><code>{html.escape(cell)}</code></td>" for cell in cells)
            + "</tr>"
        )
    return page(
        request,
        "Routes",
        f"""
<p>This request is served through <strong>{request.interface.upper()}</strong> by the
program <code>{html.escape(server_program())}</code>, at
<code>{html.escape(request.scheme)}://{html.escape(request.host)}</code>. The
highlighted row is this page's route. <code>sync</code> handlers run in the thread pool
under ASGI; <code>async</code> ones on a loop of the worker thread under WSGI.</p>
<table>
<tr><th>Methods</th><th>Path</th><th>Name</th><th>Kind</th><th>Handler</th></tr>
{"".join(rows)}
</table>
<p>The same table on the command line: <code>dualweb routes examples.showcase:app</code>.</p>
""",
    )
