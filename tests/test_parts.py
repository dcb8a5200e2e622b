"""request.parts() / request.aparts(): a multipart body read part by part, nothing stored.

Every test runs under WSGI and ASGI (``make_client``, or :func:`call` from
test_uploads when the body must arrive in small chunks or without a
Content-Length) and through a sync handler (``parts()``) and an async one
(``aparts()``). The bodies are built with test_uploads' helpers.
"""

from __future__ import annotations

import hashlib
import json
import random
import tempfile
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest
from test_uploads import BOUNDARY, call, form_type, multipart, part, pieces

from dualweb import App
from dualweb import _multipart as multipart_module
from dualweb.parts import Part

MiB = 1024 * 1024
#: A sync and an async handler that read every part.
PATHS = ["/parts", "/aparts"]
#: Those, and a sync and an async handler that read none (each part is skipped).
ALL_PATHS = [*PATHS, "/skip", "/askip"]

# Bytes that look like the end of a part without being one.
TRICKY = b"\r\n--" + BOUNDARY.encode()[:-1] + b"\r\n-\r\r\n"


def json_of(answer: bytes) -> Any:
    return json.loads(answer)


def random_bytes(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- the app -------------------------------------------------------------------------


def about(item: Part) -> dict[str, Any]:
    return {
        "name": item.name,
        "filename": item.filename,
        "content_type": item.content_type,
        "tag": item.headers.get("x-tag"),
    }


def parts_app(**options: Any) -> App:
    """Files are hashed chunk by chunk, fields read as text."""
    app = App(**options)

    @app.post("/parts")
    def parts(request):
        result = []
        for item in request.parts():
            entry = about(item)
            if item.filename is None:
                entry["text"] = item.text()
            else:
                digest, size = hashlib.sha256(), 0
                for chunk in item:
                    assert type(chunk) is bytes
                    digest.update(chunk)
                    size += len(chunk)
                entry.update(size=size, sha256=digest.hexdigest())
            result.append(entry)
        return result

    @app.post("/aparts")
    async def aparts(request):
        result = []
        async for item in request.aparts():
            entry = about(item)
            if item.filename is None:
                entry["text"] = await item.atext()
            else:
                digest, size = hashlib.sha256(), 0
                async for chunk in item:
                    assert type(chunk) is bytes
                    digest.update(chunk)
                    size += len(chunk)
                entry.update(size=size, sha256=digest.hexdigest())
            result.append(entry)
        return result

    @app.post("/skip")
    def skip(request):
        return [item.name for item in request.parts()]

    @app.post("/askip")
    async def askip(request):
        return [item.name async for item in request.aparts()]

    return app


def field(name: str, text: str, tag: str | None = None) -> dict[str, Any]:
    return {"name": name, "filename": None, "content_type": None, "tag": tag, "text": text}


def file(
    name: str,
    filename: str,
    content: bytes,
    content_type: str | None = None,
    tag: str | None = None,
) -> dict[str, Any]:
    return {
        "name": name,
        "filename": filename,
        "content_type": content_type,
        "tag": tag,
        "size": len(content),
        "sha256": sha256(content),
    }


# -- fields and files ----------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS)
def test_fields_and_files_in_order(make_client, path):
    big = random_bytes(3 * MiB + 17)
    notes = TRICKY * 50
    body = multipart(
        part("title", b"Holiday"),
        part("photo", big, filename="beach.jpg", content_type="image/jpeg", headers=["X-Tag: a"]),
        part("tag", "été".encode()),
        part("empty", b"", filename="", content_type="application/octet-stream"),
        part("notes", notes, filename="notes.txt", content_type="Text/Plain; charset=utf-8"),
        part("", b"anonymous", headers=["X-TAG: b"]),
        part("last", b""),
    )
    client = make_client(parts_app(max_body_size=None))
    response = client.post(path, content=body, headers=form_type())
    assert response.status_code == 200, response.text
    assert response.json() == [
        field("title", "Holiday"),
        file("photo", "beach.jpg", big, "image/jpeg", tag="a"),
        field("tag", "été"),
        file("empty", "", b"", "application/octet-stream"),
        file("notes", "notes.txt", notes, "text/plain"),
        field("", "anonymous", tag="b"),
        field("last", ""),
    ]
    # The skipping handlers see the same parts, in the same order.
    for skip in ("/skip", "/askip"):
        names = client.post(skip, content=body, headers=form_type()).json()
        assert names == ["title", "photo", "tag", "empty", "notes", "", "last"]


@pytest.mark.parametrize("path", ALL_PATHS)
@pytest.mark.parametrize("size", [1, 7, 1000])
def test_body_in_small_chunks(interface, path, size):
    # Boundaries, headers and CRLFs split at every possible place.
    content = TRICKY * 20 + bytes(range(256))
    body = multipart(
        part("a", b"first value"),
        part("f", content, filename="f.bin", content_type="application/x-thing"),
        part("b", TRICKY),
        part("g", content[::-1], filename="g.bin"),
    )
    status, answer = call(parts_app(), interface, path, pieces(body, size), form_type())
    assert status == 200, answer
    if path in PATHS:
        expected: list[Any] = [
            field("a", "first value"),
            file("f", "f.bin", content, "application/x-thing"),
            field("b", TRICKY.decode()),
            file("g", "g.bin", content[::-1]),
        ]
    else:
        expected = ["a", "f", "b", "g"]
    assert json_of(answer) == expected


def test_part_headers_and_repr(make_client):
    app = App()

    @app.post("/headers")
    def headers(request):
        item = next(request.parts())
        return {
            "repr": repr(item),
            "headers": item.headers.multi_items(),
            "content_type": item.headers["content-type"],
            "disposition": item.headers.get("CONTENT-DISPOSITION"),
        }

    body = multipart(
        part("doc", b"x", filename="a b.txt", content_type="text/plain; charset=latin-1")
    )
    assert make_client(app).post("/headers", content=body, headers=form_type()).json() == {
        "repr": "<Part name='doc' filename='a b.txt'>",
        "headers": [
            ["content-disposition", 'form-data; name="doc"; filename="a b.txt"'],
            ["content-type", "text/plain; charset=latin-1"],
        ],
        "content_type": "text/plain; charset=latin-1",
        "disposition": 'form-data; name="doc"; filename="a b.txt"',
    }


@pytest.mark.parametrize("path", ALL_PATHS)
def test_empty_multipart_body_has_no_parts(make_client, path):
    body = f"--{BOUNDARY}--\r\n".encode()
    response = make_client(parts_app()).post(path, content=body, headers=form_type())
    assert (response.status_code, response.json()) == (200, [])


@pytest.mark.parametrize("path", PATHS)
def test_parts_after_body_reads_the_kept_body(make_client, path):
    app = App()

    @app.post("/parts")
    def parts(request):
        size = len(request.body())
        return {"size": size, "texts": [item.text() for item in request.parts()]}

    @app.post("/aparts")
    async def aparts(request):
        size = len(await request.abody())
        return {"size": size, "texts": [await item.atext() async for item in request.aparts()]}

    body = multipart(part("a", b"1"), part("b", b"2"))
    response = make_client(app).post(path, content=body, headers=form_type())
    assert response.json() == {"size": len(body), "texts": ["1", "2"]}


# -- text() and charsets -------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS)
def test_text_uses_the_part_charset(make_client, path):
    body = multipart(
        part("latin", "café".encode("latin-1"), content_type="text/plain; charset=latin-1"),
        part(
            "euro", "€uro".encode("iso-8859-15"), content_type='text/plain; charset="ISO-8859-15"'
        ),
        part("upper", "é".encode(), content_type="text/plain; charset=UTF-8"),
        part("default", "日本".encode()),
    )
    response = make_client(parts_app()).post(path, content=body, headers=form_type())
    assert [entry["text"] for entry in response.json()] == ["café", "€uro", "é", "日本"]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    ("item", "message"),
    [
        (part("a", b"ok\xff"), "Malformed multipart body: a field is not valid utf-8"),
        (
            part("a", "€".encode(), content_type="text/plain; charset=ascii"),
            "Malformed multipart body: a field is not valid ascii",
        ),
        (
            part("a", b"x", content_type="text/plain; charset=klingon"),
            "Malformed multipart body: unknown charset 'klingon'",
        ),
    ],
    ids=["utf-8", "ascii", "unknown-charset"],
)
def test_undecodable_text_is_400(make_client, caplog, path, item, message):
    body = multipart(part("first", b"fine"), item)
    response = make_client(parts_app()).post(path, content=body, headers=form_type())
    assert (response.status_code, response.text) == (400, message)
    assert not [record for record in caplog.records if record.exc_info]


