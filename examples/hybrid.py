"""A legacy Flask site, a new async JSON API and a WebSocket, in one dualweb App.

The Flask app is mounted at /legacy as it is (its url_for() and redirects
know where it lives); the new parts are dualweb routes next to it, sharing
its data: an async JSON API at /api/notes and a WebSocket at /ws that takes
notes too. Moving a page over is adding a dualweb route for its path: routes
win over the mount.

It needs Flask (``pip install flask``; the ``test`` extra has it). With an
ASGI server, everything works::

    uvicorn examples.hybrid:app

With a WSGI server, everything but the WebSocket, which answers 426
(Upgrade Required)::

    gunicorn examples.hybrid:app

Then open http://127.0.0.1:8000/ (the legacy pages) or
http://127.0.0.1:8000/api/notes. The notes live in this process's memory:
each worker process of a server has its own.
"""

from __future__ import annotations

import itertools
from typing import Any

from flask import Flask, redirect, render_template_string, request, url_for

from dualweb import App, HTTPException, RedirectResponse, WebSocket


class Notes:
    """The notes that the Flask pages, the API and the WebSocket share.

    No lock: taking the next id and setting a dict item are each atomic, so
    the Flask views (in threads) and the async handlers (on the event loop)
    never wait for one another.
    """

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._texts: dict[int, str] = {}

    def add(self, text: str) -> dict[str, Any]:
        note_id = next(self._ids)
        self._texts[note_id] = text
        return {"id": note_id, "text": text}

    def get(self, note_id: int) -> dict[str, Any] | None:
        text = self._texts.get(note_id)
        return None if text is None else {"id": note_id, "text": text}

    def all(self) -> list[dict[str, Any]]:
        return [{"id": note_id, "text": text} for note_id, text in list(self._texts.items())]


notes = Notes()
MAX_LENGTH = 1000

# -- the legacy Flask app, unchanged by being mounted ------------------------------------

legacy = Flask(__name__)

PAGE = """<!doctype html>
<title>Notes</title>
<h1>Notes</h1>
<ul>{% for note in notes %}<li>{{ note.text }}</li>{% endfor %}</ul>
<form method="post" action="{{ url_for('add_note') }}">
  <input name="text" required><button>Add</button>
</form>
"""


@legacy.get("/")
def index() -> str:
    return render_template_string(PAGE, notes=notes.all())


@legacy.post("/notes")
def add_note() -> Any:
    text = request.form.get("text", "").strip()[:MAX_LENGTH]
    if text:
        notes.add(text)
    # Post/Redirect/Get: reloading the page does not post again.
    return redirect(url_for("index"))


@legacy.get("/home")
def old_home() -> Any:
    """An old address, kept for bookmarks."""
    return redirect(url_for("index"), 301)


# -- the new parts, in dualweb ------------------------------------------------------------

app = App()
app.mount("/legacy", legacy)


@app.get("/")
def home(request):
    return RedirectResponse(request.url_path_for("legacy:index"))


@app.get("/api/notes")
async def list_notes(request):
    return {"notes": notes.all()}


@app.post("/api/notes")
async def create_note(request):
    document = await request.ajson()
    text = document.get("text") if isinstance(document, dict) else None
    if not isinstance(text, str) or not text.strip():
        raise HTTPException(422, 'Expected {"text": "..."}')
    return notes.add(text.strip()[:MAX_LENGTH]), 201


@app.get("/api/notes/{note_id:int}")
async def get_note(request, note_id: int):
    note = notes.get(note_id)
    if note is None:
        raise HTTPException(404, "No such note")
    return note


@app.websocket("/ws")
async def take_notes(ws: WebSocket):
    """Each text message becomes a note, sent back as JSON."""
    await ws.accept()
    async for message in ws:
        if isinstance(message, str) and message.strip():
            await ws.send_json(notes.add(message.strip()[:MAX_LENGTH]))
