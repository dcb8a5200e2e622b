"""Responses: a status, headers and a body (bytes, or a stream of chunks)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterable, Callable, Iterable, Iterator, Mapping
from datetime import datetime
from http import HTTPStatus
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any
from urllib.parse import quote

from .background import BackgroundTasks
from .cookies import SameSite, format_set_cookie

HeadersInput = Mapping[str, str] | Iterable[tuple[str, str]] | None
Content = Iterable[bytes | str] | AsyncIterable[bytes | str]

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_UNSAFE_VALUE = re.compile(r"[\x00\r\n]")

#: "200 OK" and friends, for WSGI's status line.
STATUS_LINES: dict[int, str] = {}
for _code in range(100, 600):
    try:
        STATUS_LINES[_code] = f"{_code} {HTTPStatus(_code).phrase}"
    except ValueError:
        STATUS_LINES[_code] = f"{_code} Unknown"

#: Statuses that never carry a body (RFC 9110 §6.4.1).
BODILESS_STATUSES = frozenset({*range(100, 200), 204, 304})


def check_header(name: str, value: str) -> None:
    """Refuse header names that are not tokens and values with CR, LF or NUL.

    Such a value would let whoever controls it end the header and inject
    others (response splitting), so it is an error, never sent.
    """
    if not isinstance(name, str) or not _TOKEN.fullmatch(name):
        raise ValueError(f"invalid header name: {name!r}")
    if not isinstance(value, str):
        raise TypeError(f"header {name!r} must be a str, not {type(value).__name__}")
    if _UNSAFE_VALUE.search(value):
        raise ValueError(f"header {name!r} contains CR, LF or NUL: {value!r}")
    if not value.isascii():
        try:
            value.encode("latin-1")
        except UnicodeEncodeError:
            raise ValueError(f"header {name!r} is not latin-1 encodable: {value!r}") from None


class MutableHeaders:
    """Live, case-insensitive view of a response's header list."""

    __slots__ = ("_items",)

    def __init__(self, items: list[tuple[str, str]]) -> None:
        self._items = items

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def get(self, name: str, default: str | None = None) -> str | None:
        name = name.lower()
        for key, value in self._items:
            if key == name:
                return value
        return default

    def getlist(self, name: str) -> list[str]:
        name = name.lower()
        return [value for key, value in self._items if key == name]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __setitem__(self, name: str, value: str) -> None:
        """Replace every value of ``name`` with ``value``."""
        check_header(name, value)
        name = name.lower()
        self._items[:] = [(k, v) for k, v in self._items if k != name]
        self._items.append((name, value))

    def __delitem__(self, name: str) -> None:
        name = name.lower()
        self._items[:] = [(k, v) for k, v in self._items if k != name]

    def append(self, name: str, value: str) -> None:
        """Add a value, keeping the others (for headers such as Set-Cookie)."""
        check_header(name, value)
        self._items.append((name.lower(), value))

    def setdefault(self, name: str, value: str) -> str:
        existing = self.get(name)
        if existing is not None:
            return existing
        self.append(name, value)
        return value

    def items(self) -> list[tuple[str, str]]:
        return list(self._items)

    def __iter__(self) -> Iterator[str]:
        return iter([key for key, _ in self._items])

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"MutableHeaders({self._items!r})"


