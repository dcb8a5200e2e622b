"""Upload speed and server memory: one large multipart upload to real servers.

Run from the project root (starts its own servers on 127.0.0.1)::

    python benchmarks/bench_upload.py                  # 200 MB, 5 rounds
    python benchmarks/bench_upload.py --size-mb 500 --rounds 9
    python benchmarks/bench_upload.py --quick          # 4 MB, 1 round: checks it works

uvicorn (ASGI) and gunicorn's sync worker (WSGI) serve
``tests/server_apps/upload.py``, whose upload routes raise ``max_body_size``
and ``max_file_size`` to 300 MB and answer with the received file's size. The
client streams a ``multipart/form-data`` body with one file of ``--size-mb``
MB (10^6 bytes) from a generator over http.client, with a computed
Content-Length: the body is never built in memory on either side.

Contenders, interleaved in rounds (each round uploads once to each):

* per server, ``async def`` + ``await request.aform()``, ``def`` +
  ``request.form()``, and a route that reads the body with ``stream()`` /
  ``astream()`` without parsing it: the server's own ceiling;
* dualweb in-process: ``request.form()`` under WSGI, fed 64 KiB chunks from
  memory (no socket, no server): the parsing and spooling alone;
* the multipart package's ``PushMultipartParser`` alone, in-process, on the
  same body in the same 64 KiB chunks, events consumed and dropped: the
  floor that dualweb's parsing builds on.

For each server upload, the server process's peak RSS increase is measured:
its peak RSS is reset (``/proc/<pid>/clear_refs``), its ``VmRSS`` read before
the upload, its ``VmHWM`` (peak) after. For gunicorn the process is the
worker, the master's child. Uploaded files past ``app.spool_threshold`` (1 MiB)
go to a temporary file, so the increase stays small whatever the size.
"""

from __future__ import annotations

import http.client
import importlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import machine_info, parse_counts, start_response
from _servers import (
    HOST,
    ROOT,
    Server,
    reset_peak,
    start,
    status_kib,
    stop,
    uvicorn_picks,
    version,
)

from dualweb._multipart import multipart

APP = "tests.server_apps.upload:app"
MB = 1_000_000
BOUNDARY = "----dualwebBenchBoundary7MA4YWxkTrZu0gW"
CHUNK = 64 * 1024  # what the in-process contenders are fed per step
CLIENT_BLOCK = 1024 * 1024  # what the client sends per write
DASH = "\u2013"

SERVERS: dict[str, list[str]] = {
    "uvicorn": ["uvicorn", "--host", HOST, "--port", "{port}", "--log-level", "warning"],
    # One sync worker; a long timeout, since a sync worker does not report
    # to the master while it reads a large body.
    "gunicorn": [
        *("gunicorn", "--bind", f"{HOST}:{{port}}", "--workers", "1", "--timeout", "600"),
        *("--no-control-socket", "--log-level", "warning"),
    ],
}


# -- the body ----------------------------------------------------------------------


