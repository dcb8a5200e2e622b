"""A legacy Flask app mounted in dualweb, under real servers: concurrency and throughput.

Run from the project root (starts its own servers on 127.0.0.1; needs ``wrk``,
``apt-get install wrk``)::

    python benchmarks/bench_mount.py            # 3 rounds; ~3 min
    python benchmarks/bench_mount.py --quick    # tiny: checks that it runs

The apps are in ``benchmarks/mount_apps.py``: one Flask app, served as

* **dualweb mount**: ``App().mount("/legacy", flask_app)`` under uvicorn;
* **asgiref WsgiToAsgi**: ``WsgiToAsgi(flask_app)`` under uvicorn;
* **gunicorn sync**: the Flask app itself under gunicorn's sync worker.

One worker each. (a) **Concurrency**: ``--concurrent`` simultaneous requests
to ``/sleep`` (a blocking 0.5 s ``time.sleep`` in the Flask view), from one
httpx client in this process; the wall time until all answered, per
contender (gunicorn's sync worker serves one request at a time by design,
so it is left out). (b) **Throughput**: ``wrk`` on ``/hello`` with
``--connections`` connections for ``--duration`` seconds, the server pinned to
CPU 0 and wrk to CPU 1; req/s, p50 and p99 latency, socket errors and
non-2xx responses. Contenders are interleaved in rounds (A B C A B C...);
reported: the median and the min-max, and each contender's req/s over
gunicorn sync's in the same round.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from _common import machine_info, parse_counts
from _servers import HOST, Server, run_wrk, start, stop, uvicorn_picks, version

MODULE = "benchmarks.mount_apps"
UVICORN = ["uvicorn", "--host", HOST, "--port", "{port}", "--log-level", "warning"]
GUNICORN_SYNC = [
    *("gunicorn", "--bind", f"{HOST}:{{port}}", "--workers", "1"),
    *("--no-control-socket", "--log-level", "warning"),
]
# name: (server command, app, path prefix of the Flask app's endpoints)
CONTENDERS: dict[str, tuple[list[str], str, str]] = {
    "dualweb mount (uvicorn)": (UVICORN, f"{MODULE}:mounted", "/legacy"),
    "asgiref WsgiToAsgi (uvicorn)": (UVICORN, f"{MODULE}:asgiref_app", ""),
    "Flask (gunicorn sync)": (GUNICORN_SYNC, f"{MODULE}:flask_app", ""),
}
BASELINE = "Flask (gunicorn sync)"
SERVER_CPU, CLIENT_CPU = 0, 1
DASH, TIMES, GE = "\u2013", "\u00d7", "\u2265"


@dataclass
class Runs:
    seconds: list[float] = field(default_factory=list)
    rates: list[float] = field(default_factory=list)
    p50: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)
    errors: list[int] = field(default_factory=list)
    non_2xx: list[int] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)


# -- (a) concurrency ------------------------------------------------------------------


async def concurrent_gets(url: str, count: int) -> tuple[float, set[int]]:
    limits = httpx.Limits(max_connections=count)
    async with httpx.AsyncClient(timeout=60, trust_env=False, limits=limits) as client:
        started = time.perf_counter()
        responses = await asyncio.gather(*(client.get(url) for _ in range(count)))
        return time.perf_counter() - started, {r.status_code for r in responses}


# -- the report ---------------------------------------------------------------------------


def spread(values: list[float], digits: int = 0) -> str:
    low, middle, high = (
        f"{value:,.{digits}f}" for value in (min(values), statistics.median(values), max(values))
    )
    return f"{middle} ({low}{DASH}{high})"


def main(argv: list[str] | None = None) -> None:
    counts = {
        "--rounds": (1, 3, "rounds of interleaved runs (default 3)"),
        "--duration": (1, 10, "seconds of wrk per run (default 10)"),
        "--connections": (4, 32, "wrk connections (default 32)"),
        "--concurrent": (4, 20, "simultaneous /sleep requests (default 20)"),
    }
    options, quick = parse_counts(__doc__, "tiny runs: checks that it runs", counts, argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as logs:
        results = measure(options, Path(logs))
    report(results, options, load_before, quick)


def measure(options: dict[str, int], logs: Path) -> dict[str, Runs]:
    """Interleaved rounds of (a) and (b); ``options``: rounds, duration, connections,
    concurrent. bench_servers.py calls it too."""
    results = {name: Runs() for name in CONTENDERS}
    for round_number in range(1, options["rounds"] + 1):
        round_rates: dict[str, float] = {}
        for name, (command, app, prefix) in CONTENDERS.items():
            print(f"round {round_number}: {name}", file=sys.stderr)
            server: Server = start(name, command, app, logs, cpu=SERVER_CPU)
            try:
                if name != BASELINE:
                    url = f"http://{HOST}:{server.port}{prefix}/sleep"
                    seconds, statuses = asyncio.run(concurrent_gets(url, options["concurrent"]))
                    if statuses != {200}:
                        raise SystemExit(f"{name}: /sleep answered {statuses}")
                    results[name].seconds.append(seconds)
                url = f"http://{HOST}:{server.port}{prefix}/hello"
                run_wrk(url, options["connections"], 1, cpu=CLIENT_CPU)  # warm-up
                measured = run_wrk(
                    url, options["connections"], options["duration"], cpu=CLIENT_CPU
                )
            finally:
                stop(server)
            runs = results[name]
            runs.rates.append(measured["rate"])
            runs.p50.append(measured["p50"])
            runs.p99.append(measured["p99"])
            runs.errors.append(int(measured["errors"]))
            runs.non_2xx.append(int(measured["non_2xx"]))
            round_rates[name] = measured["rate"]
        for name, rate in round_rates.items():
            results[name].ratios.append(rate / round_rates[BASELINE])
    return results


MOUNTED = "dualweb mount (uvicorn)"
TARGET_RATIO = 0.9  # issue 6, target 6


def target(results: dict[str, Runs]) -> dict[str, Any]:
    """Target 6: the mounted Flask app under uvicorn, at least 0.9x gunicorn sync's req/s,
    without a socket error."""
    runs = results[MOUNTED]
    ratio = statistics.median(runs.ratios)
    return {
        "target": 6,
        "what": f"mounted Flask hello under uvicorn {GE} {TARGET_RATIO}{TIMES} "
        "the same app under gunicorn sync, no socket error",
        "figure": ratio,
        "bound": TARGET_RATIO,
        "comparison": ">=",
        "met": ratio >= TARGET_RATIO and sum(runs.errors) == 0,
    }


def to_json(results: dict[str, Runs]) -> list[dict[str, Any]]:
    def stat(values: list[float]) -> dict[str, Any]:
        return {
            "values": values,
            "median": statistics.median(values) if values else None,
            "min": min(values) if values else None,
            "max": max(values) if values else None,
        }

    return [
        {
            "contender": name,
            "concurrent_seconds": stat(runs.seconds),
            "req_per_s": stat(runs.rates),
            "p50_ms": stat(runs.p50),
            "p99_ms": stat(runs.p99),
            "socket_errors": sum(runs.errors),
            "non_2xx": sum(runs.non_2xx),
            "ratio": stat(runs.ratios),
        }
        for name, runs in results.items()
    ]


def report(
    results: dict[str, Runs],
    options: dict[str, int],
    load_before: tuple[float, float, float],
    quick: bool,
) -> None:
    rounds = options["rounds"]
    print("# A Flask app mounted in dualweb\n")
    if quick:
        print("_--quick: tiny runs; the numbers are rough._\n")
    print(
        f"## (a) {options['concurrent']} concurrent requests to a Flask view that "
        "sleeps 0.5 s, under uvicorn\n"
    )
    print(f"Wall time until all answered; median ({DASH}: min{DASH}max) of {rounds} rounds.\n")
    print("| contender | seconds |")
    print("|---|---:|")
    for name, runs in results.items():
        if runs.seconds:
            print(f"| {name} | {spread(runs.seconds, 2)} |")
    print(
        f"\n## (b) `GET /hello`: wrk, {options['connections']} connections, "
        f"{options['duration']} s, one worker\n"
    )
    print(
        f"Median ({DASH}: min{DASH}max) of {rounds} interleaved rounds; the ratio is "
        f"req/s over gunicorn sync's in the same round (median).\n"
    )
    print("| contender | req/s | p50 ms | p99 ms | socket errors | non-2xx | vs gunicorn sync |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, runs in results.items():
        print(
            f"| {name} | {spread(runs.rates)} | {statistics.median(runs.p50):.2f} "
            f"| {statistics.median(runs.p99):.2f} | {sum(runs.errors)} | {sum(runs.non_2xx)} "
            f"| {statistics.median(runs.ratios):.2f}{TIMES} |"
        )
    http, loop = uvicorn_picks()
    print("\n## Machine\n")
    print("\n".join(machine_info(load_before)))
    print(
        f"- uvicorn {version('uvicorn')} ({http}, {loop}), gunicorn {version('gunicorn')}, "
        f"Flask {version('flask')}, asgiref {version('asgiref')}"
    )
    print(f"- server pinned to CPU {SERVER_CPU}, wrk to CPU {CLIENT_CPU}")


if __name__ == "__main__":
    main()
