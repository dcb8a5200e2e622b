"""Redirects to a target the client chose (``?next=``), without open redirects.

A login page that redirects to ``request.query_params["next"]`` sends its
users wherever a link crafted by someone else says, unless the target is
checked: :func:`is_safe_url` accepts a path on this site, and an absolute
URL only for the hosts it is told to trust; :func:`safe_redirect` redirects
to the target when it is safe, to a fallback otherwise.

The checks follow how browsers read a ``Location`` (the WHATWG URL
standard), which is laxer than RFC 3986: they treat ``\\`` as ``/``, drop
tabs and newlines anywhere and control characters and spaces at either
end, and read ``//host`` (and ``///host``) as another host. A target with
any of these is refused outright rather than normalised.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from .responses import RedirectResponse

__all__ = ["is_safe_url", "safe_redirect"]

# C0 controls, DEL and backslash: browsers strip or reinterpret all of them.
_UNSAFE_CHARS = re.compile(r"[\x00-\x1f\x7f\\]").search
_WEB_SCHEMES = ("http", "https")


def is_safe_url(
    url: str | None, *, allowed_hosts: Iterable[str] = (), require_https: bool = False
) -> bool:
    """Whether redirecting to ``url`` keeps the client on this site or a trusted host.

    Accepted: a relative reference that stays on the current host (``/account``,
    ``page2``, ``?tab=1``, ``#top``), and an absolute ``http``/``https`` URL
    (or scheme-relative ``//host/path``) whose host is in ``allowed_hosts``.
    The host is compared case-insensitively with each entry, port included
    when the URL has one (``"example.com:8443"``).

    Refused: anything else, in particular other hosts (``//evil.com``,
    ``https://evil.com``), other schemes (``javascript:``, ``data:``),
    ``http:evil`` and ``https:///evil`` (a scheme without a host), userinfo
    (``https://good@evil``), backslashes anywhere (``/\\evil.com``), control
    characters anywhere and spaces at either end, an empty or missing
    ``url``, and any URL that does not parse.

    With ``require_https``, an absolute URL must use ``https``, and a
    scheme-relative one (whose scheme would be the current page's) is
    refused; relative references are unaffected.
    """
    if not url or not isinstance(url, str) or _UNSAFE_CHARS(url) or url != url.strip(" "):
        return False
    try:
        parts = urlsplit(url)
        # Reading the port validates it (ValueError when it is not a number).
        _ = parts.port
    except ValueError:
        return False
    if not parts.scheme and not parts.netloc:
        # A relative reference. "///evil.com" parses as the path "/evil.com",
        # but a browser reads it as the host evil.com.
        return not url.startswith("//")
    if parts.scheme and parts.scheme.lower() not in _WEB_SCHEMES:
        return False
    if require_https and parts.scheme.lower() != "https":
        return False
    netloc = parts.netloc.lower()
    if not netloc or "@" in netloc:
        return False
    return netloc in {host.lower() for host in allowed_hosts}


def safe_redirect(
    target: str | None,
    fallback: str = "/",
    *,
    allowed_hosts: Iterable[str] = (),
    require_https: bool = False,
    status: int = 303,
) -> RedirectResponse:
    """A redirect to ``target`` if :func:`is_safe_url` accepts it, else to ``fallback``.

    For targets that come from the client (``?next=``, a form field, the
    Referer). ``fallback`` is the application's own choice and is not
    checked. The status is 303 by default, which makes the browser follow
    with a GET whatever the method of the request (what a form post wants);
    the target goes through :class:`~dualweb.responses.RedirectResponse`,
    which percent-encodes what a ``Location`` header cannot carry.
    """
    safe = is_safe_url(target, allowed_hosts=allowed_hosts, require_https=require_https)
    location = target if safe and target is not None else fallback
    return RedirectResponse(location, status)
