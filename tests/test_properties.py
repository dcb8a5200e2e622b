"""Property tests (hypothesis): reverse routing, request parsing, and WSGI = ASGI.

Every property runs a fixed number of examples, derandomized, without the
example database, so CI sees the same inputs on every run (see
docs/fuzzing.md, which also covers the fuzz target in tools/).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, unquote
from wsgiref.validate import validator

import httpx
import pytest
from blockbuster import blockbuster_ctx
from examplekit import load_tool
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from dualweb import App, Request
from dualweb.testing import TestClient


def _settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        # Explaining a failure replays it hundreds of times: minutes per test.
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        # Clients are made once per test (make_client), not once per example.
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


fuzz = load_tool("fuzz_requests")

# Text a URL can carry: any character but lone surrogates (no UTF-8 for them).
TEXT = st.characters(exclude_categories=("Cs",))


class Switch:
    """One callable for a test's client, calling whichever App the example built."""

    def __init__(self) -> None:
        self.app: App | None = None

    def __call__(self, *args: Any) -> Any:
        assert self.app is not None
        return self.app(*args)


# -- reverse routing ------------------------------------------------------------------


def _values(kind: str) -> st.SearchStrategy[Any]:
    if kind == "str":
        return st.text(TEXT, min_size=1, max_size=12).filter(lambda text: "/" not in text)
    if kind == "int":
        return st.integers(0, 10**30)
    if kind == "float":
        return st.floats(min_value=0, allow_nan=False, allow_infinity=False)
    if kind == "uuid":
        return st.uuids()
    return st.text(TEXT, max_size=20)  # path: slashes and empty text included


_LITERAL = st.from_regex(r"[A-Za-z0-9_.~-]{1,8}", fullmatch=True)
_LETTERS = st.from_regex(r"[a-z]{0,3}", fullmatch=True)


@st.composite
def routes(draw: st.DrawFn) -> list[tuple[str, dict[str, Any]]]:
    """A few route patterns with a value for each placeholder.

    Each route starts with its own literal segment, so that no two can take
    the same path: the route a path matches is then the one it was built from.
    Segments are literals, typed placeholders (every converter), typed
    placeholders inside literal text (``v{n:int}x``), and a final ``path``.
    """
    found = []
    counter = 0
    for index in range(draw(st.integers(1, 4))):
        segments = [f"r{index}"]
        params: dict[str, Any] = {}
        for _ in range(draw(st.integers(0, 3))):
            kind = draw(st.sampled_from(["literal", "str", "int", "float", "uuid", "mixed"]))
            if kind == "literal":
                segments.append(draw(_LITERAL))
                continue
            name = f"p{counter}"
            counter += 1
            if kind == "mixed":
                typed = draw(st.sampled_from(["int", "float", "uuid"]))
                params[name] = draw(_values(typed))
                segments.append(f"{draw(_LETTERS)}{{{name}:{typed}}}{draw(_LETTERS)}")
            else:
                params[name] = draw(_values(kind))
                segments.append(f"{{{name}:{kind}}}")
        if draw(st.booleans()):
            name = f"p{counter}"
            counter += 1
            params[name] = draw(_values("path"))
            segments.append(f"{{{name}:path}}")
        found.append(("/" + "/".join(segments), params))
    return found


def _app_with(patterns: list[tuple[str, dict[str, Any]]]) -> App:
    app = App(redirect_slashes=False)

    def echo(request: Request, **params: Any) -> Any:
        assert request.route is not None
        return {
            "name": request.route.name,
            "params": {key: [type(value).__name__, str(value)] for key, value in params.items()},
        }

    for index, (pattern, _) in enumerate(patterns):
        app.add_route(pattern, echo, name=f"route{index}")
    return app


@_settings(150)
@given(routes())
def test_url_path_for_then_match_gives_the_route_and_its_parameters(patterns):
    app = _app_with(patterns)
    for index, (_, params) in enumerate(patterns):
        path = app.url_path_for(f"route{index}", **params)
        # The router sees the path percent-decoded, as servers hand it over.
        route, matched = app.router.match("GET", unquote(path, errors="strict"))
        assert route.name == f"route{index}"
        assert matched == params
        assert {key: type(value) for key, value in matched.items()} == {
            key: type(value) for key, value in params.items()
        }


