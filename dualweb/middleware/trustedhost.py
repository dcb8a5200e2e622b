"""Refusing requests whose Host header names a host the app does not serve.

A forged Host header is how absolute URLs built from ``request.host``
(password-reset links, redirects) are made to point elsewhere, and how a
cache is poisoned; checking it against a list closes that door.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..responses import PlainTextResponse, RedirectResponse, Response
from .base import Middleware

if TYPE_CHECKING:
    from ..requests import Request


class TrustedHostMiddleware(Middleware):
    """Answer 400 "Invalid host header" unless the Host is in ``allowed_hosts``.

    Entries are host names (``"example.com"``), IP addresses (``"::1"`` or
    ``"[::1]"``), ``"*.example.com"`` for any subdomain of example.com (not
    example.com itself), or ``"*"`` for any host. The port is not compared.
    With ``www_redirect``, a request for ``example.com`` when only
    ``www.example.com`` is allowed is redirected there (308) instead.
    """

    inline = True

    def __init__(self, allowed_hosts: Iterable[str], *, www_redirect: bool = False) -> None:
        if isinstance(allowed_hosts, str):
            raise TypeError("allowed_hosts must be a list of host names, not a str")
        self.allow_any = False
        self.hosts: set[str] = set()
        self.suffixes: list[str] = []
        for pattern in allowed_hosts:
            if pattern == "*":
                self.allow_any = True
            elif pattern.startswith("*.") and ":" not in pattern:
                self.suffixes.append("." + _allowed_host(pattern[2:], pattern))
            else:
                self.hosts.add(_allowed_host(pattern, pattern))
        self.www_redirect = www_redirect

    def is_allowed(self, host: str) -> bool:
        """Whether a host name (without port, normalised) is allowed."""
        return host in self.hosts or any(host.endswith(suffix) for suffix in self.suffixes)

    def before_request(self, request: Request) -> Response | None:
        if self.allow_any:
            return None
        header = request.headers.get("host", "")
        host = split_host(header)
        if host is not None and self.is_allowed(host):
            return None
        if host is not None and self.www_redirect and self.is_allowed("www." + host):
            # A valid host has no '/', so the path (and query) start at the first.
            after_scheme = request.url.partition("://")[2]
            path = after_scheme[after_scheme.index("/") :]
            return RedirectResponse(f"{request.scheme}://www.{header.strip()}{path}", 308)
        return PlainTextResponse("Invalid host header", 400)


def split_host(header: str) -> str | None:
    """The host of a Host header value, without port, lower-case; None if malformed.

    ``example.com:8000`` → ``example.com``; ``[::1]:8000`` → ``::1``.
    """
    header = header.strip()
    if header.startswith("["):
        literal, bracket, port = header[1:].partition("]")
        if not bracket or (port and not _is_port(port[1:])) or (port and port[0] != ":"):
            return None
        try:
            return str(ipaddress.IPv6Address(literal))
        except ValueError:
            return None
    name, colon, port = header.partition(":")
    if colon and not _is_port(port):
        return None
    name = name.lower().removesuffix(".")
    if not name or not all(part and _is_label(part) for part in name.split(".")):
        return None
    return name


def _allowed_host(text: str, pattern: str) -> str:
    """An entry of ``allowed_hosts``, normalised as :func:`split_host` does; no port."""
    text = text.strip()
    if ":" in text and not text.startswith("["):
        text = f"[{text}]"  # a bare IPv6 address
    host = split_host(text)
    if host is None or (text.startswith("[") and not text.endswith("]")):
        raise ValueError(
            f"invalid allowed host pattern: {pattern!r} "
            "(a host name or IP address without port, '*.example.com' or '*')"
        )
    return host


def _is_port(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 5


def _is_label(label: str) -> bool:
    # RFC 3986 reg-name, as host names use it: letters, digits, '-', '_'.
    return label.isascii() and label.replace("-", "").replace("_", "").isalnum()
