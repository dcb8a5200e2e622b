"""Waiting on several things at once, and keeping CPU work off the event loop.

uvicorn examples.concurrency:app            # ASGI
gunicorn examples.concurrency:app           # WSGI (sync worker)
gunicorn -k asgi examples.concurrency:app   # gunicorn's own ASGI worker

What to observe:

1. Three awaits one after the other take the sum of their times; with
   ``asyncio.gather`` they overlap and take about the longest one. Each
   ``lookup`` stands for a 100 ms call to a database or another service::

       curl localhost:8000/sequential    # {"seconds": 0.30..., ...}
       curl localhost:8000/gathered      # {"seconds": 0.10..., ...}

   The same under a WSGI server: there the async handler runs on the worker
   thread's own event loop, so ``gather`` overlaps the waits just the same.

2. ``/cpu`` is CPU-bound and written as a plain ``def``. Under an ASGI server
   it runs in the App's thread pool, so the event loop stays free: while it
   computes (a few seconds at n=1000000), ``/fast`` (an ``async def``) still
   answers right away. Each reports the thread it ran on::

       curl 'localhost:8000/cpu?n=1000000' & curl localhost:8000/fast

   Had ``/cpu`` been an ``async def``, it would have run on the loop itself,
   and every other request of the process would have waited for it. The
   thread pool takes the work off the loop, not off the GIL: Python code in
   threads still runs one thread at a time, so heavy computation belongs in
   other processes (more workers, or a ``ProcessPoolExecutor``). Under a
   WSGI server every handler runs on a worker thread anyway: concurrency
   comes from the server's processes and threads.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time

from dualweb import App, HTTPException

app = App()

#: How long one lookup takes, in seconds.
LOOKUP_SECONDS = 0.1
#: The largest n /cpu accepts (a few seconds of work).
MAX_N = 1_000_000


async def lookup(key: str) -> str:
    """A stand-in for an awaited call that takes LOOKUP_SECONDS (a query, an HTTP request)."""
    await asyncio.sleep(LOOKUP_SECONDS)
    return f"value of {key}"


@app.get("/sequential")
async def sequential(request):
    started = time.perf_counter()
    # Each await waits for its lookup to finish before the next one starts.
    results = [await lookup("a"), await lookup("b"), await lookup("c")]
    return {"seconds": round(time.perf_counter() - started, 3), "results": results}


@app.get("/gathered")
async def gathered(request):
    started = time.perf_counter()
    # The three lookups run concurrently; results come back in argument order.
    results = await asyncio.gather(lookup("a"), lookup("b"), lookup("c"))
    return {"seconds": round(time.perf_counter() - started, 3), "results": results}


@app.get("/cpu")
def cpu(request):
    """Count the primes below ``n``: pure computation, no waiting."""
    raw = request.query_params.get("n", "200000")
    # isascii: str.isdigit() also accepts digits int() refuses ("²"); the length
    # bounds the digits int() has to read.
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 7) or not 2 <= int(raw) <= MAX_N:
        raise HTTPException(400, f"n must be a whole number from 2 to {MAX_N}")
    n = int(raw)
    started = time.perf_counter()
    primes = count_primes(n)
    return {
        "n": n,
        "primes": primes,
        "seconds": round(time.perf_counter() - started, 3),
        "thread": threading.current_thread().name,
    }


@app.get("/fast")
async def fast(request):
    return {"thread": threading.current_thread().name}


def count_primes(n: int) -> int:
    """The number of primes below ``n``, by trial division: slow on purpose, all CPU."""
    count = 0
    for candidate in range(2, n):
        for divisor in range(2, math.isqrt(candidate) + 1):
            if candidate % divisor == 0:
                break
        else:
            count += 1
    return count
