"""What both benchmark scripts share: realistic environ/scope builders and the report footer."""

from __future__ import annotations

import argparse
import gc
import io
import os
import platform
import sys
import time
from collections.abc import Callable
from typing import Any
from wsgiref.util import FileWrapper

import dualweb

Environ = dict[str, Any]
Scope = dict[str, Any]

BROWSER_HEADERS: list[tuple[str, str]] = [
    ("Host", "127.0.0.1:8000"),
    (
        "User-Agent",
        "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    ),
    ("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
    ("Accept-Language", "en-US,en;q=0.5"),
    ("Accept-Encoding", "gzip, deflate, br, zstd"),
    ("Connection", "keep-alive"),
    ("Upgrade-Insecure-Requests", "1"),
    ("Cache-Control", "max-age=0"),
]


def gunicorn_environ(path: str) -> Environ:
    """An environ with the keys gunicorn's sync worker sets for ``GET path``."""
    path_info, _, query = path.partition("?")
    environ: Environ = {
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.file_wrapper": FileWrapper,
        "wsgi.input_terminated": True,
        "SERVER_SOFTWARE": "gunicorn/23.0.0",
        "wsgi.input": io.BytesIO(b""),
        "gunicorn.socket": None,
        "REQUEST_METHOD": "GET",
        "QUERY_STRING": query,
        "RAW_URI": path,
        "SERVER_PROTOCOL": "HTTP/1.1",
    }
    for name, value in BROWSER_HEADERS:
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    environ.update(
        {
            "wsgi.url_scheme": "http",
            "REMOTE_ADDR": "127.0.0.1",
            "REMOTE_PORT": "54312",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "PATH_INFO": path_info,
            "SCRIPT_NAME": "",
        }
    )
    return environ


def uvicorn_scope(path: str) -> Scope:
    """A scope with the keys uvicorn's HTTP/1.1 protocols set for ``GET path``."""
    path_part, _, query = path.partition("?")
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 54312),
        "scheme": "http",
        "method": "GET",
        "root_path": "",
        "path": path_part,
        "raw_path": path_part.encode("ascii"),
        "query_string": query.encode("ascii"),
        "headers": [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in BROWSER_HEADERS
        ],
        "state": {},
    }


def ignore_write(data: bytes) -> None:  # the legacy write() callable; never used here
    pass


def start_response(
    status: str, headers: list[tuple[str, str]], exc_info: Any = None
) -> Callable[[bytes], None]:
    return ignore_write


def machine_info(load_before: tuple[float, float, float]) -> list[str]:
    def loads(values: tuple[float, float, float]) -> str:
        return ", ".join(f"{value:.2f}" for value in values)

    return [
        f"- platform: {platform.platform()} ({platform.machine()})",
        f"- python: {platform.python_implementation()} {sys.version.split()[0]}",
        f"- os.cpu_count(): {os.cpu_count()}",
        f"- os.getloadavg() (1, 5, 15 min): before {loads(load_before)}; "
        f"after {loads(os.getloadavg())}",
        f"- dualweb {dualweb.__version__}",
    ]


DEFAULT_ROUNDS = 9
QUICK_ROUNDS = 3


def parse_rounds(
    description: str | None, quick_help: str, argv: list[str] | None
) -> tuple[int, bool]:
    """Parse ``--rounds`` and ``--quick``; return (rounds, quick)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help=f"rounds of interleaved batches (default {DEFAULT_ROUNDS}, "
        f"{QUICK_ROUNDS} with --quick)",
    )
    parser.add_argument("--quick", action="store_true", help=quick_help)
    args = parser.parse_args(argv)
    rounds = args.rounds or (QUICK_ROUNDS if args.quick else DEFAULT_ROUNDS)
    if rounds < 1:
        parser.error("--rounds must be at least 1")
    return rounds, bool(args.quick)


def parse_counts(
    doc: str | None,
    quick_help: str,
    counts: dict[str, tuple[int, int, str]],
    argv: list[str] | None,
) -> tuple[dict[str, int], bool]:
    """Parse ``--quick`` and one int option per ``counts`` entry, ``flag: (quick value,
    default, help)``, described by ``doc``'s first paragraph; return ({option's dest:
    value}, quick). Each must be at least 1."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0] if doc else None)
    for flag, (_, _, help_text) in counts.items():
        parser.add_argument(flag, type=int, default=None, help=help_text)
    parser.add_argument("--quick", action="store_true", help=quick_help)
    args = parser.parse_args(argv)
    values = {}
    for flag, (quick_value, default, _) in counts.items():
        dest = flag.removeprefix("--").replace("-", "_")
        values[dest] = getattr(args, dest) or (quick_value if args.quick else default)
    if min(values.values()) < 1:
        *most, last = counts
        parser.error(f"{', '.join(most)} and {last} must be at least 1")
    return values, bool(args.quick)


def wsgi_batch(app: Callable[..., Any], environ: Environ, count: int) -> int:
    """Serve ``count`` requests with ``environ``, the collector off; the elapsed nanoseconds."""
    environs = [environ] * count
    gc.collect()
    gc.disable()
    try:
        return serve_wsgi(app, environs)
    finally:
        gc.enable()


def serve_wsgi(app: Callable[..., Any], environs: list[Environ]) -> int:
    """Serve one request per environ as a server does (iterate, close); elapsed nanoseconds."""
    start = time.perf_counter_ns()
    for environ in environs:
        result = app(environ, start_response)
        for _chunk in result:
            pass
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return time.perf_counter_ns() - start
