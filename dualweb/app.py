"""The App: route registration, error handling and the dispatch logic.

The dispatch is written once, as a coroutine (:meth:`App._respond`), and both
interface adapters run it: under ASGI it is awaited; under WSGI it is driven
without a loop when everything on the path is sync, or on the worker thread's
persistent loop when an async handler is involved (see ``_bridge``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Coroutine, Iterable
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, TypeVar, overload

from asgiref.sync import iscoroutinefunction, markcoroutinefunction

from . import _asgi, _wsgi
from ._bridge import DEFAULT_THREAD_POOL_SIZE, ThreadPool
from .converters import DEFAULT_CONVERTERS, Converter
from .debug import debug_response
from .exceptions import HTTPException
from .files import FileResponse
from .lifespan import Lifespan
from .limits import DEFAULT_LIMITS, check_limits
from .middleware.base import Middleware
from .mounts import INTERFACES, Mount, detect_interface
from .requests import Request
from .responses import PlainTextResponse, RedirectResponse, Response, to_response
from .routing import ANY_METHOD, MethodNotAllowed, Route, Router
from .websockets import upgrade_required

if TYPE_CHECKING:
    from ._types import ASGIReceive, ASGIScope, ASGISend, StartResponse, WSGIEnvironment
    from .lifespan import LifespanFactory

logger = logging.getLogger("dualweb")

_F = TypeVar("_F", bound=Callable[..., Any])
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
        max_body_size: int | None = DEFAULT_LIMITS["max_body_size"],
        max_form_fields: int | None = DEFAULT_LIMITS["max_form_fields"],
        max_form_files: int | None = DEFAULT_LIMITS["max_form_files"],
        max_field_size: int | None = DEFAULT_LIMITS["max_field_size"],
        max_file_size: int | None = DEFAULT_LIMITS["max_file_size"],
        max_part_header_size: int | None = DEFAULT_LIMITS["max_part_header_size"],
        max_message_size: int | None = DEFAULT_LIMITS["max_message_size"],
        spool_threshold: int = 1024 * 1024,
        thread_pool_size: int = DEFAULT_THREAD_POOL_SIZE,
        inline_sync: bool = False,
        redirect_slashes: bool = True,
        lifespan: LifespanFactory | None = None,
    ) -> None:
        #: Show tracebacks in 500 responses. Never in production.
        self.debug = debug
        # The request limits (see dualweb.limits and docs/limits.md); routes
        # may override each one.
        limits = check_limits(
            {
                "max_body_size": max_body_size,
                "max_form_fields": max_form_fields,
                "max_form_files": max_form_files,
                "max_field_size": max_field_size,
                "max_file_size": max_file_size,
                "max_part_header_size": max_part_header_size,
                "max_message_size": max_message_size,
            }
        )
        #: Largest request body, however it is read, in bytes (None: no limit).
        self.max_body_size = limits["max_body_size"]
        #: Most fields in a form, url-encoded or multipart (None: no limit).
        self.max_form_fields = limits["max_form_fields"]
        #: Most uploaded files in one multipart body (None: no limit).
        self.max_form_files = limits["max_form_files"]
        #: Largest value of one form field that is not a file, in bytes.
        self.max_field_size = limits["max_field_size"]
        #: Largest uploaded file, in bytes (the body limit applies as well).
        self.max_file_size = limits["max_file_size"]
        #: Longest header line of one multipart part, in bytes.
        self.max_part_header_size = limits["max_part_header_size"]
        #: Largest WebSocket message, in bytes (larger: the socket closes with 1009).
        self.max_message_size = limits["max_message_size"]
        #: Uploaded files up to this size stay in memory; larger ones are
        #: spooled to a temporary file.
        self.spool_threshold = spool_threshold
        #: Run sync handlers on the event loop under ASGI instead of the thread
        #: pool: only for handlers that never block. Routes can override it.
        self.inline_sync = inline_sync
        #: Answer a path that only misses or has an extra trailing slash with a
        #: 308 redirect to the registered form.
        self.redirect_slashes = redirect_slashes
        #: The HTTP routes, in registration order.
        self.router = Router()
        #: WebSocket routes: matched apart, so one path may have both kinds.
        self.websocket_router = Router()
        #: Runs sync handlers and hooks under ASGI; ``await app.thread_pool.run(func, *args)``
        #: runs blocking code from async code.
        self.thread_pool = ThreadPool(thread_pool_size)
        #: The path converters by name (see :meth:`add_converter`).
        self.converters: dict[str, type[Converter]] = dict(DEFAULT_CONVERTERS)
        #: Mounted apps by name (see :meth:`mount`).
        self.mounts: dict[str, Mount] = {}
        #: The prefixes this App is mounted at with ``interface="wsgi"``, where
        #: a WebSocket route added later could never be served.
        self._wsgi_mount_prefixes: list[str] = []
        self._error_handlers: dict[int | type[BaseException], ErrorHandler] = {}
        #: Whether any error handler is async, so WSGI knows it may need a loop.
        self._async_error_handlers = False
        self._stages: list[_Stage] = []
        #: Whether any middleware hook is async (WSGI then needs a loop).
        self._async_middleware = False
        #: Process-wide values: what the lifespan context yields is put here
        #: while the app runs, and each ``request.state`` starts as a copy.
        self.state = SimpleNamespace()
        self._lifespan = Lifespan(self, lifespan)
        self._wsgi = _wsgi.WSGIAdapter(self)
        self._asgi = _asgi.ASGIAdapter(self)

    # -- the two interfaces ----------------------------------------------------------

    @overload
    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse, /
    ) -> Iterable[bytes]: ...
    @overload
    def __call__(self, scope: ASGIScope, receive: ASGIReceive, send: ASGISend, /) -> Any: ...
    def __call__(self, first: Any, second: Any, send: Any = None, /) -> Any:
        # Named parameters rather than *args: no tuple to pack and unpack on
        # every request.
        if send is None:
            return self._wsgi(first, second)
        if first["type"] == "http":  # the common case, a call less
            return self._asgi.http(first, second, send)
        return self._asgi(first, second, send)

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

    # -- lifespan (see dualweb.lifespan and docs/lifespan.md) -----------------------------

    def on_startup(self, hook: _F) -> _F:
        """Register ``hook()`` (sync or async) to run when the app starts, in registration order.

        Startup hooks run inside the lifespan context: ``app.state`` already
        holds what it yielded.
        """
        self._lifespan.add_startup(hook)
        return hook

    def on_shutdown(self, hook: _F) -> _F:
        """Register ``hook()`` (sync or async) to run when the app stops.

        Shutdown hooks run in reverse registration order, before the
        lifespan context is left.
        """
        self._lifespan.add_shutdown(hook)
        return hook

    def startup(self) -> None:
        """Start the app now, in this process, unless it runs already (WSGI, tests, hooks).

        WSGI serving does it before the first request anyway; raises what
        startup raised. ASGI servers start the app through the lifespan
        protocol instead: do not call this under one.
        """
        self._lifespan.startup()

    def shutdown(self) -> None:
        """Stop the app started by :meth:`startup` or by a WSGI request; else do nothing.

        Runs at process exit by itself; raises the first error of shutdown.
        """
        self._lifespan.shutdown()

    # -- registration -----------------------------------------------------------------

    def route(
        self,
        path: str,
        methods: Iterable[str] = ("GET",),
        *,
        name: str | None = None,
        inline: bool | None = None,
        **limits: int | None,
    ) -> Callable[[_F], _F]:
        """Register the decorated function for ``path`` and ``methods``.

        ``name`` (default: the function's name) is what :meth:`url_path_for`
        takes. ``inline=True`` runs a sync handler on the event loop under ASGI
        (skipping the thread hop; only for code that never blocks).
        Limits given as keywords (``max_body_size=...``, ``max_file_size=...``,
        see ``dualweb.limits``) override the App's for this route.
        """

        def register(endpoint: _F) -> _F:
            self.add_route(path, endpoint, methods, name=name, inline=inline, **limits)
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
        **limits: int | None,
    ) -> Route:
        """Register ``endpoint`` for ``path`` and ``methods``: :meth:`route` without decorating.

        Returns the :class:`~dualweb.routing.Route`; the keywords are :meth:`route`'s.
        """
        if isinstance(methods, str):
            raise TypeError("methods must be a list of method names, not a str")
        route = Route(
            path,
            endpoint,
            methods=methods,
            name=name,
            inline=inline,
            limits=limits,
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
        """Register the decorated function for GET requests to ``path`` (see :meth:`route`)."""
        return self.route(path, ["GET"], **options)

    def post(self, path: str, **options: Any) -> Callable[[_F], _F]:
        """Register the decorated function for POST requests to ``path`` (see :meth:`route`)."""
        return self.route(path, ["POST"], **options)

    def put(self, path: str, **options: Any) -> Callable[[_F], _F]:
        """Register the decorated function for PUT requests to ``path`` (see :meth:`route`)."""
        return self.route(path, ["PUT"], **options)

    def patch(self, path: str, **options: Any) -> Callable[[_F], _F]:
        """Register the decorated function for PATCH requests to ``path`` (see :meth:`route`)."""
        return self.route(path, ["PATCH"], **options)

    def delete(self, path: str, **options: Any) -> Callable[[_F], _F]:
        """Register the decorated function for DELETE requests to ``path`` (see :meth:`route`)."""
        return self.route(path, ["DELETE"], **options)

    def options(self, path: str, **options: Any) -> Callable[[_F], _F]:
        """Register the decorated function for OPTIONS requests to ``path`` (see :meth:`route`)."""
        return self.route(path, ["OPTIONS"], **options)

    def static(
        self,
        prefix: str,
        directory: str | os.PathLike[str],
        *,
        name: str = "static",
        **options: Any,
    ) -> Route:
        """Serve the files below ``directory`` under ``prefix`` (GET and HEAD).

        ``options`` go to :class:`~dualweb.staticfiles.StaticFiles`; the route
        is named ``name``: ``url_path_for("static", path="css/site.css")``.
        """
        from .staticfiles import StaticFiles

        path = prefix.rstrip("/") + "/{path:path}"
        return self.add_route(path, StaticFiles(directory, **options), name=name)

    def websocket(
        self, path: str, *, name: str | None = None, **limits: int | None
    ) -> Callable[[_F], _F]:
        """Register the decorated ``async def handler(ws, **params)`` for WebSockets at ``path``.

        Same path syntax and converters as HTTP routes; ``max_message_size=``
        overrides the App's limit. Served under ASGI; a WSGI server answers
        requests to it with 426 Upgrade Required.
        """

        def register(endpoint: _F) -> _F:
            self.add_websocket_route(path, endpoint, name=name, **limits)
            return endpoint

        return register

    def add_websocket_route(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        name: str | None = None,
        **limits: int | None,
    ) -> Route:
        """Register ``endpoint`` for WebSockets at ``path`` (:meth:`websocket`, undecorated)."""
        if not iscoroutinefunction(endpoint):
            raise TypeError(f"a WebSocket handler must be an async function: {endpoint!r}")
        if self._wsgi_mount_prefixes:
            prefixes = ", ".join(repr(prefix) for prefix in self._wsgi_mount_prefixes)
            raise ValueError(
                f"cannot add the WebSocket route {path!r}: this App is mounted with "
                f"interface='wsgi' at {prefixes}, and WSGI cannot serve WebSockets"
            )
        route = Route(
            path, endpoint, methods=["GET"], name=name, limits=limits, converters=self.converters
        )
        try:
            self.websocket_router.add(route)
        except ValueError as exc:
            raise ValueError(f"{exc} (while registering {endpoint!r})") from None
        return route

    def mount(
        self,
        prefix: str,
        app: Any,
        *,
        name: str | None = None,
        interface: str | None = None,
        **limits: int | None,
    ) -> Mount:
        """Serve the requests below ``prefix`` that no route takes with ``app``.

        ``app`` is a WSGI app (Flask, Django...), an ASGI app (Starlette,
        FastAPI...) or another dualweb App; ``interface="wsgi"`` or
        ``"asgi"`` says which when telling by its signature fails. Routes of
        this App win over the mount, method by method, so routes can move
        over one at a time. ``name`` (default: the prefix without its
        slashes) is for ``url_path_for("name", path=...)`` and
        ``url_path_for("name:route", ...)``. Limits given as keywords
        (``max_body_size=...``) apply to the requests the mount serves.
        See docs/mounting.md.
        """
        if interface is not None and interface not in INTERFACES:
            raise ValueError(f"interface must be 'wsgi' or 'asgi', not {interface!r}")
        is_dualweb = isinstance(app, App)
        if app is self:
            raise ValueError("an App cannot be mounted in itself")
        kind = interface or (None if is_dualweb else detect_interface(app))
        if is_dualweb and kind == "wsgi" and app.websocket_router.routes:
            # Said now, not found out when the first socket gets a 404.
            paths = ", ".join(route.path for route in app.websocket_router.routes)
            raise ValueError(
                f"cannot mount the App at {prefix!r} with interface='wsgi': WSGI cannot "
                f"serve its WebSocket routes ({paths}); leave interface= out to serve "
                "them under ASGI"
            )
        if is_dualweb and kind == "wsgi":
            app._wsgi_mount_prefixes.append(prefix)
        default_name = prefix.strip("/") or None
        mount = Mount(
            prefix, app, name=name or default_name, interface=kind or "", is_dualweb=is_dualweb
        )
        if mount.name is not None and mount.name in self.mounts:
            raise ValueError(f"a mount is already named {mount.name!r}; pass name=")
        endpoint: Callable[..., Any] = {
            "wsgi": mount.respond_wsgi,
            "asgi": mount.respond_asgi,
            "dualweb": mount.respond_app,
        }[mount.interface]
        label = f"<mount {mount.prefix or '/'}>"
        for path in mount.paths:
            # A mounted WSGI app blocks: never on the loop, whatever inline_sync says.
            route = Route(
                path, endpoint, methods=[ANY_METHOD], name=label, inline=False, limits=limits
            )
            route.mount = mount
            # Under WSGI, a dualweb App is called through its WSGI side.
            route.needs_loop = mount.interface == "asgi"
            if not route.is_async:
                route.threaded = self.thread_pool.wrap(endpoint)
            self.router.add(route)
            if mount.interface != "wsgi":
                socket_route = Route(path, endpoint, methods=["GET"], name=label)
                socket_route.mount = mount
                self.websocket_router.add(socket_route)
        if mount.name is not None:
            self.mounts[mount.name] = mount
        if is_dualweb:
            self._lifespan.add_child(app._lifespan)
        return mount

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
        """Register ``handler(request, exc)``: :meth:`errorhandler` without decorating."""
        if isinstance(key, int) and not 400 <= key <= 599:
            raise ValueError(f"error handlers are for 4xx and 5xx statuses, not {key}")
        self._error_handlers[key] = handler
        if iscoroutinefunction(handler):
            self._async_error_handlers = True

    def add_middleware(self, middleware: Middleware) -> None:
        """Add a middleware; its ``before_request`` runs after those added before it.

        Its ``after_request`` runs before theirs (middleware nests like an onion).
        """
        if not isinstance(middleware, Middleware):
            raise TypeError(
                f"expected a dualweb Middleware, not {type(middleware).__name__}; "
                "wrap app.asgi or app.wsgi for ASGI or WSGI middleware"
            )
        cls = type(middleware)
        before = middleware.before_request if _overrides(cls, "before_request") else None
        after = middleware.after_request if _overrides(cls, "after_request") else None
        self._add_stage(_Stage(before, after, middleware.inline))

    def before_request(self, hook: _F) -> _F:
        """Register ``hook(request)`` to run before every handler (sync or async).

        A hook that returns something other than None answers the request.
        """
        self._add_stage(_Stage(hook, None, None))
        return hook

    def after_request(self, hook: _F) -> _F:
        """Register ``hook(request, response)`` to run on every response.

        It changes the response in place (returning None) or returns another.
        """
        self._add_stage(_Stage(None, hook, None))
        return hook

    def _add_stage(self, stage: _Stage) -> None:
        self._stages.append(stage)
        if stage.before_is_async or stage.after_is_async:
            self._async_middleware = True

    def url_path_for(self, name: str, /, **params: Any) -> str:
        """The path of the route named ``name`` with ``params`` filled in.

        The path is relative to where the app is mounted; use
        ``request.url_path_for`` to get it with the request's root path.
        WebSocket routes are looked up after HTTP routes; ``"name:route"``
        looks ``route`` up in the app mounted as ``name``.
        """
        if self.mounts:
            mount = self.mounts.get(name.partition(":")[0])
            if mount is not None:
                return mount.url_path_for(name, params)
        try:
            return self.router.url_path_for(name, params)
        except LookupError:
            if not self.websocket_router.routes:
                raise
        return self.websocket_router.url_path_for(name, params)

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
            if method == "GET" and self._is_websocket_path(path):
                return None, {}, _UpgradeRequired()
            return None, {}, exc
        except HTTPException as exc:
            if self._is_websocket_path(path):
                return None, {}, _UpgradeRequired()
            if self.redirect_slashes and path != "/":
                alternative = path[:-1] if path.endswith("/") else path + "/"
                if self.router.allowed_methods(alternative):
                    return None, {}, _SlashRedirect(alternative)
            return None, {}, exc

    def _is_websocket_path(self, path: str) -> bool:
        return bool(self.websocket_router.routes) and bool(
            self.websocket_router.allowed_methods(path)
        )

    def _needs_loop(self, route: Route | None) -> bool:
        """Whether a WSGI request must run on an event loop (something async is involved)."""
        return (
            (route is not None and route.needs_loop)
            or self._async_error_handlers
            or self._async_middleware
        )

    def _respond(
        self, request: Request, outcome: HTTPException | _Answer | None, threaded: bool
    ) -> Coroutine[Any, Any, Response]:
        """Answer the request: middleware around the handler (or ``outcome``).

        ``threaded``: sync code goes to the thread pool (ASGI) instead of
        being called on the current thread (WSGI). A plain function returning
        the coroutine to await: without middleware, that is the handler's
        own, one coroutine less per request.
        """
        if not self._stages:
            return self._run_handler(request, outcome, threaded)
        return self._respond_through_middleware(request, outcome, threaded)

    async def _respond_through_middleware(
        self, request: Request, outcome: HTTPException | _Answer | None, threaded: bool
    ) -> Response:
        stages = self._stages
        entered = 0
        response: Response | None = None
        for stage in stages:
            if stage.before is not None:
                try:
                    result = await self._run_hook(
                        stage.before, stage.before_is_async, stage.inline, threaded, request
                    )
                    if result is not None:
                        response = await self._to_response(result, request, threaded)
                except Exception as exc:
                    response = await self._handle_error(request, exc, threaded)
                if response is not None:
                    break
            entered += 1
        if response is None:
            response = await self._run_handler(request, outcome, threaded)
        for stage in reversed(stages[:entered]):
            if stage.after is not None:
                try:
                    hook, is_async = stage.after, stage.after_is_async
                    result = await self._run_hook(
                        hook, is_async, stage.inline, threaded, request, response
                    )
                    if result is not None:
                        replaced = response
                        response = await self._to_response(result, request, threaded)
                        if replaced is not response:
                            await _discard_body(replaced)
                except Exception as exc:
                    failed, response = response, await self._handle_error(request, exc, threaded)
                    await _discard_body(failed)
        return response

    async def _run_hook(
        self,
        hook: Callable[..., Any],
        is_async: bool,
        inline: bool | None,
        threaded: bool,
        *args: Any,
    ) -> Any:
        if is_async:
            return await hook(*args)
        if threaded and not (self.inline_sync if inline is None else inline):
            return await self.thread_pool.run(hook, *args)
        return hook(*args)

    async def _run_handler(
        self, request: Request, outcome: HTTPException | _Answer | None, threaded: bool
    ) -> Response:
        """Run the handler (or answer ``outcome``) and turn the result into a Response."""
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
            # _to_response's body, inline: awaiting it would cost every
            # request a coroutine, for the rare FileResponse.
            response = to_response(result)
            if response.stream is None or not isinstance(response, FileResponse):
                return response
            return await self._prepare_file(response, request, threaded)
        except Exception as exc:
            return await self._handle_error(request, exc, threaded)

    async def _to_response(self, result: Any, request: Request, threaded: bool) -> Response:
        """A handler's (or hook's) return value as the Response to send."""
        response = to_response(result)
        if response.stream is None or not isinstance(response, FileResponse):
            return response
        return await self._prepare_file(response, request, threaded)

    async def _prepare_file(
        self, response: FileResponse, request: Request, threaded: bool
    ) -> Response:
        """Evaluate a FileResponse against the request (conditions, ranges, 404).

        Done right after the handler, so the after hooks see what will be
        sent; it opens the file, so under ASGI it happens in the thread pool.
        """
        if threaded:
            prepared = await self.thread_pool.run(response.prepare, request)
        else:
            prepared = response.prepare(request)
        # The response sent in its place carries its tasks.
        prepared.background = response.background
        return prepared

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
                return await self._to_response(result, request, threaded)
            except Exception as handler_exc:
                if isinstance(handler_exc, HTTPException) and handler_exc is not exc:
                    return self._default_error_response(request, handler_exc)
                logger.exception(
                    "Exception in error handler for %s %s", request.method, request.path
                )
                return self._server_error(handler_exc, request)
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
        return self._server_error(exc, request)

    def _server_error(self, exc: BaseException, request: Request) -> Response:
        if self.debug:
            return debug_response(exc, request)
        return PlainTextResponse("Internal Server Error", 500)


async def _discard_body(response: Response) -> None:
    """Close the stream of a response that an after hook replaced.

    Its iteration never started, so closing runs none of its code and does
    not block; a file body is also closed by the request's cleanup.
    """
    stream: object = response.stream
    if stream is None or isinstance(stream, Response):  # an unprepared FileResponse
        return
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        await aclose()
        return
    close = getattr(stream, "close", None)
    if close is not None:
        close()


def _overrides(cls: type, name: str) -> bool:
    return getattr(cls, name) is not getattr(Middleware, name)


class _Stage:
    """One layer of middleware: its hooks, and how to call them."""

    __slots__ = ("after", "after_is_async", "before", "before_is_async", "inline")

    def __init__(
        self,
        before: Callable[..., Any] | None,
        after: Callable[..., Any] | None,
        inline: bool | None,
    ) -> None:
        self.before = before
        self.after = after
        self.inline = inline
        self.before_is_async = before is not None and iscoroutinefunction(before)
        self.after_is_async = after is not None and iscoroutinefunction(after)


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


class _UpgradeRequired(_Answer):
    """An HTTP request (any WSGI request) for a path only WebSocket routes serve."""

    def respond(self, request: Request) -> Response:
        return upgrade_required(request.interface)


class _SlashRedirect(_Answer):
    """The path exists with (or without) a trailing slash: 308 to that form."""

    def __init__(self, location: str) -> None:
        self.location = location

    def respond(self, request: Request) -> Response:
        query = request.query_string
        location = request.root_path + self.location + (f"?{query}" if query else "")
        return RedirectResponse(location, status=308)
