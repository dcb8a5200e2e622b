"""The benchmark report, docs/benchmarks.md, made from the raw results that
``bench_peers.py --json`` and ``bench_servers.py --json`` write.

Dicts in, Markdown out: nothing is measured, read or written here
(``run_all.py`` does that), so the report can be rebuilt from saved JSON and
tested from small hand-made dicts. Either result may be missing (``None``):
its sections are left out and its targets reported as not measured.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Json = dict[str, Any]
Summary = Mapping[str, Any]  # {"values": [...], "median": ..., "min": ..., "max": ...}

DASH, TIMES, LE, GE = "\u2013", "\u00d7", "\u2264", "\u2265"
RAW = {"WSGI": "raw WSGI", "ASGI": "raw ASGI"}
#: Issue 6's targets, in short.
ISSUE_TARGETS = {
    1: f"In-process, both interfaces: dualweb {LE} Falcon on plaintext, JSON and the "
    "path-parameter route",
    2: f"Routing: cost at 1,000 routes {LE} 1.3 {TIMES} cost at 10 routes",
    3: f"uvicorn and gunicorn's sync worker: {GE} 0.90 {TIMES} the raw callable's req/s on "
    "plaintext and JSON",
    4: f"Bridges: sync under ASGI {LE} 1.2 {TIMES} a bare executor hop; async under WSGI "
    f"{LE} 2 {TIMES} a bare persistent-loop run",
    5: f"Multipart {GE} 80 % of the `multipart` push parser's throughput; a 200 MB upload "
    "within +30 MB of peak RSS",
    6: f"A mounted Flask app under uvicorn {GE} 0.9 {TIMES} the same app under gunicorn's "
    "sync worker, zero socket errors",
    7: f"WebSocket echo under uvicorn {GE} 0.9 {TIMES} raw ASGI; the 100 ms wait {GE} 0.95 "
    f"{TIMES} raw ASGI at 200 connections",
}
#: Why a target may have no figure at all in a report.
#: bench_peers' targets whose ratio must reach the limit (the others must stay under it).
PEERS_AT_LEAST = {5}
#: Units of bench_servers' target figures that are not ratios.
SERVERS_UNITS = {5: " MB"}  # peak RSS increase
VERDICTS = {True: "met", False: "**missed**", None: "not measured"}


# -- cells ------------------------------------------------------------------------------------


def number(value: float, digits: int) -> str:
    return f"{value:,.{digits}f}"


def spread(summary: Summary | None, digits: int = 0) -> str:
    """``median (min-max)``, or ``n/a`` when nothing was measured."""
    if summary is None or summary.get("median") is None:
        return "n/a"
    low, middle, high = (number(summary[key], digits) for key in ("min", "median", "max"))
    return f"{middle} ({low}{DASH}{high})"


def median(summary: Summary | None, digits: int = 2, suffix: str = "") -> str:
    if summary is None or summary.get("median") is None:
        return "n/a"
    return number(summary["median"], digits) + suffix


def total(summary: Summary | None) -> str:
    if summary is None or not summary.get("values"):
        return "n/a"
    return number(sum(summary["values"]), 0)


def times(ratio: float | None) -> str:
    return "n/a" if ratio is None else f"{ratio:.2f}{TIMES}"


def table(header: Iterable[str], align: str, rows: Iterable[Iterable[str]]) -> list[str]:
    """A Markdown table; ``align`` has one letter per column, ``l`` or ``r``."""
    lines = ["| " + " | ".join(header) + " |"]
    lines.append("|" + "".join("---:|" if side == "r" else "---|" for side in align))
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def chart(charts: Mapping[str, str], name: str, alt: str) -> list[str]:
    """The image line of chart ``name``, if it was drawn."""
    return [f"![{alt}]({charts[name]})", ""] if name in charts else []


# -- targets ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One row of the targets table."""

    number: int
    what: str
    figure: str
    bound: str
    met: bool | None


def peers_target(found: Json) -> Target:
    number_, ratio, figure = found["target"], found["ratio"], found["figure"]
    if ratio is not None and not figure.endswith(TIMES):
        figure = f"{figure} ({ratio:.2f}{TIMES})"
    sign = GE if number_ in PEERS_AT_LEAST else LE
    bound = f"{sign} {found['limit']:g}{TIMES}"
    return Target(number_, found["what"], figure, bound, found["met"])


