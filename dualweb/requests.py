"""The request: one class for both interfaces, parsed lazily.

An interface adapter hands the request a :class:`RequestSource`, its view of
the server's request (``environ`` for WSGI, ``scope``/``receive`` for ASGI);
everything else here is plain HTTP. Nothing is read or parsed until asked,
and nothing is read or parsed twice.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import AsyncIterator, Callable, Iterator
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

from . import _multipart
from .background import BackgroundTasks
from .cookies import parse_cookie_header
from .datastructures import Address, Headers, QueryParams
from .exceptions import HTTPException
from .forms import FormData, parse_urlencoded
from .parts import Part, aiter_parts, iter_parts

if TYPE_CHECKING:
    from .app import App
    from .routing import Route
    from .sessions import Session

logger = logging.getLogger("dualweb")


class Closeable(Protocol):
    def close(self) -> None: ...


class RequestSource(Protocol):
    """What an interface adapter provides for a request beyond method and path."""

    interface: str

    def header_items(self) -> list[tuple[str, str]]:
        """Header (name, value) pairs; values are latin-1 decoded bytes."""

    def query_string(self) -> str:
        """The raw query string, latin-1 decoded."""

    def header(self, name: str) -> str | None:
        """One header's value (the first, if several; ``name`` lower-case), or None.

        For the few headers the request reads itself (Content-Type,
        Content-Length): cheaper than building every header.
        """

    def scheme(self) -> str: ...

    def server(self) -> tuple[str, int | None] | None: ...

    def client(self) -> Address | None: ...

    def iter_body(self) -> Iterator[bytes]:
        """The body's chunks, read on demand from sync code."""

    def aiter_body(self) -> AsyncIterator[bytes]:
        """The body's chunks, read on demand from async code."""


class ClientDisconnect(HTTPException):
    """The client went away before the body was read to the end."""

    def __init__(self) -> None:
        super().__init__(400, "Client disconnected")


_URL_PATH_SAFE = "/!$&'()*+,;=:@~"
_JSON_TYPES = ("application/json",)
_FORM_TYPE = "application/x-www-form-urlencoded"
_MULTIPART_TYPE = "multipart/form-data"
_MAX_CONTENT_LENGTH_CHARS = 100


