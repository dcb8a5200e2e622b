"""Route-matching cost of dualweb's router at 10, 100 and 1,000 routes.

Run from the project root (no server, no sockets, no pytest)::

    python benchmarks/bench_routing.py              # 9 rounds, full batches
    python benchmarks/bench_routing.py --rounds 15  # more rounds
    python benchmarks/bench_routing.py --quick      # tiny run, to check it works

For each size N, an ``App()`` gets N GET routes of realistic shapes, in
rotation: static ``/static{i}/page``, dynamic ``/api/v1/res{i}/{item_id:int}``
and ``/org{i}/{org}/repos/{repo}``. Route 0 is always the target
``/users/{user_id:int}`` (a sync handler returning ``{"id": user_id}``) and
``/static5/page`` is always among the static ones. Three things are timed per
size:

* ``app.router.match("GET", "/users/42")``: the dynamic lookup (tree walk,
  ``int`` conversion), returning ``(route, {"user_id": 42})``;
* ``app.router.match("GET", "/static5/page")``: the static lookup (one dict);
* a full in-process WSGI request ``GET /users/42``: ``app(environ,
  start_response)`` with a gunicorn-like environ, iterating the body and
  calling ``close()`` when present, to show what share of a request the
  routing is.

Method: the nine (measurement, size) contenders are interleaved in rounds, each
round timing one batch of each (200,000 calls for a match, 20,000 requests for
WSGI by default), so drifts of a shared, noisy machine hit all sizes alike.
The garbage collector is disabled while a batch runs (``gc.collect()`` first).
The table gives the median over the rounds of µs per call, with the min-max
across rounds, and the ratio of the 1,000-route median to the 10-route one
(1.00 means the cost does not grow with the number of routes).
"""

from __future__ import annotations

import gc
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from _common import gunicorn_environ, ignore_write, machine_info, parse_rounds, wsgi_batch

import dualweb
from dualweb import App, Request

SIZES = (10, 100, 1000)
TARGET_DYNAMIC = "/users/42"
TARGET_STATIC = "/static5/page"
MATCH_BATCH = 200_000
WSGI_BATCH = 20_000
QUICK_MATCH_BATCH = 2_000
QUICK_WSGI_BATCH = 500
DASH, TIMES = "\u2013", "\u00d7"  # en dash and multiplication sign, for the table

Environ = dict[str, Any]


def users(request: Request, user_id: int) -> dict[str, int]:
    return {"id": user_id}


def page(request: Request, **params: Any) -> str:
    return "page"


def build_app(size: int) -> App:
    """An App with ``size`` GET routes, the targets included."""
    app = App()
    app.add_route("/users/{user_id:int}", users, ["GET"], name="users")
    for i in range(1, size):
        kind = i % 3
        if kind == 2:
            path = f"/static{i}/page"
        elif kind == 1:
            path = f"/api/v1/res{i}/{{item_id:int}}"
        else:
            path = f"/org{i}/{{org}}/repos/{{repo}}"
        app.add_route(path, page, ["GET"], name=f"r{i}")
    assert len(app.router.routes) == size
    return app


# -- timing --------------------------------------------------------------------------------


def match_batch(app: App, path: str, count: int) -> int:
    """``count`` calls of ``app.router.match("GET", path)``; the elapsed nanoseconds."""
    match = app.router.match
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter_ns()
        for _ in range(count):
            match("GET", path)
        return time.perf_counter_ns() - start
    finally:
        gc.enable()


@dataclass
class Contender:
    measurement: str
    size: int
    run: Callable[[int], int]  # batch size -> elapsed ns
    batch: int
    samples: list[float] = field(default_factory=list)  # µs per call, one per round


def contenders_for(apps: dict[int, App], quick: bool) -> list[Contender]:
    match_n = QUICK_MATCH_BATCH if quick else MATCH_BATCH
    wsgi_n = QUICK_WSGI_BATCH if quick else WSGI_BATCH
    measurements: list[tuple[str, Callable[[App], Callable[[int], int]], int]] = [
        (
            f'router.match("GET", "{TARGET_DYNAMIC}")',
            lambda app: partial(match_batch, app, TARGET_DYNAMIC),
            match_n,
        ),
        (
            f'router.match("GET", "{TARGET_STATIC}")',
            lambda app: partial(match_batch, app, TARGET_STATIC),
            match_n,
        ),
        (
            f"WSGI request GET {TARGET_DYNAMIC}",
            lambda app: partial(wsgi_batch, app, gunicorn_environ(TARGET_DYNAMIC)),
            wsgi_n,
        ),
    ]
    found: list[Contender] = []
    for measurement, make_run, batch in measurements:
        for size, app in apps.items():
            found.append(Contender(measurement, size, make_run(app), batch))
    return found


