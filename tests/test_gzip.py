"""GZipMiddleware: gzip for clients that accept it, full bodies and streams."""

from __future__ import annotations

import asyncio
import gzip
import threading
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dualweb import App, Response, StreamingResponse
from dualweb.middleware import GZipMiddleware
from dualweb.middleware.gzip import accepts_gzip

TEXT = "All work and no play makes Jack a dull boy. " * 40  # 1760 bytes
GZIP = {"Accept-Encoding": "gzip"}
# httpx asks for gzip unless told otherwise.
IDENTITY = {"Accept-Encoding": "identity"}


def raw(client, method, path, headers=None):
    """(response, body as sent): httpx would otherwise decompress it."""
    with client.stream(method, path, headers=headers) as response:
        return response, b"".join(response.iter_raw())


def gzip_app(**options) -> App:
    app = App()
    app.add_middleware(GZipMiddleware(**options))
    app.add_route("/text", lambda request: TEXT)
    app.add_route("/small", lambda request: "tiny")
    return app


def test_body_is_compressed_when_gzip_is_accepted(make_client):
    client = make_client(gzip_app())
    response, body = raw(client, "GET", "/text", GZIP)
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["vary"] == "Accept-Encoding"
    assert response.headers["content-length"] == str(len(body))
    assert len(body) < len(TEXT) / 10
    assert gzip.decompress(body).decode() == TEXT
    assert response.headers["content-type"] == "text/plain; charset=utf-8"


def test_compression_is_deterministic(make_client):
    client = make_client(gzip_app())
    # No timestamp in the gzip header: the same body compresses the same.
    assert raw(client, "GET", "/text", GZIP)[1] == raw(client, "GET", "/text", GZIP)[1]


@pytest.mark.parametrize(
    "accept",
    [
        "",
        "identity",
        "br",
        "gzip;q=0",
        "gzip; q=0.000, deflate",
        "*;q=0",
        "gzip;q=x",
        "br, *;q=0",
        b"gzip;q=\xb2",
    ],
)
def test_not_compressed_unless_accepted(make_client, accept):
    client = make_client(gzip_app())
    response, body = raw(client, "GET", "/text", {"Accept-Encoding": accept})
    assert "content-encoding" not in response.headers
    assert body == TEXT.encode()
    assert response.headers["content-length"] == str(len(TEXT))
    # The answer would differ for another Accept-Encoding: caches must know.
    assert response.headers["vary"] == "Accept-Encoding"


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("gzip", True),
        ("GZIP", True),
        ("deflate, gzip;q=0.5", True),
        ("x-gzip", True),
        ("*", True),
        ("br;q=1.0, *;q=0.1", True),
        ("gzip;q=0, *", False),
        ("gzip;q=0", False),
        ("gzip; Q=0", False),
        ("gzip;q=0.001", True),
        ("gzip;q=1.5", False),
        ("gzip;q=-1", False),
        ("gzip;q=nan", False),
        ("gzip;q=", False),
        ("gzip;q=.", False),
        ("gzip;q=\xb2", False),
        ("gzip;q=1.", True),
        ("gzip;level=1", True),
        ("", False),
        (",,,", False),
        ("identity", False),
    ],
)
def test_accept_encoding_parsing(accept, expected):
    assert accepts_gzip(accept) is expected


def test_small_bodies_are_left_alone(make_client):
    client = make_client(gzip_app())
    response, body = raw(client, "GET", "/small", GZIP)
    assert body == b"tiny"
    assert "content-encoding" not in response.headers
    assert "vary" not in response.headers
    client = make_client(gzip_app(minimum_size=0))
    response, body = raw(client, "GET", "/text", GZIP)
    assert gzip.decompress(body).decode() == TEXT


def test_incompressible_body_is_sent_as_is(make_client):
    noise = zlib.compress(TEXT.encode() * 3, 9)  # compressed data does not shrink again
    app = App()
    app.add_middleware(GZipMiddleware(minimum_size=10))
    app.add_route("/noise", lambda request: noise)
    response, body = raw(make_client(app), "GET", "/noise", GZIP)
    assert body == noise
    assert "content-encoding" not in response.headers


