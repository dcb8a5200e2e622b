"""WebSockets under real servers: echo round trips per second, memory per idle connection.

Run from the project root (starts its own servers on 127.0.0.1)::

    python benchmarks/bench_websockets.py            # 9 rounds of 5,000 round trips; 1,000 sockets
    python benchmarks/bench_websockets.py --quick    # tiny: checks that it runs

The servers run ``tests/server_apps/websockets_app.py``: ``app`` (dualweb,
the ``/echo`` route: ``async for message in ws: await ws.send_text(message)``)
and ``raw_app``, a hand-written ASGI echo app (the floor: the server's own
cost and the client's), each under uvicorn and gunicorn's ASGI worker
(``-k asgi``), one worker.

(a) **Round trips**: one connection per contender; the client sends a
16-byte text message and waits for its echo, ``--messages`` times per batch.
Contenders are interleaved in rounds; reported: the median rate, the spread,
and dualweb's time per round trip over raw's on the same server.

(b) **Idle connections**: a fresh server per contender and round; after a
warm-up, ``VmRSS`` is read from ``/proc/<pid>/status`` and the peak reset
(``/proc/<pid>/clear_refs``); then ``--connections`` sockets are opened, each
exchanges one message (so its handler is past ``accept()`` and waiting in
``receive``), and ``VmRSS`` and ``VmHWM`` are read again. For gunicorn the
measured process is the worker.

The client is the ``websockets`` package (asyncio, no compression, no
keepalive pings), in this process: its cost is in every row alike.
"""

from __future__ import annotations

import asyncio
import os
import resource
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from _common import machine_info, parse_counts
from _servers import HOST, Server, reset_peak, start, status_kib, stop, uvicorn_picks, version
from websockets.asyncio.client import ClientConnection, connect

MODULE = "tests.server_apps.websockets_app"
APPS = {"dualweb": f"{MODULE}:app", "raw ASGI": f"{MODULE}:raw_app"}
MESSAGE = "0123456789abcdef"
DASH, TIMES, MINUS = "\u2013", "\u00d7", "\u2212"  # for the tables
OPEN_BATCH = 100  # sockets opened at once in (b)

SERVERS: dict[str, list[str]] = {
    "uvicorn": ["uvicorn", "--host", HOST, "--port", "{port}", "--log-level", "warning"],
    "gunicorn -k asgi": [
        *("gunicorn", "--bind", f"{HOST}:{{port}}", "--workers", "1", "-k", "asgi"),
        *("--no-control-socket", "--log-level", "warning"),
    ],
}


# -- servers --------------------------------------------------------------------------


