"""A clock that ticks once a second, pushed to the browser with server-sent events.

uvicorn examples.sse:app            # ASGI
gunicorn -k asgi examples.sse:app   # gunicorn's own ASGI worker
gunicorn -k gthread --threads 8 examples.sse:app   # WSGI: each listener holds a thread

Then open http://127.0.0.1:8000/, or watch the raw stream::

    curl -N localhost:8000/clock

The events come from an async generator, wrapped in ``EventSourceResponse``.
Each carries an ``id``; when the connection drops, the browser reconnects by
itself and sends the last id it saw (``Last-Event-ID``), and the clock goes
on counting from there. Under WSGI a listener keeps a worker thread for as
long as it listens: the sync worker (one request at a time) suits it badly.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timezone

from dualweb import App, EventSourceResponse, HTMLResponse, ServerSentEvent

app = App()

#: Seconds between ticks (the tests make it shorter).
TICK_SECONDS = 1.0
# Last-Event-ID comes from the client: anything but a small count starts afresh.
MAX_ID_DIGITS = 12


@app.get("/")
def page(request):
    return HTMLResponse(PAGE)


@app.get("/clock")
async def clock(request):
    last_id = request.headers.get("last-event-id", "")
    first = int(last_id) + 1 if last_id.isdigit() and len(last_id) <= MAX_ID_DIGITS else 1
    return EventSourceResponse(ticks(first))


async def ticks(first: int) -> AsyncIterator[ServerSentEvent]:
    """One ``tick`` event per TICK_SECONDS, the first at once; ends when the client leaves.

    When it does, the pending ``asyncio.sleep`` is cancelled (ASGI) or the
    next write fails (WSGI), and the generator is closed.
    """
    number = first
    while True:
        now = datetime.now(timezone.utc).strftime("%H:%M:%S")
        yield ServerSentEvent(now, event="tick", id=str(number))
        number += 1
        await asyncio.sleep(TICK_SECONDS)


PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>dualweb clock</title>
<style>
  body { font: 16px system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; }
  #time { font-size: 4rem; font-variant-numeric: tabular-nums; }
</style>
</head>
<body>
<h1>Server clock (UTC)</h1>
<p id="time">--:--:--</p>
<p>Tick <span id="count">0</span> <span id="status"></span></p>
<script>
  const source = new EventSource("/clock");
  source.addEventListener("tick", (event) => {
    document.getElementById("time").textContent = event.data;
    document.getElementById("count").textContent = event.lastEventId;
    document.getElementById("status").textContent = "";
  });
  // The browser reconnects by itself, sending Last-Event-ID.
  source.onerror = () => {
    document.getElementById("status").textContent = "(reconnecting...)";
  };
</script>
</body>
</html>
"""