@pytest.mark.parametrize("value", [1e16, 1e-05, 5e-324, 1.7976931348623157e308, -0.0, 3.0])
def test_float_paths_are_written_so_that_they_match(value):
    # repr() gave /f/1e+16, /f/1e-05 and /f/-0.0: paths the route does not match.
    app = App()
    app.add_route("/f/{x:float}", lambda request, x: str(x), name="f")
    path = app.url_path_for("f", x=value)
    assert "e" not in path
    assert "-" not in path
    assert app.router.match("GET", path)[1] == {"x": value}


def _no_dot_segments(patterns: list[tuple[str, dict[str, Any]]]) -> bool:
    # Clients resolve "." and ".." segments (RFC 3986 §5.2.4), percent-encoded
    # or not: a value that makes one cannot reach the route over HTTP.
    for _, params in patterns:
        for value in params.values():
            if isinstance(value, str) and {".", ".."} & set(value.split("/")):
                return False
    return True


@pytest.fixture
def switched(make_client: Any) -> tuple[Switch, TestClient]:
    """One client for all of a test's examples, each example with an App of its own."""
    switch = Switch()
    return switch, make_client(switch)


@_settings(60)
@given(routes().filter(_no_dot_segments))
def test_url_path_for_paths_reach_their_route_over_http(switched, patterns):
    switch, client = switched
    switch.app = app = _app_with(patterns)
    for index, (_, params) in enumerate(patterns):
        response = client.get(app.url_path_for(f"route{index}", **params))
        assert response.status_code == 200, response.text
        assert response.json() == {
            "name": f"route{index}",
            "params": {key: [type(value).__name__, str(value)] for key, value in params.items()},
        }


# -- parsing: arbitrary bytes give the parsed value or a 400, nothing else ------------


def _parsing_app() -> App:
    app = App()

    @app.route("/parse", ["GET", "POST"])
    def parse(request: Request) -> Any:
        seen: dict[str, Any] = {
            "query": request.query_params.multi_items(),
            "headers": dict(request.headers),
            "cookies": request.cookies,
        }
        if request.content_type == "application/json":
            seen["json"] = request.json()
        elif request.method == "POST":
            form = request.form()
            seen["form"] = form.multi_items()
            seen["files"] = [[name, file.read().hex()] for name, file in form.files.multi_items()]
        return seen

    return app


_BYTES = st.binary(max_size=80)
_FORM_TYPES = [
    b"application/x-www-form-urlencoded",
    b"multipart/form-data; boundary=b",
    b"application/json",
]


@st.composite
def raw_multipart(draw: st.DrawFn) -> bytes:
    """A multipart body for boundary ``b``: well formed around arbitrary bytes, or not at all."""
    if draw(st.booleans()):
        return draw(_BYTES)
    parts = []
    for _ in range(draw(st.integers(0, 3))):
        head = draw(st.sampled_from([b'name="', b'name="f"; filename="', b""]))
        parts.append(
            b"--b\r\nContent-Disposition: form-data; "
            + head
            + draw(_BYTES)
            + b'"\r\n\r\n'
            + draw(_BYTES)
            + b"\r\n"
        )
    return b"".join(parts) + draw(st.sampled_from([b"--b--\r\n", b"--b", b""]))


@pytest.fixture
def raw_call(interface: str) -> Iterator[Any]:
    """Send a fuzz_requests.RawRequest (bytes no client would send) through ``interface``."""
    app = _parsing_app()
    if interface == "wsgi":
        yield lambda request: fuzz.call_wsgi(app, request)
        return
    with blockbuster_ctx():
        yield lambda request: fuzz.call_asgi(app, request)