def servers_target(found: Json) -> Target:
    number_, value = found["target"], found["figure"]
    unit = SERVERS_UNITS.get(number_, TIMES)
    figure = "n/a" if value is None else f"{value:.2f}{unit}"
    sign = GE if found["comparison"] == ">=" else LE
    bound = f"{sign} {found['bound']:g}{unit}"
    return Target(number_, found["what"], figure, bound, found["met"])


def collect_targets(peers: Json | None, servers: Json | None) -> list[Target]:
    """Every measured target of both runs, then a row for each target nobody measured,
    sorted by the issue's numbering."""
    found = [peers_target(t) for t in (peers or {}).get("targets", [])]
    found += [servers_target(t) for t in (servers or {}).get("targets", [])]
    measured = {target.number for target in found}
    for number_, text in ISSUE_TARGETS.items():
        if number_ not in measured:
            why = "not in the results this page was made from"
            found.append(Target(number_, text, why, "", None))
    return sorted(found, key=lambda target: target.number)


def verdict(targets: Iterable[Target]) -> bool | None:
    """A target's verdict over its rows: missed if one is, met if all are."""
    met = [target.met for target in targets]
    if False in met:
        return False
    return True if met and all(met) else None


def targets_section(peers: Json | None, servers: Json | None) -> list[str]:
    targets = collect_targets(peers, servers)
    by_number: dict[int, list[Target]] = {}
    for target in targets:
        by_number.setdefault(target.number, []).append(target)
    overall = {number_: verdict(rows) for number_, rows in by_number.items()}
    lines = ["## Targets", ""]
    if any(run is not None and run["settings"].get("quick") for run in (peers, servers)):
        lines += ["_A `--quick` run: far too short to judge the targets._", ""]
    lines += ["Issue 6's seven targets; a target is met when all its rows below are:", ""]
    for number_, text in ISSUE_TARGETS.items():
        lines.append(f"{number_}. {text}: {VERDICTS[overall[number_]]}.")
    lines.append("")
    rows = [(str(t.number), t.what, t.figure, t.bound, VERDICTS[t.met]) for t in targets]
    return lines + table(("#", "measured", "figure", "bound", ""), "rlrrl", rows)


# -- in-process (bench_peers) -----------------------------------------------------------------


def request_cell(row: Json | None) -> str:
    if row is None:
        return "n/a"
    return f"{spread(row, 2)}, {times(row['ratio_to_raw'])}"


def requests_table(peers: Json, interface: str) -> list[str]:
    rows = [row for row in peers["requests"] if row["interface"] == interface]
    names = list(dict.fromkeys(row["contender"] for row in rows))
    by_key = {(row["request"], row["contender"]): row for row in rows}
    body = []
    for request, endpoint in dict.fromkeys((row["request"], row["endpoint"]) for row in rows):
        cells = [request]
        for name in names:
            row = by_key.get((request, name))
            if row is None and name == RAW[interface] and endpoint == "users":
                cells.append("(no router)")
            else:
                cells.append(request_cell(row))
        body.append(cells)
    return table(("request", *names), "l" + "r" * len(names), body)


def inprocess_section(peers: Json, charts: Mapping[str, str]) -> list[str]:
    settings = peers["settings"]
    lines = [
        "## In-process: the cost per request",
        "",
        "The app called directly, with a fresh environ (shaped like gunicorn's sync worker's) "
        "or scope (like uvicorn's) per request, no sockets: the cost the application adds "
        f"to each request. µs per request: median (min{DASH}max over "
        f"{rounds(settings['rounds'])}), {TIMES} the raw callable's median on the same "
        "request in the same run. Lower is better.",
        "",
    ]
    measured = {row["interface"] for row in peers["requests"]}
    for interface in ("WSGI", "ASGI"):
        if interface not in measured:
            continue
        kind = "sync" if interface == "WSGI" else "async"
        lines += [f"### {interface} ({kind} handlers)", ""]
        lines += requests_table(peers, interface)
        lines += chart(
            charts,
            f"inprocess-{interface.lower()}",
            f"{interface}: µs per request per endpoint and contender",
        )
    notes = [
        f"{name}, {endpoint}: not measured; {reason}."
        for name, skipped in peers.get("unsupported", {}).items()
        for endpoint, reason in skipped.items()
    ]
    notes += [f"{name}: {reason}." for name, reason in peers.get("unavailable", {}).items()]
    for note in notes:
        lines += [note, ""]
    return lines