# -- skipping, reading, reading too late ---------------------------------------------


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("size", [None, 100, 65536])
def test_only_the_third_part_is_read(interface, path, size):
    app = App(max_body_size=None)
    first = TRICKY * 5000
    third = random_bytes(300_000, seed=3)

    @app.post("/parts")
    def parts(request):
        names = []
        for item in request.parts():
            names.append(item.name)
            if item.name == "third":
                data = item.read()
                return {"names": names, "size": len(data), "sha256": sha256(data)}
        return None

    @app.post("/aparts")
    async def aparts(request):
        names = []
        async for item in request.aparts():
            names.append(item.name)
            if item.name == "third":
                data = await item.aread()
                return {"names": names, "size": len(data), "sha256": sha256(data)}
        return None

    body = multipart(
        part("first", first, filename="first.bin"),
        part("second", TRICKY * 10),
        part("third", third, filename="third.bin"),
    )
    chunks = [body] if size is None else pieces(body, size)
    status, answer = call(app, interface, path, chunks, form_type())
    assert status == 200, answer
    assert json_of(answer) == {
        "names": ["first", "second", "third"],
        "size": len(third),
        "sha256": sha256(third),
    }


@pytest.mark.parametrize("path", PATHS)
def test_a_part_partly_read_is_skipped_to_its_end(interface, path):
    app = App()

    @app.post("/parts")
    def parts(request):
        seen = []
        for item in request.parts():
            for chunk in item:
                seen.append([item.name, chunk.decode()])
                break  # only the first chunk
        return seen

    @app.post("/aparts")
    async def aparts(request):
        seen = []
        async for item in request.aparts():
            async for chunk in item:
                seen.append([item.name, chunk.decode()])
                break  # only the first chunk
        return seen

    contents = {"a": "0123456789" * 10, "b": "abcdefghij" * 10}
    body = multipart(*(part(name, text.encode()) for name, text in contents.items()))
    status, answer = call(app, interface, path, pieces(body, 20), form_type())
    assert status == 200, answer
    seen = json_of(answer)
    assert [name for name, _ in seen] == ["a", "b"]
    for name, chunk in seen:
        # A first piece of the part, then the rest skipped: the next part
        # starts at its own beginning.
        assert 0 < len(chunk) < 100
        assert contents[name].startswith(chunk)


