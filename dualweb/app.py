"""The App: route registration, error handling and the dispatch logic.

The dispatch is written once, as a coroutine (:meth:`App._respond`), and both
interface adapters run it: under ASGI it is awaited; under WSGI it is driven
without a loop when everything on the path is sync, or on the worker thread's
persistent loop when an async handler is involved (see ``_bridge``).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, overload

from asgiref.sync import iscoroutinefunction, markcoroutinefunction

from . import _asgi, _wsgi
from ._bridge import DEFAULT_THREAD_POOL_SIZE, ThreadPool
from .converters import DEFAULT_CONVERTERS, Converter
from .exceptions import HTTPException
from .requests import Request
from .responses import (
    BODILESS_STATUSES,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from .routing import MethodNotAllowed, Route, Router

if TYPE_CHECKING:
    from ._types import ASGIReceive, ASGIScope, ASGISend, StartResponse, WSGIEnvironment

logger = logging.getLogger("dualweb")

_F = TypeVar("_F", bound=Callable[..., Any])
_UNSET: Any = object()
ErrorHandler = Callable[[Request, Exception], Any]


class App:
    """A web application, served as is by WSGI and by ASGI servers.

    ``app(environ, start_response)`` is the WSGI interface and
    ``await app(scope, receive, send)`` the ASGI one; ``app.wsgi`` and
    ``app.asgi`` are the same two callables for servers that want one.
    """

    def __init__(
        self,
        *,
        debug: bool = False,
        max_body_size: int | None = 1024 * 1024,
        max_form_fields: int | None = 1000,
        thread_pool_size: int = DEFAULT_THREAD_POOL_SIZE,
        inline_sync: bool = False,
        redirect_slashes: bool = True,
    ) -> None:
        #: Show tracebacks in 500 responses. Never in production.
        self.debug = debug
        #: Largest request body read into memory or streamed, in bytes (None: no limit).
        self.max_body_size = max_body_size
        #: Most fields accepted in a url-encoded form (None: no limit).
        self.max_form_fields = max_form_fields
        #: Run sync handlers on the event loop under ASGI instead of the thread
        #: pool: only for handlers that never block. Routes can override it.
        self.inline_sync = inline_sync
        #: Answer a path that only misses or has an extra trailing slash with a
        #: 308 redirect to the registered form.
        self.redirect_slashes = redirect_slashes
        self.router = Router()
        self.thread_pool = ThreadPool(thread_pool_size)
        self.converters: dict[str, type[Converter]] = dict(DEFAULT_CONVERTERS)
        self._error_handlers: dict[int | type[BaseException], ErrorHandler] = {}
        #: Whether any error handler is async, so WSGI knows it may need a loop.
        self._async_error_handlers = False
        self._wsgi = _wsgi.WSGIAdapter(self)
        self._asgi = _asgi.ASGIAdapter(self)

    # -- the two interfaces ----------------------------------------------------------

    @overload
    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse, /
    ) -> Iterable[bytes]: ...
    @overload
    def __call__(self, scope: ASGIScope, receive: ASGIReceive, send: ASGISend, /) -> Any: ...
    def __call__(self, *args: Any) -> Any:
        if len(args) == 2:
            return self._wsgi(*args)
        return self._asgi(*args)

    # uvicorn picks ASGI 3 only for a __call__ that looks like a coroutine
    # function; WSGI servers never look, so one object serves both.
    markcoroutinefunction(__call__)

    @property
    def wsgi(self) -> Callable[[WSGIEnvironment, StartResponse], Iterable[bytes]]:
        """The WSGI callable (PEP 3333)."""
        return self._wsgi

    @property
    def asgi(self) -> Callable[[ASGIScope, ASGIReceive, ASGISend], Any]:
        """The ASGI 3 callable."""
        return self._asgi

    # -- registration -----------------------------------------------------------------

    def route(
        self,
        path: str,
        methods: Iterable[str] = ("GET",),
        *,
        name: str | None = None,
        inline: bool | None = None,
        max_body_size: int | None = _UNSET,
    ) -> Callable[[_F], _F]:
        """Register the decorated function for ``path`` and ``methods``.

        ``name`` (default: the function's name) is what :meth:`url_path_for`
        takes. ``inline=True`` runs a sync handler on the event loop under ASGI
        (skipping the thread hop; only for code that never blocks).
        ``max_body_size`` overrides the App's limit for this route.
        """

        def register(endpoint: _F) -> _F:
            self.add_route(
                path, endpoint, methods, name=name, inline=inline, max_body_size=max_body_size
            )
            return endpoint

        return register

    def add_route(
        self,
        path: str,
        endpoint: Callable[..., Any],
        methods: Iterable[str] = ("GET",),
        *,
        name: str | None = None,
        inline: bool | None = None,
        max_body_size: int | None = _UNSET,
    ) -> Route:
        if isinstance(methods, str):
            raise TypeError("methods must be a list of method names, not a str")
        route = Route(
            path,
            endpoint,
            methods=methods,
            name=name,
            inline=inline,
            max_body_size=max_body_size,
            converters=self.converters,
        )
        if not route.is_async:
            route.threaded = self.thread_pool.wrap(endpoint)
        try:
            self.router.add(route)
        except ValueError as exc:
            raise ValueError(f"{exc} (while registering {endpoint!r})") from None
        return route

    def get(self, path: str, **options: Any) -> Callable[[_F], _F]:
        return self.route(path, ["GET"], **options)

    def post(self, path: str, **options: Any) -> Callable[[_F], _F]:
        return self.route(path, ["POST"], **options)

    def put(self, path: str, **options: Any) -> Callable[[_F], _F]:
        return self.route(path, ["PUT"], **options)

    def patch(self, path: str, **options: Any) -> Callable[[_F], _F]:
        return self.route(path, ["PATCH"], **options)

    def delete(self, path: str, **options: Any) -> Callable[[_F], _F]:
        return self.route(path, ["DELETE"], **options)

    def options(self, path: str, **options: Any) -> Callable[[_F], _F]:
        return self.route(path, ["OPTIONS"], **options)

    def add_converter(self, name: str, converter: type[Converter]) -> None:
        """Make ``{param:name}`` available in routes registered from now on."""
        self.converters[name] = converter

    def errorhandler(self, key: int | type[BaseException]) -> Callable[[_F], _F]:
        """Register the decorated ``handler(request, exc)`` for a status or exception class.

        It may be sync or async and returns anything a route handler may.
        """

        def register(handler: _F) -> _F:
            self.add_error_handler(key, handler)
            return handler

        return register

    def add_error_handler(self, key: int | type[BaseException], handler: ErrorHandler) -> None:
        if isinstance(key, int) and not 400 <= key <= 599:
            raise ValueError(f"error handlers are for 4xx and 5xx statuses, not {key}")
        self._error_handlers[key] = handler
        if iscoroutinefunction(handler):
            self._async_error_handlers = True

    def url_path_for(self, name: str, /, **params: Any) -> str:
        """The path of the route named ``name`` with ``params`` filled in.

        The path is relative to where the app is mounted; use
        ``request.url_path_for`` to get it with the request's root path.
        """
        return self.router.url_path_for(name, params)

    # -- dispatch (interface independent) ------------------------------------------------

    def _resolve(
        self, method: str, path: str
    ) -> tuple[Route | None, dict[str, Any], HTTPException | _Answer | None]:
        """Match a request: (route, params, None), or (None, {}, what to answer instead).

        What to answer is an HTTPException (404, 405), which error handlers may
        turn into another response, or an :class:`_Answer` the router owes by
        itself (automatic OPTIONS, trailing-slash redirect), which they may not.
        """
        try:
            route, params = self.router.match(method, path)
            return route, params, None
        except MethodNotAllowed as exc:
            if method == "OPTIONS":
                return None, {}, _AutomaticOptions(exc.allowed)
            return None, {}, exc
        except HTTPException as exc:
            if self.redirect_slashes and path != "/":
                alternative = path[:-1] if path.endswith("/") else path + "/"
                if self.router.allowed_methods(alternative):
                    return None, {}, _SlashRedirect(alternative)
            return None, {}, exc

    def _needs_loop(self, route: Route | None) -> bool:
        """Whether a WSGI request must run on an event loop (something async is involved)."""
        return (route is not None and route.is_async) or self._async_error_handlers

    async def _respond(
        self, request: Request, outcome: HTTPException | _Answer | None, threaded: bool
    ) -> Response:
        """Run the handler (or answer ``outcome``) and turn the result into a Response.

        ``threaded``: sync handlers go to the thread pool (ASGI) instead of
        being called on the current thread (WSGI).
        """
        if isinstance(outcome, _Answer):
            return outcome.respond(request)
        try:
            if outcome is not None:
                raise outcome
            route = request.route
            assert route is not None
            if route.is_async:
                result = await route.endpoint(request, **request.path_params)
            elif threaded and route.threaded is not None and not self._runs_inline(route):
                result = await route.threaded(request, **request.path_params)
            else:
                result = route.endpoint(request, **request.path_params)
            return to_response(result)
        except Exception as exc:
            return await self._handle_error(request, exc, threaded)

    def _runs_inline(self, route: Route) -> bool:
        return self.inline_sync if route.inline is None else route.inline

    async def _handle_error(self, request: Request, exc: Exception, threaded: bool) -> Response:
        handler = self._find_error_handler(exc)
        if handler is not None:
            try:
                if iscoroutinefunction(handler):
                    result = await handler(request, exc)
                elif threaded:
                    result = await self.thread_pool.run(handler, request, exc)
                else:
                    result = handler(request, exc)
                return to_response(result)
            except Exception as handler_exc:
                if isinstance(handler_exc, HTTPException) and handler_exc is not exc:
                    return self._default_error_response(request, handler_exc)
                logger.exception(
                    "Exception in error handler for %s %s", request.method, request.path
                )
                return self._server_error(handler_exc)
        return self._default_error_response(request, exc)

    def _find_error_handler(self, exc: Exception) -> ErrorHandler | None:
        if not self._error_handlers:
            return None
        if isinstance(exc, HTTPException):
            handler = self._error_handlers.get(exc.status_code)
            if handler is not None:
                return handler
        for cls in type(exc).__mro__:
            handler = self._error_handlers.get(cls)
            if handler is not None:
                return handler
        if not isinstance(exc, HTTPException):
            return self._error_handlers.get(500)
        return None

    def _default_error_response(self, request: Request, exc: Exception) -> Response:
        if isinstance(exc, HTTPException):
            return PlainTextResponse(exc.detail, exc.status_code, exc.headers)
        logger.error(
            "Exception in handler for %s %s",
            request.method,
            request.path,
            exc_info=(type(exc), exc, exc.__traceback__),
        )
        return self._server_error(exc)

    def _server_error(self, exc: BaseException) -> Response:
        if self.debug:
            return PlainTextResponse("".join(traceback.format_exception(exc)), 500)
        return PlainTextResponse("Internal Server Error", 500)


class _Answer:
    """A response the router gives by itself, outside handlers and error handlers."""

    def respond(self, request: Request) -> Response:
        raise NotImplementedError


class _AutomaticOptions(_Answer):
    """OPTIONS on a path no OPTIONS route takes: 204 with ``Allow`` (RFC 9110 §9.3.7)."""

    def __init__(self, allowed: str) -> None:
        self.allowed = allowed

    def respond(self, request: Request) -> Response:
        return Response(status=204, headers={"Allow": self.allowed})


class _SlashRedirect(_Answer):
    """The path exists with (or without) a trailing slash: 308 to that form."""

    def __init__(self, location: str) -> None:
        self.location = location

    def respond(self, request: Request) -> Response:
        query = request.query_string
        location = request.root_path + self.location + (f"?{query}" if query else "")
        return RedirectResponse(location, status=308)


def to_response(result: Any) -> Response:
    """Turn a handler's return value into a Response.

    str → text/plain; dict or list → JSON; bytes → application/octet-stream;
    None → 204; a Response as is; ``(body, status)`` or
    ``(body, status, headers)`` tuples around any of these bodies.
    """
    if isinstance(result, Response):
        return result
    if isinstance(result, str):
        return PlainTextResponse(result)
    if isinstance(result, (dict, list)):
        return JSONResponse(result)
    if isinstance(result, (bytes, bytearray, memoryview)):
        return Response(bytes(result), media_type="application/octet-stream")
    if result is None:
        return Response(status=204)
    if isinstance(result, tuple) and len(result) in (2, 3):
        body, status, *rest = result
        headers: Mapping[str, str] | None = rest[0] if rest else None
        if isinstance(body, Response):
            raise TypeError("return a Response alone, not inside a tuple")
        if body is None:
            return Response(status=status, headers=headers)
        if status in BODILESS_STATUSES:
            if body not in ("", b""):
                raise ValueError(f"a {status} response cannot have a body")
            return Response(status=status, headers=headers)
        response = to_response(body)
        if not isinstance(status, int) or not 100 <= status <= 599:
            raise ValueError(f"invalid status code: {status!r}")
        response.status_code = status
        pairs = headers.items() if isinstance(headers, Mapping) else headers or ()
        for name, value in pairs:
            if name.lower() in ("content-type", "content-length"):
                response.headers[name] = value
            else:
                response.headers.append(name, value)
        return response
    raise TypeError(f"a handler cannot return {type(result).__name__!r}")