def routing_section(peers: Json, charts: Mapping[str, str]) -> list[str]:
    if not peers["routing_growth"]:
        return []
    rows = {
        (row["interface"], row["contender"], row["routes"]): row
        for row in peers["requests"]
        if row["endpoint"] == "users"
    }
    counts = sorted({routes for (_, _, routes) in rows})
    body = []
    for growth in peers["routing_growth"]:
        key = (growth["interface"], growth["contender"])
        cells = [spread(rows.get((*key, count)), 2) for count in counts]
        body.append([*key, *cells, times(growth["growth"])])
    header = (
        "interface",
        "contender",
        *(f"{count:,} routes, µs" for count in counts),
        f"{counts[-1]:,} / {counts[0]:,}" if counts else "growth",
    )
    return [
        "### Routing: `GET /users/42` among 10, 100 and 1,000 routes",
        "",
        "The path-parameter route is registered among fillers of realistic shapes; "
        f"1.00{TIMES} means the cost does not depend on the number of routes.",
        "",
        *table(header, "ll" + "r" * (len(counts) + 1), body),
        *chart(charts, "routing", "µs per request against the number of routes"),
    ]


def bridges_section(peers: Json, charts: Mapping[str, str]) -> list[str]:
    if not peers["bridges"]:
        return []
    body = []
    for b in peers["bridges"]:
        state = "met" if b["met"] else "**missed**"
        body.append(
            [
                f"{b['interface']}: {b['crossing']}",
                spread(b["crossing_us"], 2),
                f"{spread(b['direct_us'], 2)} ({b['direct']})",
                spread(b["overhead_us"], 2),
                b["floor"],
                spread(b["floor_us"], 2),
                times(b["ratio_to_floor"]),
                f"{LE} {b['limit']:g}{TIMES}: {state}",
            ]
        )
    header = (
        "crossing",
        "µs",
        "direct, µs",
        "overhead, µs",
        "floor",
        "floor, µs",
        "overhead / floor",
        "target",
    )
    return [
        "### Bridges: a handler of the other kind (`GET /plaintext`)",
        "",
        "A sync handler under ASGI runs in the thread pool; an async handler under WSGI on "
        "the worker thread's persistent loop. Overhead: the crossing minus the direct case, "
        "paired by round; the floor is the bare mechanism, measured in the same rounds; "
        "overhead / floor is the median of each round's ratio.",
        "",
        *table(header, "lrrrlrrl", body),
        *chart(charts, "bridges", "bridge overhead against its floor"),
    ]


def multipart_section(peers: Json, charts: Mapping[str, str]) -> list[str]:
    rows = peers["multipart"]
    if not rows:
        return []
    names = list(dict.fromkeys(row["contender"] for row in rows))
    by_key = {(row["body"], row["contender"]): row for row in rows}
    body = []
    for name in dict.fromkeys(row["body"] for row in rows):
        cells = [name]
        for contender in names:
            row = by_key.get((name, contender))
            cells.append(
                "n/a" if row is None else f"{spread(row)}, {times(row['ratio_to_parser'])}"
            )
        body.append(cells)
    return [
        "### Multipart parsing throughput",
        "",
        f"In-process, the body in 64 KiB chunks. MB/s (10^6 bytes of the file, or of the "
        f"whole fields body): median (min{DASH}max), {TIMES} the parser alone (the median "
        "of each round's ratio). Higher is better.",
        "",
        *table(("body", *names), "l" + "r" * len(names), body),
        *chart(charts, "multipart", "dualweb's multipart throughput over the parser's"),
    ]


# -- under real servers (bench_servers) -------------------------------------------------------


def http_rows(servers: Json, section: str) -> list[Json]:
    return [row for row in servers["http"] if row["section"] == section]


def ratio_median(row: Json) -> str:
    ratio = row.get("ratio")
    return times(None if ratio is None else ratio.get("median"))