@pytest.mark.parametrize("path", PATHS)
def test_reading_a_part_after_moving_on_gives_nothing(make_client, path):
    app = App()

    @app.post("/parts")
    def parts(request):
        kept: list[Part] = []
        during = []
        for item in request.parts():
            if kept:
                earlier = kept[-1]
                during.append([earlier.read().decode(), earlier.text(), list(earlier)])
            kept.append(item)
        after = [[item.read().decode(), item.text(), list(item)] for item in kept]
        return {"during": during, "after": after}

    @app.post("/aparts")
    async def aparts(request):
        kept: list[Part] = []
        during = []
        async for item in request.aparts():
            if kept:
                earlier = kept[-1]
                chunks = [chunk async for chunk in earlier]
                during.append([(await earlier.aread()).decode(), await earlier.atext(), chunks])
            kept.append(item)
        after = []
        for item in kept:
            chunks = [chunk async for chunk in item]
            after.append([(await item.aread()).decode(), await item.atext(), chunks])
        return {"during": during, "after": after}

    body = multipart(part("a", b"1"), part("b", b"2", filename="b.txt"), part("c", b"3"))
    response = make_client(app).post(path, content=body, headers=form_type())
    assert response.json() == {"during": [["", "", []]] * 2, "after": [["", "", []]] * 3}


