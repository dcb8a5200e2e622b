"""In-process cost per request of dualweb, under WSGI and ASGI, next to raw callables.

Run from the project root (no server, no sockets, no pytest)::

    python benchmarks/bench_inprocess.py              # 9 rounds, full batches
    python benchmarks/bench_inprocess.py --rounds 15  # more rounds
    python benchmarks/bench_inprocess.py --quick      # tiny run, to check it works

What is measured: the app of ``examples/hello.py`` answering ``GET /`` (a sync
handler returning ``"Hello, World!"``) and ``GET /users/42`` (an async handler
returning ``{"id": 42}``), called in-process the way a server calls it:

* WSGI: ``app(environ, start_response)`` with an ``environ`` shaped like the one
  gunicorn's sync worker builds (CGI keys, ``wsgi.*`` keys, eight browser-like
  ``HTTP_*`` headers); the timed work includes ``start_response`` and consuming
  the returned iterable, then calling its ``close()`` when it has one.
* ASGI: ``await app(scope, receive, send)`` with a ``scope`` shaped like the one
  uvicorn builds; ``receive`` and ``send`` are minimal async functions. A batch
  is a loop of awaits inside one coroutine on one event loop, timed from inside
  that coroutine, so creating or starting the loop is never measured.

Each interface has a floor: a hand-written raw callable that returns the same
status, headers and bodies (it parses the id from the path by hand and
serialises the same compact JSON, with a ``json.JSONEncoder`` built once).
Every contender's answer is checked against its floor before timing. The
server's own work (parsing HTTP, building environ or scope, writing to the
socket) is not measured: this is the cost the application adds per request.

Method: contenders are interleaved in rounds (A B C D ... A B C D ...), each
round timing one batch of each (20,000 requests for WSGI, 10,000 for ASGI by
default), so that drifts of a shared, noisy machine hit all contenders alike.
The garbage collector is disabled while a batch runs (``gc.collect()`` first).
The table gives, per contender, the median over the rounds of µs per request,
the min-max across rounds, and the ratio of the median to the raw callable of
the same interface and path, measured in the same run.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from _common import (  # noqa: E402
    gunicorn_environ,
    ignore_write,
    machine_info,
    parse_rounds,
    uvicorn_scope,
    wsgi_batch,
)

from examples.hello import app as hello_app  # noqa: E402

Environ = dict[str, Any]
StartResponse = Callable[..., Callable[[bytes], None]]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]
Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

WSGI_BATCH = 20_000
ASGI_BATCH = 10_000
QUICK_WSGI_BATCH = 500
QUICK_ASGI_BATCH = 250

PATHS = ("/", "/users/42")
DASH, TIMES = "\u2013", "\u00d7"  # en dash and multiplication sign, for the table

# -- what servers hand the app -----------------------------------------------------------

# What `wrk` or a browser sends (eight headers), in wire order.


async def receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def send(message: Message) -> None:
    pass


# -- the floors: hand-written raw callables ------------------------------------------------

_HELLO = b"Hello, World!"
_TEXT = "text/plain; charset=utf-8"
_JSON = "application/json"
# Same settings as dualweb's JSONResponse (compact, UTF-8, NaN refused), built once.
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _raw_answer(path: str) -> tuple[int, str, bytes]:
    if path == "/":
        return 200, _TEXT, _HELLO
    if path.startswith("/users/"):
        digits = path[7:]
        if digits.isdigit():
            body = _ENCODER.encode({"id": int(digits)}).encode()
            return 200, _JSON, body
    return 404, _TEXT, b"Not Found"


def raw_wsgi(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    status, content_type, body = _raw_answer(environ["PATH_INFO"])
    start_response(
        "200 OK" if status == 200 else "404 Not Found",
        [("content-type", content_type), ("content-length", str(len(body)))],
    )
    return [body]


async def raw_asgi(scope: Scope, receive: Receive, send: Send) -> None:
    status, content_type, body = _raw_answer(scope["path"])
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type.encode("latin-1")),
                (b"content-length", str(len(body)).encode("latin-1")),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


# -- contenders and timing -----------------------------------------------------------------


@dataclass
class Contender:
    interface: str  # "WSGI" or "ASGI"
    path: str
    label: str  # "raw" or "dualweb"
    app: Any
    request: Environ | Scope
    samples: list[float] = field(default_factory=list)  # µs per request, one per round

    @property
    def key(self) -> tuple[str, str]:
        return self.interface, self.path


async def asgi_batch(app: ASGIApp, scope: Scope, count: int) -> int:
    """Serve ``count`` requests in this one coroutine; the elapsed nanoseconds."""
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter_ns()
        for _ in range(count):
            await app(scope, receive, send)
        return time.perf_counter_ns() - start
    finally:
        gc.enable()


def run_batch(contender: Contender, loop: asyncio.AbstractEventLoop, count: int) -> float:
    """One batch for ``contender``; µs per request."""
    if contender.interface == "WSGI":
        elapsed = wsgi_batch(contender.app, contender.request, count)
    else:
        elapsed = loop.run_until_complete(asgi_batch(contender.app, contender.request, count))
    return elapsed / count / 1000


# -- checks: every contender answers like its floor ------------------------------------------


def wsgi_answer(app: WSGIApp, environ: Environ) -> tuple[str, list[tuple[str, str]], bytes]:
    captured: list[Any] = []

    def capture(
        status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        captured[:] = [status, headers]
        return ignore_write

    result = app(environ, capture)
    try:
        body = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return captured[0], [(k.lower(), v) for k, v in captured[1]], body


async def asgi_answer(app: ASGIApp, scope: Scope) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    messages: list[Message] = []

    async def capture(message: Message) -> None:
        messages.append(message)

    await app(scope, receive, capture)
    start = messages[0]
    body = b"".join(m.get("body", b"") for m in messages[1:])
    return start["status"], [(k.lower(), v) for k, v in start["headers"]], body


def check(contenders: list[Contender], loop: asyncio.AbstractEventLoop) -> None:
    """Fail loudly unless each dualweb contender answers exactly like the raw callable."""
    answers: dict[tuple[str, str, str], Any] = {}
    for contender in contenders:
        before = dict(contender.request)
        if contender.interface == "WSGI":
            answer: Any = wsgi_answer(contender.app, contender.request)
        else:
            answer = loop.run_until_complete(asgi_answer(contender.app, contender.request))
        if contender.request != before:
            raise SystemExit(f"{contender.label} changed the {contender.interface} request")
        answers[contender.interface, contender.path, contender.label] = answer
    for interface, path, label in answers:
        if label != "raw":
            mine, floor = answers[interface, path, label], answers[interface, path, "raw"]
            if mine != floor:
                raise SystemExit(f"{interface} {path}: {label} answered {mine!r}, raw {floor!r}")


# -- report --------------------------------------------------------------------------------


def table(contenders: list[Contender]) -> list[str]:
    floors = {c.key: statistics.median(c.samples) for c in contenders if c.label == "raw"}
    lines = [
        f"| interface | request | contender | median µs/req | min{DASH}max µs/req | {TIMES} raw |",
        "|---|---|---|---:|---:|---:|",
    ]
    for c in contenders:
        median = statistics.median(c.samples)
        lines.append(
            f"| {c.interface} | GET {c.path} | {c.label} | {median:.2f} "
            f"| {min(c.samples):.2f}{DASH}{max(c.samples):.2f} "
            f"| {median / floors[c.key]:.2f}{TIMES} |"
        )
    return lines


def main(argv: list[str] | None = None) -> None:
    rounds, quick = parse_rounds(
        __doc__.split("\n\n")[0] if __doc__ else None,
        f"tiny batches ({QUICK_WSGI_BATCH} WSGI / {QUICK_ASGI_BATCH} ASGI requests): "
        "checks the script runs, numbers are rough",
        argv,
    )
    batches = {
        "WSGI": QUICK_WSGI_BATCH if quick else WSGI_BATCH,
        "ASGI": QUICK_ASGI_BATCH if quick else ASGI_BATCH,
    }

    contenders: list[Contender] = []
    for path in PATHS:
        contenders.append(Contender("WSGI", path, "raw", raw_wsgi, gunicorn_environ(path)))
        contenders.append(Contender("WSGI", path, "dualweb", hello_app, gunicorn_environ(path)))
    for path in PATHS:
        contenders.append(Contender("ASGI", path, "raw", raw_asgi, uvicorn_scope(path)))
        contenders.append(Contender("ASGI", path, "dualweb", hello_app, uvicorn_scope(path)))

    load_before = os.getloadavg()
    loop = asyncio.new_event_loop()
    began = time.perf_counter()
    try:
        check(contenders, loop)
        for contender in contenders:  # warm-up: caches, thread pool, dualweb's WSGI loop
            run_batch(contender, loop, max(batches[contender.interface] // 10, 50))
        for number in range(1, rounds + 1):
            for contender in contenders:
                contender.samples.append(run_batch(contender, loop, batches[contender.interface]))
            print(f"round {number}/{rounds} done", file=sys.stderr, flush=True)
    finally:
        loop.close()
        hello_app.thread_pool.executor.shutdown(wait=True)
    took = time.perf_counter() - began

    print("## dualweb in-process cost per request (examples/hello.py)\n")
    print("\n".join(table(contenders)))
    print()
    print(
        f"{rounds} rounds, interleaved (each round: one batch per contender, in table order); "
        f"batch = {batches['WSGI']:,} requests (WSGI), {batches['ASGI']:,} requests (ASGI); "
        f"{took:.1f} s in all. "
        "gc is disabled during each timed batch (gc.collect() before it). "
        f"{TIMES} raw = median / median of the raw callable for the same interface and request. "
        "Handlers: GET / is sync (thread pool under ASGI), GET /users/{id} is async "
        "(dualweb's per-thread event loop under WSGI). "
        f"ASGI runs on {type(loop).__name__}."
    )
    print()
    print("Machine:\n")
    print("\n".join(machine_info(load_before)))


if __name__ == "__main__":
    main()