def throughput_section(servers: Json, charts: Mapping[str, str]) -> list[str]:
    settings = servers["settings"]
    rows = http_rows(servers, "throughput")
    if not rows:
        return []
    lines = [
        f"### Throughput: wrk, {settings['connections']} connections, "
        f"{settings['duration']} s per run",
        "",
        f"req/s: median (min{DASH}max); p50 and p99: medians; socket errors and non-2xx "
        f"answers: totals over the rounds; {TIMES} raw: req/s over the raw callable's on the "
        "same server in the same round (median). Higher is better.",
        "",
    ]
    for server in dict.fromkeys(row["server"] for row in rows):
        mine = [row for row in rows if row["server"] == server]
        raw = RAW[mine[0]["interface"]]
        body = [
            [
                f"`{row['method']} {row['path']}`",
                row["contender"],
                spread(row["req_per_s"]),
                median(row["p50_ms"]),
                median(row["p99_ms"]),
                total(row["socket_errors"]),
                total(row["non_2xx"]),
                ratio_median(row),
            ]
            for row in mine
        ]
        header = (
            "request",
            "contender",
            "req/s",
            "p50 ms",
            "p99 ms",
            "socket errors",
            "non-2xx",
            f"{TIMES} {raw}",
        )
        lines += [f"#### {server} ({mine[0]['interface']})", ""]
        lines += table(header, "llrrrrrr", body)
    return lines + chart(charts, "servers", "req/s per contender and server")


def wait_handler(row: Json) -> str:
    """How the 100 ms wait is written in the app a row served."""
    if row["app"].endswith(":raw_asgi"):
        return "raw ASGI, `await asyncio.sleep(0.1)`"
    if row["app"].endswith("_asgi"):
        return "dualweb `async def`, `await asyncio.sleep(0.1)`"
    return "dualweb `def`, `time.sleep(0.1)`"


def wait_server(row: Json, settings: Json) -> str:
    if row["server"] == "gunicorn gthread":
        return f"gunicorn gthread, {settings['threads']} threads"
    if row["server"] == "uvicorn" and not row["app"].endswith("_asgi"):
        return "uvicorn (dualweb's thread pool)"
    return str(row["server"])


def claims_section(servers: Json, charts: Mapping[str, str]) -> list[str]:
    claims = {row["job"]: row for row in http_rows(servers, "claims")}
    found = [
        *wait_claim(servers, charts),
        *awaits_claim(claims),
        *cpu_claim(claims, servers["settings"]),
    ]
    return ["### The articles' claims, measured on dualweb", "", *found] if found else []


def wait_claim(servers: Json, charts: Mapping[str, str]) -> list[str]:
    settings = servers["settings"]
    rows = http_rows(servers, "wait")
    if not rows:
        return []
    body = [
        [
            wait_handler(row),
            wait_server(row, settings),
            spread(row["req_per_s"]),
            median(row["p50_ms"], 1),
            median(row["p99_ms"], 1),
            total(row["socket_errors"]),
            total(row["non_2xx"]),
            ratio_median(row),
        ]
        for row in rows
    ]
    header = ("handler", "server", "req/s", "p50 ms", "p99 ms", "socket errors", "non-2xx")
    waits = rows[0]["connections"]
    return [
        f"#### A 100 ms wait, {waits} connections",
        "",
        f"The ceiling is {waits} connections {TIMES} 10 = {waits * 10:,} req/s. {TIMES} raw "
        "ASGI: req/s over the raw ASGI app's under uvicorn, same round.",
        "",
        *table((*header, f"{TIMES} raw ASGI"), "llrrrrrr", body),
        *chart(charts, "claims", "the claims: 100 ms waits, gathered awaits, CPU-bound work"),
    ]


def awaits_claim(claims: Mapping[str, Json]) -> list[str]:
    shown = {"sequential": "one after another", "gathered": "`asyncio.gather`"}
    rows = {text: claims[job] for job, text in shown.items() if job in claims}
    if not rows:
        return []
    body = [
        [text, spread(row["req_per_s"], 1), median(row["p50_ms"], 1), median(row["p99_ms"], 1)]
        for text, row in rows.items()
    ]
    connections = next(iter(rows.values()))["connections"]
    return [
        f"#### Three 100 ms awaits in one `async def` handler, uvicorn, {connections} connections",
        "",
        *table(("the three awaits", "req/s", "p50 ms", "p99 ms"), "lrrr", body),
    ]