class Response:
    """A response with a body known in full.

    ``body`` may be bytes or str (encoded as UTF-8). ``media_type`` sets
    Content-Type (``charset=utf-8`` is added for text types); Content-Length
    is always set, except for statuses that have no body.

    What is sent: ``status_code``, ``raw_headers`` (:attr:`headers` is a
    view of them), ``body`` as bytes, and :attr:`stream` instead of it when
    not None.
    """

    __slots__ = ("background", "body", "raw_headers", "status_code", "stream")

    #: The Content-Type a subclass gives when the constructor is not told one.
    media_type: str | None = None

    def __init__(
        self,
        body: bytes | str = b"",
        status: int = 200,
        headers: HeadersInput = None,
        media_type: str | None = None,
    ) -> None:
        self._start(status, body.encode() if isinstance(body, str) else bytes(body), headers)
        #: For streaming responses, the chunks; None when ``body`` is all.
        self.stream: Content | None = None
        self._add_entity_headers(media_type or self.media_type, len(self.body))

    @classmethod
    def _ok(cls, body: bytes) -> Response:
        """200 with ``body`` and this class's media type: what most handlers return.

        The same as ``cls(body)``, without the checks a caller's arguments need.
        """
        assert cls.media_type is not None
        response = cls.__new__(cls)
        response.status_code = 200
        response.body = body
        response.raw_headers = [
            ("content-type", _CONTENT_TYPES.get(cls.media_type) or _with_charset(cls.media_type)),
            ("content-length", str(len(body))),
        ]
        response.stream = None
        response.background = None
        return response

    @classmethod
    def _as_given(
        cls, status: int, headers: HeadersInput, body: bytes, stream: Content | None
    ) -> Response:
        """A response exactly as another app gave it: headers checked, none added."""
        response = cls.__new__(cls)
        response._start(status, body, headers)
        response.stream = stream
        return response

    def _start(self, status: int, body: bytes, headers: HeadersInput) -> None:
        if not isinstance(status, int) or not 100 <= status <= 599:
            raise ValueError(f"invalid status code: {status!r}")
        self.status_code = status
        self.body = body
        #: (lower-case name, value) pairs, in order, as they will be sent.
        self.raw_headers: list[tuple[str, str]] = _collect_headers(headers)
        #: Tasks to run once this response has been sent (see :meth:`add_task`).
        self.background: BackgroundTasks | None = None

    def _add_entity_headers(self, media_type: str | None, length: int | None) -> None:
        if self.status_code in BODILESS_STATUSES:
            if self.body:
                raise ValueError(f"a {self.status_code} response cannot have a body")
            return
        if self.raw_headers:
            present = {name for name, _ in self.raw_headers}
            if media_type is not None and "content-type" not in present:
                self.raw_headers.append(("content-type", _with_charset(media_type)))
            if length is not None and "content-length" not in present:
                self.raw_headers.append(("content-length", str(length)))
            return
        if media_type is not None:
            self.raw_headers.append(("content-type", _with_charset(media_type)))
        if length is not None:
            self.raw_headers.append(("content-length", str(length)))

    @property
    def headers(self) -> MutableHeaders:
        """The headers as a case-insensitive, mutable mapping (a view of ``raw_headers``)."""
        return MutableHeaders(self.raw_headers)

    @property
    def status(self) -> int:
        """``status_code``, under a shorter name."""
        return self.status_code

    def add_task(self, func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> None:
        """Call ``func(*args, **kwargs)`` once this response has been sent.

        ``func`` may be sync or async; see :class:`~dualweb.background.BackgroundTasks`.
        """
        if self.background is None:
            self.background = BackgroundTasks()
        self.background.add(func, *args, **kwargs)

    def set_cookie(
        self,
        key: str,
        value: str = "",
        *,
        max_age: int | None = None,
        expires: datetime | float | str | None = None,
        path: str | None = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = False,
        samesite: SameSite | None = "lax",
    ) -> None:
        """Add a Set-Cookie header; invalid names or values raise ValueError."""
        self.raw_headers.append(
            (
                "set-cookie",
                format_set_cookie(
                    key,
                    value,
                    max_age=max_age,
                    expires=expires,
                    path=path,
                    domain=domain,
                    secure=secure,
                    httponly=httponly,
                    samesite=samesite,
                ),
            )
        )

    def delete_cookie(
        self,
        key: str,
        *,
        path: str | None = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = False,
        samesite: SameSite | None = "lax",
    ) -> None:
        """Tell the client to drop a cookie (same path and domain as when set)."""
        self.set_cookie(
            key,
            "",
            max_age=0,
            expires="Thu, 01 Jan 1970 00:00:00 GMT",
            path=path,
            domain=domain,
            secure=secure,
            httponly=httponly,
            samesite=samesite,
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.status_code}>"


def _with_charset(media_type: str) -> str:
    try:
        return _CONTENT_TYPES[media_type]
    except KeyError:
        pass
    value = media_type
    if media_type.startswith("text/") and "charset=" not in media_type:
        value = f"{media_type}; charset=utf-8"
    if len(_CONTENT_TYPES) < 256:  # a per-request media type must not grow it forever
        _CONTENT_TYPES[media_type] = value
    return value


_CONTENT_TYPES: dict[str, str] = {}


def _collect_headers(headers: HeadersInput) -> list[tuple[str, str]]:
    if not headers:
        return []
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    collected = []
    for name, value in pairs:
        check_header(name, value)
        collected.append((name.lower(), value))
    return collected


class PlainTextResponse(Response):
    """A ``text/plain; charset=utf-8`` response (what a handler's str becomes)."""

    __slots__ = ()
    media_type = "text/plain"


class HTMLResponse(Response):
    """A ``text/html; charset=utf-8`` response."""

    __slots__ = ()
    media_type = "text/html"


class JSONResponse(Response):
    """``content`` serialised as compact UTF-8 JSON (NaN and Infinity refused)."""

    __slots__ = ()
    media_type = "application/json"

    def __init__(
        self,
        content: Any,
        status: int = 200,
        headers: HeadersInput = None,
        media_type: str | None = None,
    ) -> None:
        super().__init__(dump_json(content), status, headers, media_type)


def dump_json(content: Any) -> bytes:
    if _C_ENCODER is not None:
        return "".join(_C_ENCODER(content, 0)).encode()
    return _JSON_ENCODER.encode(content).encode()  # pragma: no cover - not CPython


# Built once: json.dumps with non-default options builds an encoder per call.
_JSON_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
# And JSONEncoder.encode() builds its C encoder (and a dict for the circular
# reference check) per call, a microsecond of a small response's few: this is
# that C encoder, built once. Without the check, a structure that contains
# itself ends in a RecursionError rather than a ValueError: a 500 either way.
_C_ENCODER = (
    None
    if c_make_encoder is None
    else c_make_encoder(
        None, _JSON_ENCODER.default, encode_basestring, None, ":", ",", False, False, False
    )
)


class RedirectResponse(Response):
    """Redirect to ``url`` (302 by default; 307/308 keep the method and body)."""

    __slots__ = ()
    media_type = "text/plain"

    def __init__(self, url: str, status: int = 302, headers: HeadersInput = None) -> None:
        if not 300 <= status <= 399:
            raise ValueError(f"a redirect needs a 3xx status, not {status}")
        location = quote(url, safe=":/%#?=@[]!$&'()*+,;~")
        super().__init__(b"", status, [*_collect_headers(headers), ("location", location)])


class StreamingResponse(Response):
    """A body sent chunk by chunk from a sync or async iterable.

    Sync iterables run in the thread pool under ASGI and async ones on the
    worker thread's loop under WSGI, so either kind works under both.
    """

    __slots__ = ()

    def __init__(
        self,
        content: Content,
        status: int = 200,
        headers: HeadersInput = None,
        media_type: str | None = None,
    ) -> None:
        self._start(status, b"", headers)
        self.stream = content
        self._add_entity_headers(media_type or self.media_type, None)


def to_response(result: Any) -> Response:
    """Turn a handler's return value into a Response.

    str → text/plain; dict or list → JSON; bytes → application/octet-stream;
    None → 204; a Response as is; ``(body, status)`` or
    ``(body, status, headers)`` tuples around any of these bodies.
    """
    if isinstance(result, Response):
        return result
    if isinstance(result, str):
        return PlainTextResponse._ok(result.encode())
    if isinstance(result, (dict, list)):
        return JSONResponse._ok(dump_json(result))
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