def check(apps: dict[int, App]) -> None:
    """Fail loudly unless every app routes and answers the targets as expected."""
    for size, app in apps.items():
        found = app.router.match("GET", TARGET_DYNAMIC)
        if (found[0].path, found[1]) != ("/users/{user_id:int}", {"user_id": 42}):
            raise SystemExit(f"{size} routes: {TARGET_DYNAMIC} matched {found!r}")
        found = app.router.match("GET", TARGET_STATIC)
        if (found[0].path, found[1]) != (TARGET_STATIC, {}):
            raise SystemExit(f"{size} routes: {TARGET_STATIC} matched {found!r}")
        try:
            found = app.router.match("GET", "/nowhere/at/all")
        except dualweb.HTTPException as exc:
            if exc.status_code != 404:
                raise SystemExit(f"{size} routes: /nowhere/at/all gave {exc!r}") from None
        else:
            raise SystemExit(f"{size} routes: /nowhere/at/all matched {found!r}")
        statuses: list[str] = []
        result = app(gunicorn_environ(TARGET_DYNAMIC), partial(_capture, statuses))
        body = b"".join(result)
        if (statuses, body) != (["200 OK"], b'{"id":42}'):
            raise SystemExit(f"{size} routes: GET {TARGET_DYNAMIC} gave {statuses}, {body!r}")


def _capture(
    statuses: list[str], status: str, headers: list[tuple[str, str]], exc_info: Any = None
) -> Callable[[bytes], None]:
    statuses.append(status)
    return ignore_write


# -- report --------------------------------------------------------------------------------


def table(contenders: list[Contender]) -> list[str]:
    header = " | ".join(f"{size:,} routes" for size in SIZES)
    lines = [
        f"| measurement (µs per call: median, min{DASH}max) | {header} "
        f"| {SIZES[-1]:,} / {SIZES[0]:,} |",
        "|---|" + "---:|" * (len(SIZES) + 1),
    ]
    measurements = list(dict.fromkeys(c.measurement for c in contenders))
    for measurement in measurements:
        row = {c.size: c for c in contenders if c.measurement == measurement}
        cells = []
        for size in SIZES:
            samples = row[size].samples
            cells.append(
                f"{statistics.median(samples):.3f} ({min(samples):.3f}{DASH}{max(samples):.3f})"
            )
        ratio = statistics.median(row[SIZES[-1]].samples) / statistics.median(
            row[SIZES[0]].samples
        )
        lines.append(f"| `{measurement}` | " + " | ".join(cells) + f" | {ratio:.2f}{TIMES} |")
    return lines


def main(argv: list[str] | None = None) -> None:
    rounds, quick = parse_rounds(
        __doc__.split("\n\n")[0] if __doc__ else None,
        f"tiny batches ({QUICK_MATCH_BATCH} matches / {QUICK_WSGI_BATCH} WSGI requests): "
        "checks the script runs, numbers are rough",
        argv,
    )

    apps = {size: build_app(size) for size in SIZES}
    check(apps)
    contenders = contenders_for(apps, quick)

    load_before = os.getloadavg()
    began = time.perf_counter()
    for contender in contenders:  # warm-up
        contender.run(max(contender.batch // 10, 50))
    for number in range(1, rounds + 1):
        for contender in contenders:
            contender.samples.append(contender.run(contender.batch) / contender.batch / 1000)
        print(f"round {number}/{rounds} done", file=sys.stderr, flush=True)
    took = time.perf_counter() - began

    match_n, wsgi_n = contenders[0].batch, contenders[-1].batch
    print("## dualweb routing cost by number of routes\n")
    print("\n".join(table(contenders)))
    print()
    print(
        f"{rounds} rounds, interleaved (each round: one batch per measurement and size, in "
        f"table order, row by row); batch = {match_n:,} calls (match), {wsgi_n:,} requests "
        f"(WSGI); {took:.1f} s in all. gc is disabled during each timed batch (gc.collect() "
        f"before it). Last column: median at {SIZES[-1]:,} routes / median at {SIZES[0]:,}. "
        "Routes: /users/{user_id:int} (sync handler) plus, in rotation, /static{i}/page, "
        "/api/v1/res{i}/{item_id:int} and /org{i}/{org}/repos/{repo}. Timings include the "
        "Python loop around each call (a few tens of ns)."
    )
    print()
    print("Machine:\n")
    print("\n".join(machine_info(load_before)))


if __name__ == "__main__":
    main()
