from __future__ import annotations

import math

import pytest

from dualweb import Headers, MultiDict, QueryParams
from dualweb.converters import FloatConverter, PathConverter, StringConverter, UUIDConverter
from dualweb.cookies import parse_cookie_header, quote_cookie_value
from dualweb.forms import FormData


def test_multidict():
    md = MultiDict([("a", "1"), ("b", "2"), ("a", "3")])
    assert md["a"] == "1"
    assert md.getlist("a") == ["1", "3"]
    assert md.getlist("zz") == []
    assert list(md) == ["a", "b"]
    assert len(md) == 2
    assert "b" in md
    assert "c" not in md
    assert md.multi_items() == [("a", "1"), ("b", "2"), ("a", "3")]
    assert md == MultiDict([("a", "1"), ("b", "2"), ("a", "3")])
    assert md != MultiDict([("a", "3"), ("b", "2"), ("a", "1")])
    assert MultiDict([("a", "1")]) == {"a": "1"}
    assert repr(QueryParams([("q", "x")])) == "QueryParams([('q', 'x')])"
    with pytest.raises(TypeError):
        hash(md)


def test_headers():
    headers = Headers([("Content-Type", "text/plain"), ("X-A", "1"), ("x-a", "2")])
    assert headers["content-type"] == "text/plain"
    assert headers["X-A"] == "1,2"
    assert headers.get("missing") is None
    assert headers.get("missing", "d") == "d"
    assert headers.getlist("X-a") == ["1", "2"]
    assert "CONTENT-TYPE" in headers
    assert 42 not in headers
    assert list(headers) == ["content-type", "x-a"]
    assert len(headers) == 2
    assert headers.multi_items()[0] == ("content-type", "text/plain")
    assert headers == Headers([("x-a", "1"), ("x-a", "2"), ("content-type", "text/plain")])
    assert headers == {"content-type": "text/plain", "x-a": "1,2"}
    assert "Headers(" in repr(headers)
    with pytest.raises(KeyError):
        headers["nope"]
    with pytest.raises(TypeError):
        hash(headers)


def test_form_data_has_files():
    form = FormData([("a", "1")])
    assert form["a"] == "1"
    assert len(form.files) == 0


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("a=1; b=2", {"a": "1", "b": "2"}),
        ("a=1; a=2", {"a": "1"}),
        ("=nameless; ok=1", {"ok": "1"}),
        ("novalue; ok=1", {"ok": "1"}),
        ('q="quoted \\"x\\" \\073"', {"q": 'quoted "x" ;'}),
        ("u=zoë", {"u": "zoë"}),
        ('half="open', {"half": '"open'}),
        ("", {}),
        (";;;", {}),
    ],
)
def test_cookie_parsing_tolerates_garbage(header, expected):
    cookies: dict[str, str] = {}
    parse_cookie_header(header, cookies)
    assert cookies == expected


def test_cookie_value_quoting_round_trips():
    for value in ["plain", 'a "b" c', "semi;colon", "comma,x", "back\\slash", "tab\there", "é"]:
        quoted = quote_cookie_value(value)
        cookies: dict[str, str] = {}
        parse_cookie_header(f"k={quoted}", cookies)
        assert cookies["k"] == value
    assert quote_cookie_value("plain") == "plain"


def test_converters_to_url():
    assert StringConverter().to_url("a b") == "a%20b"
    assert PathConverter().to_url("a b/c") == "a%20b/c"
    assert FloatConverter().to_url(1.5) == "1.5"
    for bad in (-1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="finite"):
            FloatConverter().to_url(bad)
    with pytest.raises(ValueError, match="non-empty"):
        StringConverter().to_url("")
    value = "12345678-1234-5678-1234-567812345678"
    assert UUIDConverter().to_url(value.upper()) == value