@_settings(120)
@given(
    query=_BYTES,
    cookie=_BYTES,
    header=_BYTES,
    content_type=st.sampled_from(_FORM_TYPES),
    body=st.one_of(_BYTES, raw_multipart()),
)
def test_parsers_answer_arbitrary_bytes_with_their_value_or_400(
    raw_call, query, cookie, header, content_type, body
):
    # What a server lets through: no CR, LF or NUL in header values, none of
    # the bytes clients percent-encode in the query, no blanks around values.
    request = fuzz.decode(
        fuzz.encode(
            fuzz.RawRequest(
                method="POST",
                path=b"/parse",
                query=query,
                headers=[
                    (b"cookie", cookie),
                    (b"x-anything", header),
                    (b"content-type", content_type),
                ],
                body=body,
            )
        )
    )
    answer = raw_call(request)
    assert answer.status in (200, 400), answer
    if answer.status == 400:
        assert b"Traceback" not in answer.body
        assert answer.body.startswith((b"Malformed", b"Invalid JSON")), answer.body


# -- parsing: what httpx encodes arrives as it was sent ---------------------------------

_TOKEN = st.from_regex(r"[!#%&'*+.^_`|~0-9A-Za-z-]{1,12}", fullmatch=True)
# WSGI writes "-" and "_" in a header name alike (HTTP_X_A): names with "_"
# cannot be told apart, and servers drop them (gunicorn, nginx).
_HEADER_NAME = st.from_regex(r"x-[!#%&'*+.^`|~0-9a-z-]{1,12}", fullmatch=True)
# RFC 6265 cookie-octets: what a cookie value is made of unquoted.
_COOKIE_VALUE = st.from_regex(r"[!#-+\--:<-\[\]-~]{0,16}", fullmatch=True)
_HEADER_VALUE = st.from_regex(r"([!-~]([ !-~]{0,16}[!-~])?)?", fullmatch=True)
_PAIRS = st.lists(st.tuples(st.text(TEXT, max_size=10), st.text(TEXT, max_size=10)), max_size=6)
# Part names and file names: httpx writes a backslash as "\\" (quoted-string
# style) and control characters as %XX; browsers send both as they are
# (HTML5 escapes only CR, LF and '"', which the multipart parser decodes).
_PART_TEXT = st.text(
    st.characters(
        exclude_categories=("Cs", "Cc"), exclude_characters="\\", include_characters="\r\n"
    )
)


def _echo_app() -> App:
    app = App()

    @app.route("/echo/{word}/{number:int}/{rest:path}", ["GET", "POST", "PUT", "PATCH", "DELETE"])
    def echo(request: Request, **params: Any) -> Any:
        body = request.body()
        seen: dict[str, Any] = {
            "method": request.method,
            "path": request.path,
            "params": {key: [type(value).__name__, value] for key, value in params.items()},
            "query": request.query_params.multi_items(),
            "headers": dict(request.headers),
            "cookies": request.cookies,
            "body": body.hex(),
        }
        if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = request.form()
            seen["form"] = form.multi_items()
            seen["files"] = [
                [name, file.filename, file.content_type, file.read().hex()]
                for name, file in form.files.multi_items()
            ]
        if request.content_type == "application/json":
            seen["json"] = request.json()
        return seen

    return app


@pytest.fixture
def echo_client(make_client: Any) -> TestClient:
    return make_client(_echo_app())


@_settings(80)
@given(
    query=_PAIRS,
    headers=st.dictionaries(_HEADER_NAME, _HEADER_VALUE),
    cookies=st.dictionaries(_TOKEN, _COOKIE_VALUE, max_size=4),
    form=st.dictionaries(st.text(TEXT, max_size=8), st.lists(st.text(TEXT, max_size=8))),
)
def test_query_headers_cookies_and_urlencoded_forms_round_trip(
    echo_client, query, headers, cookies, form
):
    echo_client.cookies.clear()
    for name, value in cookies.items():
        echo_client.cookies.set(name, value)
    seen = echo_client.post("/echo/w/1/r", params=query, headers=headers, data=form).json()
    # httpx groups repeated names together: what it sends is what must arrive.
    assert seen["query"] == [list(pair) for pair in httpx.QueryParams(query).multi_items()]
    for name, value in headers.items():
        assert seen["headers"][name] == value
    assert seen["cookies"] == cookies
    assert seen.get("form", []) == [[k, v] for k, values in form.items() for v in values]


