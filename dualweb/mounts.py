"""Apps mounted at a path prefix: WSGI apps, ASGI apps and other dualweb Apps.

``app.mount("/legacy", flask_app)`` serves every request below ``/legacy``
that no route of ``app`` takes with the mounted app, under both interfaces:

=============  =================================  ===================================
mounted app    dualweb served as WSGI             dualweb served as ASGI
=============  =================================  ===================================
WSGI           called on the worker thread        called in the App's thread pool
ASGI           a task on the worker thread's loop  a task on the server's loop
dualweb App    through its WSGI side              dispatched to it directly
=============  =================================  ===================================

The mounted app sees itself mounted (``SCRIPT_NAME`` / ``root_path`` is the
prefix) and its response goes through the outer App's middleware like any
other; see docs/mounting.md.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from asgiref.sync import iscoroutinefunction

from ._asgi import ASGISource
from ._mount_asgi import call_asgi_app, scope_from_environ, scope_from_scope
from ._mount_wsgi import WSGIInput, call_wsgi_app, environ_from_environ, environ_from_scope
from ._wsgi import WSGISource
from .requests import Request
from .websockets import upgrade_required

if TYPE_CHECKING:
    from ._types import ASGIReceive, ASGIScope, ASGISend, WSGIEnvironment
    from .app import App
    from .datastructures import Address
    from .requests import RequestSource
    from .responses import Response

#: What ``interface=`` may say a mounted app speaks.
INTERFACES = ("wsgi", "asgi")


class Mount:
    """An app mounted at ``prefix``; ``interface`` is ``"wsgi"``, ``"asgi"`` or ``"dualweb"``."""

    __slots__ = ("_raw_prefix", "app", "interface", "name", "prefix")

    def __init__(
        self, prefix: str, app: Any, *, name: str | None, interface: str, is_dualweb: bool
    ) -> None:
        if not prefix.startswith("/") and prefix != "":
            raise ValueError(f"a mount prefix must start with '/': {prefix!r}")
        if "{" in prefix or "}" in prefix:
            raise ValueError(f"a mount prefix is a plain path, without placeholders: {prefix!r}")
        #: The prefix without its trailing slash ("" for a mount at the root).
        self.prefix = prefix.rstrip("/")
        # WSGI paths are UTF-8 bytes decoded as latin-1.
        self._raw_prefix = self.prefix.encode().decode("latin-1")
        self.app = app
        self.interface = "dualweb" if is_dualweb else interface
        #: For ``url_path_for("name")`` and ``url_path_for("name:route")``.
        self.name = name

    @property
    def paths(self) -> tuple[str, ...]:
        """The route patterns that lead here: the prefix itself and all below it."""
        if not self.prefix:
            return ("/{path:path}",)
        return (self.prefix, self.prefix + "/{path:path}")

    def __repr__(self) -> str:
        return f"<Mount {self.prefix or '/'} {self.interface} {self.app!r}>"

    # -- serving HTTP --------------------------------------------------------------

    def _below(self, request: Request) -> str:
        return request.path[len(self.prefix) :]

    def respond_wsgi(self, request: Request, **_: Any) -> Response:
        """Serve the request with the mounted WSGI app (a sync endpoint)."""
        request._check_content_length()
        body = WSGIInput(request)
        source = _adapter_source(request)
        if isinstance(source, WSGISource):
            environ = environ_from_environ(source.environ, self._raw_prefix, body)
        else:
            assert isinstance(source, ASGISource)
            root_path = request.root_path + self.prefix
            environ = environ_from_scope(source.scope, root_path, self._below(request), body)
        if source is not request._source:
            _forward_to_environ(request, environ)
        app = self.app.wsgi if self.interface == "dualweb" else self.app
        return call_wsgi_app(app, environ, body, request.method == "HEAD")

    async def respond_asgi(self, request: Request, **_: Any) -> Response:
        """Serve the request with the mounted ASGI app."""
        request._check_content_length()
        source = _adapter_source(request)
        root_path = request.root_path + self.prefix
        if isinstance(source, ASGISource):
            scope = scope_from_scope(source.scope, root_path, self._below(request))
        else:
            assert isinstance(source, WSGISource)
            if "websocket" in request.headers.get("upgrade", "").lower():
                return upgrade_required("wsgi")
            headers = source.header_items()
            scope = scope_from_environ(source.environ, root_path, self._below(request), headers)
        if source is not request._source:
            _forward_to_scope(request, scope)
        return await call_asgi_app(self.app, scope, request)

    async def respond_app(self, request: Request, **_: Any) -> Response:
        """Serve the request with the mounted dualweb App."""
        if request.interface == "wsgi":
            # Through its WSGI side: a sync call that never suspends, so an
            # all-sync request of the outer App still needs no event loop.
            return self.respond_wsgi(request)
        request._check_content_length()
        child: App = self.app
        path = self._below(request) or "/"
        route, params, outcome = child._resolve(request.method, path)
        root_path = request.root_path + self.prefix
        source = _ChildSource(request)
        inner = Request(child, source, request.method, path, root_path, params, route)
        # The outer request's adapter ends the request: cleanups and tasks go there.
        inner._parent = request
        with contextlib.suppress(AttributeError):
            inner._body = request._body  # read by the outer App's middleware
        return await child._respond(inner, outcome, True)

    # -- serving WebSockets (ASGI) -------------------------------------------------------

    async def serve_websocket(
        self, scope: ASGIScope, root_path: str, path: str, receive: ASGIReceive, send: ASGISend
    ) -> None:
        """Hand a WebSocket connection to the mounted app, as it came."""
        child_root = root_path + self.prefix
        below = path[len(self.prefix) :]
        child_scope = {**scope, "root_path": child_root, "path": child_root + below}
        app = self.app.asgi if self.interface == "dualweb" else self.app
        await app(child_scope, receive, send)

    # -- reverse routing ---------------------------------------------------------------

    def url_path_for(self, name: str, params: Mapping[str, Any]) -> str:
        """``"mount"`` with ``path=``, or ``"mount:route"`` inside the mounted app."""
        _, _, inner = name.partition(":")
        if not inner:
            extra = set(params) - {"path"}
            if extra:
                raise ValueError(f"mount {self.name!r} takes only path=, got {sorted(params)}")
            path = str(params.get("path", "/"))
            if not path.startswith("/"):
                path = "/" + path
            return self.prefix + path
        app = self.app
        if self.interface == "dualweb":
            return self.prefix + str(app.url_path_for(inner, **params))
        reverse = getattr(app, "url_path_for", None)  # Starlette, FastAPI
        if reverse is not None:
            return self.prefix + str(reverse(inner, **params))
        url_map = getattr(app, "url_map", None)  # Flask (werkzeug's routing)
        if url_map is not None:
            return self.prefix + str(url_map.bind("localhost").build(inner, dict(params)))
        raise LookupError(f"the app mounted as {self.name!r} has no reverse routing")


def _adapter_source(request: Request) -> Any:
    """The interface adapter's own source under any wrapping (the proxy-header middleware's)."""
    source: Any = request._source
    while (inner := getattr(source, "inner", None)) is not None:
        source = inner
    return source


def _forward_to_environ(request: Request, environ: WSGIEnvironment) -> None:
    """Show the mounted app the client, scheme and host the proxy headers gave."""
    client = request.client
    if client is not None:
        environ["REMOTE_ADDR"] = client.host
        environ.pop("REMOTE_PORT", None)
        if client.port is not None:
            environ["REMOTE_PORT"] = str(client.port)
    environ["wsgi.url_scheme"] = request.scheme
    environ["HTTP_HOST"] = request.host


def _forward_to_scope(request: Request, scope: dict[str, Any]) -> None:
    client = request.client
    scope["client"] = None if client is None else (client.host, client.port)
    scope["scheme"] = request.scheme
    host = request.host.encode("latin-1")
    scope["headers"] = [(k, v) for k, v in scope["headers"] if k != b"host"] + [(b"host", host)]


class _ChildSource:
    """The source of a request to a mounted dualweb App (ASGI): the outer request's.

    Its body is read through the outer request, so that the limits the
    request met on its way in (the outer App's, the mount's) apply before
    the mounted App's own, as they do under WSGI.
    """

    __slots__ = ("_outer", "inner", "interface")

    def __init__(self, outer: Request) -> None:
        self._outer = outer
        #: The outer request's source (``_adapter_source`` looks through it).
        self.inner: RequestSource = outer._source
        self.interface = self.inner.interface

    def header_items(self) -> list[tuple[str, str]]:
        return self.inner.header_items()

    def query_string(self) -> str:
        return self.inner.query_string()

    def header(self, name: str) -> str | None:
        return self.inner.header(name)

    def scheme(self) -> str:
        return self.inner.scheme()

    def server(self) -> tuple[str, int | None] | None:
        return self.inner.server()

    def client(self) -> Address | None:
        return self.inner.client()

    def iter_body(self) -> Iterator[bytes]:
        return self._outer.stream()

    def aiter_body(self) -> AsyncIterator[bytes]:
        return self._outer.astream()


def detect_interface(app: Any) -> str:
    """``"asgi"`` for an app whose call is a coroutine function, else ``"wsgi"``."""
    if not callable(app):
        raise TypeError(f"cannot mount {type(app).__name__!r}: not a WSGI or ASGI app")
    call = app if iscoroutinefunction(app) else getattr(app, "__call__", None)  # noqa: B004
    return "asgi" if iscoroutinefunction(call) else "wsgi"
