"""The ``dualweb`` command: serve an App with a real server, or list its routes.

``dualweb run MODULE:APP`` checks that ``MODULE:APP`` names a dualweb App in
this process, so that a typo gives one clear line rather than a server's
traceback, then hands over to the server's own entry point (``uvicorn.run``,
or gunicorn's command line through ``exec``): the server behaves exactly as
when started by hand. ``dualweb routes MODULE:APP`` prints the route table.
See docs/cli.md.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from . import __version__
from .app import App
from .mounts import Mount
from .routing import Route

#: What ``--server`` takes, and what each is.
SERVERS = {
    "uvicorn": "uvicorn, serving the App as ASGI (the default)",
    "gunicorn": "gunicorn's sync worker, serving the App as WSGI",
    "gunicorn-asgi": "gunicorn's own ASGI worker (gunicorn -k asgi)",
}

#: The labels ``routes`` gives a mounted app, by ``Mount.interface``.
_MOUNT_KINDS = {"wsgi": "WSGI", "asgi": "ASGI", "dualweb": "dualweb App"}


class CLIError(Exception):
    """A mistake on the command line: reported in one line, exit status 2."""


# -- finding the App ---------------------------------------------------------------------


def load_app(target: str) -> App:
    """Import ``MODULE:APP`` (APP may be dotted: ``module:holder.app``) and return the App."""
    module_name, colon, attribute = target.partition(":")
    if not colon or not module_name or not attribute:
        raise CLIError(f"expected MODULE:APP (like examples.hello:app), got {target!r}")
    # Servers import from the current directory; so must we, also when run
    # as the ``dualweb`` script, whose own directory is sys.path[0] instead.
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        # Only import errors are the command line's fault (a wrong name, a
        # missing dependency); any other error in the module keeps its
        # traceback, which points at the line to fix.
        raise CLIError(f"cannot import module {module_name!r}: {exc}") from None
    found: Any = module
    for part in attribute.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise CLIError(f"module {module_name!r} has no attribute {attribute!r}") from None
    if not isinstance(found, App):
        # Serving with every server, and listing routes, needs the App itself
        # (not a plain WSGI or ASGI callable, nor an App wrapped in one).
        kind = type(found).__name__
        raise CLIError(f"{target} is not a dualweb App but a {kind!r} object")
    return found


# -- dualweb run -------------------------------------------------------------------------


def require_server(server: str) -> None:
    """Fail with one line when the package ``server`` needs is missing or too old."""
    package = "uvicorn" if server == "uvicorn" else "gunicorn"
    try:
        module = importlib.import_module(package)
    except ImportError:
        raise CLIError(f"{package} is not installed: pip install {package}") from None
    if server == "gunicorn-asgi":
        workers = importlib.import_module("gunicorn.workers")
        if "asgi" not in workers.SUPPORTED_WORKERS:
            version = getattr(module, "__version__", "?")
            raise CLIError(
                f"gunicorn {version} has no ASGI worker (-k asgi): pip install -U gunicorn"
            )


def gunicorn_argv(args: argparse.Namespace) -> list[str]:
    """gunicorn's own command line for these options (run as ``python -m gunicorn``)."""
    argv = [sys.executable, "-m", "gunicorn"]
    argv += ["--bind", f"{_bind_host(args.host)}:{args.port}", "--workers", str(args.workers)]
    if args.server == "gunicorn-asgi":
        argv += ["--worker-class", "asgi"]
    if args.reload:
        argv.append("--reload")
    return [*argv, args.app]


def _bind_host(host: str) -> str:
    # gunicorn's --bind takes IPv6 addresses in brackets: [::1]:8000.
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def serve_uvicorn(args: argparse.Namespace) -> None:
    import uvicorn

    # The import string, not the object: uvicorn needs it to reload or to
    # start several workers (it finds the module already imported otherwise).
    uvicorn.run(
        args.app,
        host=args.host,
        port=args.port,
        workers=args.workers,
        reload=args.reload,
        interface="asgi3",
    )


def serve_gunicorn(args: argparse.Namespace) -> None:
    # exec, not a child process: gunicorn takes this PID, its signals and its
    # exit status, as if it had been started by hand.
    argv = gunicorn_argv(args)
    os.execv(argv[0], argv)


def run(args: argparse.Namespace) -> int:
    load_app(args.app)
    require_server(args.server)
    if args.server == "uvicorn":
        serve_uvicorn(args)
    else:
        serve_gunicorn(args)
    return 0


# -- dualweb routes ----------------------------------------------------------------------


@dataclass
class RouteRow:
    """One line of the route table."""

    methods: str
    path: str
    name: str
    handler: str
    kind: str
    depth: int = 0