@pytest.mark.parametrize("path", PATHS)
def test_read_gives_the_rest_once(interface, path):
    app = App()

    @app.post("/parts")
    def parts(request):
        result = []
        for item in request.parts():
            iterator = iter(item)
            first = next(iterator)
            result.append([first.decode(), item.read().decode(), item.read().decode()])
            # The iterator left open ends with the part: it never takes the
            # next part's bytes (nor its headers).
            result.append(next(iterator, None))
        return result

    @app.post("/aparts")
    async def aparts(request):
        result = []
        async for item in request.aparts():
            iterator = aiter(item)
            first = await anext(iterator)
            rest, again = await item.aread(), await item.aread()
            result.append([first.decode(), rest.decode(), again.decode()])
            result.append(await anext(iterator, None))
        return result

    body = multipart(part("a", b"x" * 100), part("b", b"y" * 100, filename="b"))
    # 40-byte chunks: each part comes in several pieces.
    status, answer = call(app, interface, path, pieces(body, 40), form_type())
    assert status == 200, answer
    assert json_of(answer)[1::2] == [None, None]
    (a_first, a_rest, a_again), (b_first, b_rest, b_again) = json_of(answer)[::2]
    assert (a_first + a_rest, b_first + b_rest) == ("x" * 100, "y" * 100)
    assert all([a_first, a_rest, b_first, b_rest])  # the first chunk, then the rest
    assert (a_again, b_again) == ("", "")


# -- limits ----------------------------------------------------------------------------

_HEADER_MESSAGE = "A multipart part header is larger than max_part_header_size (100 bytes)"


@pytest.mark.parametrize("path", ALL_PATHS)
@pytest.mark.parametrize(
    ("limits", "at_limit", "over", "message"),
    [
        pytest.param(
            {"max_form_fields": 2},
            [part("a", b"1"), part("f", b"x", filename="f"), part("b", b"2")],
            [part("a", b"1"), part("b", b"2"), part("c", b"3")],
            "Too many fields in form body (max_form_fields=2)",
            id="max_form_fields",
        ),
        pytest.param(
            {"max_form_files": 2},
            [part("f", b"x", filename="f"), part("a", b"1"), part("g", b"", filename="")],
            [
                part("f", b"x", filename="f"),
                part("g", b"y", filename="g"),
                part("h", b"", filename=""),
            ],
            "Too many files in form body (max_form_files=2)",
            id="max_form_files",
        ),
        pytest.param(
            {"max_field_size": 10},
            [part("a", b"x" * 10), part("f", b"y" * 50, filename="f")],
            [part("a", b"x" * 10), part("b", b"x" * 11)],
            "A form field is larger than max_field_size (10 bytes)",
            id="max_field_size",
        ),
        pytest.param(
            {"max_file_size": 100},
            [part("f", b"x" * 100, filename="f"), part("a", b"y" * 500)],
            [part("f", b"x" * 100, filename="f"), part("g", b"x" * 101, filename="g")],
            "An uploaded file is larger than max_file_size (100 bytes)",
            id="max_file_size",
        ),
        pytest.param(
            {"max_part_header_size": 100},
            # The limit is on one header line, without its CRLF.
            [part("a", b"1", headers=["X-Note: " + "n" * 92])],
            [part("a", b"1", headers=["X-Note: " + "n" * 93])],
            _HEADER_MESSAGE,
            id="max_part_header_size",
        ),
    ],
)
def test_limit_at_its_value_and_one_over(
    make_client, caplog, path, limits, at_limit, over, message
):
    client = make_client(parts_app(**limits))
    response = client.post(path, content=multipart(*at_limit), headers=form_type())
    assert response.status_code == 200, response.text
    assert len(response.json()) == len(at_limit)
    response = client.post(path, content=multipart(*over), headers=form_type())
    assert (response.status_code, response.text) == (413, message)
    assert not [record for record in caplog.records if record.exc_info]


@pytest.mark.parametrize("path", ALL_PATHS)
def test_sizes_are_counted_across_chunks(interface, path):
    app = parts_app(max_field_size=10, max_file_size=20)
    ok = multipart(part("a", b"x" * 10), part("f", b"y" * 20, filename="f"))
    assert call(app, interface, path, pieces(ok, 3), form_type())[0] == 200
    for body, message in [
        (
            multipart(part("a", b"x" * 11)),
            b"A form field is larger than max_field_size (10 bytes)",
        ),
        (
            multipart(part("f", b"y" * 21, filename="f")),
            b"An uploaded file is larger than max_file_size (20 bytes)",
        ),
    ]:
        assert call(app, interface, path, pieces(body, 3), form_type()) == (413, message)