@dataclass
class Body:
    size: int
    head: bytes = field(init=False)
    tail: bytes = field(init=False)
    block: bytes = field(init=False)

    def __post_init__(self) -> None:
        self.head = (
            f"--{BOUNDARY}\r\n"
            'Content-Disposition: form-data; name="file"; filename="big.bin"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        self.tail = f"\r\n--{BOUNDARY}--\r\n".encode()
        # Incompressible bytes, like a real file; one block sent over and over.
        self.block = os.urandom(CLIENT_BLOCK)

    @property
    def length(self) -> int:
        return len(self.head) + self.size + len(self.tail)

    def chunks(self, chunk_size: int) -> Iterator[bytes]:
        """The body in ``chunk_size`` pieces (bytes objects made once, reused)."""
        pieces = [self.block[i : i + chunk_size] for i in range(0, len(self.block), chunk_size)]
        yield self.head
        left = self.size
        while left > 0:
            for piece in pieces:
                if left <= 0:
                    break
                yield piece if len(piece) <= left else piece[:left]
                left -= len(piece)
        yield self.tail


# -- contenders ---------------------------------------------------------------------------


@dataclass
class Result:
    label: str
    rates: list[float] = field(default_factory=list)  # MB/s
    rss: list[float] = field(default_factory=list)  # MB of peak increase


def upload(server: Server, path: str, body: Body, pid: int) -> tuple[float, float | None]:
    """One upload; (MB/s, peak RSS increase in MB or None when it cannot be reset)."""
    resettable = reset_peak(pid)
    before = status_kib(pid, "VmRSS")
    connection = http.client.HTTPConnection(HOST, server.port, timeout=600)
    headers = {
        "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
        "Content-Length": str(body.length),
    }
    started = time.perf_counter()
    connection.request("POST", path, body=body.chunks(CLIENT_BLOCK), headers=headers)
    response = connection.getresponse()
    answer = response.read()
    elapsed = time.perf_counter() - started
    connection.close()
    # The stream routes count the whole body, the upload routes the file.
    expected = body.length if path.endswith("stream") else body.size
    if response.status != 200 or json.loads(answer) != {"size": expected}:
        raise SystemExit(f"{server.name} {path}: {response.status} {answer[:200]!r}")
    peak = status_kib(pid, "VmHWM")
    increase = (peak - before) * 1024 / MB if resettable else None
    return body.size / MB / elapsed, increase


def parser_alone(body: Body) -> float:
    chunks = list(body.chunks(CHUNK)) if body.size <= 16 * MB else None
    started = time.perf_counter()
    parser = multipart.PushMultipartParser(BOUNDARY)
    for chunk in chunks if chunks is not None else body.chunks(CHUNK):
        for _event in parser.parse(chunk):
            pass
    parser.close()
    return body.size / MB / (time.perf_counter() - started)


class _Input:
    """``wsgi.input`` handing out the body's pieces, one per read."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks

    def read(self, size: int = -1) -> bytes:
        return next(self.chunks, b"")


def dualweb_in_process(app: Any, body: Body) -> float:
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/upload",
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": HOST,
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "CONTENT_TYPE": f"multipart/form-data; boundary={BOUNDARY}",
        "CONTENT_LENGTH": str(body.length),
        "wsgi.input": _Input(body.chunks(CHUNK)),
        "wsgi.url_scheme": "http",
    }
    started = time.perf_counter()
    result = app(environ, start_response)
    answer = b"".join(result)
    close: Callable[[], None] | None = getattr(result, "close", None)
    if close is not None:
        close()
    elapsed = time.perf_counter() - started
    if json.loads(answer) != {"size": body.size}:
        raise SystemExit(f"in-process: {answer[:200]!r}")
    return body.size / MB / elapsed


# -- main ------------------------------------------------------------------------------------


# --flag: (with --quick, default, help)
COUNTS = {
    "--size-mb": (4, 200, "file size (default 200)"),
    "--rounds": (1, 5, "rounds (default 5)"),
}
QUICK_HELP = "4 MB, 1 round: checks it runs"


def main(argv: list[str] | None = None) -> None:
    counts, _ = parse_counts(__doc__, QUICK_HELP, COUNTS, argv)
    size_mb, rounds = counts["size_mb"], counts["rounds"]
    load_before = os.getloadavg()
    body = Body(size_mb * MB)
    # The servers' app, for the in-process contender.
    sys.path.insert(0, str(ROOT))
    app = importlib.import_module(APP.partition(":")[0]).app

    contenders: list[tuple[str, str, str]] = []
    for name in SERVERS:
        contenders += [
            (name, "/aupload", "`async def`, `await request.aform()`"),
            (name, "/upload", "`def`, `request.form()`"),
            (name, "/astream" if name == "uvicorn" else "/stream", "body read, not parsed"),
        ]
    results = {(name, path): Result(label) for name, path, label in contenders}
    in_process = Result("dualweb in-process WSGI, `request.form()`")
    alone = Result("`PushMultipartParser` alone")

    with tempfile.TemporaryDirectory() as logs:
        servers = {name: start(name, SERVERS[name], APP, Path(logs)) for name in SERVERS}
        try:
            pids = {name: server.measured_pid() for name, server in servers.items()}
            small = Body(MB // 10)
            for name, path, _ in contenders:  # warm-up: imports, thread pool, loops
                upload(servers[name], path, small, pids[name])
            for round_number in range(1, rounds + 1):
                print(f"round {round_number}/{rounds}", file=sys.stderr)
                alone.rates.append(parser_alone(body))
                in_process.rates.append(dualweb_in_process(app, body))
                for name, path, _ in contenders:
                    rate, increase = upload(servers[name], path, body, pids[name])
                    result = results[(name, path)]
                    result.rates.append(rate)
                    if increase is not None:
                        result.rss.append(increase)
        finally:
            for server in servers.values():
                stop(server)

    print(f"Upload of one {size_mb} MB file in a multipart/form-data body, {rounds} round(s).")
    print()
    print(
        "| server | route | handler | median MB/s | min" + DASH + "max | peak RSS increase, MB |"
    )
    print("|---|---|---|---:|---:|---:|")
    for (name, path), result in results.items():
        rss = f"{max(result.rss):.1f}" if result.rss else "n/a (VmHWM not resettable)"
        print(f"| {name} | `{path}` | {result.label} | {_rates(result.rates)} | {rss} |")
    for result in (in_process, alone):
        print(f"| in-process | {DASH} | {result.label} | {_rates(result.rates)} | {DASH} |")
    print()
    print(
        "MB = 10^6 bytes. Peak RSS increase: the largest over the rounds of the "
        "serving process's VmHWM after an upload minus its VmRSS before it."
    )
    print()
    print(
        "Run: python benchmarks/bench_upload.py "
        + " ".join(sys.argv[1:] if argv is None else argv)
    )
    print()
    print("\n".join([*machine_info(load_before), *server_info()]))


def server_info() -> list[str]:
    """The servers' versions, and what uvicorn picks for HTTP parsing and the loop."""
    http, loop = uvicorn_picks()
    return [
        f"- uvicorn {version('uvicorn')} (HTTP parser: {http}, loop: {loop}); "
        f"gunicorn {version('gunicorn')} (sync worker); multipart {version('multipart')}",
        f"- temporary files in {tempfile.gettempdir()}",
    ]


def _rates(rates: list[float]) -> str:
    return f"{statistics.median(rates):,.0f} | {min(rates):,.0f}{DASH}{max(rates):,.0f}"


if __name__ == "__main__":
    main()
