"""TestClient: an httpx.Client that calls the app in-process, as WSGI or as ASGI."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal, TypeVar

import httpx

from .._types import WSGIApp
from ..app import App
from ._asgi_transport import _ASGITransport
from ._lifespan import _AppLifespan, _ASGILifespan
from ._websocket import WebSocketSession
from ._wsgi_transport import _WSGITransport

#: Which of the app's callables a TestClient calls.
Interface = Literal["wsgi", "asgi"]
_Client = TypeVar("_Client", bound="TestClient")


class TestClient(httpx.Client):
    """``TestClient(app, interface="wsgi")`` or ``interface="asgi"``.

    ``wrap_wsgi`` lets a test wrap the WSGI callable (for example in
    ``wsgiref.validate.validator``) before requests reach it.

    A dualweb App is started when the client is entered or before its first
    request, and shut down when the client closes (see docs/lifespan.md);
    ``lifespan=True`` does the same for another callable (ASGI: through the
    lifespan protocol), ``lifespan=False`` turns it off.
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        app: Any,
        interface: Interface = "wsgi",
        *,
        base_url: str = "http://testserver",
        client: tuple[str, int] = ("127.0.0.1", 50000),
        wrap_wsgi: Callable[[WSGIApp], WSGIApp] | None = None,
        lifespan: bool | None = None,
        **kwargs: Any,
    ) -> None:
        self.app = app
        self.interface = interface
        transport: httpx.BaseTransport
        if interface == "wsgi":
            wsgi_app: WSGIApp = getattr(app, "wsgi", app)
            if wrap_wsgi is not None:
                wsgi_app = wrap_wsgi(wsgi_app)
            transport = _WSGITransport(wsgi_app, client)
        elif interface == "asgi":
            transport = _ASGITransport(getattr(app, "asgi", app), client)
        else:
            raise ValueError(f"interface must be 'wsgi' or 'asgi', not {interface!r}")
        super().__init__(transport=transport, base_url=base_url, **kwargs)
        #: Run the app's lifespan: by default only for a dualweb App, not for
        #: other callables (which may not speak the ASGI lifespan protocol).
        self.lifespan = isinstance(app, App) if lifespan is None else lifespan
        self._lifespan: _AppLifespan | _ASGILifespan | None = None

    # -- the app's lifespan: started on entering or before the first request ------

    def __enter__(self: _Client) -> _Client:
        super().__enter__()
        try:
            self._start_lifespan()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        super().__exit__(exc_type, exc_value, traceback)
        self.close()  # httpx's __exit__ does not call it: the app's shutdown is there

    def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        self._start_lifespan()
        return super().send(request, **kwargs)

    def _start_lifespan(self) -> None:
        """Start the app once, as a server does before serving; raise what startup raised."""
        if self._lifespan is not None or not self.lifespan:
            return
        transport = self._transport
        if isinstance(transport, _ASGITransport):
            self._lifespan = transport.lifespan = _ASGILifespan(transport)
        else:
            self._lifespan = _AppLifespan(self.app)
        self._lifespan.startup()

    def websocket_connect(
        self,
        url: str | httpx.URL,
        subprotocols: Sequence[str] | None = None,
        *,
        headers: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
        params: Any = None,
        timeout: float | None = 10.0,
    ) -> WebSocketSession:
        """Open a WebSocket to the app (ASGI only): use it as ``with ... as ws``.

        Returns once the app accepted; raises :class:`WebSocketRejected` if
        it refused, the app's own exception if it raised first.
        ``timeout`` bounds each wait for the app (None: no bound).
        """
        transport = self._transport
        if not isinstance(transport, _ASGITransport):
            raise RuntimeError("WebSockets need the ASGI interface: TestClient(app, 'asgi')")
        self._start_lifespan()
        # build_request merges base_url, params, default headers and cookies.
        request = self.build_request("GET", url, params=params, headers=headers)
        scope = transport.websocket_scope(request, list(subprotocols or ()))
        return WebSocketSession(transport, scope, timeout)

    def close(self) -> None:
        super().close()
        transport = self._transport
        if isinstance(transport, _ASGITransport):
            transport.shutdown()  # the lifespan's shutdown included
        elif self._lifespan is not None:
            self._lifespan.shutdown()