@pytest.mark.parametrize(
    ("headers", "status", "media_type"),
    [
        ({"Content-Encoding": "br"}, 200, "text/plain"),
        ({"Cache-Control": "public, No-Transform"}, 200, "text/plain"),
        ({}, 200, "text/event-stream"),
        ({"Content-Range": "bytes 0-1759/5000"}, 206, "text/plain"),
    ],
)
def test_responses_that_must_not_be_compressed(make_client, headers, status, media_type):
    app = App()
    app.add_middleware(GZipMiddleware())
    app.add_route("/", lambda request: Response(TEXT, status, headers, media_type=media_type))
    response, body = raw(make_client(app), "GET", "/", GZIP)
    assert response.status_code == status
    assert body == TEXT.encode()
    assert response.headers.get("content-encoding") == headers.get("Content-Encoding")
    assert "vary" not in response.headers


@pytest.mark.parametrize("status", [204, 304])
def test_bodiless_statuses_are_left_alone(make_client, status):
    app = App()
    app.add_middleware(GZipMiddleware(minimum_size=0))
    app.add_route("/", lambda request: Response(status=status, headers={"ETag": '"v1"'}))
    response, body = raw(make_client(app), "GET", "/", GZIP)
    assert (response.status_code, body) == (status, b"")
    assert "content-encoding" not in response.headers
    assert response.headers["etag"] == '"v1"'


def test_strong_etag_is_weakened_and_accept_ranges_dropped(make_client):
    app = App()
    app.add_middleware(GZipMiddleware())
    app.add_route(
        "/strong", lambda request: (TEXT, 200, {"ETag": '"v1"', "Accept-Ranges": "bytes"})
    )
    app.add_route("/weak", lambda request: (TEXT, 200, {"ETag": 'W/"v1"'}))
    client = make_client(app)
    response = client.get("/strong", headers=GZIP)
    # The gzip body is another representation: it must not share a strong validator.
    assert response.headers["etag"] == 'W/"v1"'
    assert "accept-ranges" not in response.headers
    assert client.get("/weak", headers=GZIP).headers["etag"] == 'W/"v1"'
    response = client.get("/strong", headers=IDENTITY)
    assert response.headers["etag"] == '"v1"'
    assert response.headers["accept-ranges"] == "bytes"


def test_head_gets_the_headers_get_would(make_client):
    client = make_client(gzip_app())
    get, get_body = raw(client, "GET", "/text", GZIP)
    head, head_body = raw(client, "HEAD", "/text", GZIP)
    assert head_body == b""
    assert head.headers == get.headers
    assert head.headers["content-length"] == str(len(get_body))


def test_errors_are_compressed_too(make_client):
    app = App()
    app.add_middleware(GZipMiddleware(minimum_size=10))

    @app.get("/fail")
    def fail(request):
        from dualweb import HTTPException

        raise HTTPException(400, "this request was not right at all; " * 3)

    response, body = raw(make_client(app), "GET", "/fail", GZIP)
    assert response.status_code == 400
    assert gzip.decompress(body) == b"this request was not right at all; " * 3


# -- streams -------------------------------------------------------------------------


class Closing:
    """A sync stream that records whether it was closed, and what was pulled."""

    def __init__(self, chunks):
        self.chunks = list(chunks)
        self.pulled = 0
        self.closed = False
        self.closed_event = threading.Event()

    def __iter__(self):
        for chunk in self.chunks:
            self.pulled += 1
            yield chunk

    def close(self):
        self.closed = True
        self.closed_event.set()


def stream_app(make_stream) -> App:
    app = App()
    app.add_middleware(GZipMiddleware())

    @app.get("/stream")
    def stream(request):
        return StreamingResponse(make_stream(), media_type="text/plain")

    return app


def sync_chunks():
    yield "first line\n"
    yield b""
    yield b"second line\n"


async def async_chunks():
    yield "first line\n"
    await asyncio.sleep(0)
    yield b""
    yield b"second line\n"


@pytest.mark.parametrize("make_stream", [sync_chunks, async_chunks], ids=["sync", "async"])
def test_streams_are_compressed_chunk_by_chunk(make_client, make_stream):
    client = make_client(stream_app(make_stream))
    with client.stream("GET", "/stream", headers=GZIP) as response:
        assert response.headers["content-encoding"] == "gzip"
        assert response.headers["vary"] == "Accept-Encoding"
        assert "content-length" not in response.headers
        decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
        parts = [decompressor.decompress(chunk) for chunk in response.iter_raw()]
    # Each chunk is flushed as it comes: the client can decode it on arrival.
    assert parts[:2] == [b"first line\n", b"second line\n"]
    assert b"".join(parts) + decompressor.flush() == b"first line\nsecond line\n"
    assert decompressor.eof