class HTTPConnection:
    """What a request and a WebSocket share: where it came from and what it asked for."""

    __slots__ = (
        "_background",
        "_cookies",
        "_headers",
        "_parent",
        "_query",
        "_resources",
        "_session",
        "_source",
        "_state",
        "app",
        "method",
        "path",
        "path_params",
        "root_path",
        "route",
    )

    # Filled in on first use (unset slots raise AttributeError until then).
    _headers: Headers
    _query: QueryParams
    _cookies: dict[str, str]
    _state: SimpleNamespace
    _session: Session
    #: The request of the App this one's App is mounted in (see dualweb.mounts):
    #: cleanups and tasks go to it, since its adapter ends the request.
    _parent: HTTPConnection

    def __init__(
        self,
        app: App,
        source: RequestSource,
        method: str,
        path: str,
        root_path: str,
        path_params: dict[str, Any],
        route: Route | None,
    ) -> None:
        #: The App serving the request.
        self.app = app
        self._source = source
        #: The method, upper-case (``"GET"``).
        self.method = method
        #: The path below the app's mount point, percent-decoded (``PATH_INFO``).
        self.path = path
        #: Where the app is mounted (``SCRIPT_NAME``, ASGI ``root_path``), or ``""``.
        self.root_path = root_path
        #: Converted values of the route's placeholders.
        self.path_params = path_params
        #: The matched route, or None (404, 405 and automatic OPTIONS).
        self.route = route
        # Tasks for after the response (Request.add_task) and what to close
        # when it ends (add_cleanup): the adapters read both for every
        # request, so they are set here rather than left unset (an
        # AttributeError costs more than the store).
        self._background: BackgroundTasks | None = None
        self._resources: list[Closeable] | None = None

    # -- where the request came from -------------------------------------------------

    @property
    def interface(self) -> str:
        """``"wsgi"`` or ``"asgi"``: which interface is serving this request."""
        return self._source.interface

    @property
    def headers(self) -> Headers:
        """The request headers (case-insensitive)."""
        try:
            return self._headers
        except AttributeError:
            pass
        self._headers = Headers(self._source.header_items())
        return self._headers

    @property
    def query_params(self) -> QueryParams:
        """Decoded query parameters; a malformed query string gives 400."""
        try:
            return self._query
        except AttributeError:
            pass
        pairs = parse_urlencoded(self._source.query_string(), max_fields=None, what="query string")
        self._query = QueryParams(pairs)
        return self._query

    @property
    def query_string(self) -> str:
        """The raw query string, as sent (percent-escapes kept)."""
        return self._source.query_string()

    @property
    def cookies(self) -> dict[str, str]:
        """The cookies the client sent, by name."""
        try:
            return self._cookies
        except AttributeError:
            pass
        cookies: dict[str, str] = {}
        for header in self.headers.getlist("cookie"):
            parse_cookie_header(header, cookies)
        self._cookies = cookies
        return cookies

    @property
    def client(self) -> Address | None:
        """The peer's (host, port), or None when the server does not say."""
        return self._source.client()

    @property
    def scheme(self) -> str:
        """``"http"`` or ``"https"`` (``"ws"`` or ``"wss"`` for a WebSocket)."""
        return self._source.scheme()

    @property
    def host(self) -> str:
        """The Host header, or the server's own name and port without one."""
        host = self.headers.get("host")
        if host:
            return host
        server = self._source.server()
        if server is None:
            return ""
        name, port = server
        default = {"http": 80, "https": 443}.get(self.scheme)
        return name if port is None or port == default else f"{name}:{port}"

    @property
    def url(self) -> str:
        """The full URL: scheme, host, root path, path and query string."""
        query = self._source.query_string()
        url = (
            f"{self.scheme}://{self.host}{quote(self.root_path + self.path, safe=_URL_PATH_SAFE)}"
        )
        return f"{url}?{query}" if query else url

    def url_path_for(self, name: str, /, **params: Any) -> str:
        """The path of a named route as the client must request it (root path included)."""
        return self.root_path + self.app.url_path_for(name, **params)

    def url_for(self, name: str, /, **params: Any) -> str:
        """The absolute URL of a named route."""
        path = quote(self.url_path_for(name, **params), safe=_URL_PATH_SAFE + "%")
        return f"{self.scheme}://{self.host}{path}"

    @property
    def state(self) -> SimpleNamespace:
        """A namespace for middleware and handlers to pass things along (per request).

        It starts as a shallow copy of ``app.state``, which holds what the
        lifespan yielded (see docs/lifespan.md): ``request.state.db`` is the
        app's object, while setting an attribute changes this request only.
        """
        try:
            return self._state
        except AttributeError:
            pass
        self._state = SimpleNamespace(**vars(self.app.state))
        return self._state

    @property
    def session(self) -> Session:
        """The signed-cookie session (needs :class:`~dualweb.sessions.SessionMiddleware`)."""
        try:
            return self._session
        except AttributeError:
            raise RuntimeError(
                "request.session needs the session middleware: "
                "app.add_middleware(SessionMiddleware(secret_key=...))"
            ) from None

    # -- resources released when the request ends ---------------------------------

    def add_cleanup(self, resource: Closeable) -> None:
        """Close ``resource`` when the response has been sent (or the request failed).

        Uploaded files are registered here, so their temporary files are
        removed however the request ends.
        """
        parent = getattr(self, "_parent", None)
        if parent is not None:
            parent.add_cleanup(resource)
            return
        if self._resources is None:
            self._resources = [resource]
        else:
            self._resources.append(resource)

    def _release(self) -> None:
        """Close what :meth:`add_cleanup` collected; errors are logged, not raised."""
        resources = self._resources
        if resources is None:
            return
        self._resources = None
        for resource in reversed(resources):
            try:
                resource.close()
            except Exception:
                logger.exception("Error while releasing %r", resource)

    @property
    def _has_resources(self) -> bool:
        return self._resources is not None

    def _release_blocks(self) -> bool:
        """Whether releasing may block (a temporary file to delete): then not on a loop.

        A resource says it does not with a false ``close_blocks`` attribute
        (an upload still in memory); anything else may.
        """
        resources = self._resources
        return resources is not None and any(
            getattr(resource, "close_blocks", True) for resource in resources
        )

    def limit(self, name: str) -> int | None:
        """This request's limit ``name`` (``"max_body_size"``...): the route's, else the App's."""
        route = self.route
        if route is not None and name in route.limits:
            return route.limits[name]
        return getattr(self.app, name)  # type: ignore[no-any-return]


