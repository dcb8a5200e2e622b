"""In-process cost per request of dualweb and its peers, under WSGI and under ASGI.

Run from the project root (no server, no sockets, no pytest)::

    python benchmarks/bench_peers.py                   # 9 rounds (about 4 minutes)
    python benchmarks/bench_peers.py --rounds 15       # more rounds
    python benchmarks/bench_peers.py --json peers.json # also write the raw results
    python benchmarks/bench_peers.py --quick           # tiny run, to check it works

The contenders are the apps of ``benchmarks/contenders.py``: per interface, a
raw hand-written callable (the floor), dualweb, Falcon, Flask and Bottle
(WSGI, sync handlers) or Starlette (ASGI, async handlers). Each is called the
way a server calls it, with a fresh environ or scope per request shaped like
the ones gunicorn's sync worker and uvicorn build (``_common``), and its
answer is checked before timing. Measured:

* per request, in µs: ``GET /plaintext``, ``GET /json``, ``GET /users/42``
  with 10, 100 and 1,000 routes in the app, ``POST /echo`` (JSON, about
  1 KB), ``POST /form`` (url-encoded, 20 fields) and ``POST /upload`` (one
  1 MB file in-process, 10 MB at the server level); WSGI: ``app(environ,
  start_response)``, the body iterated and closed; ASGI: ``await app(scope,
  receive, send)`` in a loop inside one coroutine, ``receive`` handing out
  the body in 64 KiB chunks;
* routing growth: each contender's cost at 1,000 routes over its cost at 10;
* bridges: dualweb's sync handler under ASGI and async handler under WSGI,
  against the direct case (async under ASGI, sync under WSGI) and against the
  floor measured in the same rounds: a bare ``loop.run_in_executor`` hop (a
  40-thread pool, dualweb's size) and a bare ``loop.run_until_complete`` on a
  persistent loop;
* multipart parsing throughput: dualweb's ``request.form()`` (WSGI) and
  ``await request.aform()`` (ASGI), which store the parts (a file past
  ``spool_threshold`` goes to a temporary file), and ``request.parts()`` /
  ``request.aparts()``, which hand them over as they arrive, against the
  ``multipart`` package's ``PushMultipartParser`` alone
  (``bench_upload.parser_alone``), for one 50 MB file and for 2,000 small
  fields.

Method: every measurement is a case; the cases are interleaved in rounds (A B
C ... A B C ...), each round taking one sample of each, so a drift of a
shared, noisy machine hits all alike. A sample times about 0.2 s of
requests (its count is calibrated once, after a warm-up), in batches of
fresh requests made beforehand; the garbage collector is off while a batch
runs (``gc.collect()`` first). Reported: the median over the rounds, the
min-max, and the ratio to the raw callable of the same interface and
request in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import contenders as c
from _common import DEFAULT_ROUNDS, QUICK_ROUNDS, machine_info, serve_wsgi, start_response
from bench_upload import BOUNDARY, CHUNK, MB, Body, _Input, parser_alone

from dualweb import App, Request
from dualweb._bridge import DEFAULT_THREAD_POOL_SIZE

DASH, TIMES = "\u2013", "\u00d7"  # en dash and multiplication sign, for the tables

ENDPOINTS = ("plaintext", "json", "users", "echo", "form", "upload")
ROUTE_COUNTS = (10, 100, 1000)
SAMPLE_SECONDS = 0.2
QUICK_SAMPLE_SECONDS = 0.003
#: Most fresh requests made at once before a timed batch (bounds the memory).
MAX_BATCH = 5000
WARMUP_REQUESTS = 3
FILE_SIZE = 50 * MB
QUICK_FILE_SIZE = 4 * MB
FIELD_COUNT = 2000
#: Parses of the 2,000-field body per sample (one takes a few ms).
FIELD_REPEATS = 10
QUICK_FIELD_REPEATS = 1
MULTIPART_TYPE = f"multipart/form-data; boundary={BOUNDARY}"
TARGET_1_ENDPOINTS = ("plaintext", "json", "users")
ROUTING_LIMIT = 1.3  # target 2
BRIDGE_LIMITS = {"ASGI": 1.2, "WSGI": 2.0}  # target 4
PARSER_SHARE = 0.8  # target 5


# -- cases ------------------------------------------------------------------------------------


@dataclass
class Case:
    """One measurement, sampled once per round; µs per request."""

    interface: str  # "WSGI" or "ASGI"
    endpoint: str  # one of ENDPOINTS, or "bridge"
    routes: int
    contender: str
    prepare: Callable[[int], Any]  # n -> what run() takes: n fresh requests
    run: Callable[[Any], int]  # -> elapsed ns
    count: int = 0  # requests per sample
    samples: list[float] = field(default_factory=list)

    def sample(self) -> float:
        done = elapsed = 0
        while done < self.count:
            size = min(MAX_BATCH, self.count - done)
            prepared = self.prepare(size)
            gc.collect()
            gc.disable()
            try:
                elapsed += self.run(prepared)
            finally:
                gc.enable()
            done += size
        return elapsed / done / 1000

    def calibrate(self, seconds: float) -> None:
        """Warm up, then set ``count`` so that a sample takes about ``seconds``."""
        self.run(self.prepare(WARMUP_REQUESTS))
        size = 1
        while True:
            elapsed = self.run(self.prepare(size))
            if elapsed * 20 >= seconds * 1e9 or size >= MAX_BATCH:
                break
            size = min(size * 4, MAX_BATCH)
        self.count = max(1, round(seconds * 1e9 / (elapsed / size)))


async def asgi_run(app: c.ASGIApp, requests: list[tuple[c.Scope, c.Receive]]) -> int:
    send = c.ignore_send
    start = time.perf_counter_ns()
    for scope, receive in requests:
        await app(scope, receive, send)
    return time.perf_counter_ns() - start


def wsgi_case(contender: str, endpoint: str, routes: int, app: Any, call: c.Call) -> Case:
    environ, body = c.wsgi_environ(call), call.body

    def prepare(size: int) -> list[c.Environ]:
        return [c.fresh_environ(environ, body) for _ in range(size)]

    return Case("WSGI", endpoint, routes, contender, prepare, partial(serve_wsgi, app))


def asgi_case(
    contender: str,
    endpoint: str,
    routes: int,
    app: Any,
    call: c.Call,
    loop: asyncio.AbstractEventLoop,
) -> Case:
    scope = c.asgi_scope(call)
    chunks = c.body_chunks(call.body) if call.body else None

    def prepare(size: int) -> list[tuple[c.Scope, c.Receive]]:
        if chunks is None:
            return [(c.fresh_scope(scope), c.receive_no_body) for _ in range(size)]
        return [(c.fresh_scope(scope), c.BodyReceiver(chunks)) for _ in range(size)]

    def run(requests: list[tuple[c.Scope, c.Receive]]) -> int:
        return loop.run_until_complete(asgi_run(app, requests))

    return Case("ASGI", endpoint, routes, contender, prepare, run)


# The bridges' floors: one hop to a thread and back, one run of a loop.


def _nothing() -> None:
    pass


async def _anothing() -> None:
    pass


async def executor_hops(executor: ThreadPoolExecutor, count: int) -> int:
    loop = asyncio.get_running_loop()
    start = time.perf_counter_ns()
    for _ in range(count):
        await loop.run_in_executor(executor, _nothing)
    return time.perf_counter_ns() - start


def loop_runs(loop: asyncio.AbstractEventLoop, count: int) -> int:
    start = time.perf_counter_ns()
    for _ in range(count):
        loop.run_until_complete(_anothing())
    return time.perf_counter_ns() - start


HOP_FLOOR = f"bare `loop.run_in_executor` hop ({DEFAULT_THREAD_POOL_SIZE}-thread pool)"
LOOP_FLOOR = "bare `loop.run_until_complete` on a persistent loop"
CROSSING = {"ASGI": "dualweb, sync handler", "WSGI": "dualweb, async handler"}
FLOOR = {"ASGI": HOP_FLOOR, "WSGI": LOOP_FLOOR}


@dataclass
class Setup:
    """Everything the rounds need, and what to release afterwards."""

    cases: list[Case]
    loop: asyncio.AbstractEventLoop
    floor_loop: asyncio.AbstractEventLoop
    executor: ThreadPoolExecutor
    apps: list[Any]

    def close(self) -> None:
        self.loop.close()
        self.floor_loop.close()
        self.executor.shutdown(wait=True)
        for app in self.apps:
            if isinstance(app, App):
                app.thread_pool.executor.shutdown(wait=True)


def build_cases(upload_size: int) -> Setup:
    """The cases, in the order a round runs them: per interface and request, every contender."""
    calls = c.calls(upload_size)
    loop = asyncio.new_event_loop()
    floor_loop = asyncio.new_event_loop()
    executor = ThreadPoolExecutor(DEFAULT_THREAD_POOL_SIZE, thread_name_prefix="floor")
    setup = Setup([], loop, floor_loop, executor, [])
    registries = {"WSGI": c.WSGI_CONTENDERS, "ASGI": c.ASGI_CONTENDERS}
    apps: dict[tuple[str, str, int], Any] = {}
    for interface, registry in registries.items():
        for name, factory in registry.items():
            for routes in ROUTE_COUNTS if name != c.RAW[interface] else ROUTE_COUNTS[:1]:
                apps[interface, name, routes] = factory(routes)
    setup.apps = list(apps.values())

    def case(interface: str, name: str, endpoint: str, routes: int, app: Any) -> Case:
        call = calls[endpoint]
        answer = (
            c.wsgi_answer(app, call)
            if interface == "WSGI"
            else loop.run_until_complete(c.asgi_answer(app, call))
        )
        if not answer.matches(call):
            raise SystemExit(
                f"{name} ({interface}, {routes} routes) {call.method} {call.path} answered "
                f"{answer.status} {answer.content_type!r} {answer.body[:200]!r}"
            )
        if interface == "WSGI":
            return wsgi_case(name, endpoint, routes, app, call)
        return asgi_case(name, endpoint, routes, app, call, loop)

    for interface, registry in registries.items():
        for endpoint in ENDPOINTS:
            sizes = ROUTE_COUNTS if endpoint == "users" else ROUTE_COUNTS[:1]
            for routes in sizes:
                for name in registry:
                    if (interface, name, routes) not in apps:  # raw: no router
                        continue
                    if endpoint in c.UNSUPPORTED.get(name, {}):
                        continue
                    app = apps[interface, name, routes]
                    setup.cases.append(case(interface, name, endpoint, routes, app))
            if endpoint == "plaintext":
                # Next to the direct case they are compared with.
                other = "ASGI" if interface == "WSGI" else "WSGI"
                crossing = apps[other, "dualweb", 10]  # the App with the other kind of handlers
                bridge = case(interface, CROSSING[interface], "plaintext", 10, crossing)
                bridge.endpoint = "bridge"
                setup.cases.append(bridge)
                setup.cases.append(floor_case(interface, setup))
    return setup


def floor_case(interface: str, setup: Setup) -> Case:
    if interface == "ASGI":

        def run(count: int) -> int:
            return setup.loop.run_until_complete(executor_hops(setup.executor, count))

    else:
        run = partial(loop_runs, setup.floor_loop)
    return Case(interface, "bridge", 10, FLOOR[interface], lambda size: size, run)


# -- multipart throughput -----------------------------------------------------------------


class FieldsBody:
    """A multipart body of ``count`` small text fields, read like ``bench_upload.Body``.

    ``size`` is the whole body's length: the MB/s of this body count every byte.
    """

    def __init__(self, count: int) -> None:
        parts = [
            f"--{BOUNDARY}\r\n"
            f'Content-Disposition: form-data; name="field{i}"\r\n\r\n'
            f"value of field {i}\r\n"
            for i in range(count)
        ]
        self.data = ("".join(parts) + f"--{BOUNDARY}--\r\n").encode()
        self.size = self.length = len(self.data)

    def chunks(self, chunk_size: int) -> Iterator[bytes]:
        data = self.data
        for start in range(0, len(data), chunk_size):
            yield data[start : start + chunk_size]


def form_app() -> App:
    """dualweb parsing the bodies: sync handlers for WSGI, async ones for ASGI."""
    app = App(max_body_size=None, max_form_fields=None)

    @app.post("/file")
    def file(request: Request) -> dict[str, int]:
        return {"size": request.form().files["file"].size}

    @app.post("/afile")
    async def afile(request: Request) -> dict[str, int]:
        return {"size": (await request.aform()).files["file"].size}

    @app.post("/fields")
    def fields(request: Request) -> dict[str, int]:
        return {"fields": len(request.form())}

    @app.post("/afields")
    async def afields(request: Request) -> dict[str, int]:
        return {"fields": len(await request.aform())}

    # The same, streamed with request.parts(): nothing stored, every byte seen.
    @app.post("/pfile")
    def pfile(request: Request) -> dict[str, int]:
        return {"size": sum(len(chunk) for part in request.parts() for chunk in part)}

    @app.post("/apfile")
    async def apfile(request: Request) -> dict[str, int]:
        size = 0
        async for part in request.aparts():
            async for chunk in part:
                size += len(chunk)
        return {"size": size}

    @app.post("/pfields")
    def pfields(request: Request) -> dict[str, int]:
        return {"fields": len([part.text() for part in request.parts()])}

    @app.post("/apfields")
    async def apfields(request: Request) -> dict[str, int]:
        return {"fields": len([await part.atext() async for part in request.aparts()])}

    return app


def dualweb_wsgi_form(app: App, path: str, body: Body | FieldsBody, expected: Any) -> int:
    """One WSGI request posting ``body`` in 64 KiB reads; the elapsed ns."""
    environ = c.wsgi_environ(c.Call("multipart", "POST", path, MULTIPART_TYPE))
    environ["CONTENT_LENGTH"] = str(body.length)
    environ["wsgi.input"] = _Input(body.chunks(CHUNK))
    start = time.perf_counter_ns()
    result = app(environ, start_response)
    answer = b"".join(result)
    close = getattr(result, "close", None)
    if close is not None:
        close()
    elapsed = time.perf_counter_ns() - start
    if json.loads(answer) != expected:
        raise SystemExit(f"dualweb WSGI {path}: {answer[:200]!r}")
    return elapsed


async def dualweb_asgi_form(app: App, path: str, body: Body | FieldsBody, expected: Any) -> int:
    """One ASGI request posting ``body`` in 64 KiB messages; the elapsed ns."""
    scope = c.asgi_scope(c.Call("multipart", "POST", path))
    scope["headers"] = [
        *scope["headers"],
        (b"content-type", MULTIPART_TYPE.encode()),
        (b"content-length", str(body.length).encode()),
    ]
    chunks = body.chunks(CHUNK)
    pending = next(chunks, b"")
    messages: list[c.Message] = []

    async def receive() -> c.Message:
        nonlocal pending
        chunk, pending = pending, next(chunks, None)
        if chunk is None:
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": chunk, "more_body": pending is not None}

    async def send(message: c.Message) -> None:
        messages.append(message)

    start = time.perf_counter_ns()
    await app(scope, receive, send)
    elapsed = time.perf_counter_ns() - start
    answer = b"".join(m.get("body", b"") for m in messages[1:])
    if json.loads(answer) != expected:
        raise SystemExit(f"dualweb ASGI {path}: {answer[:200]!r}")
    return elapsed


PARSER = "`PushMultipartParser` alone"
MULTIPART_CONTENDERS = (
    PARSER,
    "dualweb WSGI, `request.form()`",
    "dualweb ASGI, `await aform()`",
    "dualweb WSGI, `request.parts()`",
    "dualweb ASGI, `request.aparts()`",
)


@dataclass
class Throughput:
    body: str
    contender: str
    measure: Callable[[], float]  # one sample, MB/s
    samples: list[float] = field(default_factory=list)


def _rate(body: Body | FieldsBody, count: int, elapsed_ns: float) -> float:
    return body.size * count / MB / (elapsed_ns / 1e9)


def parser_rate(body: Body | FieldsBody, count: int) -> float:
    seconds = sum(body.size / MB / parser_alone(body) for _ in range(count))
    return _rate(body, count, seconds * 1e9)


def wsgi_rate(app: App, path: str, body: Body | FieldsBody, answer: Any, count: int) -> float:
    elapsed = sum(dualweb_wsgi_form(app, path, body, answer) for _ in range(count))
    return _rate(body, count, elapsed)


def asgi_rate(
    loop: asyncio.AbstractEventLoop,
    app: App,
    path: str,
    body: Body | FieldsBody,
    answer: Any,
    count: int,
) -> float:
    elapsed = sum(
        loop.run_until_complete(dualweb_asgi_form(app, path, body, answer)) for _ in range(count)
    )
    return _rate(body, count, elapsed)


def multipart_cases(
    file_size: int, repeats: int, loop: asyncio.AbstractEventLoop, app: App
) -> list[Throughput]:
    """Per body, the parser alone and dualweb under each interface (``repeats`` parses
    of the fields body per sample, one of the file)."""
    bodies: list[tuple[str, Body | FieldsBody, str, dict[str, int], int]] = [
        (f"one {file_size / MB:g} MB file", Body(file_size), "file", {"size": file_size}, 1),
        (
            f"{FIELD_COUNT:,} small fields",
            FieldsBody(FIELD_COUNT),
            "fields",
            {"fields": FIELD_COUNT},
            repeats,
        ),
    ]
    found = []
    for label, body, path, answer, count in bodies:
        measures = (
            partial(parser_rate, body, count),
            partial(wsgi_rate, app, f"/{path}", body, answer, count),
            partial(asgi_rate, loop, app, f"/a{path}", body, answer, count),
            partial(wsgi_rate, app, f"/p{path}", body, answer, count),
            partial(asgi_rate, loop, app, f"/ap{path}", body, answer, count),
        )
        for contender, measure in zip(MULTIPART_CONTENDERS, measures, strict=True):
            found.append(Throughput(label, contender, measure))
    return found


# -- statistics and report -------------------------------------------------------------------


def stats(values: list[float]) -> dict[str, Any]:
    return {
        "values": values,
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
    }


def cell(values: list[float], ratio: float | None = None, digits: int = 2) -> str:
    median = statistics.median(values)
    text = f"{median:.{digits}f} ({min(values):.{digits}f}{DASH}{max(values):.{digits}f})"
    return text if ratio is None else f"{text}, {ratio:.2f}{TIMES}"


@dataclass
class Results:
    cases: list[Case]
    throughputs: list[Throughput]
    by_key: dict[tuple[str, str, int, str], Case] = field(init=False)

    def __post_init__(self) -> None:
        self.by_key = {(k.interface, k.endpoint, k.routes, k.contender): k for k in self.cases}

    def median(self, interface: str, endpoint: str, routes: int, contender: str) -> float | None:
        case = self.by_key.get((interface, endpoint, routes, contender))
        return statistics.median(case.samples) if case else None

    def ratio_to_raw(self, case: Case) -> float | None:
        floor = self.median(case.interface, case.endpoint, 10, c.RAW[case.interface])
        return statistics.median(case.samples) / floor if floor else None

    def growth(self, interface: str, contender: str) -> float | None:
        low = self.median(interface, "users", ROUTE_COUNTS[0], contender)
        high = self.median(interface, "users", ROUTE_COUNTS[-1], contender)
        return high / low if low and high else None

    def bridge(self, interface: str) -> dict[str, Any]:
        crossing = self.by_key[interface, "bridge", 10, CROSSING[interface]]
        direct = self.by_key[interface, "plaintext", 10, "dualweb"]
        floor = self.by_key[interface, "bridge", 10, FLOOR[interface]]
        # Paired by round: crossing and direct ran next to each other.
        overhead = [a - b for a, b in zip(crossing.samples, direct.samples, strict=True)]
        # Each round's overhead over that round's floor, then the median: a
        # thread hop's cost drifts with the machine's load, and the ratio of
        # two medians taken minutes apart would carry that drift.
        ratio = statistics.median(
            [o / f for o, f in zip(overhead, floor.samples, strict=True) if f > 0]
        )
        return {
            "interface": interface,
            "crossing": CROSSING[interface],
            "direct": "dualweb, " + ("async" if interface == "ASGI" else "sync") + " handler",
            "crossing_us": stats(crossing.samples),
            "direct_us": stats(direct.samples),
            "overhead_us": stats(overhead),
            "floor": FLOOR[interface],
            "floor_us": stats(floor.samples),
            "ratio_to_floor": ratio,
            "limit": BRIDGE_LIMITS[interface],
            "met": ratio <= BRIDGE_LIMITS[interface],
        }

    def throughput_ratio(self, item: Throughput) -> float:
        parser = next(t for t in self.throughputs if t.body == item.body and t.contender == PARSER)
        # Paired by round, as the bridges: the parser ran in the same round.
        return statistics.median(
            [a / b for a, b in zip(item.samples, parser.samples, strict=True) if b > 0]
        )

    def targets(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for interface in ("WSGI", "ASGI"):
            for endpoint in TARGET_1_ENDPOINTS:
                mine = self.median(interface, endpoint, 10, "dualweb")
                falcon = self.median(interface, endpoint, 10, "Falcon")
                what = f"{interface} {REQUEST_LABELS[endpoint]}: dualweb {LE} Falcon"
                if mine is None or falcon is None:
                    found.append(_target(1, what, "Falcon not measured", None, 1.0))
                    continue
                figure = f"{mine:.2f} µs vs {falcon:.2f} µs"
                found.append(_target(1, what, figure, mine / falcon, 1.0))
        for interface in ("WSGI", "ASGI"):
            growth = self.growth(interface, "dualweb")
            what = f"{interface}: dualweb at 1,000 routes {LE} {ROUTING_LIMIT}{TIMES} at 10"
            found.append(_target(2, what, f"{growth:.2f}{TIMES}", growth, ROUTING_LIMIT))
        for interface in ("ASGI", "WSGI"):
            bridge = self.bridge(interface)
            what = (
                f"{bridge['crossing']} under {interface}: overhead {LE} "
                f"{bridge['limit']} {TIMES} {bridge['floor']}"
            )
            figure = (
                f"{bridge['overhead_us']['median']:.2f} µs vs "
                f"{bridge['floor_us']['median']:.2f} µs"
            )
            found.append(_target(4, what, figure, bridge["ratio_to_floor"], bridge["limit"]))
        for item in self.throughputs:
            if item.contender != PARSER:
                ratio = self.throughput_ratio(item)
                what = f"{item.contender}, {item.body}: {GE} {PARSER_SHARE:.0%} of the parser"
                figure = f"{statistics.median(item.samples):.0f} MB/s"
                found.append(_target(5, what, figure, ratio, PARSER_SHARE, higher=True))
        return found


LE, GE = "\u2264", "\u2265"
REQUEST_LABELS = {
    "plaintext": "GET /plaintext",
    "json": "GET /json",
    "users": "GET /users/42",
    "echo": "POST /echo",
    "form": "POST /form",
    "upload": "POST /upload",
}


def _target(
    number: int, what: str, figure: str, ratio: float | None, limit: float, higher: bool = False
) -> dict[str, Any]:
    met = None if ratio is None else (ratio >= limit if higher else ratio <= limit)
    return {
        "target": number,
        "what": what,
        "figure": figure,
        "ratio": ratio,
        "limit": limit,
        "met": met,
    }


def request_label(endpoint: str, routes: int, upload_size: int) -> str:
    if endpoint == "users":
        return f"GET /users/42, {routes:,} routes"
    details = {
        "echo": f"JSON, {len(c.ECHO_BODY):,} B",
        "form": f"url-encoded, {len(c.FORM_FIELDS)} fields",
        "upload": f"multipart, one {upload_size / MB:g} MB file",
    }
    label = REQUEST_LABELS[endpoint]
    return f"{label} ({details[endpoint]})" if endpoint in details else label


def report(results: Results, settings: dict[str, Any], load_before: Any) -> list[str]:
    lines = ["## In-process cost per request: dualweb and its peers", ""]
    for interface, registry in (("WSGI", c.WSGI_CONTENDERS), ("ASGI", c.ASGI_CONTENDERS)):
        names = list(registry)
        server = "gunicorn's sync worker" if interface == "WSGI" else "uvicorn"
        lines += [
            f"### {interface} (requests as {server} builds them)",
            "",
            f"µs per request: median (min{DASH}max over the rounds), {TIMES} the median of "
            f"{c.RAW[interface]} on the same request.",
            "",
            "| request | " + " | ".join(names) + " |",
            "|---|" + "---:|" * len(names),
        ]
        rows = dict.fromkeys(
            (case.endpoint, case.routes)
            for case in results.cases
            if case.interface == interface and case.endpoint != "bridge"
        )
        for endpoint, routes in rows:
            cells = []
            for name in names:
                case = results.by_key.get((interface, endpoint, routes, name))
                if case is not None:
                    cells.append(cell(case.samples, results.ratio_to_raw(case)))
                elif name == c.RAW[interface]:
                    cells.append("(no router)")
                else:
                    cells.append(c.UNSUPPORTED.get(name, {}).get(endpoint, "n/a"))
            label = request_label(endpoint, routes, settings["upload_size"])
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append("")

    lines += [
        "### Routing growth: GET /users/42 at 1,000 routes over 10 routes",
        "",
        "| interface | contender | "
        + " | ".join(f"{n:,} routes, µs" for n in ROUTE_COUNTS)
        + " | 1,000 / 10 |",
        "|---|---|" + "---:|" * (len(ROUTE_COUNTS) + 1),
    ]
    for interface, registry in (("WSGI", c.WSGI_CONTENDERS), ("ASGI", c.ASGI_CONTENDERS)):
        for name in registry:
            if name == c.RAW[interface]:
                continue
            cells = [
                cell(results.by_key[interface, "users", n, name].samples) for n in ROUTE_COUNTS
            ]
            growth = results.growth(interface, name)
            lines.append(
                f"| {interface} | {name} | " + " | ".join(cells) + f" | {growth:.2f}{TIMES} |"
            )
    lines.append("")

    lines += [
        "### Bridges: dualweb handlers of the other kind (GET /plaintext)",
        "",
        "Overhead = crossing minus direct, per round (they run next to each other); "
        "the floor is measured in the same rounds; overhead / floor is the median of "
        "each round's ratio.",
        "",
        "| interface | crossing, µs | direct, µs | overhead, µs | floor | floor, µs "
        "| overhead / floor | target |",
        "|---|---:|---:|---:|---|---:|---:|---|",
    ]
    for interface in ("ASGI", "WSGI"):
        b = results.bridge(interface)
        lines.append(
            f"| {interface}: {b['crossing']} | {cell(b['crossing_us']['values'])} "
            f"| {cell(b['direct_us']['values'])} ({b['direct']}) "
            f"| {cell(b['overhead_us']['values'])} | {b['floor']} "
            f"| {cell(b['floor_us']['values'])} | {b['ratio_to_floor']:.2f}{TIMES} "
            f"| {LE} {b['limit']}{TIMES}: {'met' if b['met'] else 'missed'} |"
        )
    lines.append("")

    lines += [
        "### Multipart parsing throughput (in-process, 64 KiB chunks)",
        "",
        f"MB/s (MB = 10^6 bytes; of the file, or of the whole fields body): median "
        f"(min{DASH}max), {TIMES} the parser alone (the median of each round's ratio).",
        "",
        "| body | " + " | ".join(MULTIPART_CONTENDERS) + " |",
        "|---|" + "---:|" * len(MULTIPART_CONTENDERS),
    ]
    for body in dict.fromkeys(t.body for t in results.throughputs):
        cells = [
            cell(t.samples, results.throughput_ratio(t), digits=0)
            for t in results.throughputs
            if t.body == body
        ]
        lines.append(f"| {body} | " + " | ".join(cells) + " |")
    lines.append("")

    lines += [
        "### Targets (in-process part of issue 6)",
        "",
        "| # | target | figure | ratio | |",
        "|---|---|---|---:|---|",
    ]
    for target in results.targets():
        ratio = "" if target["ratio"] is None else f"{target['ratio']:.2f}"
        status = {True: "met", False: "missed", None: "not measured"}[target["met"]]
        lines.append(
            f"| {target['target']} | {target['what']} | {target['figure']} | {ratio} | {status} |"
        )
    lines.append("")

    lines.append(
        f"{settings['rounds']} round{'s' if settings['rounds'] != 1 else ''}, interleaved "
        "(each round: one sample of every case, "
        f"in table order); a sample is about {settings['sample_seconds'] * 1000:g} ms of "
        f"requests, in batches of at most {MAX_BATCH:,} fresh requests made beforehand; gc "
        "is disabled while a batch runs (gc.collect() before it). ASGI runs on "
        f"{settings['loop']}. JSON answers are compared as parsed documents (Flask sorts keys "
        "and adds a newline). Raw callables do not route: their 10-route figure is the floor "
        f"for every size. {settings['took']:.0f} s in all."
    )
    for name, reason in c.UNAVAILABLE.items():
        lines.append(f"\n{name}: {reason}.")
    for name, skipped in c.UNSUPPORTED.items():
        for endpoint, reason in skipped.items():
            lines.append(f"\n{name}, {REQUEST_LABELS[endpoint]}: not measured; {reason}.")
    versions = ", ".join(
        f"{name} {version}" for name, version in c.versions().items() if name != "dualweb"
    )
    lines += [
        "",
        "Machine:",
        "",
        *machine_info(load_before),
        f"- peers: {versions or 'none installed'}",
    ]
    return lines


def to_json(
    results: Results, settings: dict[str, Any], load_before: tuple[float, ...]
) -> dict[str, Any]:
    return {
        "benchmark": "bench_peers",
        "settings": settings,
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
            "loadavg_before": list(load_before),
            "loadavg_after": list(os.getloadavg()),
        },
        "versions": c.versions(),
        "unavailable": c.UNAVAILABLE,
        "unsupported": c.UNSUPPORTED,
        "requests": [
            {
                "interface": case.interface,
                "endpoint": case.endpoint,
                "request": request_label(case.endpoint, case.routes, settings["upload_size"]),
                "routes": case.routes,
                "contender": case.contender,
                "unit": "µs/request",
                "requests_per_sample": case.count,
                **stats(case.samples),
                "ratio_to_raw": results.ratio_to_raw(case),
            }
            for case in results.cases
            if case.endpoint != "bridge"
        ],
        "routing_growth": [
            {
                "interface": interface,
                "contender": name,
                **{
                    f"median_{n}": results.median(interface, "users", n, name)
                    for n in ROUTE_COUNTS
                },
                "growth": results.growth(interface, name),
            }
            for interface, registry in (("WSGI", c.WSGI_CONTENDERS), ("ASGI", c.ASGI_CONTENDERS))
            for name in registry
            if name != c.RAW[interface]
        ],
        "bridges": [results.bridge(interface) for interface in ("ASGI", "WSGI")],
        "multipart": [
            {
                "body": item.body,
                "contender": item.contender,
                "unit": "MB/s",
                **stats(item.samples),
                "ratio_to_parser": results.throughput_ratio(item),
            }
            for item in results.throughputs
        ],
        "targets": results.targets(),
    }


# -- main ---------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help=f"rounds of interleaved samples (default {DEFAULT_ROUNDS}, "
        f"{QUICK_ROUNDS} with --quick)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"{QUICK_SAMPLE_SECONDS * 1000:g} ms samples, a {QUICK_FILE_SIZE // MB} MB file: "
        "checks the script runs, numbers are rough",
    )
    parser.add_argument("--json", type=Path, help="also write the raw results to this file")
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (QUICK_ROUNDS if args.quick else DEFAULT_ROUNDS)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    quick = args.quick
    seconds = QUICK_SAMPLE_SECONDS if quick else SAMPLE_SECONDS
    settings: dict[str, Any] = {
        "rounds": args.rounds,
        "quick": quick,
        "sample_seconds": seconds,
        "upload_size": c.IN_PROCESS_UPLOAD_SIZE,
        "multipart_file_size": QUICK_FILE_SIZE if quick else FILE_SIZE,
        "multipart_fields": FIELD_COUNT,
        "multipart_chunk": CHUNK,
        "thread_pool_size": DEFAULT_THREAD_POOL_SIZE,
    }
    load_before = os.getloadavg()
    began = time.perf_counter()
    print("building the apps and checking their answers", file=sys.stderr, flush=True)
    setup = build_cases(c.IN_PROCESS_UPLOAD_SIZE)
    settings["loop"] = type(setup.loop).__name__
    parsing_app = form_app()
    throughputs = multipart_cases(
        settings["multipart_file_size"],
        QUICK_FIELD_REPEATS if quick else FIELD_REPEATS,
        setup.loop,
        parsing_app,
    )
    try:
        for case in setup.cases:
            case.calibrate(seconds)
        for item in throughputs:  # warm-up, and checks the answers
            item.measure()
        gc.collect()
        gc.freeze()  # the apps and the test data: later collections skip them
        for number in range(1, args.rounds + 1):
            started = time.perf_counter()
            for case in setup.cases:
                case.samples.append(case.sample())
            for item in throughputs:
                item.samples.append(item.measure())
            print(
                f"round {number}/{args.rounds} done in {time.perf_counter() - started:.1f} s",
                file=sys.stderr,
                flush=True,
            )
    finally:
        gc.unfreeze()
        setup.close()
        parsing_app.thread_pool.executor.shutdown(wait=True)
    settings["took"] = time.perf_counter() - began

    results = Results(setup.cases, throughputs)
    print("\n".join(report(results, settings, load_before)))
    if args.json is not None:
        args.json.write_text(json.dumps(to_json(results, settings, load_before), indent=1) + "\n")
        print(f"raw results written to {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