@pytest.mark.parametrize("make_stream", [sync_chunks, async_chunks], ids=["sync", "async"])
def test_streams_without_gzip_pass_through(make_client, make_stream):
    client = make_client(stream_app(make_stream))
    response = client.get("/stream", headers=IDENTITY)
    assert response.text == "first line\nsecond line\n"
    assert "content-encoding" not in response.headers
    assert response.headers["vary"] == "Accept-Encoding"


def test_stream_is_not_buffered(make_client):
    # The stream waits, after its first chunk, until the client has that
    # chunk: were anything buffering it, the client would never get it.
    received = threading.Event()
    waits: list[bool] = []

    def chunks():
        yield b"a" * 100
        waits.append(received.wait(10))
        yield b"b" * 100

    client = make_client(stream_app(chunks))
    with client.stream("GET", "/stream", headers=GZIP) as response:
        raw_chunks = response.iter_raw()
        first = next(raw_chunks)
        assert zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(first) == b"a" * 100
        received.set()
        rest = b"".join(raw_chunks)
    assert waits == [True]
    assert gzip.decompress(first + rest) == b"a" * 100 + b"b" * 100


def test_stream_with_a_small_declared_length_is_left_alone(make_client):
    app = App()
    app.add_middleware(GZipMiddleware())
    app.add_route(
        "/",
        lambda request: StreamingResponse(
            iter([b"tiny"]), headers={"Content-Length": "4"}, media_type="text/plain"
        ),
    )
    response, body = raw(make_client(app), "GET", "/", GZIP)
    assert body == b"tiny"
    assert response.headers["content-length"] == "4"
    assert "content-encoding" not in response.headers


def test_stream_with_a_large_declared_length_loses_it(make_client):
    app = App()
    app.add_middleware(GZipMiddleware())
    app.add_route(
        "/",
        lambda request: StreamingResponse(
            iter([TEXT]), headers={"Content-Length": str(len(TEXT))}, media_type="text/plain"
        ),
    )
    response, body = raw(make_client(app), "GET", "/", GZIP)
    assert "content-length" not in response.headers
    assert gzip.decompress(body).decode() == TEXT


def test_event_streams_are_never_compressed(make_client):
    app = App()
    app.add_middleware(GZipMiddleware())
    app.add_route(
        "/events",
        lambda request: StreamingResponse(iter(["data: 1\n\n"]), media_type="text/event-stream"),
    )
    response, body = raw(make_client(app), "GET", "/events", GZIP)
    assert body == b"data: 1\n\n"
    assert "content-encoding" not in response.headers


def test_head_on_a_stream_closes_it_unread(make_client, interface):
    stream = Closing([b"a" * 1000])
    client = make_client(stream_app(lambda: stream))
    response, body = raw(client, "HEAD", "/stream", GZIP)
    assert body == b""
    assert response.headers["content-encoding"] == "gzip"
    assert stream.pulled == 0
    # Under ASGI the adapter closes its thread-pool iterator, which was never
    # started, and so never closes a sync stream on HEAD (with or without
    # gzip): a known adapter gap, reported, not this middleware's.
    if interface == "wsgi":
        assert stream.closed


def test_stream_closed_when_the_client_stops_early(make_client):
    stream = Closing([b"a" * 1000] * 5)
    client = make_client(stream_app(lambda: stream))
    with client.stream("GET", "/stream", headers=GZIP) as response:
        next(response.iter_raw())
    # Under ASGI the app finishes on its own loop: wait for it to get there.
    assert stream.closed_event.wait(10)


def test_async_stream_closed_unread_on_head(make_client, interface):
    closed = []

    class AsyncClosing:
        def __aiter__(self):
            return self

        async def __anext__(self):
            raise AssertionError("a HEAD response is never read")

        async def aclose(self):
            closed.append(True)

    client = make_client(stream_app(AsyncClosing))
    response, body = raw(client, "HEAD", "/stream", GZIP)
    assert body == b""
    assert response.headers["content-encoding"] == "gzip"
    # The same adapter gap as above, the other way round (WSGI, async stream).
    if interface == "asgi":
        assert closed == [True]