def cpu_claim(claims: Mapping[str, Json], settings: Json) -> list[str]:
    shown = {
        "fast alone": "alone",
        "fast, async CPU load": "next to an `async def` CPU-bound handler (on the loop)",
        "fast, sync CPU load": "next to a `def` CPU-bound handler (thread pool)",
    }
    body = []
    for job, text in shown.items():
        row = claims.get(job)
        if row is None:
            continue
        load = row.get("load")
        body.append(
            [
                text,
                spread(row["req_per_s"]),
                median(row["p50_ms"]),
                median(row["p99_ms"]),
                "" if load is None else spread(load["req_per_s"], 1),
            ]
        )
    if not body:
        return []
    return [
        "#### A CPU-bound handler next to a fast request, uvicorn",
        "",
        f"The CPU-bound handler does about {settings.get('cpu_ms', 0):.0f} ms of pure-Python "
        "work; two wrk connections keep it busy while another wrk times `GET /fast` (`async "
        "def`, answers at once) over one connection.",
        "",
        *table(
            ("`GET /fast`", "req/s", "p50 ms", "p99 ms", "CPU-bound handler, req/s"),
            "lrrrr",
            body,
        ),
    ]


def websocket_section(servers: Json) -> list[str]:
    rows = servers["websocket_echo"]
    if not rows:
        return []
    body = []
    for row in rows:
        rate = row["round_trips_per_s"].get("median")
        per_trip = f"{1e6 / rate:.1f}" if rate else "n/a"
        body.append(
            [
                row["server"],
                row["contender"],
                spread(row["round_trips_per_s"]),
                per_trip,
                ratio_median(row),
            ]
        )
    return [
        f"### WebSocket echo: one connection, {rows[0]['messages']:,} round trips per round",
        "",
        f"A round trip is one message received and one sent by the server. {TIMES} raw ASGI: "
        "over the raw ASGI echo app's on the same server, same round.",
        "",
        *table(
            ("server", "contender", "round trips/s", "µs per round trip", f"{TIMES} raw ASGI"),
            "llrrr",
            body,
        ),
    ]


def mount_section(rows: list[Json]) -> list[str]:
    """bench_mount.py's figures, measured by bench_servers.py."""
    if not rows:
        return []
    body = [
        [
            row["contender"],
            spread(row["concurrent_seconds"], 2),
            spread(row["req_per_s"]),
            median(row["p50_ms"]),
            median(row["p99_ms"]),
            str(row["socket_errors"]),
            str(row["non_2xx"]),
            median(row["ratio"], suffix=TIMES),
        ]
        for row in rows
    ]
    return [
        "### A legacy Flask app mounted in dualweb",
        "",
        "`benchmarks/mount_apps.py`: one Flask app mounted in a dualweb App and served by "
        "uvicorn, behind asgiref's `WsgiToAsgi` under uvicorn, and under gunicorn's sync "
        "worker. Concurrent: the wall time of simultaneous requests to a view that blocks "
        "0.5 s in `time.sleep`. Then wrk on `GET /hello`; the last column is req/s over "
        "gunicorn sync's in the same round.",
        "",
        *table(
            (
                "contender",
                "concurrent, s",
                "req/s",
                "p50 ms",
                "p99 ms",
                "socket errors",
                "non-2xx",
                "vs gunicorn sync",
            ),
            "lrrrrrrr",
            body,
        ),
        "",
    ]


def memory_section(servers: Json) -> list[str]:
    found = [*upload_memory(servers["upload_memory"]), *idle_memory(servers["idle_websockets"])]
    return ["### Memory", "", *found] if found else []


def upload_memory(rows: list[Json]) -> list[str]:
    if not rows:
        return []
    body = [
        [
            f"{row['server']} ({row['interface']})",
            f"`{row['path']}`",
            row["handler"],
            spread(row["peak_rss_increase_mb"], 1),
            spread(row["mb_per_s"]),
        ]
        for row in rows
    ]
    return [
        f"#### One {rows[0]['size_mb']} MB multipart upload",
        "",
        "The server process's peak RSS increase (gunicorn: the worker's): VmHWM after the "
        "upload minus VmRSS before, the peak reset first; MB = 10^6 bytes.",
        "",
        *table(("server", "route", "handler", "peak RSS increase, MB", "MB/s"), "lllrr", body),
    ]


def idle_memory(rows: list[Json]) -> list[str]:
    if not rows:
        return []
    body = [
        [
            row["contender"],
            spread(mebibytes(row["vmrss_before_kib"]), 1),
            spread(mebibytes(row["vmrss_after_kib"]), 1),
            spread(row["kib_per_connection"], 1),
        ]
        for row in rows
    ]
    return [
        f"#### {rows[0]['connections']:,} idle WebSockets under uvicorn",
        "",
        *table(
            ("app", "VmRSS before, MiB", "VmRSS with the sockets, MiB", "KiB per connection"),
            "lrrr",
            body,
        ),
    ]