class Request(HTTPConnection):
    """An HTTP request, the same under WSGI and ASGI."""

    __slots__ = ("_body", "_consumed", "_form", "_json")

    _body: bytes
    _json: Any
    _form: FormData
    _consumed: bool

    def add_task(self, func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> None:
        """Call ``func(*args, **kwargs)`` once the response to this request has been sent.

        Whatever that response is: the handler's, a middleware's replacement
        or an error response. These tasks run before those of the response
        (``response.add_task``). See docs/background.md.
        """
        parent = getattr(self, "_parent", None)
        if isinstance(parent, Request):
            parent.add_task(func, *args, **kwargs)
            return
        if self._background is None:
            self._background = BackgroundTasks()
        self._background.add(func, *args, **kwargs)

    @property
    def content_type(self) -> str:
        """The media type of the body, lower-case and without parameters."""
        value = self._source.header("content-type") or ""
        return value.partition(";")[0].strip().lower()

    # -- the body ------------------------------------------------------------------

    def _body_limit(self) -> int | None:
        return self.limit("max_body_size")

    def _start_reading(self) -> int | None:
        """Check the body may be read, and its declared size; return the limit."""
        if getattr(self, "_consumed", False):
            raise RuntimeError("the request body was already consumed by stream()")
        self._consumed = True
        return self._check_content_length()

    def _check_content_length(self) -> int | None:
        """Refuse an invalid Content-Length, or one over the body limit; return the limit."""
        limit = self._body_limit()
        # From the source: parsing every header just for this one costs more
        # than the rest of the check.
        declared = self._source.header("content-length")
        if declared is not None:
            # A bound on the length: int() refuses strings of more than 4300
            # digits (ValueError, a 500), and no real body needs 100.
            if (
                not declared.isdigit()
                or not declared.isascii()
                or len(declared) > _MAX_CONTENT_LENGTH_CHARS
            ):
                raise HTTPException(400, "Invalid Content-Length header")
            if limit is not None and int(declared) > limit:
                raise _too_large(limit)
        return limit

    def stream(self) -> Iterator[bytes]:
        """The body's chunks as they arrive, without buffering them (sync)."""
        try:
            body = self._body
        except AttributeError:
            pass
        else:
            if body:
                yield body
            return
        limit = self._start_reading()
        received = 0
        for chunk in self._source.iter_body():
            received += len(chunk)
            if limit is not None and received > limit:
                raise _too_large(limit)
            if chunk:
                yield chunk

    async def astream(self) -> AsyncIterator[bytes]:
        """The body's chunks as they arrive, without buffering them (async)."""
        try:
            body = self._body
        except AttributeError:
            pass
        else:
            if body:
                yield body
            return
        limit = self._start_reading()
        received = 0
        async for chunk in self._source.aiter_body():
            received += len(chunk)
            if limit is not None and received > limit:
                raise _too_large(limit)
            if chunk:
                yield chunk

    def body(self) -> bytes:
        """The whole body (read once, then kept)."""
        try:
            return self._body
        except AttributeError:
            pass
        self._body = b"".join(self.stream())
        return self._body

    async def abody(self) -> bytes:
        """:meth:`body`, for async code: reading never blocks the event loop."""
        try:
            return self._body
        except AttributeError:
            pass
        self._body = b"".join([chunk async for chunk in self.astream()])
        return self._body

    def text(self) -> str:
        """The body decoded with the charset of its Content-Type (UTF-8 by default)."""
        return self._decode(self.body())

    async def atext(self) -> str:
        """:meth:`text`, for async code: reading never blocks the event loop."""
        return self._decode(await self.abody())

    def json(self) -> Any:
        """The body parsed as JSON; needs a JSON Content-Type (else 415), 400 if invalid."""
        try:
            return self._json
        except AttributeError:
            pass
        self._expect_json()
        self._json = _parse_json(self.body())
        return self._json

    async def ajson(self) -> Any:
        """:meth:`json`, for async code: reading never blocks the event loop."""
        try:
            return self._json
        except AttributeError:
            pass
        self._expect_json()
        self._json = _parse_json(await self.abody())
        return self._json

    def form(self) -> FormData:
        """The form in the body, url-encoded or multipart (415 for another Content-Type).

        A multipart body is parsed as it is read, files going to
        :class:`~dualweb.uploads.UploadFile` objects in ``form.files``.
        """
        try:
            return self._form
        except AttributeError:
            pass
        boundary = self._expect_form()
        if boundary is None:
            self._form = self._parse_form(self.body())
        else:
            self._form = _multipart.parse(self, boundary)
        return self._form

    async def aform(self) -> FormData:
        """:meth:`form`, for async code: reading never blocks the event loop."""
        try:
            return self._form
        except AttributeError:
            pass
        boundary = self._expect_form()
        if boundary is None:
            self._form = self._parse_form(await self.abody())
        else:
            self._form = await _multipart.aparse(self, boundary)
        return self._form

    def parts(self) -> Iterator[Part]:
        """The parts of a multipart body, each read as it arrives (sync).

        Nothing is stored: each :class:`~dualweb.parts.Part` gives its bytes
        straight from the parser, for streaming a large upload where it
        belongs. 415 unless the body is ``multipart/form-data``. See
        docs/uploads.md.
        """
        return iter_parts(self, self._expect_multipart())

    def aparts(self) -> AsyncIterator[Part]:
        """The parts of a multipart body, each read as it arrives (async)."""
        return aiter_parts(self, self._expect_multipart())

    def _expect_multipart(self) -> str:
        if self.content_type != _MULTIPART_TYPE:
            raise HTTPException(
                415, f"Expected a multipart body (Content-Type: {_MULTIPART_TYPE})"
            )
        return _multipart.boundary_of(self._source.header("content-type") or "")

    def _decode(self, body: bytes) -> str:
        charset = "utf-8"
        for param in self.headers.get("content-type", "").split(";")[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "charset":
                charset = value.strip().strip('"') or charset
        try:
            return body.decode(charset)
        except UnicodeError:
            # Not only UnicodeDecodeError: the idna and punycode codecs raise
            # a bare UnicodeError on bad input.
            raise HTTPException(400, f"Request body is not valid {charset[:40]}") from None
        except (LookupError, ValueError):
            # ValueError: a NUL in the charset name ("embedded null character").
            raise HTTPException(400, f"Unknown charset: {charset[:40]!r}") from None

    def _expect_json(self) -> None:
        media_type = self.content_type
        if media_type not in _JSON_TYPES and not media_type.endswith("+json"):
            raise HTTPException(415, "Expected a JSON body (Content-Type: application/json)")

    def _expect_form(self) -> str | None:
        """415 unless the body is a form; the multipart boundary, or None (url-encoded)."""
        media_type = self.content_type
        if media_type == _FORM_TYPE:
            return None
        if media_type == _MULTIPART_TYPE:
            return _multipart.boundary_of(self.headers["content-type"])
        raise HTTPException(
            415, f"Expected a form body (Content-Type: {_FORM_TYPE} or {_MULTIPART_TYPE})"
        )

    def _parse_form(self, body: bytes) -> FormData:
        pairs = parse_urlencoded(
            body.decode("latin-1"),
            max_fields=self.limit("max_form_fields"),
            what="form body",
            max_field_size=self.limit("max_field_size"),
        )
        return FormData(pairs)

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.root_path}{self.path}>"


def _too_large(limit: int) -> HTTPException:
    return HTTPException(413, f"Request body is larger than max_body_size ({limit} bytes)")


def _parse_json(body: bytes) -> Any:
    if not body.strip():
        raise HTTPException(400, "Invalid JSON: the body is empty")
    return parse_json(body)


def parse_json(data: str | bytes) -> Any:
    """A JSON document (RFC 8259) as Python objects; 400 with the reason if it is not one.

    Stricter than ``json.loads``, so that what a handler gets can be sent
    back (``dump_json``) or stored without a 500: bytes must be UTF-8 (RFC
    8259 §8.1; json.loads would take UTF-16 and UTF-32 and let encoded
    surrogates through), NaN, Infinity and numbers that overflow a float
    are refused (§6), and so are strings with an unpaired surrogate escape
    (``"\\ud800"``, §8.2). Duplicate keys are allowed: the last one wins.
    """
    if isinstance(data, bytes):
        try:
            # Plain utf-8 and removeprefix, not the utf-8-sig codec: ~1 µs less per
            # body. A byte order mark may be ignored (§8.1), as json.loads does.
            data = data.decode("utf-8").removeprefix("\ufeff")
        except UnicodeDecodeError:
            raise HTTPException(400, "Invalid JSON: not valid UTF-8") from None
    try:
        value = _JSON_DECODER.decode(data)
    except (ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else _json_reason(exc)
        raise HTTPException(400, f"Invalid JSON: {reason}") from None
    # Only an escape can give a surrogate (the text is valid Unicode): the
    # value is walked only for the few documents with such escapes. Most
    # documents have no backslash at all, which a one-character search (memchr)
    # tells far faster than the two substring searches.
    if "\\" in data and ("\\ud" in data or "\\uD" in data) and _has_surrogate(value):
        raise HTTPException(400, "Invalid JSON: a string has an unpaired surrogate")
    return value


def _has_surrogate(value: Any) -> bool:
    # A loop, not recursion: the value may be nested nearly as deep as the
    # parser allows, and one frame more would be a RecursionError.
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not item.isascii() and _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _json_reason(exc: ValueError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    return "number or string out of range"


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # 1e999 overflows: json.loads would give inf
        raise HTTPException(400, "Invalid JSON: number or string out of range")
    return value


def _no_constant(name: str) -> Any:
    raise HTTPException(400, f"Invalid JSON: {name} is not a JSON value")


_SURROGATE = re.compile("[\ud800-\udfff]")
# Built once: json.loads with hooks builds a decoder per call.
_JSON_DECODER = json.JSONDecoder(parse_float=_finite_float, parse_constant=_no_constant)