def test_wrappers_close_the_object_and_its_iterator():
    from dualweb.middleware.gzip import _AsyncGzipStream, _GzipStream

    class Source:
        def __init__(self):
            self.closed = []

        def __iter__(self):
            return self.iterate()

        def iterate(self):
            try:
                yield b"x"
            finally:
                self.closed.append("iterator")

        def close(self):
            self.closed.append("source")

    source = Source()
    wrapper = _GzipStream(source, zlib.compressobj(6, zlib.DEFLATED, 31))
    assert iter(wrapper) is wrapper
    next(wrapper)
    wrapper.close()
    assert source.closed == ["iterator", "source"]
    wrapper = _GzipStream([b"x"], zlib.compressobj(6, zlib.DEFLATED, 31))
    assert gzip.decompress(b"".join(wrapper)) == b"x"
    assert list(wrapper) == []  # finished: stays finished
    wrapper.close()  # nothing to close

    async def drain():
        async def chunks():
            yield "é"

        wrapper = _AsyncGzipStream(chunks(), zlib.compressobj(6, zlib.DEFLATED, 31))
        body = b"".join([chunk async for chunk in wrapper])
        assert [chunk async for chunk in wrapper] == []
        await wrapper.aclose()
        return body

    assert gzip.decompress(asyncio.run(drain())) == "é".encode()

    class AsyncSource:
        def __init__(self):
            self.closed = []

        def __aiter__(self):
            return self.iterate()

        async def iterate(self):
            try:
                yield b"x"
            finally:
                self.closed.append("iterator")

        async def aclose(self):
            self.closed.append("source")

    async def close_early(source):
        wrapper = _AsyncGzipStream(source, zlib.compressobj(6, zlib.DEFLATED, 31))
        await wrapper.__anext__()
        await wrapper.aclose()

    source = AsyncSource()
    asyncio.run(close_early(source))
    assert source.closed == ["iterator", "source"]

    class Plain:
        def __aiter__(self):
            return self

        async def __anext__(self):
            return b"x"

    asyncio.run(close_early(Plain()))  # nothing to close, and no error


def test_configuration_errors():
    with pytest.raises(ValueError, match="minimum_size"):
        GZipMiddleware(minimum_size=-1)
    with pytest.raises(ValueError, match="compresslevel"):
        GZipMiddleware(compresslevel=10)
    assert GZipMiddleware.inline is True


@given(st.text())
def test_accept_encoding_parsing_never_fails(accept):
    assert accepts_gzip(accept) in (True, False)


def test_file_responses_are_compressed_once_prepared(make_client, tmp_path):
    # A FileResponse is evaluated against the request before the after hooks
    # run: a 200 is compressed, a 206 or 304 is left alone, a 404 is a 404.
    from dualweb.files import FileResponse

    (tmp_path / "page.txt").write_text(TEXT)
    app = App()
    app.add_middleware(GZipMiddleware())
    app.add_route("/page", lambda request: FileResponse(tmp_path / "page.txt"))
    app.add_route("/gone", lambda request: FileResponse(tmp_path / "missing.txt"))
    client = make_client(app)
    response, body = raw(client, "GET", "/page", GZIP)
    assert response.headers["content-encoding"] == "gzip"
    assert gzip.decompress(body) == TEXT.encode()
    assert "accept-ranges" not in response.headers
    etag = response.headers["etag"]
    assert etag.startswith("W/")
    # If-None-Match compares weakly: the compressed representation's ETag matches.
    response = client.get("/page", headers={**GZIP, "If-None-Match": etag})
    assert response.status_code == 304
    response = client.get("/page", headers={**GZIP, "Range": "bytes=0-2"})
    assert (response.status_code, response.content) == (206, TEXT[:3].encode())
    assert "content-encoding" not in response.headers
    assert client.get("/gone", headers=GZIP).status_code == 404


def test_a_response_that_is_its_own_stream_is_left_alone(make_client):
    class Deferred(Response):
        __slots__ = ()

        def __init__(self):
            super().__init__(media_type="text/plain")
            del self.headers["content-length"]
            self.stream = self

        def __iter__(self):
            yield TEXT.encode()

    app = App()
    app.add_middleware(GZipMiddleware())
    app.add_route("/", lambda request: Deferred())
    response, body = raw(make_client(app), "GET", "/", GZIP)
    assert body == TEXT.encode()
    assert "content-encoding" not in response.headers
