"""The 500 response of ``App(debug=True)``: the traceback and the request, for a developer.

A browser (``Accept: text/html``) gets an HTML page; any other client the
plain-text traceback. Never used without ``debug``: the page shows code,
local paths and request data to whoever sent the request.
"""

from __future__ import annotations

import html
import os
import site
import sysconfig
import traceback
from typing import TYPE_CHECKING

from .responses import HTMLResponse, PlainTextResponse, Response

if TYPE_CHECKING:
    from .requests import Request

# Credentials stay hidden even here: a debug page ends up in screenshots
# and screen shares.
HIDDEN_HEADERS = frozenset(("authorization", "cookie", "proxy-authorization", "x-api-key"))
HIDDEN = "[hidden]"

_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 0; color: #1f2328; }
header { background: #b42318; color: #fff; padding: 16px 24px; }
header h1 { font-size: 20px; margin: 0 0 4px; }
header p { margin: 0; font-family: ui-monospace, monospace; white-space: pre-wrap; }
main { padding: 8px 24px 24px; }
h2 { font-size: 16px; margin: 24px 0 8px; }
ol { padding: 0; list-style: none; }
li { border: 1px solid #d0d7de; border-radius: 6px; margin: 0 0 8px; padding: 8px 12px; }
.where { color: #57606a; font-size: 13px; }
li.library { opacity: 0.55; }
pre { margin: 4px 0 0; font: 13px ui-monospace, monospace; white-space: pre-wrap; }
table { border-collapse: collapse; font: 13px ui-monospace, monospace; }
th, td { text-align: left; vertical-align: top; padding: 2px 16px 2px 0; }
th { color: #57606a; font-weight: normal; }
"""


def debug_response(exc: BaseException, request: Request | None) -> Response:
    """The 500 for ``exc``: an HTML page for a browser, else the plain traceback."""
    if request is None or "text/html" not in (request.headers.get("accept") or ""):
        return PlainTextResponse("".join(traceback.format_exception(exc)), 500)
    return HTMLResponse(render_page(exc, request), 500)


def render_page(exc: BaseException, request: Request) -> str:
    """The HTML debug page: the exception chain, innermost call last, then the request."""
    summary = f"{type(exc).__qualname__}: {exc}" if str(exc) else type(exc).__qualname__
    sections = [_exception_section(each) for each in _chain(exc)]
    return (
        "<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>500 {_e(summary)}</title><style>{_STYLE}</style></head><body>"
        f"<header><h1>500 Internal Server Error</h1><p>{_e(summary)}</p></header><main>"
        + "".join(sections)
        + _request_section(request)
        + "</main></body></html>\n"
    )


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and the exceptions it was raised from or during, the first raised first."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        if current.__cause__ is not None:
            current = current.__cause__
        elif not current.__suppress_context__:
            current = current.__context__
        else:
            current = None
    return chain[::-1]


def _exception_section(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    items = "".join(
        f"<li{_LIBRARY if _is_library(frame.filename) else ''}>"
        f"<div class='where'>{_e(frame.filename)}, line {frame.lineno}, "
        f"in <b>{_e(frame.name)}</b></div><pre>{_e(frame.line or '')}</pre></li>"
        for frame in frames
    )
    title = "".join(traceback.format_exception_only(exc)).strip()
    return f"<h2>{_e(title)}</h2><ol>{items}</ol>"


_LIBRARY = " class='library'"
# Frames in these directories are dualweb's, the standard library's or an
# installed package's: shown dimmed, so the app's own frames stand out.
_LIBRARY_DIRS = tuple(
    {os.path.dirname(__file__), sysconfig.get_paths()["stdlib"], *site.getsitepackages()}
)


def _is_library(filename: str) -> bool:
    return filename.startswith(_LIBRARY_DIRS)


def _request_section(request: Request) -> str:
    route = request.route
    rows = [
        ("method", request.method),
        ("path", request.root_path + request.path),
        ("query string", request.query_string),
        ("interface", request.interface),
        ("route", f"{route.path} ({route.name})" if route is not None else "none"),
        ("client", _address(request)),
    ]
    headers = [
        (name, HIDDEN if name in HIDDEN_HEADERS else value)
        for name, value in request.headers.multi_items()
    ]
    return f"<h2>Request</h2>{_table(rows)}<h2>Headers</h2>{_table(headers)}"


def _address(request: Request) -> str:
    client = request.client
    if client is None:
        return "unknown"
    return client.host if client.port is None else f"{client.host}:{client.port}"


def _table(rows: list[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{_e(name)}</th><td>{_e(value)}</td></tr>" for name, value in rows)
    return f"<table>{body}</table>"


def _e(text: str) -> str:
    return html.escape(text, quote=True)