def raise_open_file_limit(needed: int) -> None:
    """Raise this process's soft RLIMIT_NOFILE (the servers inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        wanted = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        if wanted < needed:
            raise SystemExit(f"the open-file limit is {hard}; {needed} are needed")


# -- the client ---------------------------------------------------------------------------


async def open_socket(server: Server, path: str = "/echo") -> ClientConnection:
    return await connect(
        f"ws://{HOST}:{server.port}{path}",
        proxy=None,
        compression=None,
        ping_interval=None,
        open_timeout=30,
    )


async def round_trips(ws: ClientConnection, count: int) -> float:
    """``count`` echo round trips; the elapsed seconds."""
    started = time.perf_counter()
    for _ in range(count):
        await ws.send(MESSAGE)
        if await ws.recv() != MESSAGE:
            raise SystemExit("the echo differs from the message")
    return time.perf_counter() - started


@dataclass
class Rates:
    server: str
    app: str
    seconds: list[float] = field(default_factory=list)  # per batch


async def measure_round_trips(
    servers: dict[tuple[str, str], Server], messages: int, rounds: int
) -> list[Rates]:
    results = {key: Rates(*key) for key in servers}
    sockets = {key: await open_socket(server) for key, server in servers.items()}
    try:
        for ws in sockets.values():  # warm-up: imports, first-message paths
            await round_trips(ws, max(messages // 10, 10))
        for number in range(1, rounds + 1):
            print(f"round trips: round {number}/{rounds}", file=sys.stderr)
            for key, ws in sockets.items():
                results[key].seconds.append(await round_trips(ws, messages))
    finally:
        for ws in sockets.values():
            await ws.close()
    return list(results.values())


@dataclass
class Memory:
    server: str
    app: str
    before: list[int] = field(default_factory=list)  # KiB, VmRSS
    after: list[int] = field(default_factory=list)  # KiB, VmRSS with the sockets open
    peak: list[int | None] = field(default_factory=list)  # KiB, VmHWM


async def hold_idle_sockets(server: Server, count: int, memory: Memory) -> None:
    pid = server.measured_pid()
    warm = await open_socket(server)
    await round_trips(warm, 10)
    await warm.close()
    await asyncio.sleep(0.5)  # let the closed connection's resources go
    resettable = reset_peak(pid)
    before = status_kib(pid, "VmRSS")
    sockets: list[ClientConnection] = []
    try:
        for start_at in range(0, count, OPEN_BATCH):
            batch = min(OPEN_BATCH, count - start_at)
            sockets += await asyncio.gather(*(open_socket(server) for _ in range(batch)))
        # One message each: every handler is past accept() and back in receive.
        await asyncio.gather(*(round_trips(ws, 1) for ws in sockets))
        await asyncio.sleep(0.5)
        memory.before.append(before)
        memory.after.append(status_kib(pid, "VmRSS"))
        memory.peak.append(status_kib(pid, "VmHWM") if resettable else None)
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


# -- main ------------------------------------------------------------------------------------


# --flag: (with --quick, default, help)
COUNTS = {
    "--messages": (200, 5_000, "round trips per batch"),
    "--connections": (20, 1_000, "idle sockets in (b)"),
    "--rounds": (1, 9, "rounds of (a) (default 9)"),
}
QUICK_HELP = "tiny sizes: checks that it runs"


def main(argv: list[str] | None = None) -> None:
    counts, quick = parse_counts(__doc__, QUICK_HELP, COUNTS, argv)
    messages, connections, rounds = counts["messages"], counts["connections"], counts["rounds"]
    memory_rounds = 1 if quick else 3
    # Both ends of each socket live on this machine: the client's fds here,
    # the server's in the child, which inherits the limit.
    raise_open_file_limit(connections + 256)
    load_before = os.getloadavg()

    with tempfile.TemporaryDirectory() as logs:
        log_dir = Path(logs)
        servers: dict[tuple[str, str], Server] = {}
        try:
            for name in SERVERS:
                for label, app in APPS.items():
                    servers[(name, label)] = start(name, SERVERS[name], app, log_dir)
            rates = asyncio.run(measure_round_trips(servers, messages, rounds))
        finally:
            for server in servers.values():
                stop(server)

        memories = {key: Memory(*key) for key in servers}
        for number in range(1, memory_rounds + 1):
            print(f"idle sockets: round {number}/{memory_rounds}", file=sys.stderr)
            for (name, label), memory in memories.items():
                server = start(name, SERVERS[name], APPS[label], log_dir)
                try:
                    asyncio.run(hold_idle_sockets(server, connections, memory))
                finally:
                    stop(server)

    report(rates, list(memories.values()), messages, connections, rounds, memory_rounds)
    print()
    arguments = sys.argv[1:] if argv is None else argv
    print("Run: " + " ".join(["python benchmarks/bench_websockets.py", *arguments]))
    print()
    print("\n".join([*machine_info(load_before), *server_info()]))


def report(
    rates: list[Rates],
    memories: list[Memory],
    messages: int,
    connections: int,
    rounds: int,
    memory_rounds: int,
) -> None:
    print(
        f"(a) Echo round trips over one connection, {len(MESSAGE)}-byte text messages, "
        f"{messages:,} per batch, {rounds} round(s)."
    )
    print()
    print(
        f"| server | app | median round trips/s | min{DASH}max | µs per round trip "
        f"| {TIMES} raw | µs over raw |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    floors = {r.server: statistics.median(r.seconds) for r in rates if r.app == "raw ASGI"}
    for result in rates:
        per_batch = statistics.median(result.seconds)
        floor = floors[result.server]
        slowest, fastest = messages / max(result.seconds), messages / min(result.seconds)
        print(
            f"| {result.server} | {result.app} | {messages / per_batch:,.0f} "
            f"| {slowest:,.0f}{DASH}{fastest:,.0f} | {per_batch / messages * 1e6:.1f} "
            f"| {per_batch / floor:.2f}{TIMES} | {(per_batch - floor) / messages * 1e6:+.1f} |"
        )
    print()
    print(
        f"{TIMES} raw: the median time per round trip over the raw ASGI app's on the same "
        "server, in the same run; µs over raw: their difference, dualweb's own cost of one "
        "received and one sent message. Both include the client's work, the same for every row."
    )
    print()
    print(
        f"(b) Server process memory with {connections:,} idle WebSockets open "
        f"(median of {memory_rounds} fresh server(s) per row)."
    )
    print()
    print(
        "| server | app | VmRSS before, MiB | VmRSS with the sockets, MiB | "
        "peak (VmHWM), MiB | KiB per connection | KiB over raw |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    per_connection = {
        (m.server, m.app): statistics.median(
            (after - before) / connections for after, before in zip(m.after, m.before, strict=True)
        )
        for m in memories
    }
    for memory in memories:
        peaks = [peak for peak in memory.peak if peak is not None]
        peak = f"{statistics.median(peaks) / 1024:.1f}" if peaks else "n/a"
        cost = per_connection[(memory.server, memory.app)]
        over = cost - per_connection[(memory.server, "raw ASGI")]
        print(
            f"| {memory.server} | {memory.app} | {statistics.median(memory.before) / 1024:.1f} "
            f"| {statistics.median(memory.after) / 1024:.1f} | {peak} | {cost:.1f} "
            f"| {over:+.1f} |"
        )
    print()
    print(
        f"KiB per connection: (VmRSS with the sockets open {MINUS} VmRSS before) / connections, "
        "the median over the fresh servers. It holds the server's own per-connection state "
        "(protocol object, buffers, task) and, in the dualweb rows, dualweb's (the WebSocket "
        "object, the handler's coroutine); KiB over raw is dualweb's share."
    )


def server_info() -> list[str]:
    http, loop = uvicorn_picks()
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return [
        f"- uvicorn {version('uvicorn')} (WebSockets: websockets-sansio, HTTP: {http}, "
        f"loop: {loop}); gunicorn {version('gunicorn')} (`-k asgi`, its own WebSocket code); "
        f"client: websockets {version('websockets')}",
        f"- RLIMIT_NOFILE soft limit: {soft}",
    ]


if __name__ == "__main__":
    main()
