"""Hostile input, HTTP half: bad encodings in paths, queries, headers and cookies;
CR/LF injection into response headers; open redirects.

Every case runs under both interfaces (``make_client``) and, as raw bytes on
a socket, against real uvicorn and gunicorn (sync) processes, which refuse
some input themselves before dualweb sees it (a clean 400 or 431, asserted
as such). Each answer: the expected status, no traceback or internal detail
in an error body, and the server still answering afterwards.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote_to_bytes, urljoin, urlsplit

import pytest
from abusekit import (
    RawResponse,
    assert_no_leak,
    assert_still_answering,
    raw_request,
    rss_kib,
    worker_pid,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from server_apps.abuse_http_app import TRUSTED_HOST, build_app
from serverkit import Server, Servers

from dualweb import App, RedirectResponse
from dualweb.redirects import is_safe_url, safe_redirect

SERVER_NAMES = ["uvicorn", "gunicorn-sync"]
SERVER_APP = "tests.server_apps.abuse_http_app:app"
DATA = bytes(range(256)) * 4


def replaced(escaped: str) -> str:
    """A path segment as both adapters (and uvicorn) decode it: bad UTF-8 becomes U+FFFD."""
    return unquote_to_bytes(escaped).decode("utf-8", "replace")


# -- the cases ---------------------------------------------------------------------------

#: (target, request headers, status, JSON body expected with a 200)
PARSING = [
    # Paths: percent-decoded once, bad UTF-8 replaced, never a 500.
    pytest.param("/str/%ff", [], 200, {"value": "\ufffd"}, id="str-invalid-utf8"),
    pytest.param("/str/%", [], 200, {"value": "%"}, id="str-lone-percent"),
    pytest.param("/str/%zz", [], 200, {"value": "%zz"}, id="str-bad-hex"),
    pytest.param("/str/%f", [], 200, {"value": "%f"}, id="str-truncated-escape"),
    pytest.param("/str/%c0%af", [], 200, {"value": replaced("%c0%af")}, id="str-overlong-slash"),
    pytest.param(
        "/str/%e0%80%ae", [], 200, {"value": replaced("%e0%80%ae")}, id="str-overlong-dot"
    ),
    pytest.param("/str/%ed%a0%80", [], 200, {"value": replaced("%ed%a0%80")}, id="str-surrogate"),
    pytest.param("/str/%00", [], 200, {"value": "\x00"}, id="str-nul"),
    pytest.param("/str/a%2fb", [], 404, None, id="str-encoded-slash"),
    pytest.param("/int/%ff", [], 404, None, id="int-invalid-utf8"),
    pytest.param("/int/%d9%a1", [], 404, None, id="int-arabic-indic-digit"),
    pytest.param("/int/" + "9" * 5000, [], 404, None, id="int-5000-digits"),
    pytest.param("/int/-1", [], 404, None, id="int-negative"),
    pytest.param("/int/%31%32", [], 200, {"value": 12}, id="int-escaped-digits"),
    pytest.param(
        "/path/%ff/%c0%ae", [], 200, {"value": replaced("%ff/%c0%ae")}, id="path-bad-utf8"
    ),
    # The path converter hands over what was sent: joining it onto a
    # directory is StaticFiles' job (tests/test_abuse_static.py).
    pytest.param("/path/%2e%2e/%2e%2e/etc", [], 200, {"value": "../../etc"}, id="path-dotdot"),
    pytest.param("/%ff", [], 404, None, id="root-invalid-utf8"),
    pytest.param("/%", [], 404, None, id="root-lone-percent"),
    pytest.param("/%c0%ae%c0%ae/", [], 404, None, id="root-overlong-dotdot"),
    # Query strings: strict UTF-8 after unquoting (400), stray % kept.
    pytest.param("/query?a=%ff", [], 400, None, id="query-invalid-utf8"),
    pytest.param("/query?%ff=1", [], 400, None, id="query-invalid-utf8-name"),
    pytest.param("/query?a=%c0%ae", [], 400, None, id="query-overlong"),
    pytest.param("/query?a=%ed%a0%80", [], 400, None, id="query-surrogate"),
    pytest.param("/query?a=%", [], 200, {"items": [["a", "%"]]}, id="query-lone-percent"),
    pytest.param("/query?%zz=1", [], 200, {"items": [["%zz", "1"]]}, id="query-bad-hex"),
    pytest.param("/query?a=%00", [], 200, {"items": [["a", "\x00"]]}, id="query-nul"),
    pytest.param("/query?a=%0d%0a", [], 200, {"items": [["a", "\r\n"]]}, id="query-crlf"),
    pytest.param("/query?&&&==", [], 200, {"items": [["", "="]]}, id="query-separators"),
    # Header values: latin-1 text as sent, never decoded further.
    pytest.param(
        "/headers", [(b"X-Test", b"\xff\xfe")], 200, {"x-test": ["\xff\xfe"]}, id="header-latin1"
    ),
    pytest.param(
        "/headers",
        [(b"X-Test", b"caf\xc3\xa9")],
        200,
        {"x-test": ["caf\xc3\xa9"]},
        id="header-utf8",
    ),
    pytest.param(
        "/headers", [(b"X-Test", b"%ff%00")], 200, {"x-test": ["%ff%00"]}, id="header-escapes"
    ),
    pytest.param(
        "/headers", [(b"X-Test", b"a" * 8000)], 200, {"x-test": ["a" * 8000]}, id="header-8000"
    ),
    # Cookies: garbage skipped or kept as is, never an error.
    pytest.param("/cookies", [(b"Cookie", b"=x")], 200, {}, id="cookie-nameless"),
    pytest.param(
        "/cookies",
        [(b"Cookie", b"a=1; =x; b=2")],
        200,
        {"a": "1", "b": "2"},
        id="cookie-nameless-among",
    ),
    pytest.param("/cookies", [(b"Cookie", b"flag; a=1")], 200, {"a": "1"}, id="cookie-no-equals"),
    pytest.param(
        "/cookies",
        [(b"Cookie", b'a="hello world"')],
        200,
        {"a": "hello world"},
        id="cookie-quoted",
    ),
    pytest.param(
        "/cookies", [(b"Cookie", rb'a="x\"y\073z"')], 200, {"a": 'x"y;z'}, id="cookie-escapes"
    ),
    pytest.param("/cookies", [(b"Cookie", b'a="abc')], 200, {"a": '"abc'}, id="cookie-open-quote"),
    pytest.param("/cookies", [(b"Cookie", b'"a"=1')], 200, {'"a"': "1"}, id="cookie-quoted-name"),
    pytest.param(
        "/cookies", [(b"Cookie", b"n=caf\xc3\xa9")], 200, {"n": "caf\xe9"}, id="cookie-utf8"
    ),
    pytest.param(
        "/cookies", [(b"Cookie", b"n=\xff\xfe")], 200, {"n": "\xff\xfe"}, id="cookie-not-utf8"
    ),
    pytest.param(
        "/cookies", [(b"Cookie", b"n=" + b"x" * 8192)], 200, {"n": "x" * 8192}, id="cookie-8kb"
    ),
    pytest.param(
        "/cookies",
        [(b"Cookie", "; ".join(f"c{n}={n}" for n in range(500)).encode())],
        200,
        {f"c{n}": str(n) for n in range(500)},
        id="cookie-500",
    ),
    pytest.param("/cookies", [(b"Cookie", b"a=1; a=2")], 200, {"a": "1"}, id="cookie-duplicate"),
    pytest.param("/cookies", [(b"Cookie", b";;; ;")], 200, {}, id="cookie-separators"),
    pytest.param(
        "/cookies", [(b"Cookie", b"a=%0d%0a")], 200, {"a": "%0d%0a"}, id="cookie-escapes-kept"
    ),
]

#: gunicorn's limit_request_field_size: a longer header line is its 431;
#: and its limit_request_line: a longer request line is its 414.
GUNICORN_MAX_FIELD = 8190
GUNICORN_MAX_LINE = 4094


def server_status(
    server: Server, target: str, headers: list[tuple[bytes, bytes]], status: int
) -> int:
    """What a real server answers where it refuses the request itself."""
    if not server.name.startswith("gunicorn"):
        return status
    if len(f"GET {target} HTTP/1.1") > GUNICORN_MAX_LINE:
        return 414
    if (
        max((len(name) + 2 + len(value) for name, value in headers), default=0)
        > GUNICORN_MAX_FIELD
    ):
        return 431
    return status


#: Requests httpx will not send; the servers refuse them before the app runs.
#: (target, headers, {server: status})
RAW_ONLY = [
    pytest.param(b"/str/\xff", [], {"uvicorn": 400, "gunicorn-sync": 400}, id="raw-byte-in-path"),
    pytest.param(
        b"/str/caf\xc3\xa9", [], {"uvicorn": 400, "gunicorn-sync": 400}, id="raw-utf8-path"
    ),
    pytest.param(
        b"/query?a=\xff", [], {"uvicorn": 400, "gunicorn-sync": 400}, id="raw-byte-in-query"
    ),
    pytest.param(
        b"/str/a b", [], {"uvicorn": 400, "gunicorn-sync": 400}, id="raw-space-in-target"
    ),
    pytest.param(b"/str/a\tb", [], {"uvicorn": 400, "gunicorn-sync": 400}, id="raw-tab-in-target"),
    pytest.param(
        b"/headers",
        [(b"X-Test", b"a\x00b")],
        {"uvicorn": 400, "gunicorn-sync": 400},
        id="raw-header-nul",
    ),
    pytest.param(
        b"/headers",
        [(b"X-Test", b"a\rb")],
        {"uvicorn": 400, "gunicorn-sync": 400},
        id="raw-header-cr",
    ),
    pytest.param(
        b"/headers",
        [(b"X-Test", b"a\x01b")],
        {"uvicorn": 400, "gunicorn-sync": 400},
        id="raw-header-ctl",
    ),
    pytest.param(
        b"/headers",
        [(b"X-Test", b"a\x7fb")],
        {"uvicorn": 400, "gunicorn-sync": 400},
        id="raw-header-del",
    ),
    pytest.param(
        b"/cookies",
        [(b"Cookie", b"a=\x00")],
        {"uvicorn": 400, "gunicorn-sync": 400},
        id="raw-cookie-nul",
    ),
    # uvicorn hands "*" over as a path (the app's 404); gunicorn refuses it.
    pytest.param(b"*", [], {"uvicorn": 404, "gunicorn-sync": 400}, id="raw-asterisk"),
    # The absolute form: both servers take the path from it.
    pytest.param(
        b"http://127.0.0.1/str/%ff",
        [],
        {"uvicorn": 200, "gunicorn-sync": 200},
        id="raw-absolute-form",
    ),
]

#: CR/LF, NUL and friends through what ends up in a response header.
#: (target, status, the response's headers that must be exactly these values)
INJECTION = [
    pytest.param(
        "/set-cookie?value=a%0d%0aSet-Cookie:%20admin=1", 400, {}, id="cookie-value-crlf"
    ),
    pytest.param("/set-cookie?value=a%0aX-Injected:%20y", 400, {}, id="cookie-value-lf"),
    pytest.param("/set-cookie?value=a%0dX-Injected:%20y", 400, {}, id="cookie-value-cr"),
    pytest.param("/set-cookie?value=a%00", 400, {}, id="cookie-value-nul"),
    pytest.param("/set-cookie?path=/%0d%0aX-Injected:%20y", 400, {}, id="cookie-path-crlf"),
    pytest.param(
        "/set-cookie?domain=a.example%0d%0aX-Injected:%20y", 400, {}, id="cookie-domain-crlf"
    ),
    pytest.param("/set-cookie?path=/;%20Domain=evil.example", 400, {}, id="cookie-path-semicolon"),
    pytest.param("/set-cookie?domain=a.example;%20Secure", 400, {}, id="cookie-domain-semicolon"),
    pytest.param(
        "/set-cookie?value=a;%20Domain=evil.example",
        200,
        {"set-cookie": ['c="a\\073 Domain=evil.example"; Path=/; SameSite=Lax']},
        id="cookie-value-semicolon-quoted",
    ),
    pytest.param(
        "/set-cookie?value=%c3%a9%22",
        200,
        {"set-cookie": ['c="\\351\\""; Path=/; SameSite=Lax']},
        id="cookie-value-non-ascii-quoted",
    ),
    pytest.param("/echo-header?value=a%0d%0aX-Injected:%20y", 400, {}, id="header-crlf"),
    pytest.param("/echo-header?value=a%0aX-Injected:%20y", 400, {}, id="header-lf"),
    pytest.param("/echo-header?value=a%0dX-Injected:%20y", 400, {}, id="header-cr"),
    pytest.param("/echo-header?value=a%00", 400, {}, id="header-nul"),
    pytest.param("/echo-header?value=%e2%82%ac", 400, {}, id="header-not-latin1"),
    pytest.param("/echo-header?value=caf%c3%a9", 200, {"x-echo": ["caf\xe9"]}, id="header-latin1"),
    # Unchecked, the ValueError is the handler's bug: a bare 500, nothing sent.
    pytest.param(
        "/echo-header-unchecked?value=a%0d%0aX-Injected:%20y", 500, {}, id="header-unchecked"
    ),
    pytest.param(
        "/redirect?to=/a%0d%0aSet-Cookie:%20admin=1",
        302,
        {"location": ["/a%0D%0ASet-Cookie:%20admin=1"]},
        id="redirect-crlf",
    ),
    pytest.param(
        "/redirect?to=/a%0aX-Injected:%20y",
        302,
        {"location": ["/a%0AX-Injected:%20y"]},
        id="redirect-lf",
    ),
    pytest.param("/redirect?to=/a%00b", 302, {"location": ["/a%00b"]}, id="redirect-nul"),
    pytest.param(
        "/redirect?to=/caf%c3%a9", 302, {"location": ["/caf%C3%A9"]}, id="redirect-non-ascii"
    ),
    pytest.param(
        "/redirect?to=/%5cevil.example",
        302,
        {"location": ["/%5Cevil.example"]},
        id="redirect-backslash",
    ),
    pytest.param(
        "/download?name=a%0d%0aX-Injected:%20y.txt",
        200,
        {
            "content-disposition": [
                'attachment; filename="a__X-Injected: y.txt"; '
                "filename*=UTF-8''a%0D%0AX-Injected%3A%20y.txt"
            ]
        },
        id="filename-crlf",
    ),
    pytest.param(
        "/download?name=a%22;%20b=%5c.txt",
        200,
        {
            "content-disposition": [
                "attachment; filename=\"a_; b=_.txt\"; filename*=UTF-8''a%22%3B%20b%3D%5C.txt"
            ]
        },
        id="filename-quote-backslash",
    ),
    pytest.param(
        "/download?name=%e2%82%ac%00.txt",
        200,
        {
            "content-disposition": [
                "attachment; filename=\"__.txt\"; filename*=UTF-8''%E2%82%AC%00.txt"
            ]
        },
        id="filename-non-ascii-nul",
    ),
]

#: One header line of a response head: a token, a colon, no CR or LF.
HEADER_LINE = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[^\r\n]*")
#: Header names an injection would have created.
INJECTED_NAMES = {"x-injected", "b"}

#: (target, whether is_safe_url accepts it with allowed_hosts=[TRUSTED_HOST])
REDIRECTS = [
    pytest.param("/", True, id="root"),
    pytest.param("/account", True, id="path"),
    pytest.param("/a/b?x=1#frag", True, id="path-query-fragment"),
    pytest.param("page2", True, id="relative-path"),
    pytest.param("?tab=1", True, id="query-only"),
    pytest.param("#top", True, id="fragment-only"),
    pytest.param("/caf%C3%A9", True, id="escaped-path"),
    pytest.param("/café", True, id="non-ascii-path"),
    pytest.param("/a b", True, id="inner-space"),
    pytest.param("/%2F%2Fevil.example", True, id="escaped-slashes-stay-a-path"),
    pytest.param("https://good.example/x", True, id="trusted-https"),
    pytest.param("http://good.example", True, id="trusted-http"),
    pytest.param("HTTPS://GOOD.EXAMPLE/x", True, id="trusted-upper-case"),
    pytest.param("//good.example/x", True, id="trusted-scheme-relative"),
    pytest.param("//evil.example", False, id="scheme-relative"),
    pytest.param("///evil.example", False, id="triple-slash"),
    pytest.param("////evil.example", False, id="quadruple-slash"),
    pytest.param("/\\evil.example", False, id="slash-backslash"),
    pytest.param("\\\\evil.example", False, id="double-backslash"),
    pytest.param("\\/evil.example", False, id="backslash-slash"),
    pytest.param("/a\\b", False, id="backslash-in-path"),
    pytest.param("https://evil.example", False, id="absolute-other-host"),
    pytest.param("http://evil.example/", False, id="absolute-http-other-host"),
    pytest.param("https://good.example.evil.example/", False, id="trusted-as-subdomain"),
    pytest.param("https://good.example@evil.example", False, id="userinfo-trusted-user"),
    pytest.param("https://evil.example@good.example", False, id="userinfo-trusted-host"),
    pytest.param("https://good.example:443/", False, id="port-not-listed"),
    pytest.param("https://good.example:99999/", False, id="port-out-of-range"),
    pytest.param("//good.example:abc/", False, id="port-not-a-number"),
    pytest.param("http://[::1", False, id="unparsable"),
    pytest.param("javascript:alert(1)", False, id="javascript"),
    pytest.param("JaVaScRiPt:alert(1)", False, id="javascript-mixed-case"),
    pytest.param("java\tscript:alert(1)", False, id="javascript-tab"),
    pytest.param("data:text/html,<script>alert(1)</script>", False, id="data"),
    pytest.param("vbscript:msgbox(1)", False, id="vbscript"),
    pytest.param("ftp://good.example/", False, id="other-scheme-trusted-host"),
    pytest.param("http:evil.example", False, id="scheme-without-slashes"),
    pytest.param("https:evil.example", False, id="https-without-slashes"),
    pytest.param("https:///evil.example", False, id="scheme-empty-host"),
    pytest.param("/\t/evil.example", False, id="tab-between-slashes"),
    pytest.param("/\n/evil.example", False, id="newline-between-slashes"),
    pytest.param("/\r\nSet-Cookie: a=1", False, id="crlf"),
    pytest.param(" //evil.example", False, id="leading-space"),
    pytest.param("//evil.example ", False, id="trailing-space"),
    pytest.param("\x00//evil.example", False, id="leading-nul"),
    pytest.param("\x7f//evil.example", False, id="leading-del"),
    pytest.param("\x1f//evil.example", False, id="leading-control"),
    pytest.param("", False, id="empty"),
]


# -- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def abuse_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    public = tmp_path_factory.mktemp("abuse") / "public"
    public.mkdir()
    (public / "data.bin").write_bytes(DATA)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DUALWEB_ABUSE_STATIC", str(public))
        yield public


@pytest.fixture(scope="module")
def app(abuse_dir: Path) -> App:
    return build_app(str(abuse_dir))


@pytest.fixture(params=SERVER_NAMES)
def server(request: pytest.FixtureRequest, servers: Servers, abuse_dir: Path) -> Server:
    return servers.get(request.param, SERVER_APP)


def check_error_body(status: int, body: bytes) -> None:
    if status >= 400:
        assert_no_leak(body)


def check_headers(headers: list[tuple[str, str]], expected: dict[str, list[str]]) -> None:
    """No injected header, no CR/LF/NUL in any value, and ``expected`` exactly."""
    for name, value in headers:
        assert name not in INJECTED_NAMES, headers
        assert not any(char in value for char in "\r\n\x00"), headers
    if not any(name == "set-cookie" for name in expected):
        assert all(name != "set-cookie" for name, _ in headers), headers
    for name, values in expected.items():
        assert [value for key, value in headers if key == name] == values


def latin1_headers(response: Any) -> list[tuple[str, str]]:
    return [
        (name.decode("latin-1").lower(), value.decode("latin-1"))
        for name, value in response.headers.raw
    ]


# -- under both interfaces ----------------------------------------------------------------


@pytest.mark.parametrize(("target", "headers", "status", "expected"), PARSING)
def test_parsing(make_client, app, target, headers, status, expected):
    client = make_client(app)
    response = client.get(target, headers=headers)
    assert response.status_code == status
    if status == 200:
        assert response.json() == expected
    check_error_body(status, response.content)
    assert client.get("/").text == "ok"


@pytest.mark.parametrize(("target", "status", "expected"), INJECTION)
def test_header_injection(make_client, app, target, status, expected):
    client = make_client(app)
    response = client.get(target)
    assert response.status_code == status
    check_headers(latin1_headers(response), expected)
    check_error_body(status, response.content)
    if status == 500:
        assert response.text == "Internal Server Error"
    assert client.get("/").text == "ok"


@pytest.mark.parametrize(("target", "safe"), REDIRECTS)
def test_safe_redirect_over_http(make_client, app, target, safe):
    response = make_client(app).get("/next", params={"next": target})
    assert response.status_code == 303
    expected = RedirectResponse(target).headers["location"] if safe else "/"
    assert response.headers["location"] == expected


def test_safe_redirect_without_a_target(make_client, app):
    response = make_client(app).get("/next")
    assert (response.status_code, response.headers["location"]) == (303, "/")


# -- the safe-redirect helper, directly -------------------------------------------------


@pytest.mark.parametrize(("target", "safe"), REDIRECTS)
def test_is_safe_url(target, safe):
    assert is_safe_url(target, allowed_hosts=[TRUSTED_HOST]) is safe
    # Without trusted hosts, only relative references pass.
    assert is_safe_url(target) is (safe and is_relative(target))


def is_relative(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return not parts.scheme and not parts.netloc


def test_is_safe_url_options():
    assert not is_safe_url(None)
    assert is_safe_url("https://Good.Example:8443/x", allowed_hosts=["good.example:8443"])
    assert not is_safe_url("https://good.example/x", allowed_hosts=["good.example:8443"])
    assert is_safe_url(
        "https://good.example/x", allowed_hosts=["GOOD.example"], require_https=True
    )
    assert not is_safe_url(
        "http://good.example/x", allowed_hosts=["good.example"], require_https=True
    )
    assert not is_safe_url("//good.example/x", allowed_hosts=["good.example"], require_https=True)
    assert is_safe_url("/x", require_https=True)
    # A generator of hosts is read once, whatever it holds.
    assert is_safe_url("//good.example", allowed_hosts=(h for h in ["good.example"]))


def test_safe_redirect_response():
    response = safe_redirect("//evil.example", "/home")
    assert (response.status_code, response.headers["location"]) == (303, "/home")
    response = safe_redirect("/café?x=1", status=302)
    assert (response.status_code, response.headers["location"]) == (302, "/caf%C3%A9?x=1")
    response = safe_redirect(None, "/login", status=307)
    assert (response.status_code, response.headers["location"]) == (307, "/login")
    response = safe_redirect("https://good.example/", allowed_hosts=["good.example"])
    assert response.headers["location"] == "https://good.example/"
    with pytest.raises(ValueError, match="3xx"):
        safe_redirect("/", status=200)


SITE = "https://site.example/a/b"
EVIL_PREFIXES = [
    "//evil.example",
    "///evil.example",
    "/\\",
    "\\",
    "https://evil.example",
    "http:",
    "javascript:",
    "data:",
    " ",
    "\t",
    "/\t/",
    "https://good.example@",
]


@settings(max_examples=300, deadline=None, database=None)
@given(st.text(max_size=40))
def test_a_safe_url_stays_on_the_site(url):
    # Whatever the text, a URL judged safe without trusted hosts resolves to
    # this site (urljoin being RFC 3986's reading, and the characters where
    # browsers differ from it refused).
    if is_safe_url(url):
        resolved = urlsplit(urljoin(SITE, url))
        assert (resolved.scheme, resolved.netloc) == ("https", "site.example")
        location = safe_redirect(url).headers["location"]
        assert not location.startswith("//")
        assert "\\" not in location


@settings(max_examples=300, deadline=None, database=None)
@given(st.sampled_from(EVIL_PREFIXES), st.text(max_size=30))
def test_hostile_prefixes_are_never_safe(prefix, rest):
    assert not is_safe_url(prefix + rest, allowed_hosts=[TRUSTED_HOST])
    assert safe_redirect(prefix + rest, allowed_hosts=[TRUSTED_HOST]).headers["location"] == "/"


@settings(max_examples=200, deadline=None, database=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=60))
def test_trusted_hosts_only(url):
    # With a trusted host, an accepted absolute URL names that host exactly.
    if is_safe_url(url, allowed_hosts=[TRUSTED_HOST]):
        netloc = urlsplit(url).netloc.lower()
        assert netloc in ("", TRUSTED_HOST)


# -- against real servers -------------------------------------------------------------


def get_raw(
    server: Server, target: str | bytes, headers: list[tuple[bytes, bytes]]
) -> RawResponse:
    raw = target if isinstance(target, bytes) else target.encode("ascii")
    return raw_request(server, raw, headers)


@pytest.mark.servers
@pytest.mark.parametrize(("target", "headers", "status", "expected"), PARSING)
def test_parsing_on_servers(server, target, headers, status, expected):
    status = server_status(server, target, headers, status)
    response = get_raw(server, target, headers)
    assert response.status == status, server.describe()
    if status == 200:
        assert json.loads(response.body) == expected
    check_error_body(status, response.body)
    assert_still_answering(server)


@pytest.mark.servers
@pytest.mark.parametrize(("target", "headers", "statuses"), RAW_ONLY)
def test_raw_only_on_servers(server, target, headers, statuses):
    response = raw_request(server, target, headers)
    assert response.status == statuses[server.name], server.describe()
    check_error_body(response.status, response.body)
    assert_still_answering(server)


@pytest.mark.servers
@pytest.mark.parametrize(("target", "status", "expected"), INJECTION)
def test_header_injection_on_servers(server, target, status, expected):
    response = get_raw(server, target, [])
    assert response.status == status, server.describe()
    check_headers(response.headers, expected)
    # The raw head: every line after the status line is one well-formed header.
    for line in response.head.split(b"\r\n")[1:]:
        assert HEADER_LINE.fullmatch(line), response.head
    check_error_body(status, response.body)
    assert_still_answering(server)


@pytest.mark.servers
@pytest.mark.parametrize(("target", "safe"), REDIRECTS)
def test_safe_redirect_on_servers(server, target, safe):
    response = get_raw(server, "/next?next=" + quote(target, safe=""), [])
    assert response.status == 303
    expected = RedirectResponse(target).headers["location"] if safe else "/"
    assert response.header("location") == expected
    assert_still_answering(server)


@pytest.mark.servers
def test_memory_stays_bounded(server):
    # Every case ten times over: the worker's RSS may grow (allocator, caches
    # filling up) but not with the number of hostile requests.
    pid = worker_pid(server)
    before = rss_kib(pid)
    for _ in range(10):
        for case in PARSING:
            target, headers, _, _ = case.values
            get_raw(server, target, headers)
        for case in RAW_ONLY:
            target, headers, _ = case.values
            raw_request(server, target, headers)
        for case in INJECTION:
            get_raw(server, case.values[0], [])
    assert rss_kib(pid) - before < 50 * 1024
    assert_still_answering(server)