def route_rows(app: App, prefix: str = "", depth: int = 0) -> Iterator[RouteRow]:
    """The rows for ``app``'s routes, WebSocket routes and mounts, sorted by path.

    The routes of a mounted dualweb App follow its mount, with their full
    path and one more level of depth.
    """
    # (path, order, route); at one path: HTTP route (0), WebSocket route (1), mount (2).
    entries: list[tuple[str, int, Route]] = []
    seen_mounts: set[int] = set()
    for route in app.router.routes:
        if route.mount is None:
            entries.append((route.path, 0, route))
        elif id(route.mount) not in seen_mounts:  # a mount has two routes: /prefix and below
            seen_mounts.add(id(route.mount))
            entries.append((route.mount.prefix or "/", 2, route))
    # The WebSocket routes of a mount are the mount's again: left out.
    entries += [(r.path, 1, r) for r in app.websocket_router.routes if r.mount is None]
    entries.sort(key=lambda entry: entry[:2])
    for path, order, route in entries:
        if order == 2:
            yield from _mount_rows(route.mount, prefix, depth)
        else:
            yield _route_row(route, prefix + path, depth, websocket=order == 1)


def _route_row(route: Route, path: str, depth: int, *, websocket: bool) -> RouteRow:
    if websocket:
        return RouteRow("WS", path, route.name, qualified_name(route.endpoint), "websocket", depth)
    # Sorted, with GET first: the usual reading order (GET,POST rather than POST,GET).
    methods = ",".join(sorted(route.methods, key=lambda method: (method != "GET", method)))
    kind = "async" if route.is_async else "sync"
    return RouteRow(methods, path, route.name, qualified_name(route.endpoint), kind, depth)


def _mount_rows(mount: Mount, prefix: str, depth: int) -> Iterator[RouteRow]:
    path = prefix + mount.prefix
    kind = f"mount ({_MOUNT_KINDS[mount.interface]})"
    yield RouteRow("*", path or "/", mount.name or "", qualified_name(mount.app), kind, depth)
    if mount.interface == "dualweb":
        yield from route_rows(mount.app, path, depth + 1)


def qualified_name(obj: object) -> str:
    """``module.qualname`` of a function or class, or of the class of anything else."""
    named: Any = obj if hasattr(obj, "__qualname__") else type(obj)
    module = getattr(named, "__module__", None)
    return f"{module}.{named.__qualname__}" if module else str(named.__qualname__)


_HEADER = RouteRow("METHODS", "PATH", "NAME", "HANDLER", "KIND")


def route_table(app: App) -> str:
    """The route table of ``app`` as aligned text columns (what ``dualweb routes`` prints)."""
    rows = [_HEADER, *route_rows(app)]
    cells = [
        [row.methods, "  " * row.depth + row.path, row.name, row.handler, row.kind] for row in rows
    ]
    # Every column but the last padded to its widest cell.
    widths = [max(len(line[column]) for line in cells) for column in range(len(cells[0]) - 1)]
    lines = []
    for *padded, last in cells:
        lines.append("  ".join([*map(str.ljust, padded, widths), last]))
    return "\n".join(lines) + "\n"


def routes(args: argparse.Namespace) -> int:
    sys.stdout.write(route_table(load_app(args.app)))
    return 0


# -- the command line --------------------------------------------------------------------


def _port(text: str) -> int:
    port = _integer(text)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"not a port number (0-65535): {text!r}")
    return port


def _positive(text: str) -> int:
    number = _integer(text)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more: {text!r}")
    return number


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dualweb",
        description="Serve a dualweb App with a WSGI or ASGI server, or list its routes.",
    )
    parser.add_argument("--version", action="version", version=f"dualweb {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    serve = commands.add_parser(
        "run",
        help="serve MODULE:APP with uvicorn or gunicorn",
        description="Serve the App named MODULE:APP (imported from the current directory).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="servers:\n" + "\n".join(f"  {name:14} {text}" for name, text in SERVERS.items()),
    )
    serve.add_argument("app", metavar="MODULE:APP", help="the App, like examples.hello:app")
    serve.add_argument("--server", choices=list(SERVERS), default="uvicorn", help="see below")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8000, help="port to listen on (8000)")
    serve.add_argument("--workers", type=_positive, default=1, help="worker processes (1)")
    serve.add_argument(
        "--reload", action="store_true", help="restart when the code changes (development)"
    )
    serve.set_defaults(command=run)

    listing = commands.add_parser(
        "routes",
        help="print the route table of MODULE:APP",
        description="Print the routes, WebSocket routes and mounts of the App named MODULE:APP.",
    )
    listing.add_argument("app", metavar="MODULE:APP", help="the App, like examples.hello:app")
    listing.set_defaults(command=routes)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``dualweb`` command with ``argv`` (default: ``sys.argv[1:]``); the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    command: Callable[[argparse.Namespace], int] = args.command
    try:
        return command(args)
    except CLIError as exc:
        # argparse's own format and status for usage errors, without the usage.
        sys.stderr.write(f"{parser.prog}: error: {exc}\n")
        return 2
