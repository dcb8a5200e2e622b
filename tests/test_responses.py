from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest

from dualweb import (
    App,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)


def test_return_value_conversion(make_client):
    app = App()
    app.add_route("/str", lambda request: "text")
    app.add_route("/dict", lambda request: {"a": "é"})
    app.add_route("/list", lambda request: [1, 2])
    app.add_route("/bytes", lambda request: b"\x00\x01")
    app.add_route("/none", lambda request: None)
    app.add_route("/tuple2", lambda request: ({"created": True}, 201))
    app.add_route("/tuple3", lambda request: ("teapot", 418, {"X-Tea": "yes"}))
    app.add_route("/tuple-none", lambda request: ("", 202, {"X-Queued": "1"}))
    app.add_route("/response", lambda request: HTMLResponse("<b>hi</b>", 203))
    client = make_client(app)

    response = client.get("/str")
    assert (response.text, response.headers["content-type"]) == (
        "text",
        "text/plain; charset=utf-8",
    )
    assert response.headers["content-length"] == "4"
    response = client.get("/dict")
    assert response.content == '{"a":"é"}'.encode()
    assert response.headers["content-type"] == "application/json"
    assert client.get("/list").json() == [1, 2]
    response = client.get("/bytes")
    assert response.content == b"\x00\x01"
    assert response.headers["content-type"] == "application/octet-stream"
    response = client.get("/none")
    assert response.status_code == 204
    assert "content-length" not in response.headers
    assert "content-type" not in response.headers
    response = client.get("/tuple2")
    assert (response.status_code, response.json()) == (201, {"created": True})
    response = client.get("/tuple3")
    assert (response.status_code, response.text, response.headers["x-tea"]) == (
        418,
        "teapot",
        "yes",
    )
    response = client.get("/tuple-none")
    assert (response.status_code, response.headers["x-queued"]) == (202, "1")
    response = client.get("/response")
    assert response.status_code == 203
    assert response.headers["content-type"] == "text/html; charset=utf-8"


@pytest.mark.parametrize(
    "value",
    [object(), 42, ("a", 200, {}, "extra"), (Response(), 200)],
)
def test_unsupported_return_values_are_500(make_client, value, caplog):
    app = App()
    app.add_route("/", lambda request: value)
    response = make_client(app).get("/")
    assert response.status_code == 500
    assert response.text == "Internal Server Error"
    assert "Exception in handler for GET /" in caplog.text


def test_tuple_with_bad_status_is_500(make_client):
    app = App()
    app.add_route("/", lambda request: ("x", 99))
    assert make_client(app).get("/").status_code == 500


def test_json_response_refuses_nan():
    with pytest.raises(ValueError, match="JSON compliant"):
        JSONResponse({"x": float("nan")})


def test_status_validation():
    with pytest.raises(ValueError, match="invalid status"):
        Response(status=600)
    with pytest.raises(ValueError, match="cannot have a body"):
        Response(b"body", status=204)
    with pytest.raises(ValueError, match="invalid status"):
        StreamingResponse([], status=99)
    with pytest.raises(ValueError, match="3xx"):
        RedirectResponse("/x", status=200)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("X-Evil", "a\r\nSet-Cookie: x=1"),
        ("X-Evil", "a\nb"),
        ("X-Evil", "a\x00b"),
        ("X Evil", "a"),
        ("X-Evil:", "a"),
        ("X-Evil", "€"),
    ],
)
def test_unsafe_headers_are_refused(name, value):
    with pytest.raises(ValueError, match="header"):
        Response(headers={name: value})
    response = Response()
    with pytest.raises(ValueError, match="header"):
        response.headers[name] = value
    with pytest.raises(ValueError, match="header"):
        response.headers.append(name, value)


def test_header_value_must_be_str():
    with pytest.raises(TypeError):
        Response(headers={"X-Number": 1})  # type: ignore[dict-item]


def test_mutable_headers():
    response = PlainTextResponse("x", headers=[("X-A", "1"), ("X-A", "2")])
    headers = response.headers
    assert headers.getlist("x-a") == ["1", "2"]
    assert headers["X-A"] == "1"
    headers["x-a"] = "3"
    assert headers.getlist("x-a") == ["3"]
    assert headers.setdefault("x-b", "4") == "4"
    assert headers.setdefault("x-b", "5") == "4"
    del headers["x-b"]
    assert "x-b" not in headers
    assert "content-type" in headers
    assert list(headers) == ["content-type", "content-length", "x-a"]
    assert len(headers) == 3
    assert headers.items()[-1] == ("x-a", "3")
    with pytest.raises(KeyError):
        headers["missing"]
    assert "MutableHeaders" in repr(headers)
    assert repr(response) == "<PlainTextResponse 200>"
    assert response.status == 200


def test_explicit_content_type_and_length_are_kept():
    response = Response(b"abc", headers={"Content-Type": "text/csv", "Content-Length": "3"})
    assert response.raw_headers == [("content-type", "text/csv"), ("content-length", "3")]
    response = Response(b"abc", headers={"X-A": "1"}, media_type="text/plain")
    assert response.raw_headers == [
        ("x-a", "1"),
        ("content-type", "text/plain; charset=utf-8"),
        ("content-length", "3"),
    ]


