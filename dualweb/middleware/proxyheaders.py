"""The client's address, scheme and host as a trusted reverse proxy reports them.

Behind a proxy the server sees the proxy as the peer, over plain HTTP. The
proxy passes the original values in ``X-Forwarded-For``, ``-Proto`` and
``-Host`` (or in the standard ``Forwarded`` header, RFC 7239). Anyone can
send those headers, so they are believed only when the direct peer is a
proxy listed as trusted, and in ``X-Forwarded-For`` only as far as the chain
of trusted proxies reaches.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import TYPE_CHECKING, Literal

from ..datastructures import Address
from .base import Middleware

if TYPE_CHECKING:
    from ..requests import Request, RequestSource

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_Ip = ipaddress.IPv4Address | ipaddress.IPv6Address

_SCHEMES = frozenset({"http", "https"})
# A Host value: a reg-name or IPv4 address, or a bracketed IPv6 literal,
# with an optional port (RFC 9110 §7.2, RFC 3986 §3.2.2).
_HOST = re.compile(r"(?:[A-Za-z0-9._~-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")
# One forwarded-pair of RFC 7239 §4: token "=" ( token / quoted-string ).
_PAIR = re.compile(r'\s*([!#$%&\'*+.^_`|~0-9A-Za-z-]+)=("(?:[^"\\]|\\.)*"|[^;,"\s]*)\s*')
_QUOTED_PAIR = re.compile(r"\\(.)")


class ProxyHeadersMiddleware(Middleware):
    """Make ``request.client``, ``scheme``, ``host`` and ``url`` the proxy's report.

    ``trusted_proxies``: IP addresses and networks (``"10.0.0.0/8"``) whose
    forwarded headers are believed, or ``"*"`` to believe any peer (only when
    nothing but the proxy can reach the app, as with a Unix socket, where the
    server reports no peer address). ``headers="x-forwarded"`` reads
    ``X-Forwarded-For``, ``X-Forwarded-Proto`` and ``X-Forwarded-Host``;
    ``headers="forwarded"`` reads ``Forwarded`` instead. Only the headers
    your proxy sets (or clears) may be read: any other passes through from
    the client unchanged.
    """

    inline = True

    def __init__(
        self,
        trusted_proxies: Iterable[str] = ("127.0.0.1", "::1"),
        *,
        headers: Literal["x-forwarded", "forwarded"] = "x-forwarded",
    ) -> None:
        if isinstance(trusted_proxies, str):
            raise TypeError("trusted_proxies must be a list of addresses, not a str")
        if headers not in ("x-forwarded", "forwarded"):
            raise ValueError(f"headers must be 'x-forwarded' or 'forwarded', not {headers!r}")
        self.headers = headers
        self.trust_all = False
        self.networks: list[_Network] = []
        for entry in trusted_proxies:
            if entry == "*":
                self.trust_all = True
                continue
            try:
                self.networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                raise ValueError(f"not an IP address or network: {entry!r}") from None

    def is_trusted(self, host: str | None) -> bool:
        """Whether a peer address (as the server reports it) is a trusted proxy."""
        if self.trust_all:
            return True
        ip = _parse_ip(host) if host is not None else None
        return ip is not None and any(ip in network for network in self.networks)

    def before_request(self, request: Request) -> None:
        peer = request.client
        if not self.is_trusted(peer.host if peer is not None else None):
            return
        if self.headers == "forwarded":
            client, scheme, host = self._read_forwarded(request)
        else:
            client, scheme, host = self._read_x_forwarded(request)
        if client is None and scheme is None and host is None:
            return
        request._source = _ForwardedSource(request._source, client, scheme, host)
        # The headers were read above (a lazy slot): drop them so that they
        # are read again, from the new source, with the new Host.
        if host is not None and hasattr(request, "_headers"):
            del request._headers

    def _read_x_forwarded(self, request: Request) -> tuple[Address | None, str | None, str | None]:
        headers = request.headers
        client = None
        forwarded_for = headers.get("x-forwarded-for")
        if forwarded_for is not None:
            hops = [_parse_node(hop) for hop in forwarded_for.split(",")]
            client = hops[self._client_hop(hops)]
        # The right-most value is the one the nearest (trusted) proxy set.
        scheme = _last(headers.get("x-forwarded-proto"))
        host = _last(headers.get("x-forwarded-host"))
        return client, _valid_scheme(scheme), _valid_host(host)

    def _read_forwarded(self, request: Request) -> tuple[Address | None, str | None, str | None]:
        value = request.headers.get("forwarded")
        if value is None:
            return None, None, None
        elements = [_parse_element(element) for element in _split_outside_quotes(value, ",")]
        hops = [_parse_node(element.get("for", "")) for element in elements]
        chosen = self._client_hop(hops)
        # Each element describes one hop: the one that reached the first
        # trusted proxy carries the proto and host the client used.
        element = elements[chosen]
        return hops[chosen], _valid_scheme(element.get("proto")), _valid_host(element.get("host"))

    def _client_hop(self, hops: list[Address | None]) -> int:
        """Index of the right-most hop that is not a trusted proxy (``hops`` is not empty).

        Each proxy appends the peer it saw, so only what lies right of the
        last untrusted hop is vouched for: anything further left may be
        forged. A malformed hop (None) also ends the walk; the client is
        then unknown. When every hop is trusted, the left-most is the client.
        """
        for index in range(len(hops) - 1, -1, -1):
            hop = hops[index]
            if hop is None or not self.is_trusted(hop.host):
                return index
        return 0


class _ForwardedSource:
    """The adapter's request source, with the proxy's client, scheme and host."""

    __slots__ = ("_client", "_host", "_scheme", "inner", "interface")

    def __init__(
        self, inner: RequestSource, client: Address | None, scheme: str | None, host: str | None
    ) -> None:
        #: The adapter's source (mounts build the mounted app's request from it).
        self.inner = inner
        self.interface = inner.interface
        self._client = client
        self._scheme = scheme
        self._host = host

    def header_items(self) -> list[tuple[str, str]]:
        items = self.inner.header_items()
        if self._host is None:
            return items
        return [(name, value) for name, value in items if name.lower() != "host"] + [
            ("host", self._host)
        ]

    def query_string(self) -> str:
        return self.inner.query_string()

    def header(self, name: str) -> str | None:
        if name == "host" and self._host is not None:
            return self._host
        return self.inner.header(name)

    def scheme(self) -> str:
        return self._scheme if self._scheme is not None else self.inner.scheme()

    def server(self) -> tuple[str, int | None] | None:
        return self.inner.server()

    def client(self) -> Address | None:
        return self._client if self._client is not None else self.inner.client()

    def iter_body(self) -> Iterator[bytes]:
        return self.inner.iter_body()

    def aiter_body(self) -> AsyncIterator[bytes]:
        return self.inner.aiter_body()


def _last(value: str | None) -> str | None:
    if value is None:
        return None
    return value.rpartition(",")[2].strip()


def _valid_scheme(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip().lower()
    return value if value in _SCHEMES else None


def _valid_host(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value if _HOST.fullmatch(value) else None


def _parse_ip(text: str) -> _Ip | None:
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    # A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d.
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _parse_node(text: str) -> Address | None:
    """An address from X-Forwarded-For or ``for=``: ``ip``, ``ip:port``, ``[ipv6]:port``."""
    text = text.strip()
    port: int | None = None
    if text.startswith("["):
        text, bracket, rest = text[1:].partition("]")
        if not bracket:
            return None
        if rest:
            if not rest.startswith(":") or not _is_port(rest[1:]):
                return None
            port = int(rest[1:])
    elif text.count(":") == 1:
        text, _, port_text = text.partition(":")
        if not _is_port(port_text):
            return None
        port = int(port_text)
    ip = _parse_ip(text)
    if ip is None:
        return None
    return Address(str(ip), port)


def _is_port(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 5 and int(text) <= 65535


def _split_outside_quotes(value: str, separator: str) -> list[str]:
    """Split on ``separator`` where it is not inside a quoted-string."""
    parts = []
    start = 0
    quoted = escaped = False
    for index, char in enumerate(value):
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append(value[start:index])
            start = index + 1
    parts.append(value[start:])
    return parts


def _parse_element(element: str) -> dict[str, str]:
    """The pairs of one forwarded-element (``for=...;proto=...``), names lower-case."""
    pairs: dict[str, str] = {}
    for part in _split_outside_quotes(element, ";"):
        match = _PAIR.fullmatch(part)
        if match is None:
            continue
        name, value = match.group(1).lower(), match.group(2)
        if value.startswith('"'):
            value = _QUOTED_PAIR.sub(r"\1", value[1:-1])
        pairs.setdefault(name, value)
    return pairs