@pytest.mark.parametrize("path", ALL_PATHS)
def test_too_many_part_headers(make_client, path):
    headers = [f"X-H{i}: v" for i in range(multipart_module.MAX_PART_HEADERS)]
    client = make_client(parts_app())
    response = client.post(
        path, content=multipart(part("a", b"1", headers=headers)), headers=form_type()
    )
    assert (response.status_code, response.text) == (
        413,
        "Too many headers in a multipart part (max 16)",
    )


@pytest.mark.parametrize("path", PATHS)
def test_no_limits(make_client, path):
    app = parts_app(
        max_body_size=None,
        max_form_fields=None,
        max_form_files=None,
        max_field_size=None,
        max_file_size=None,
        max_part_header_size=None,
    )
    big_field = "v" * (2 * MiB)
    body = multipart(
        *[part(f"f{i}", b"x") for i in range(1100)],
        *[part(f"u{i}", b"y", filename="y") for i in range(110)],
        part("big", big_field.encode(), headers=["X-Note: " + "n" * 20_000]),
    )
    response = make_client(app).post(path, content=body, headers=form_type())
    assert response.status_code == 200, response.text
    result = response.json()
    assert len(result) == 1211
    assert result[-1]["text"] == big_field


def test_limits_per_route(make_client):
    app = App(max_file_size=10)

    @app.post("/small")
    def small(request):
        return [len(item.read()) for item in request.parts()]

    @app.post("/large", max_file_size=1000, max_body_size=None)
    async def large(request):
        return [len(await item.aread()) async for item in request.aparts()]

    client = make_client(app)
    body = multipart(part("f", b"x" * 1000, filename="f"))
    assert client.post("/large", content=body, headers=form_type()).json() == [1000]
    response = client.post("/small", content=body, headers=form_type())
    assert (response.status_code, response.text) == (
        413,
        "An uploaded file is larger than max_file_size (10 bytes)",
    )


@pytest.mark.parametrize("path", ALL_PATHS)
@pytest.mark.parametrize("content_length", [True, False])
def test_max_body_size(make_client, path, content_length):
    body = multipart(part("a", b"1"), part("f", b"x" * 5000, filename="f"), part("b", b"2"))

    def content(data: bytes) -> bytes | Iterator[bytes]:
        # A generator is sent chunked, without a Content-Length.
        return data if content_length else iter(pieces(data, 1000))

    client = make_client(parts_app(max_body_size=len(body)))
    response = client.post(path, content=content(body), headers=form_type())
    assert response.status_code == 200, response.text
    assert len(response.json()) == 3
    over = body.replace(b"\r\n1\r\n", b"\r\n12\r\n")
    assert len(over) == len(body) + 1
    response = client.post(path, content=content(over), headers=form_type())
    assert (response.status_code, response.text) == (
        413,
        f"Request body is larger than max_body_size ({len(body)} bytes)",
    )


# -- not multipart, malformed ----------------------------------------------------------


@pytest.mark.parametrize("path", ALL_PATHS)
@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b'{"a": 1}', "application/json"),
        (b"a=1&b=2", "application/x-www-form-urlencoded"),
        (b"hello", "text/plain"),
        (multipart(part("a", b"1")), "multipart/mixed; boundary=" + BOUNDARY),
        (b"", None),
    ],
)
def test_not_multipart_is_415(make_client, path, content, content_type):
    headers = {} if content_type is None else {"Content-Type": content_type}
    response = make_client(parts_app()).post(path, content=content, headers=headers)
    assert (response.status_code, response.text) == (
        415,
        "Expected a multipart body (Content-Type: multipart/form-data)",
    )


_CD = b"Content-Disposition: form-data; name=a\r\n\r\n1"


