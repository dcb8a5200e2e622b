"""Cross-Origin Resource Sharing: the response headers that let browsers share.

The CORS protocol is defined by the Fetch standard (§3.2): a cross-origin
request carries ``Origin``; the response says which origin may read it. A
request that is not "simple" is preceded by a preflight (``OPTIONS`` with
``Access-Control-Request-Method``), which this middleware answers itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..responses import PlainTextResponse, Response
from ._vary import add_vary
from .base import Middleware

if TYPE_CHECKING:
    from ..requests import Request

# Fetch §2.2.2: request headers a browser sends without asking (for simple
# values). Browsers still list Content-Type in a preflight when its value is
# not form-like (application/json), so it must be allowed to be useful.
_SAFELISTED_HEADERS = frozenset({"accept", "accept-language", "content-language", "content-type"})


class CORSMiddleware(Middleware):
    """Answer CORS preflights and add CORS headers to cross-origin responses.

    ``allow_origins``: exact origins (``"https://example.com"``), or ``"*"``
    for any. ``allow_origin_regex``: origins matching it in full are allowed
    too. ``allow_methods`` and ``allow_headers`` (``"*"`` for any) are what a
    preflight may ask for; the CORS-safelisted request headers are always
    allowed. ``allow_credentials`` lets the browser send cookies and read the
    response; the allowed origin is then echoed, never ``*``.
    ``expose_headers`` are response headers scripts may read; ``max_age`` is
    how long (seconds) browsers may cache a preflight's answer.
    """

    inline = True

    def __init__(
        self,
        allow_origins: Iterable[str] = (),
        allow_origin_regex: str | None = None,
        allow_methods: Iterable[str] = ("GET", "HEAD", "POST"),
        allow_headers: Iterable[str] = (),
        allow_credentials: bool = False,
        expose_headers: Iterable[str] = (),
        max_age: int = 600,
    ) -> None:
        origins = _as_list(allow_origins, "allow_origins")
        for origin in origins:
            if origin not in ("*", "null") and "/" in origin.partition("://")[2]:
                raise ValueError(
                    f"an allowed origin is scheme://host[:port] without a path: {origin!r}"
                )
        self.allow_all_origins = "*" in origins
        self.allow_origins = frozenset(origins)
        self.allow_origin_regex = re.compile(allow_origin_regex) if allow_origin_regex else None
        methods = [method.upper() for method in _as_list(allow_methods, "allow_methods")]
        self.allow_all_methods = "*" in methods
        self.allow_methods = frozenset(methods)
        headers = [header.lower() for header in _as_list(allow_headers, "allow_headers")]
        self.allow_all_headers = "*" in headers
        self.allow_headers = _SAFELISTED_HEADERS.union(headers)
        self.allow_credentials = allow_credentials
        self.expose_headers = ", ".join(_as_list(expose_headers, "expose_headers"))
        if max_age < 0:
            raise ValueError("max_age must not be negative")
        self.max_age = max_age
        # With "*" and no credentials every origin gets the same answer, so
        # caches need not key it by Origin.
        self.varies_by_origin = not self.allow_all_origins or allow_credentials
        self._preflight_methods = (
            None if self.allow_all_methods else ", ".join(sorted(self.allow_methods))
        )
        self._preflight_headers = (
            None if self.allow_all_headers else ", ".join(sorted(self.allow_headers))
        )

    def is_allowed_origin(self, origin: str) -> bool:
        if self.allow_all_origins or origin in self.allow_origins:
            return True
        regex = self.allow_origin_regex
        return regex is not None and regex.fullmatch(origin) is not None

    def before_request(self, request: Request) -> Response | None:
        if request.method != "OPTIONS":
            return None
        headers = request.headers
        origin = headers.get("origin")
        requested_method = headers.get("access-control-request-method")
        if origin is None or requested_method is None:
            return None  # an ordinary OPTIONS request: routing answers it
        return self._preflight(origin, requested_method.strip(), request)

    def _preflight(self, origin: str, method: str, request: Request) -> Response:
        requested = [
            name.strip().lower()
            for name in request.headers.get("access-control-request-headers", "").split(",")
            if name.strip()
        ]
        refused = []
        if not self.is_allowed_origin(origin):
            refused.append("origin")
        if not self.allow_all_methods and method not in self.allow_methods:
            refused.append("method")
        if not self.allow_all_headers and not self.allow_headers.issuperset(requested):
            refused.append("headers")
        if refused:
            response: Response = PlainTextResponse(f"Disallowed CORS {', '.join(refused)}", 400)
        else:
            response = Response(status=204)
            headers = response.headers
            self._allow_origin(response, origin)
            # "*" is only a wildcard for requests without credentials
            # (Fetch §3.2.3), so the wildcards answer with what was asked.
            headers["Access-Control-Allow-Methods"] = self._preflight_methods or method
            allowed_headers = self._preflight_headers or ", ".join(requested)
            if allowed_headers:
                headers["Access-Control-Allow-Headers"] = allowed_headers
            headers["Access-Control-Max-Age"] = str(self.max_age)
        if self.varies_by_origin:
            add_vary(response, "Origin")
        return response

    def after_request(self, request: Request, response: Response) -> None:
        origin = request.headers.get("origin")
        if origin is not None and self.is_allowed_origin(origin):
            self._allow_origin(response, origin)
            if self.expose_headers:
                response.headers["Access-Control-Expose-Headers"] = self.expose_headers
        # Also on responses to requests without Origin: a shared cache must
        # not hand one of those (without CORS headers) to a CORS request.
        if self.varies_by_origin or origin is None:
            add_vary(response, "Origin")

    def _allow_origin(self, response: Response, origin: str) -> None:
        headers = response.headers
        if self.varies_by_origin:
            headers["Access-Control-Allow-Origin"] = origin
        else:
            headers["Access-Control-Allow-Origin"] = "*"
        if self.allow_credentials:
            headers["Access-Control-Allow-Credentials"] = "true"


def _as_list(values: Iterable[str], name: str) -> list[str]:
    if isinstance(values, str):
        raise TypeError(f"{name} must be a list of strings, not a str")
    return list(values)
