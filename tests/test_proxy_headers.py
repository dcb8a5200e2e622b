"""ProxyHeadersMiddleware and TrustedHostMiddleware."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dualweb import Address, App
from dualweb.middleware import Middleware, ProxyHeadersMiddleware, TrustedHostMiddleware
from dualweb.middleware.proxyheaders import (
    _ForwardedSource,
    _parse_element,
    _parse_node,
    _split_outside_quotes,
)
from dualweb.middleware.trustedhost import split_host


def echo_app(*middleware: Middleware) -> App:
    app = App()
    for item in middleware:
        app.add_middleware(item)

    @app.get("/where", name="where")
    def where(request):
        client = request.client
        return {
            "client": list(client) if client is not None else None,
            "scheme": request.scheme,
            "host": request.host,
            "url": request.url,
            "url_for": request.url_for("where"),
            "interface": request.interface,
        }

    @app.post("/echo")
    def echo(request):
        return {"json": request.json(), "client": request.client.host}

    @app.post("/aecho")
    async def aecho(request):
        return {"json": await request.ajson(), "client": request.client.host}

    return app


FORWARDED = {
    "X-Forwarded-For": "203.0.113.7",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "shop.example.com",
}


def test_headers_of_a_trusted_proxy_are_applied(make_client):
    client = make_client(echo_app(ProxyHeadersMiddleware()))
    data = client.get("/where?q=1", headers=FORWARDED).json()
    assert data["client"] == ["203.0.113.7", None]
    assert data["scheme"] == "https"
    assert data["host"] == "shop.example.com"
    assert data["url"] == "https://shop.example.com/where?q=1"
    assert data["url_for"] == "https://shop.example.com/where"


def test_headers_of_an_untrusted_peer_are_ignored(make_client):
    client = make_client(echo_app(ProxyHeadersMiddleware()), client=("198.51.100.9", 4000))
    data = client.get("/where", headers=FORWARDED).json()
    assert data["client"] == ["198.51.100.9", 4000]
    assert data["scheme"] == "http"
    assert data["host"] == "testserver"


def test_without_forwarded_headers_nothing_changes(make_client):
    client = make_client(echo_app(ProxyHeadersMiddleware()))
    data = client.get("/where").json()
    assert data["client"] == ["127.0.0.1", 50000]
    assert (data["scheme"], data["host"]) == ("http", "testserver")


@pytest.mark.parametrize(
    ("forwarded_for", "client"),
    [
        # The right-most address that is not a trusted proxy is the client...
        ("198.51.100.1, 203.0.113.7, 10.1.2.3", ["203.0.113.7", None]),
        # ...so an address the client made up, further left, is never used.
        ("6.6.6.6, 203.0.113.7", ["203.0.113.7", None]),
        # Only trusted proxies: the left-most is the client.
        ("10.0.0.3, 10.0.0.2", ["10.0.0.3", None]),
        ("203.0.113.7:5678", ["203.0.113.7", 5678]),
        ("[2001:db8::1]:443", ["2001:db8::1", 443]),
        ("[2001:db8::1]", ["2001:db8::1", None]),
        ("2001:DB8::1", ["2001:db8::1", None]),
        (" 203.0.113.7 ,10.0.0.9", ["203.0.113.7", None]),
        ("garbage, 203.0.113.7", ["203.0.113.7", None]),
        # Malformed where the walk needs it: the client is unknown, the peer stays.
        ("203.0.113.7, garbage", ["127.0.0.1", 50000]),
        ("not-an-ip", ["127.0.0.1", 50000]),
        ("", ["127.0.0.1", 50000]),
        ("1.2.3.4:99999", ["127.0.0.1", 50000]),
        ("1.2.3.4:port", ["127.0.0.1", 50000]),
        ("[2001:db8::1", ["127.0.0.1", 50000]),
        ("[2001:db8::1]443", ["127.0.0.1", 50000]),
        ("[2001:db8::1]:x", ["127.0.0.1", 50000]),
        ("999.1.1.1", ["127.0.0.1", 50000]),
    ],
)
def test_forwarded_for_chain(make_client, forwarded_for, client):
    app = echo_app(ProxyHeadersMiddleware(["127.0.0.1", "10.0.0.0/8"]))
    data = make_client(app).get("/where", headers={"X-Forwarded-For": forwarded_for}).json()
    assert data["client"] == client


@pytest.mark.parametrize(
    ("headers", "scheme", "host"),
    [
        ({"X-Forwarded-Proto": "HTTPS"}, "https", "testserver"),
        ({"X-Forwarded-Proto": "ftp"}, "http", "testserver"),
        ({"X-Forwarded-Proto": "javascript:alert(1)"}, "http", "testserver"),
        # The right-most value is the one the nearest proxy set.
        ({"X-Forwarded-Proto": "http, https"}, "https", "testserver"),
        ({"X-Forwarded-Host": "example.com:8443"}, "http", "example.com:8443"),
        ({"X-Forwarded-Host": "[::1]:8000"}, "http", "[::1]:8000"),
        ({"X-Forwarded-Host": "spoofed.example, example.com"}, "http", "example.com"),
        ({"X-Forwarded-Host": "evil.example/path"}, "http", "testserver"),
        ({"X-Forwarded-Host": "evil.example@x"}, "http", "testserver"),
        ({"X-Forwarded-Host": "a b"}, "http", "testserver"),
        ({"X-Forwarded-Host": ""}, "http", "testserver"),
        ({"X-Forwarded-Host": "example.com:123456"}, "http", "testserver"),
    ],
)
def test_forwarded_proto_and_host(make_client, headers, scheme, host):
    data = make_client(echo_app(ProxyHeadersMiddleware())).get("/where", headers=headers).json()
    assert (data["scheme"], data["host"]) == (scheme, host)
    assert data["client"] == ["127.0.0.1", 50000]


@pytest.mark.parametrize(
    ("trusted", "peer", "applied"),
    [
        (["127.0.0.1"], "127.0.0.1", True),
        (["127.0.0.1"], "127.0.0.2", False),
        (["127.0.0.0/8"], "127.0.0.2", True),
        (["10.0.0.0/8", "192.168.1.10"], "192.168.1.10", True),
        (["fd00::/8"], "fd12::1", True),
        (["::1"], "::1", True),
        # A dual-stack socket reports an IPv4 peer in IPv6 form.
        (["127.0.0.1"], "::ffff:127.0.0.1", True),
        (["*"], "198.51.100.9", True),
        (["*"], "not-an-address", True),
        (["127.0.0.1"], "localhost", False),
        ([], "127.0.0.1", False),
    ],
)
def test_trusted_proxies(make_client, trusted, peer, applied):
    app = echo_app(ProxyHeadersMiddleware(trusted))
    client = make_client(app, client=(peer, 1))
    data = client.get("/where", headers=FORWARDED).json()
    assert (data["client"] == ["203.0.113.7", None]) is applied
    assert (data["scheme"] == "https") is applied


def test_server_without_a_peer_address_is_trusted_only_with_star():
    # Behind a Unix socket the server reports no peer: only "*" can trust it.
    assert not ProxyHeadersMiddleware().is_trusted(None)
    assert ProxyHeadersMiddleware(["*"]).is_trusted(None)


def test_body_and_interface_still_come_from_the_server(make_client, interface):
    client = make_client(echo_app(ProxyHeadersMiddleware()))
    assert client.get("/where", headers=FORWARDED).json()["interface"] == interface
    for path in ("/echo", "/aecho"):
        response = client.post(path, json={"a": 1}, headers=FORWARDED)
        assert response.json() == {"json": {"a": 1}, "client": "203.0.113.7"}


def test_headers_read_by_an_earlier_middleware_show_the_forwarded_host(make_client):
    class ReadsHeaders(Middleware):
        inline = True

        def before_request(self, request):
            request.state.host_before = request.headers["host"]

    app = echo_app(ReadsHeaders(), ProxyHeadersMiddleware())
    app.add_route("/hosts", lambda request: [request.state.host_before, request.headers["host"]])
    response = make_client(app).get("/hosts", headers=FORWARDED)
    assert response.json() == ["testserver", "shop.example.com"]


def test_standard_forwarded_header(make_client):
    app = echo_app(ProxyHeadersMiddleware(["127.0.0.1", "10.0.0.0/8"], headers="forwarded"))
    client = make_client(app)

    def where(value, **extra):
        return client.get("/where", headers={"Forwarded": value, **extra}).json()

    data = where('for=192.0.2.60;proto=https;host="shop.example.com";by=203.0.113.43')
    assert data["client"] == ["192.0.2.60", None]
    assert (data["scheme"], data["host"]) == ("https", "shop.example.com")
    data = where('For="[2001:db8:cafe::17]:4711"')
    assert data["client"] == ["2001:db8:cafe::17", 4711]
    # Each element is a hop; the client's element says what the client used.
    data = where("for=192.0.2.60;proto=https;host=a.example, for=10.0.0.2;proto=http;host=b")
    assert data["client"] == ["192.0.2.60", None]
    assert (data["scheme"], data["host"]) == ("https", "a.example")
    # A forged element left of the real client is not used.
    data = where("for=6.6.6.6;proto=http, for=192.0.2.60;proto=https")
    assert (data["client"], data["scheme"]) == (["192.0.2.60", None], "https")
    # An obfuscated or unknown client: its proxy's word on proto and host still counts.
    data = where("for=unknown;proto=https")
    assert (data["client"], data["scheme"]) == (["127.0.0.1", 50000], "https")
    data = where('for=_hidden;host="a;b"')
    assert data["host"] == "testserver"
    # Quoted strings may hold commas and escapes; malformed pairs are skipped.
    data = where('for="192.0.2.60";host="ex\\ample.com";x="a,b";junk;=x')
    assert (data["client"], data["host"]) == (["192.0.2.60", None], "example.com")
    # In this mode the X-Forwarded-* headers are not read.
    data = where("for=192.0.2.60", **{"X-Forwarded-Proto": "https"})
    assert data["scheme"] == "http"
    data = client.get("/where", headers=FORWARDED).json()
    assert (data["client"], data["scheme"]) == (["127.0.0.1", 50000], "http")


def test_garbage_forwarded_header_is_ignored(make_client):
    app = echo_app(ProxyHeadersMiddleware(headers="forwarded"))
    client = make_client(app)
    for value in ["", ",,,", '"', "for=", 'for="unterminated', "proto=gopher", "for=1.2.3.4:xx"]:
        data = client.get("/where", headers={"Forwarded": value}).json()
        assert data["client"] == ["127.0.0.1", 50000], value
        assert data["scheme"] == "http", value


def test_forwarded_source_delegates():
    class Inner:
        interface = "test"

        def header_items(self):
            return [("host", "inner"), ("x-a", "1")]

        def query_string(self):
            return "q=1"

        def header(self, name):
            return {"host": "inner", "content-length": "4"}.get(name)

        def scheme(self):
            return "http"

        def server(self):
            return ("inner", 8000)

        def client(self):
            return Address("127.0.0.1", 1)

        def iter_body(self):
            return iter([b"body"])

        def aiter_body(self):
            raise NotImplementedError

    source = _ForwardedSource(Inner(), None, None, None)
    assert source.header_items() == [("host", "inner"), ("x-a", "1")]
    assert (source.scheme(), source.client(), source.server()) == (
        "http",
        Address("127.0.0.1", 1),
        ("inner", 8000),
    )
    assert (source.interface, source.query_string(), list(source.iter_body())) == (
        "test",
        "q=1",
        [b"body"],
    )
    assert (source.header("content-length"), source.header("host")) == ("4", "inner")
    source = _ForwardedSource(Inner(), Address("1.2.3.4", None), "https", "outer")
    assert source.header_items() == [("x-a", "1"), ("host", "outer")]
    assert (source.scheme(), source.client()) == ("https", Address("1.2.3.4", None))
    assert (source.header("host"), source.header("content-length")) == ("outer", "4")


def test_proxy_configuration_errors():
    with pytest.raises(ValueError, match="not an IP address or network: 'localhost'"):
        ProxyHeadersMiddleware(["localhost"])
    with pytest.raises(TypeError, match="not a str"):
        ProxyHeadersMiddleware("127.0.0.1")
    with pytest.raises(ValueError, match="headers must be"):
        ProxyHeadersMiddleware(headers="x-real-ip")  # type: ignore[arg-type]
    assert ProxyHeadersMiddleware.inline is True


# -- trusted hosts -------------------------------------------------------------------


def host_app(*allowed: str, **options) -> App:
    app = App()
    app.add_middleware(TrustedHostMiddleware(list(allowed), **options))
    app.add_route("/{path:path}", lambda request, path: request.host)
    app.add_route("/", lambda request: request.host)
    return app


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("example.com", True),
        ("EXAMPLE.com", True),
        ("example.com:8000", True),
        ("example.com.", True),
        ("api.example.com", True),
        ("a.b.example.com", True),
        ("127.0.0.1:8000", True),
        ("[::1]:8000", True),
        ("[0:0::1]", True),
        ("other.com", False),
        ("badexample.com", False),
        ("example.com.evil.com", False),
        ("example.com:", False),
        ("example.com:80x", False),
        ("example.com:123456", False),
        ("exa mple.com", False),
        ("example.com/x", False),
        ("user@example.com", False),
        ("[::1", False),
        ("[::2]", False),
        ("[not-ipv6]", False),
        ("[::1]8000", False),
        ("[::1]:", False),
        ("ex..ample.com", False),
        ("", False),
    ],
)
def test_trusted_hosts(make_client, host, allowed):
    client = make_client(host_app("example.com", "*.example.com", "127.0.0.1", "[::1]"))
    response = client.get("/", headers={"Host": host})
    if allowed:
        assert (response.status_code, response.text) == (200, host)
    else:
        assert (response.status_code, response.text) == (400, "Invalid host header")


def test_wildcard_subdomain_does_not_cover_the_domain_itself(make_client):
    client = make_client(host_app("*.example.com"))
    assert client.get("/", headers={"Host": "www.example.com"}).status_code == 200
    assert client.get("/", headers={"Host": "example.com"}).status_code == 400


def test_star_allows_any_host(make_client):
    client = make_client(host_app("*"))
    assert client.get("/", headers={"Host": "anything.invalid:1"}).status_code == 200


def test_www_redirect(make_client):
    client = make_client(host_app("www.example.com", www_redirect=True))
    response = client.get("/a b/c?x=1", headers={"Host": "example.com:8000"})
    assert response.status_code == 308
    assert response.headers["location"] == "http://www.example.com:8000/a%20b/c?x=1"
    assert client.get("/", headers={"Host": "www.example.com"}).status_code == 200
    response = client.get("/", headers={"Host": "other.com"})
    assert (response.status_code, response.text) == (400, "Invalid host header")
    client = make_client(host_app("www.example.com"))
    assert client.get("/", headers={"Host": "example.com"}).status_code == 400


def test_trusted_host_checks_the_forwarded_host(make_client):
    app = App()
    app.add_middleware(ProxyHeadersMiddleware())
    app.add_middleware(TrustedHostMiddleware(["shop.example.com"]))
    app.add_route("/", lambda request: request.url)
    client = make_client(app)
    response = client.get("/", headers={"X-Forwarded-Host": "shop.example.com"})
    assert response.text == "http://shop.example.com/"
    response = client.get("/", headers={"X-Forwarded-Host": "evil.example"})
    assert response.status_code == 400
    # Not forwarded at all: the proxy's own Host is checked, and refused.
    assert client.get("/").status_code == 400


def test_split_host():
    assert split_host("Example.COM:80") == "example.com"
    assert split_host("[2001:DB8::1]:443") == "2001:db8::1"
    assert split_host("xn--bcher-kva.example") == "xn--bcher-kva.example"
    assert split_host("bücher.example") is None
    assert split_host("a_b.example") == "a_b.example"


def test_trusted_host_configuration_errors():
    for pattern in [
        "a.*.com",
        "*example.com",
        "*.",
        "",
        "example.*",
        "example.com:8000",
        "[::1]:80",
        "*.[::1]",
        "[::1",
        "not::an::ip",
    ]:
        with pytest.raises(ValueError, match="invalid allowed host pattern"):
            TrustedHostMiddleware([pattern])
    with pytest.raises(TypeError, match="not a str"):
        TrustedHostMiddleware("example.com")
    middleware = TrustedHostMiddleware(["Example.COM.", "[::1]", "*.Example.org", "fe80:0::1"])
    assert middleware.is_allowed("example.com")
    assert middleware.is_allowed("::1")
    assert middleware.is_allowed("fe80::1")
    assert middleware.is_allowed("www.example.org")
    assert TrustedHostMiddleware.inline is True


@given(st.text(st.characters(codec="latin-1")))
def test_header_parsing_never_fails(value):
    # Header values reach the app as latin-1 text; none of them may raise.
    middleware = ProxyHeadersMiddleware(["10.0.0.0/8"], headers="forwarded")
    hops = [_parse_node(hop) for hop in value.split(",")]
    assert 0 <= middleware._client_hop(hops) < len(hops)
    for element in _split_outside_quotes(value, ","):
        assert isinstance(_parse_element(element), dict)
    split_host(value)
