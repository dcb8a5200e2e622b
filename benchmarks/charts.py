"""The benchmark report's charts: PNGs drawn with matplotlib from the raw results of
``bench_peers.py --json`` and ``bench_servers.py --json``.

Figures are made with ``matplotlib.figure.Figure`` directly, not pyplot: no global
state, no GUI backend (PNG goes through Agg), nothing left open between charts.
Every bar is a median with a min-max error bar, the spread over the rounds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogFormatter, NullFormatter

Json = dict[str, Any]

RAW = {"WSGI": "raw WSGI", "ASGI": "raw ASGI"}
COLORS = {
    "dualweb": "#d62728",
    "raw WSGI": "#7f7f7f",
    "raw ASGI": "#7f7f7f",
    "Falcon": "#1f77b4",
    "Flask": "#2ca02c",
    "Bottle": "#9467bd",
    "Starlette": "#ff7f0e",
}
BRIDGE_COLORS = {
    "direct": "#2ca02c",
    "crossing": "#d62728",
    "overhead": "#ff7f0e",
    "floor": "#7f7f7f",
}
MULTIPART_COLORS = {
    "dualweb WSGI, request.form()": "#d62728",
    "dualweb ASGI, await aform()": "#9467bd",
}
OTHER_COLORS = ("#8c564b", "#e377c2", "#17becf", "#bcbd22")
#: The in-process chart's endpoints (at 10 routes), as labelled.
ENDPOINTS = {
    "plaintext": "plaintext",
    "json": "JSON",
    "users": "/users/42",
    "echo": "JSON echo",
    "form": "form",
    "upload": "upload",
}
DPI = 110
NO_LEGEND = "_nolegend_"  # matplotlib leaves labels starting with "_" out of legends


@dataclass(frozen=True)
class Bar:
    """One bar: a median and its min-max spread (``None``: no error bar)."""

    label: str
    median: float
    low: float | None = None
    high: float | None = None


def bar_of(label: str, summary: Mapping[str, Any]) -> Bar | None:
    if summary.get("median") is None:
        return None
    return Bar(label, summary["median"], summary["min"], summary["max"])


def color(label: str, palette: Mapping[str, str] = COLORS) -> str:
    if label in palette:
        return palette[label]
    # A contender of no fixed colour still gets the same one in every chart.
    return OTHER_COLORS[sum(map(ord, label)) % len(OTHER_COLORS)]


def plain_log_scale(axes: Axes, axis: str = "y") -> None:
    """A log scale labelled 1, 10, 100 (and 2, 5 within a decade), not 10^0, 10^1."""
    scale = axes.yaxis if axis == "y" else axes.xaxis
    (axes.set_yscale if axis == "y" else axes.set_xscale)("log")
    scale.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,g}"))
    scale.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(1, 0.4)))


def grouped_bars(
    axes: Axes,
    groups: Sequence[tuple[str, Sequence[Bar]]],
    floors: Sequence[float | None] = (),
    floor_label: str = "raw callable (floor)",
    palette: Mapping[str, str] = COLORS,
) -> None:
    """Bars side by side per group, each group only as wide as its bars; a floor, if
    given, is a black line across its group."""
    width = 0.8 / max((len(bars) for _, bars in groups), default=1)
    seen: set[str] = set()
    for index, (_, bars) in enumerate(groups):
        start = index - width * (len(bars) - 1) / 2
        for offset, bar in enumerate(bars):
            x = start + offset * width
            error = None
            if bar.low is not None and bar.high is not None:
                error = [[bar.median - bar.low], [bar.high - bar.median]]
            axes.bar(
                x,
                bar.median,
                width,
                yerr=error,
                capsize=2,
                color=color(bar.label, palette),
                label=NO_LEGEND if bar.label in seen else bar.label,
            )
            seen.add(bar.label)
        floor = floors[index] if index < len(floors) else None
        if floor is not None:
            half = width * len(bars) / 2 + width * 0.2
            axes.hlines(
                floor,
                index - half,
                index + half,
                colors="black",
                linewidth=1.5,
                label=NO_LEGEND if floor_label in seen else floor_label,
            )
            seen.add(floor_label)
    axes.set_xticks(range(len(groups)), [name for name, _ in groups])
    axes.grid(axis="y", alpha=0.3)
    axes.set_axisbelow(True)


# -- in-process (bench_peers) -----------------------------------------------------------------


def inprocess(peers: Json, interface: str) -> Figure | None:
    rows = {
        (row["endpoint"], row["contender"]): row
        for row in peers["requests"]
        if row["interface"] == interface and row["routes"] == 10
    }
    names = [name for name in dict.fromkeys(c for _, c in rows) if name != RAW[interface]]
    groups, floors = [], []
    for endpoint, label in ENDPOINTS.items():
        bars = [
            bar
            for name in names
            if (endpoint, name) in rows and (bar := bar_of(name, rows[endpoint, name]))
        ]
        if bars:
            groups.append((label, bars))
            raw = rows.get((endpoint, RAW[interface]))
            floors.append(None if raw is None else raw["median"])
    if not groups:
        return None
    figure = Figure(figsize=(10, 4.5), layout="constrained")
    axes = figure.subplots()
    grouped_bars(axes, groups, floors, f"{RAW[interface]} (floor)")
    plain_log_scale(axes)
    axes.set_ylabel("µs per request (log scale)")
    axes.set_title(f"In-process, {interface}: µs per request, lower is better")
    axes.legend(fontsize="small", ncols=3)
    return figure


def routing(peers: Json) -> Figure | None:
    growth = peers["routing_growth"]
    if not growth:
        return None
    interfaces = list(dict.fromkeys(row["interface"] for row in growth))
    figure = Figure(figsize=(10, 4), layout="constrained")
    for axes, interface in zip(
        figure.subplots(1, len(interfaces), squeeze=False)[0], interfaces, strict=True
    ):
        for row in growth:
            if row["interface"] != interface:
                continue
            counts = sorted(int(key.removeprefix("median_")) for key in row if key[7:].isdigit())
            values = [row[f"median_{count}"] for count in counts]
            name = row["contender"]
            axes.plot(counts, values, marker="o", color=color(name), label=name)
        plain_log_scale(axes)
        axes.set_xscale("log")
        axes.set_xticks(counts, [f"{count:,}" for count in counts])
        axes.xaxis.set_minor_formatter(NullFormatter())
        axes.set_xlabel("routes in the app")
        axes.set_ylabel("µs per request (log scale)")
        axes.set_title(f"{interface}: GET /users/42")
        axes.grid(alpha=0.3)
        axes.legend(fontsize="small")
    return figure


def bridges(peers: Json) -> Figure | None:
    found = peers["bridges"]
    if not found:
        return None
    figure = Figure(figsize=(10, 4), layout="constrained")
    for axes, bridge in zip(figure.subplots(1, len(found), squeeze=False)[0], found, strict=True):
        bars = [
            bar_of(label, bridge[key])
            for label, key in (
                ("direct", "direct_us"),
                ("crossing", "crossing_us"),
                ("overhead", "overhead_us"),
                ("floor", "floor_us"),
            )
        ]
        group = (bridge["crossing"], [bar for bar in bars if bar is not None])
        grouped_bars(axes, [group], palette=BRIDGE_COLORS)
        axes.set_ylabel("µs per request")
        axes.set_title(
            f"{bridge['interface']}: overhead / floor = {bridge['ratio_to_floor']:.2f}"
            f" (target ≤ {bridge['limit']:g})"
        )
        axes.legend(fontsize="small")
    return figure


def multipart(peers: Json) -> Figure | None:
    found = [row for row in peers["multipart"] if row["contender"].startswith("dualweb")]
    if not found:
        return None
    bodies = list(dict.fromkeys(row["body"] for row in found))
    groups = [
        (body, [Bar(plain(row["contender"]), row["ratio_to_parser"]) for row in rows])
        for body in bodies
        if (rows := [row for row in found if row["body"] == body])
    ]
    figure = Figure(figsize=(8, 4), layout="constrained")
    axes = figure.subplots()
    grouped_bars(axes, groups, palette=MULTIPART_COLORS)
    axes.axhline(0.8, color="black", linestyle="--", linewidth=1, label="target: 0.8")
    axes.set_ylabel("throughput / the parser alone's")
    axes.set_title("Multipart parsing: dualweb's throughput over the push parser's")
    axes.legend(fontsize="small")
    return figure


# -- under real servers (bench_servers) -------------------------------------------------------


def servers(found: Json) -> Figure | None:
    rows = [row for row in found["http"] if row["section"] == "throughput"]
    jobs = list(dict.fromkeys(row["job"] for row in rows))
    if not jobs:
        return None
    figure = Figure(figsize=(10, 3.5 * len(jobs)), layout="constrained")
    for axes, job in zip(figure.subplots(len(jobs), 1, squeeze=False)[:, 0], jobs, strict=True):
        mine = [row for row in rows if row["job"] == job]
        groups = []
        for server in dict.fromkeys(row["server"] for row in mine):
            bars = [
                bar_of(row["contender"], row["req_per_s"])
                for row in mine
                if row["server"] == server
            ]
            groups.append((server, [bar for bar in bars if bar is not None]))
        grouped_bars(axes, groups)
        path = mine[0]["path"]
        axes.set_ylabel("req/s")
        axes.set_title(f"GET {path}: req/s per server and contender, higher is better")
        axes.legend(fontsize="small", ncols=4)
    return figure


def claims(found: Json) -> Figure | None:
    waits = [row for row in found["http"] if row["section"] == "wait"]
    rest = {row["job"]: row for row in found["http"] if row["section"] == "claims"}
    if not waits:
        return None
    figure = Figure(figsize=(12, 4.5), layout="constrained")
    first, second, third = figure.subplots(1, 3, width_ratios=(3, 1.2, 1.8))
    groups = [
        (wait_label(row), [bar])
        for row in waits
        if (bar := bar_of(row["contender"], row["req_per_s"])) is not None
    ]
    grouped_bars(first, groups)
    connections = waits[0]["connections"]
    ceiling = first.axhline(connections * 10, color="black", linestyle="--", linewidth=1)
    first.legend([ceiling], [f"ceiling: {connections} \u00d7 10 req/s"], fontsize="small")
    first.set_ylabel("req/s")
    first.set_title(f"GET /wait (100 ms), {connections} connections")
    first.tick_params(axis="x", labelsize="small")
    sequential = {"sequential": "one after\nanother", "gathered": "gather"}
    small_bars(second, rest, sequential, "req_per_s")
    second.set_ylabel("req/s")
    second.set_title("three 100 ms awaits")
    loads = {"fast alone": "alone", "fast, async CPU load": "async def\nCPU-bound"}
    loads["fast, sync CPU load"] = "def\nCPU-bound"
    small_bars(third, rest, loads, "p50_ms")
    plain_log_scale(third)
    third.set_ylabel("p50 ms (log scale)")
    third.set_title("GET /fast next to CPU-bound work")
    return figure


def plain(label: str) -> str:
    """A Markdown label without its backticks."""
    return label.replace("`", "")


def wait_label(row: Json) -> str:
    """The handler and server of a 100 ms-wait run, for an axis."""
    if row["app"].endswith(":raw_asgi"):
        handler = "raw ASGI"
    else:
        handler = "dualweb async" if row["app"].endswith("_asgi") else "dualweb def"
    server = row["server"].replace("gunicorn ", "gunicorn\n")
    return f"{handler}\n{server}"


def small_bars(axes: Axes, rows: Mapping[str, Json], shown: Mapping[str, str], key: str) -> None:
    groups = [
        (text, [bar])
        for job, text in shown.items()
        if job in rows and (bar := bar_of("dualweb", rows[job][key])) is not None
    ]
    grouped_bars(axes, groups)


# -- all of them ------------------------------------------------------------------------------

CHARTS: dict[str, tuple[str, Callable[[Json], Figure | None]]] = {
    "inprocess-wsgi": ("peers", lambda peers: inprocess(peers, "WSGI")),
    "inprocess-asgi": ("peers", lambda peers: inprocess(peers, "ASGI")),
    "routing": ("peers", routing),
    "bridges": ("peers", bridges),
    "multipart": ("peers", multipart),
    "servers": ("servers", servers),
    "claims": ("servers", claims),
}


def draw_all(results: Mapping[str, Json | None], directory: Path) -> dict[str, Path]:
    """Draw every chart whose results are there into ``directory``; chart name -> file."""
    drawn = {}
    for name, (source, draw) in CHARTS.items():
        found = results.get(source)
        figure = None if found is None else draw(found)
        if found is not None and figure is not None:
            if found["settings"].get("quick"):
                figure.suptitle("a --quick run: rough figures", color="gray", fontsize="small")
            path = directory / f"{name}.png"
            figure.savefig(path, dpi=DPI)
            drawn[name] = path
    return drawn