def mebibytes(kib: Summary) -> Json:
    return {key: None if kib[key] is None else kib[key] / 1024 for key in ("median", "min", "max")}


def servers_section(servers: Json, charts: Mapping[str, str]) -> list[str]:
    settings = servers["settings"]
    if settings.get("server_cpu") is None:
        pinned = "wrk and the WebSocket client share the server's CPUs."
    else:
        pinned = (
            f"Each server pinned to CPU {settings['server_cpu']}; wrk (one thread) and the "
            f"WebSocket client on CPU {settings['client_cpu']}."
        )
    return [
        "## Under real servers",
        "",
        "uvicorn and gunicorn's ASGI worker (`-k asgi`) serve the ASGI contenders, "
        "gunicorn's sync worker the WSGI ones: one worker each, started afresh every "
        "round; a server's contenders run side by side and take turns job by job "
        f"(plaintext A B C, JSON A B C, ...), over {rounds(settings['rounds'])}. "
        f"{pinned}",
        "",
        *throughput_section(servers, charts),
        *claims_section(servers, charts),
        *websocket_section(servers),
        *memory_section(servers),
        *mount_section(servers.get("mount") or []),
    ]


# -- the page ---------------------------------------------------------------------------------


def rounds(count: int) -> str:
    return f"{count} round{'s' if count != 1 else ''}"


def how_to_run(peers: Json | None, servers: Json | None) -> list[str]:
    made = []
    if peers is not None:
        s = peers["settings"]
        made.append(
            f"in-process (`bench_peers.py`): {rounds(s['rounds'])} of about "
            f"{s['sample_seconds'] * 1000:g} ms samples"
            + (f", {s['took']:.0f} s in all" if "took" in s else "")
        )
    if servers is not None:
        s = servers["settings"]
        made.append(
            f"servers (`bench_servers.py`): {rounds(s['rounds'])} of {s['duration']} s wrk "
            f"runs, endpoints {', '.join(s['endpoints'])}; memory: {rounds(s['memory_rounds'])}"
        )
    quick = [run["settings"].get("quick") for run in (peers, servers) if run is not None]
    return [
        "## How to run it",
        "",
        "From the project root, with the `test` extra installed (the peers, matplotlib) "
        "and `wrk` (`apt-get install wrk`), on a machine doing nothing else:",
        "",
        "```bash",
        "python benchmarks/run_all.py                              # all of it: about 25 min",
        "python benchmarks/run_all.py --quick                      # a minute: does it run?",
        "python benchmarks/run_all.py --from-json docs/benchmarks  # this page again, no run",
        "```",
        "",
        "It runs `benchmarks/bench_peers.py`, then `benchmarks/bench_servers.py`, never both "
        "at once, and writes this page, its charts and the raw results (`docs/benchmarks/`). "
        "What each script measures, and how: `benchmarks/README.md`.",
        "",
        "This page: " + "; ".join(made) + ("; `--quick`." if any(quick) else "."),
        "",
        "The machine is shared and noisy: compare the ratios (to the raw callable, measured "
        "in the same run), not the absolute figures.",
        "",
    ]


def machine_section(peers: Json | None, servers: Json | None) -> list[str]:
    lines = ["## Machine and versions", ""]
    if peers is not None:
        m = peers["machine"]
        lines += [
            f"In-process run: {m['platform']}, Python {m['python']}, {m['cpu_count']} CPUs; "
            f"load average (1, 5, 15 min) before {loads(m['loadavg_before'])}, after "
            f"{loads(m['loadavg_after'])}.",
            "",
        ]
    if servers is not None:
        m = servers["machine"]
        http, loop = m.get("uvicorn_picks", ("?", "?"))
        lines += ["Server run:", "", *m["lines"]]
        lines += [f"- uvicorn with {http} and {loop}; wrk {m.get('wrk', '?')}", ""]
    versions: dict[str, str] = {}
    for run in (peers, servers):
        if run is not None:
            found = run.get("versions") or run["machine"].get("versions") or {}
            versions.update(found)
    if versions:
        listed = ", ".join(f"{name} {version}" for name, version in sorted(versions.items()))
        lines += [f"Versions: {listed}.", ""]
    return lines


def loads(values: Iterable[float]) -> str:
    return ", ".join(f"{value:.2f}" for value in values)


