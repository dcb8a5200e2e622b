"""Cookie header parsing never fails on real-world garbage, under either interface."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from dualweb import App, PlainTextResponse
from dualweb.cookies import parse_cookie_header, quote_cookie_value


def parse(header: str) -> dict[str, str]:
    cookies: dict[str, str] = {}
    parse_cookie_header(header, cookies)
    return cookies


def cookie_app() -> App:
    app = App()
    app.add_route("/", lambda request: request.cookies)
    return app


GARBAGE = [
    # (raw Cookie header as sent, request.cookies)
    (b"=x", {}),
    (b"=x; a=1", {"a": "1"}),
    (b"a=1; =; b=2", {"a": "1", "b": "2"}),
    (b";;", {}),
    (b"a=1;;;b=2;", {"a": "1", "b": "2"}),
    (b"   a  =  1   ;   b=2  ", {"a": "1", "b": "2"}),
    (b"a=1; a=2; a=3", {"a": "1"}),
    (b"flag; a=1", {"a": "1"}),
    (b"a==b=c", {"a": "=b=c"}),
    (b'a="x y"', {"a": "x y"}),
    (b'a="', {"a": '"'}),
    (b'a=""', {"a": ""}),
    (b'a="unterminated; b=2', {"a": '"unterminated', "b": "2"}),
    (b'a=x"y"', {"a": 'x"y"'}),
    (b'a="\\"q\\" \\073 \\\\"', {"a": '"q" ; \\'}),
    (b'a="\\777"', {"a": "777"}),
    (b"a=\xc3\xa9t\xc3\xa9", {"a": "été"}),  # UTF-8, as browsers send it
    (b"a=\xe9t\xe9", {"a": "été"}),  # latin-1: not UTF-8, kept as latin-1
    (b"a=\xc3\xa9; b=\xe9; c=\xff\xfe", {"a": "é", "b": "é", "c": "ÿþ"}),
    (b"\xc3\xa9=1", {"é": "1"}),
    (b"a=\xf0\x9f\x90\x8d", {"a": "🐍"}),
    (b"a=\xf0\x9f\x90", {"a": "ð\x9f\x90"}),  # truncated UTF-8: latin-1
    (b"a=1\tb=2", {"a": "1\tb=2"}),
    (b"a=1, b=2", {"a": "1, b=2"}),
    (b"a=%E2%9C%93", {"a": "%E2%9C%93"}),  # no percent-decoding: values are opaque
]


@pytest.mark.parametrize(("header", "expected"), GARBAGE)
def test_garbage_cookie_headers_through_the_request(make_client, header, expected):
    response = make_client(cookie_app()).get("/", headers={"Cookie": header})
    assert response.status_code == 200
    assert response.json() == expected


def test_very_long_cookie_header(make_client):
    header = "; ".join(f"c{i}={'v' * 50}" for i in range(2000)) + "; =;;" * 1000
    response = make_client(cookie_app()).get("/", headers={"Cookie": header})
    cookies = response.json()
    assert len(cookies) == 2000
    assert cookies["c1999"] == "v" * 50


def test_no_cookie_header(make_client):
    assert make_client(cookie_app()).get("/").json() == {}


def test_parsing_adds_to_what_is_there():
    cookies = {"a": "first"}
    parse_cookie_header("a=second; b=2", cookies)
    assert cookies == {"a": "first", "b": "2"}


@given(st.text())
def test_any_text_parses_without_error(header):
    cookies = parse(header)
    for name, value in cookies.items():
        assert name == name.strip()
        assert name
        assert isinstance(value, str)


@given(st.binary())
def test_any_header_bytes_parse_without_error(raw):
    # What the adapters hand over: the header's bytes decoded as latin-1.
    parse(raw.decode("latin-1"))


@given(
    st.lists(
        st.tuples(
            st.from_regex(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+", fullmatch=True),
            st.text(st.characters(codec="latin-1")),
        ),
        min_size=1,
    )
)
def test_quoted_values_round_trip_and_first_wins(pairs):
    header = "; ".join(f"{name}={quote_cookie_value(value)}" for name, value in pairs)
    expected: dict[str, str] = {}
    for name, value in pairs:
        expected.setdefault(name, value)
    assert parse(header) == expected


@given(st.text(st.characters(codec="utf-8"), max_size=50))
def test_utf8_values_arrive_decoded(value):
    # A browser sends a non-ASCII cookie as UTF-8 bytes; the server hands
    # them over as latin-1 text; the parser restores what the browser meant.
    assume(";" not in value and value == value.strip() and not value.startswith('"'))
    header = "k=" + value
    assert parse(header.encode().decode("latin-1")) == {"k": value}


@given(st.text(st.characters(codec="utf-8")))
def test_any_value_round_trips_as_the_header_bytes_it_becomes(value):
    # Past U+00FF there is no latin-1 byte: such characters go as UTF-8.
    quoted = quote_cookie_value(value)
    quoted.encode("latin-1")  # sendable as a header value (raised before)
    assert parse("k=" + quoted) == {"k": value}


def test_cookie_value_beyond_latin_1_is_sent_and_read_back(make_client):
    # "€" has no latin-1 byte: the response could not be sent (an encoding
    # error in the adapter) before such characters went as UTF-8.
    value = "€ é 😀"
    app = App()

    @app.get("/")
    def set_(request):
        response = PlainTextResponse("ok")
        response.set_cookie("k", value)
        return response

    app.add_route("/read", lambda request: request.cookies)
    client = make_client(app)
    (header,) = [v for k, v in client.get("/").headers.raw if k == b"set-cookie"]
    pair = header.partition(b";")[0]
    assert pair == b'k="\xe2\x82\xac \\351 \xf0\x9f\x98\x80"'
    # What a browser sends back: the same bytes.
    client.cookies.clear()
    response = client.get("/read", headers={"Cookie": pair})
    assert response.json() == {"k": value}
