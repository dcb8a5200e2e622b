"""The app of ``bench_servers.py``'s claims section: dualweb handlers that wait or compute.

Served by uvicorn as ``benchmarks.claims_apps:app``:

* ``/sequential``: awaits three 100 ms calls one after another;
* ``/gathered``: awaits the same three calls at once, with ``asyncio.gather``;
* ``/cpu/async``: pure-Python work in an ``async def`` handler, which holds the
  event loop until it is done;
* ``/cpu/sync``: the same work in a ``def`` handler, which dualweb runs in its
  thread pool, leaving the loop free;
* ``/fast``: an ``async def`` handler that answers at once: its latency shows
  whether the loop is free to serve it.
"""

from __future__ import annotations

import asyncio

from dualweb import App

CALL_SECONDS = 0.1
# About 20 ms of pure-Python work per request on the reference machine (the
# benchmark times burn() itself and prints the figure with the report).
CPU_STEPS = 250_000

app = App()


async def call() -> None:
    """A stand-in for a 100 ms call to a database or another service."""
    await asyncio.sleep(CALL_SECONDS)


def burn() -> int:
    """CPU-bound work: no I/O, holds the GIL throughout (but for the interpreter's switches)."""
    total = 0
    for step in range(CPU_STEPS):
        total += step * step
    return total


@app.get("/sequential")
async def sequential(request):
    for _ in range(3):
        await call()
    return "done"


@app.get("/gathered")
async def gathered(request):
    await asyncio.gather(call(), call(), call())
    return "done"


@app.get("/cpu/async")
async def cpu_async(request):
    return str(burn())


@app.get("/cpu/sync")
def cpu_sync(request):
    return str(burn())


@app.get("/fast")
async def fast(request):
    return "ok"