def test_cookies(make_client):
    app = App()

    @app.get("/set")
    def set_cookies(request):
        response = PlainTextResponse("ok")
        response.set_cookie(
            "sid", "abc", max_age=60, httponly=True, secure=True, samesite="strict"
        )
        response.set_cookie("pref", 'va"l;ue', path="/p", domain="testserver", samesite=None)
        response.set_cookie(
            "dated", "1", expires=datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
        )
        return response

    @app.get("/read")
    def read(request):
        return request.cookies

    @app.get("/delete")
    def delete(request):
        response = PlainTextResponse("bye")
        response.delete_cookie("sid")
        return response

    client = make_client(app)
    response = client.get("/set")
    assert response.headers.get_list("set-cookie") == [
        "sid=abc; Max-Age=60; Path=/; Secure; HttpOnly; SameSite=Strict",
        'pref="va\\"l\\073ue"; Path=/p; Domain=testserver',
        "dated=1; Expires=Wed, 02 Jan 2030 03:04:05 GMT; Path=/; SameSite=Lax",
    ]
    client.cookies.set("pref", response.cookies["pref"])
    client.cookies.set("plain", "x")
    # sid is Secure, so httpx keeps it for https; dated came from the response.
    assert client.get("/read").json() == {"pref": 'va"l;ue', "plain": "x", "dated": "1"}
    deleted = client.get("/delete").headers["set-cookie"]
    assert deleted.startswith("sid=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"key": "bad name", "value": "x"},
        {"key": "k", "value": "a\r\nb"},
        {"key": "k", "value": "x", "path": "/\n"},
        {"key": "k", "value": "x", "domain": "a;b"},
        {"key": "k", "value": "x", "samesite": "sometimes"},
        {"key": "k", "value": "x", "expires": "x\r\ny"},
    ],
)
def test_bad_cookies_are_refused(kwargs):
    with pytest.raises(ValueError, match=r"cookie|samesite"):
        Response().set_cookie(**kwargs)


def test_cookie_expiry_forms():
    response = Response()
    response.set_cookie("a", "1", expires=60)
    response.set_cookie("b", "1", expires=datetime(2030, 1, 1))
    response.set_cookie("c", "1", expires="Wed, 01 Jan 2031 00:00:00 GMT")
    values = response.headers.getlist("set-cookie")
    assert "GMT" in values[0]
    assert "Expires=Tue, 01 Jan 2030 00:00:00 GMT" in values[1]
    assert "Expires=Wed, 01 Jan 2031 00:00:00 GMT" in values[2]


def test_redirect(make_client):
    app = App()
    app.add_route("/old", lambda request: RedirectResponse("/new/ü?x=1"))
    app.add_route("/moved", lambda request: RedirectResponse("/new", 301, {"X-Why": "moved"}))
    client = make_client(app)
    response = client.get("/old")
    assert response.status_code == 302
    assert response.headers["location"] == "/new/%C3%BC?x=1"
    response = client.get("/moved")
    assert (response.status_code, response.headers["x-why"]) == (301, "moved")


def test_streaming_sync_and_async(make_client):
    app = App()
    closed: list[str] = []

    def sync_chunks():
        try:
            yield "one,"
            yield b"two,"
            yield ""
            yield "three"
        finally:
            closed.append("sync")

    async def async_chunks():
        try:
            for part in ("a", "b", "c"):
                await asyncio.sleep(0)
                yield part
        finally:
            closed.append("async")

    @app.get("/sync")
    def sync_stream(request):
        return StreamingResponse(sync_chunks(), media_type="text/plain")

    @app.get("/async")
    async def async_stream(request):
        return StreamingResponse(
            async_chunks(), headers={"X-Stream": "1"}, media_type="text/plain"
        )

    @app.get("/async-from-sync-handler")
    def mixed(request):
        return StreamingResponse(async_chunks(), media_type="text/plain")

    client = make_client(app)
    response = client.get("/sync")
    assert response.text == "one,two,three"
    assert "content-length" not in response.headers
    assert client.get("/async").text == "abc"
    assert client.get("/async-from-sync-handler").text == "abc"
    assert closed == ["sync", "async", "async"]
    head = client.head("/sync")
    assert head.content == b""
    assert client.head("/async-from-sync-handler").content == b""


def test_streaming_chunk_by_chunk(make_client):
    app = App()

    @app.get("/count")
    def count(request):
        return StreamingResponse((f"{i}\n" for i in range(100)), media_type="text/plain")

    client = make_client(app)
    with client.stream("GET", "/count") as response:
        chunks = list(response.iter_raw())
    assert len(chunks) == 100
    assert b"".join(chunks).decode().splitlines() == [str(i) for i in range(100)]


def test_content_length_matches_body_bytes(make_client):
    app = App()
    app.add_route("/", lambda request: "€uro")
    response = make_client(app).get("/")
    assert response.headers["content-length"] == str(len("€uro".encode()))


def test_bodiless_statuses_in_tuples(make_client):
    app = App()
    app.add_route("/empty", lambda request: ("", 204, {"X-A": "1"}))
    app.add_route("/not-modified", lambda request: (b"", 304))
    app.add_route("/bad", lambda request: ("text", 204))
    client = make_client(app)
    response = client.get("/empty")
    assert response.status_code == 204
    assert response.headers["x-a"] == "1"
    assert "content-type" not in response.headers
    assert "content-length" not in response.headers
    assert client.get("/not-modified").status_code == 304
    assert client.get("/bad").status_code == 500


def test_repeated_headers_in_tuples_are_kept(make_client):
    app = App()
    app.add_route(
        "/",
        lambda request: (
            "ok",
            200,
            [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("Content-Type", "text/x-ok")],
        ),
    )
    response = make_client(app).get("/")
    assert response.headers.get_list("set-cookie") == ["a=1", "b=2"]
    assert response.headers["content-type"] == "text/x-ok"