@pytest.mark.parametrize("path", ALL_PATHS)
@pytest.mark.parametrize(
    ("content_type", "body", "reason"),
    [
        pytest.param(
            "multipart/form-data",
            multipart(part("a", b"1")),
            "the Content-Type has no boundary",
            id="no-boundary",
        ),
        pytest.param(
            "multipart/form-data; boundary=semi[colon]",
            multipart(part("a", b"1"), boundary="semi[colon]"),
            "the boundary is not valid (RFC 2046)",
            id="invalid-boundary",
        ),
        pytest.param(None, b"", "the boundary was not found", id="empty"),
        pytest.param(
            None, b"garbage, no boundary " * 500, "the boundary was not found", id="garbage"
        ),
        pytest.param(
            None,
            multipart(part("a", b"1"), part("b", b"2")).removesuffix(
                f"--{BOUNDARY}--\r\n".encode()
            ),
            "the body ends before the closing boundary",
            id="unterminated",
        ),
        pytest.param(
            None,
            multipart(part("a", b"1"), part("b", b"2" * 1000))[:-500],
            "the body ends before the closing boundary",
            id="ends-mid-part",
        ),
        pytest.param(
            None,
            f"--{BOUNDARY}\r\n".encode() + _CD,
            "the body ends before the closing boundary",
            id="ends-in-first-part",
        ),
        pytest.param(
            None,
            multipart(part("a", b"1"), part(None, b"2", headers=["X-Tag: t"])),
            "a part has no Content-Disposition header",
            id="no-content-disposition",
        ),
        pytest.param(
            None,
            multipart(b"Content-Disposition: attachment; name=a\r\n\r\n1"),
            "a part's Content-Disposition is not form-data",
            id="not-form-data",
        ),
        pytest.param(
            None,
            f"--{BOUNDARY}xx".encode() + _CD,
            "a boundary line is malformed",
            id="bad-boundary-line",
        ),
        pytest.param(
            None,
            multipart(part("a", b"1", headers=["no colon here"])),
            "a part header is malformed",
            id="bad-header",
        ),
    ],
)
def test_malformed_body_is_400(make_client, caplog, path, content_type, body, reason):
    headers = form_type() if content_type is None else {"Content-Type": content_type}
    response = make_client(parts_app()).post(path, content=body, headers=headers)
    assert (response.status_code, response.text) == (400, f"Malformed multipart body: {reason}")
    assert not [record for record in caplog.records if record.exc_info]


@pytest.mark.parametrize("path", PATHS)
def test_body_ending_while_a_part_is_read(interface, path):
    # The first part has been handed out and is being read when the body stops.
    body = multipart(part("f", b"x" * 5000, filename="f"))[:3000]
    status, answer = call(parts_app(), interface, path, pieces(body, 500), form_type())
    assert (status, answer) == (
        400,
        b"Malformed multipart body: the body ends before the closing boundary",
    )


# -- nothing stored ----------------------------------------------------------------------


@pytest.fixture
def no_temporary_files(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a temporary file was created")

    for name in ("TemporaryFile", "NamedTemporaryFile", "SpooledTemporaryFile", "mkstemp"):
        monkeypatch.setattr(tempfile, name, refuse)


@pytest.mark.usefixtures("no_temporary_files")
def test_nothing_goes_to_disk(make_client):
    app = parts_app(max_body_size=None)

    @app.post("/form", max_body_size=None)
    def form(request):
        return {"size": request.form().files["f"].size}

    content = random_bytes(5 * MiB, seed=5)
    body = multipart(part("a", b"1"), part("f", content, filename="f.bin"))
    client = make_client(app)
    for path in PATHS:
        response = client.post(path, content=body, headers=form_type())
        assert response.json() == [field("a", "1"), file("f", "f.bin", content)]
    # form() would have spooled this file to disk: the guard is in its way.
    assert client.post("/form", content=body, headers=form_type()).status_code == 500


@pytest.mark.parametrize("path", ALL_PATHS)
def test_memory_stays_bounded(interface, path):
    # 16 MiB produced chunk by chunk: the parse holds a chunk or two, never the file.
    size = 16 * MiB
    chunk = b"\xab" * 65536

    def body() -> Iterator[bytes]:
        yield f"--{BOUNDARY}\r\n".encode() + part("f", b"", filename="f.bin")
        for _ in range(size // len(chunk)):
            yield chunk
        yield f"\r\n--{BOUNDARY}--\r\n".encode()

    tracemalloc.start()
    try:
        status, answer = call(parts_app(max_body_size=None), interface, path, body(), form_type())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert status == 200, answer
    if path in PATHS:
        assert json_of(answer) == [file("f", "f.bin", b"\xab" * size)]
    assert peak < 2 * MiB, peak