@_settings(60)
@given(
    fields=st.dictionaries(_PART_TEXT.filter(bool), _PART_TEXT, max_size=4),
    files=st.lists(
        st.tuples(
            _PART_TEXT.filter(bool),
            _PART_TEXT.filter(bool),
            st.binary(max_size=200),
            st.sampled_from(["text/plain", "application/octet-stream", "image/png"]),
        ),
        min_size=1,
        max_size=3,
    ),
)
def test_multipart_forms_round_trip(echo_client, fields, files):
    seen = echo_client.post(
        "/echo/w/1/r",
        data=fields,
        files=[(name, (filename, content, kind)) for name, filename, content, kind in files],
    ).json()
    assert seen["form"] == [list(pair) for pair in fields.items()]
    assert seen["files"] == [
        [name, filename, kind, content.hex()] for name, filename, content, kind in files
    ]


# -- the WSGI and the ASGI view of the same request are equal ---------------------------


@pytest.fixture
def both_clients() -> Iterator[tuple[TestClient, TestClient]]:
    app = _echo_app()
    wsgi = TestClient(app, "wsgi", wrap_wsgi=validator)  # type: ignore[arg-type]
    asgi = TestClient(app, "asgi")
    try:
        with blockbuster_ctx():
            yield wsgi, asgi
    finally:
        wsgi.close()
        asgi.close()


_SEGMENT = st.text(TEXT, min_size=1, max_size=8).filter(
    lambda text: "/" not in text and text not in (".", "..")
)


@st.composite
def http_requests(draw: st.DrawFn) -> dict[str, Any]:
    """httpx.Client.request keywords for one request to the echo route."""
    rest = "/".join(quote(segment, safe="") for segment in draw(st.lists(_SEGMENT, max_size=3)))
    path = f"/echo/{quote(draw(_SEGMENT), safe='')}/{draw(st.integers(0, 10**6))}/{rest}"
    options: dict[str, Any] = {
        "method": draw(st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"])),
        "url": path,
        "params": draw(_PAIRS),
        "headers": draw(st.dictionaries(_HEADER_NAME, _HEADER_VALUE)),
    }
    cookies = draw(st.dictionaries(_TOKEN, _COOKIE_VALUE, max_size=3))
    if cookies:
        options["headers"]["cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    kind = draw(st.sampled_from(["none", "raw", "json", "form", "multipart"]))
    if kind == "raw":
        options["content"] = draw(st.binary(max_size=100))
    elif kind == "json":
        options["json"] = draw(
            st.recursive(
                st.none() | st.booleans() | st.integers() | st.text(TEXT, max_size=8),
                lambda inner: (
                    st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(TEXT, max_size=5), inner, max_size=3)
                ),
                max_leaves=8,
            )
        )
    elif kind == "form":
        options["data"] = draw(st.dictionaries(st.text(TEXT, max_size=8), st.text(TEXT)))
    elif kind == "multipart":
        options["data"] = draw(st.dictionaries(_PART_TEXT.filter(bool), _PART_TEXT, max_size=3))
        options["files"] = {"upload": ("name.bin", draw(st.binary(max_size=100)))}
    return options


@_settings(80)
@given(http_requests())
def test_wsgi_and_asgi_see_the_same_request(both_clients, options):
    wsgi, asgi = both_clients
    # One request built once (one multipart boundary), sent through both.
    request_w = wsgi.build_request(**options)
    body = request_w.read()
    request_a = asgi.build_request(
        options["method"], request_w.url, headers=request_w.headers, content=body
    )
    seen_w, seen_a = wsgi.send(request_w), asgi.send(request_a)
    assert seen_w.status_code == seen_a.status_code == 200, (seen_w.text, seen_a.text)
    assert seen_w.json() == seen_a.json()
    seen = seen_w.json()
    assert seen["method"] == options["method"]
    assert seen["body"] == body.hex()
    if "json" in options:
        assert seen["json"] == options["json"]
    sent = httpx.QueryParams(options["params"]).multi_items()
    assert seen["query"] == [list(pair) for pair in sent]