def raw_figures_section(peers: Json | None, servers: Json | None, json_dir: str) -> list[str]:
    """A python block that reads the saved results and checks a figure of this page:
    how to use the JSON, and a test (tests/test_docs.py runs it) that the page and the
    JSON next to it agree."""
    names = [name for name, run in (("peers", peers), ("servers", servers)) if run is not None]
    code = [
        "import json",
        "from pathlib import Path",
        "",
        f'saved = Path("{json_dir}")',
    ]
    code += [
        f'{name} = json.loads((saved / "{name}.json").read_text(encoding="utf-8"))'
        for name in names
    ]
    code += figure_check(peers, servers)
    targets = " + ".join(f'{name}["targets"]' for name in names)
    met = sum(1 for run in (peers, servers) if run is not None for t in run["targets"] if t["met"])
    code += [
        "",
        "# The targets table is made of the files' target lists: the rows met.",
        f'met = [target for target in {targets} if target["met"]]',
        f"assert len(met) == {met}",
    ]
    return [
        "## The raw figures",
        "",
        f"Every figure of this page, with each round's value, is in `{json_dir}/` "
        f"({', '.join(f'`{name}.json`' for name in names)}), written by the scripts' "
        "`--json` option. Reading one:",
        "",
        "```python",
        *code,
        "```",
        "",
    ]


def figure_check(peers: Json | None, servers: Json | None) -> list[str]:
    """Code checking one figure of the page against the JSON: a dualweb row's."""
    if peers is not None and peers["requests"]:
        return peers_check(peers["requests"])
    if servers is not None and servers["http"]:
        return servers_check(servers["http"])
    return []


def peers_check(rows: list[Json]) -> list[str]:
    row = next((row for row in rows if row["contender"] == "dualweb"), rows[0])
    key = (row["interface"], row["endpoint"], row["routes"], row["contender"])
    return [
        "",
        "# In-process: one row per interface, endpoint, number of routes and contender.",
        "row = next(",
        "    row",
        '    for row in peers["requests"]',
        '    if (row["interface"], row["endpoint"], row["routes"], row["contender"])',
        f"    == {python_tuple(key)}",
        ")",
        f'assert round(row["median"], 2) == {round(row["median"], 2)!r}  # µs, as above',
        f'assert len(row["values"]) == {len(row["values"])}  # one per round',
    ]


def servers_check(rows: list[Json]) -> list[str]:
    row = next((row for row in rows if row["contender"] == "dualweb"), rows[0])
    key = (row["server"], row["job"], row["contender"])
    rate = round(row["req_per_s"]["median"])
    return [
        "",
        "# Under servers: one row per server, request and contender.",
        "row = next(",
        "    row",
        '    for row in servers["http"]',
        f'    if (row["server"], row["job"], row["contender"]) == {python_tuple(key)}',
        ")",
        f'assert round(row["req_per_s"]["median"]) == {rate}  # req/s, as above',
    ]


def python_tuple(values: Iterable[object]) -> str:
    """A tuple's source as ruff formats it: strings in double quotes."""
    return "(" + ", ".join(json.dumps(value, ensure_ascii=False) for value in values) + ")"


def render(
    peers: Json | None, servers: Json | None, charts: Mapping[str, str], json_dir: str
) -> str:
    """The page. ``charts``: chart name -> its path relative to the page (the charts
    drawn); ``json_dir``: where the page's python block finds the JSON, from the project
    root."""
    if peers is None and servers is None:
        raise ValueError("no results to report")
    lines = [
        f"<!-- Generated by benchmarks/run_all.py from the JSON files in {json_dir}/: "
        "rerun it rather than edit this page. -->",
        "",
        "# Benchmarks",
        "",
        "dualweb against a raw hand-written callable (the floor) and its peers, Falcon, "
        "Starlette, Flask and Bottle, each serving the same small app, in-process and under "
        "real servers; and the claims made for async and sync handlers, measured on dualweb.",
        "",
        *how_to_run(peers, servers),
        *targets_section(peers, servers),
        *machine_section(peers, servers),
    ]
    if peers is not None:
        lines += inprocess_section(peers, charts)
        lines += routing_section(peers, charts)
        lines += bridges_section(peers, charts)
        lines += multipart_section(peers, charts)
    if servers is not None:
        lines += servers_section(servers, charts)
    lines += raw_figures_section(peers, servers, json_dir)
    return "\n".join(lines).rstrip("\n") + "\n"
