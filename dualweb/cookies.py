"""Parsing the Cookie request header and formatting Set-Cookie values (RFC 6265)."""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone
from email.utils import format_datetime, formatdate
from typing import Literal

SameSite = Literal["lax", "strict", "none"]

# RFC 6265 §4.1.1 cookie-octet: visible ASCII except DQUOTE, comma, semicolon
# and backslash. Values made only of these are sent unquoted.
_PLAIN_VALUE = re.compile(r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*")
# RFC 9110 §5.6.2 token: the characters a cookie name may use.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FORBIDDEN = re.compile(r"[\x00\r\n]")
_ESCAPE = re.compile(r'[\x00-\x1f\x7f-\xff"\\,;]')
_UNESCAPE = re.compile(r"\\(?:([0-3][0-7][0-7])|(.))")


def parse_cookie_header(header: str, into: dict[str, str]) -> None:
    """Add the cookies of one ``Cookie`` header to ``into``.

    Real-world headers contain garbage (nameless pairs, stray quotes, bytes
    that are not ASCII); such parts are skipped or kept as they are, never
    raised on. The first occurrence of a name wins, as in most browsers' order
    (the most specific path is sent first).

    Header values arrive as latin-1 decoded bytes (under WSGI and ASGI
    alike); browsers send non-ASCII cookies as UTF-8, so a pair that is valid
    UTF-8 is decoded as such, and any other is kept as latin-1.
    """
    if not header.isascii():
        header = _utf8_pairs(header)
    for part in header.split(";"):
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or not name or name in into:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = _UNESCAPE.sub(_unescape_match, value[1:-1])
        into[name] = value


def _utf8_pairs(header: str) -> str:
    return ";".join(part if part.isascii() else _utf8(part) for part in header.split(";"))


def _utf8(text: str) -> str:
    try:
        return text.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return text  # not UTF-8 (or not from a header at all): keep it as it is


def _unescape_match(match: re.Match[str]) -> str:
    octal, char = match.groups()
    return chr(int(octal, 8)) if octal else char


def _escape_match(match: re.Match[str]) -> str:
    char = match.group()
    if char in '"\\':
        return "\\" + char
    return f"\\{ord(char):03o}"


def quote_cookie_value(value: str) -> str:
    """Quote a value that is not made only of cookie-octets.

    Uses the quoting of Python's http.cookies (backslash and octal escapes in
    double quotes), which :func:`parse_cookie_header` reverses; characters
    past U+00FF go as UTF-8 bytes (in the latin-1 text of header values).
    """
    if _PLAIN_VALUE.fullmatch(value):
        return value
    quoted = '"' + _ESCAPE.sub(_escape_match, value) + '"'
    if quoted.isascii():
        return quoted
    # Characters past U+00FF have no octal escape and no latin-1 byte (the
    # header could not be sent): they go as their UTF-8 bytes, which is what
    # browsers send back and what parse_cookie_header decodes.
    return quoted.encode().decode("latin-1")


def format_set_cookie(
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
) -> str:
    """Build the value of one Set-Cookie header, validating every part."""
    if not _TOKEN.fullmatch(key):
        raise ValueError(f"invalid cookie name: {key!r}")
    for label, part in (("value", value), ("path", path), ("domain", domain)):
        if part is not None and _FORBIDDEN.search(part):
            raise ValueError(f"cookie {label} must not contain CR, LF or NUL: {part!r}")
    for label, part in (("path", path), ("domain", domain)):
        if part is not None and ";" in part:
            raise ValueError(f"cookie {label} must not contain ';': {part!r}")
    pieces = [f"{key}={quote_cookie_value(value)}"]
    if max_age is not None:
        pieces.append(f"Max-Age={int(max_age)}")
    if expires is not None:
        pieces.append(f"Expires={_format_expires(expires)}")
    if path is not None:
        pieces.append(f"Path={path}")
    if domain is not None:
        pieces.append(f"Domain={domain}")
    if secure:
        pieces.append("Secure")
    if httponly:
        pieces.append("HttpOnly")
    if samesite is not None:
        if samesite.lower() not in ("lax", "strict", "none"):
            raise ValueError(f"samesite must be 'lax', 'strict' or 'none', not {samesite!r}")
        pieces.append(f"SameSite={samesite.capitalize()}")
    return "; ".join(pieces)


def _format_expires(expires: datetime | float | str) -> str:
    if isinstance(expires, datetime):
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=timezone.utc)
        return format_datetime(expires.astimezone(timezone.utc), usegmt=True)
    if isinstance(expires, (int, float)):
        # A number is seconds from now, as in Starlette and Werkzeug.
        return formatdate(time.time() + expires, usegmt=True)
    if _FORBIDDEN.search(expires) or ";" in expires:
        raise ValueError(f"invalid cookie expires: {expires!r}")
    return expires
