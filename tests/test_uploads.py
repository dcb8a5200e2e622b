"""multipart/form-data: fields, UploadFile, limits, malformed bodies and cleanup.

Most tests go through ``make_client`` (WSGI under the PEP 3333 validator,
ASGI under blockbuster) and through a sync and an async handler. Where the
test client cannot show a behaviour (a body in small chunks, a client that
disconnects, memory use), :func:`call` drives the app's WSGI or ASGI callable
directly with a body that is produced chunk by chunk.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
import tracemalloc
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
from blockbuster import blockbuster_ctx
from rawasgi import http_scope, run_asgi
from rawwsgi import http_environ, run_wsgi

from dualweb import App, HTTPException
from dualweb import _multipart as multipart_module
from dualweb import uploads as uploads_module
from dualweb.forms import FormData, FormFiles
from dualweb.uploads import UploadFile, safe_filename

BOUNDARY = "----formboundaryXyZ"
PATHS = ["/form", "/aform"]


# -- building bodies -----------------------------------------------------------------


def part(
    name: str | None,
    data: bytes,
    *,
    filename: str | None = None,
    content_type: str | None = None,
    headers: Iterable[str] = (),
) -> bytes:
    lines = []
    if name is not None:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        lines.append(f"Content-Disposition: {disposition}")
    if content_type is not None:
        lines.append(f"Content-Type: {content_type}")
    lines.extend(headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + data


def multipart(*parts: bytes, boundary: str = BOUNDARY) -> bytes:
    delimiter = f"--{boundary}".encode()
    body = b"".join(delimiter + b"\r\n" + item + b"\r\n" for item in parts)
    return body + delimiter + b"--\r\n"


def form_type(boundary: str = BOUNDARY) -> dict[str, str]:
    return {"Content-Type": f"multipart/form-data; boundary={boundary}"}


# -- the app -------------------------------------------------------------------------


def describe(form: FormData, contents: list[bytes]) -> dict[str, Any]:
    return {
        "fields": form.multi_items(),
        "files": [
            {
                "name": name,
                "filename": upload.filename,
                "safe_filename": upload.safe_filename,
                "content_type": upload.content_type,
                "size": upload.size,
                "content": content.decode("latin-1"),
                "in_memory": upload.in_memory,
                "header": upload.headers.get("content-type"),
            }
            for (name, upload), content in zip(form.files.multi_items(), contents, strict=True)
        ],
    }


def upload_app(**options: Any) -> App:
    app = App(**options)

    @app.post("/form")
    def form(request):
        data = request.form()
        assert request.form() is data
        return describe(data, [upload.read() for _, upload in data.files.multi_items()])

    @app.post("/aform")
    async def aform(request):
        data = await request.aform()
        assert await request.aform() is data
        contents = [await upload.aread() for _, upload in data.files.multi_items()]
        return describe(data, contents)

    @app.post("/small-files", max_file_size=10, max_body_size=None)
    def small_files(request):
        return {"sizes": [upload.size for upload in request.form().files.values()]}

    return app


@pytest.fixture
def client(make_client):
    return make_client(upload_app())


# -- a client that sends the body chunk by chunk -------------------------------------


class ChunkedInput(io.RawIOBase):
    """``wsgi.input`` giving at most one chunk per read, produced on demand."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks
        self.left = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self.left:
            self.left = next(self.chunks, b"")
        size = min(len(buffer), len(self.left))
        buffer[:size] = self.left[:size]
        self.left = self.left[size:]
        return size


def call(
    app: App,
    interface: str,
    path: str,
    chunks: Iterable[bytes],
    headers: dict[str, str],
    *,
    disconnect: bool = False,
) -> tuple[int, bytes]:
    """POST the chunks to the app; (status, body). ``disconnect``: the client goes away.

    Without a Content-Length in ``headers`` the body ends at EOF (WSGI, as
    gunicorn's de-chunking does) or with ``more_body=False`` (ASGI).
    """
    if interface == "wsgi":
        return _call_wsgi(app, path, chunks, headers, disconnect)
    with blockbuster_ctx():
        return asyncio.run(_call_asgi(app, path, chunks, headers, disconnect))


def _call_wsgi(
    app: App, path: str, chunks: Iterable[bytes], headers: dict[str, str], disconnect: bool
) -> tuple[int, bytes]:
    environ = http_environ(
        path,
        method="POST",
        body=ChunkedInput(iter(chunks)),
        **{"wsgi.input_terminated": not disconnect},
    )
    for name, value in headers.items():
        key = name.upper().replace("-", "_")
        environ[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key] = value
    if disconnect:
        # The declared body is longer than what arrives: wsgi.input hits EOF early.
        environ["CONTENT_LENGTH"] = "100000"
    status, _, body = run_wsgi(app, environ)
    return status, body


async def _call_asgi(
    app: App, path: str, chunks: Iterable[bytes], headers: dict[str, str], disconnect: bool
) -> tuple[int, bytes]:
    iterator = iter(chunks)
    ended = False

    async def receive() -> dict[str, Any]:
        nonlocal ended
        if ended:
            await asyncio.Event().wait()  # a real server waits for the disconnect
        chunk = next(iterator, None)
        if chunk is None:
            ended = True
            if disconnect:
                return {"type": "http.disconnect"}
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "http.request", "body": chunk, "more_body": True}

    headers_list = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return await run_asgi(app, http_scope(path, method="POST", headers=headers_list), receive)


def pieces(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def eventually(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


@pytest.fixture
def created(monkeypatch: pytest.MonkeyPatch) -> list[UploadFile]:
    """Every UploadFile the parser creates during the test."""
    uploads: list[UploadFile] = []
    original = multipart_module.UploadFile

    def record(*args: Any, **kwargs: Any) -> UploadFile:
        upload = original(*args, **kwargs)
        uploads.append(upload)
        return upload

    monkeypatch.setattr(multipart_module, "UploadFile", record)
    return uploads


# -- fields and files ----------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS)
def test_fields_and_files(client, path):
    response = client.post(
        path,
        data={"title": "Holiday", "tag": ["sea", "été"]},
        files=[
            ("photo", ("beach.jpg", b"\xff\xd8jpeg bytes", "image/jpeg")),
            ("photo", ("dunes.jpg", b"more", "image/jpeg")),
            ("notes", ("notes.txt", b"hello", "text/plain; charset=utf-8")),
        ],
    )
    assert response.status_code == 200
    data = response.json()
    assert data["fields"] == [["title", "Holiday"], ["tag", "sea"], ["tag", "été"]]
    assert data["files"] == [
        {
            "name": "photo",
            "filename": "beach.jpg",
            "safe_filename": "beach.jpg",
            "content_type": "image/jpeg",
            "size": 12,
            "content": "\xff\xd8jpeg bytes",
            "in_memory": True,
            "header": "image/jpeg",
        },
        {
            "name": "photo",
            "filename": "dunes.jpg",
            "safe_filename": "dunes.jpg",
            "content_type": "image/jpeg",
            "size": 4,
            "content": "more",
            "in_memory": True,
            "header": "image/jpeg",
        },
        {
            "name": "notes",
            "filename": "notes.txt",
            "safe_filename": "notes.txt",
            "content_type": "text/plain",
            "size": 5,
            "content": "hello",
            "in_memory": True,
            "header": "text/plain; charset=utf-8",
        },
    ]


def test_form_and_files_lookups(make_client):
    app = App()

    @app.post("/lookups")
    def lookups(request):
        form = request.form()
        files = form.files
        assert isinstance(files, FormFiles)
        return {
            "a": form["a"],
            "get": form.get("a"),
            "missing": form.get("missing", "default"),
            "all": form.getlist("a"),
            "first_file": files["f"].filename,
            "get_file": files.get("f").filename,
            "no_file": files.get("nope"),
            "all_files": [upload.filename for upload in files.getlist("f")],
            "none": files.getlist("nope"),
            "names": list(files),
            "count": len(files),
            "has": ["f" in files, "a" in files, "a" in form],
            "repr": repr(files).startswith("FormFiles([('f', UploadFile(filename='1.txt'"),
        }

    body = multipart(
        part("a", b"1"),
        part("a", b"2"),
        part("f", b"x", filename="1.txt"),
        part("f", b"y", filename="2.txt"),
        part("g", b"z", filename="3.txt"),
    )
    assert make_client(app).post("/lookups", content=body, headers=form_type()).json() == {
        "a": "1",
        "get": "1",
        "missing": "default",
        "all": ["1", "2"],
        "first_file": "1.txt",
        "get_file": "1.txt",
        "no_file": None,
        "all_files": ["1.txt", "2.txt"],
        "none": [],
        "names": ["f", "g"],
        "count": 2,
        "has": [True, False, True],
        "repr": True,
    }


@pytest.mark.parametrize("path", PATHS)
def test_empty_file_input_is_an_empty_file(client, path):
    # What a browser sends for a file input left empty.
    body = multipart(
        part("avatar", b"", filename="", content_type="application/octet-stream"),
        part("name", b""),
    )
    data = client.post(path, content=body, headers=form_type()).json()
    assert data["fields"] == [["name", ""]]
    assert [(f["name"], f["filename"], f["safe_filename"], f["size"]) for f in data["files"]] == [
        ("avatar", "", "upload", 0)
    ]


@pytest.mark.parametrize("path", PATHS)
def test_part_without_content_type_and_without_name(client, path):
    body = multipart(part("f", b"data", filename="a.bin"), part("", b"anonymous"))
    data = client.post(path, content=body, headers=form_type()).json()
    assert data["files"][0]["content_type"] == "application/octet-stream"
    assert data["files"][0]["header"] is None
    assert data["fields"] == [["", "anonymous"]]


@pytest.mark.parametrize("path", PATHS)
def test_field_charset(client, path):
    body = multipart(
        part("latin", "café".encode("latin-1"), content_type="text/plain; charset=latin-1"),
        part("utf8", "café".encode()),
    )
    data = client.post(path, content=body, headers=form_type()).json()
    assert data["fields"] == [["latin", "café"], ["utf8", "café"]]


@pytest.mark.parametrize(
    ("field", "message"),
    [
        (part("a", b"\xff"), "Malformed multipart body: a field is not valid utf-8"),
        (
            part("a", b"x", content_type="text/plain; charset=klingon"),
            "Malformed multipart body: unknown charset 'klingon'",
        ),
        # These codecs raise a bare UnicodeError, not UnicodeDecodeError.
        (
            part("a", b"xn--a-", content_type="text/plain; charset=idna"),
            "Malformed multipart body: a field is not valid idna",
        ),
        (
            part("a", b"+", content_type="text/plain; charset=punycode"),
            "Malformed multipart body: a field is not valid punycode",
        ),
    ],
)
def test_undecodable_field_is_400(client, field, message):
    response = client.post("/form", content=multipart(field), headers=form_type())
    assert response.status_code == 400
    assert response.text == message


@pytest.mark.parametrize("path", PATHS)
def test_quoted_boundary_preamble_and_epilogue(client, path):
    body = b"preamble to ignore\r\n" + multipart(part("a", b"1"), boundary="x y") + b"epilogue"
    headers = {"Content-Type": 'multipart/form-data; boundary="x y"'}
    data = client.post(path, content=body, headers=headers).json()
    assert data["fields"] == [["a", "1"]]


@pytest.mark.parametrize("path", PATHS)
def test_empty_multipart_body(client, path):
    body = f"--{BOUNDARY}--\r\n".encode()
    assert client.post(path, content=body, headers=form_type()).json() == {
        "fields": [],
        "files": [],
    }


def test_form_after_body_reads_the_kept_body(make_client):
    app = App()

    @app.post("/both")
    def both(request):
        size = len(request.body())
        return {"size": size, "field": request.form()["a"]}

    body = multipart(part("a", b"1"))
    response = make_client(app).post("/both", content=body, headers=form_type())
    assert response.json() == {"size": len(body), "field": "1"}


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("size", [1, 7, 64, 1000])
@pytest.mark.parametrize("spool_threshold", [1024 * 1024, 100])
def test_body_in_small_chunks(interface, path, size, spool_threshold, monkeypatch):
    # Boundaries, headers and CRLFs split at every possible place; with a
    # low threshold, the file is written in many batches as it arrives.
    monkeypatch.setattr(uploads_module, "WRITE_BATCH", 200)
    content = b"x\r\n-" * 100 + bytes(range(256)) * 2
    body = multipart(
        part("a", b"first value"),
        part("f", content, filename="f.txt", content_type="text/plain"),
        part("g", content[::-1], filename="g.txt"),
        part("b", b"\r\n--" + BOUNDARY.encode()[:-1]),
    )
    app = upload_app(spool_threshold=spool_threshold)
    status, answer = call(app, interface, path, pieces(body, size), form_type())
    assert status == 200, answer
    data = json.loads(answer)
    assert data["fields"] == [["a", "first value"], ["b", "\r\n--" + BOUNDARY[:-1]]]
    files = data["files"]
    assert [f["content"].encode("latin-1") for f in files] == [content, content[::-1]]
    assert [f["in_memory"] for f in files] == [spool_threshold > len(content)] * 2


# -- spooling to disk ------------------------------------------------------------------


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(uploads_module, "WRITE_BATCH", 1000)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.usefixtures("small_batches")
def test_large_file_is_spooled_to_disk(make_client, path):
    client = make_client(upload_app(spool_threshold=1000))
    content = bytes(range(256)) * 40  # 10 KiB: past the threshold, several batches
    body = multipart(
        part("big", content, filename="big.bin"),
        part("exact", b"y" * 1000, filename="exact.bin"),
        part("small", b"z", filename="small.bin"),
    )
    data = client.post(path, content=body, headers=form_type()).json()
    assert [(f["size"], f["in_memory"]) for f in data["files"]] == [
        (10240, False),
        (1000, True),
        (1, True),
    ]
    assert data["files"][0]["content"] == content.decode("latin-1")


@pytest.mark.parametrize("threshold", [0, 5000])
@pytest.mark.usefixtures("small_batches")
def test_upload_file_api(make_client, tmp_path, threshold):
    app = App(spool_threshold=threshold)
    content = b"0123456789" * 300

    @app.post("/sync")
    def sync_api(request):
        upload = request.form().files["f"]
        first = upload.read(4)
        assert upload.tell() == 4
        target = tmp_path / "sync.bin"
        assert upload.save(target) == len(content)
        assert upload.tell() == 4  # save leaves the position alone
        buffer = io.BytesIO()
        upload.save(buffer)
        upload.seek(-3, io.SEEK_END)
        last = upload.read()
        assert upload.seek(0) == 0
        return {
            "first": first.decode(),
            "last": last.decode(),
            "saved": target.read_bytes() == content,
            "buffer": buffer.getvalue() == content,
            "in_memory": upload.in_memory,
            "file": upload.file.read(2).decode(),
        }

    @app.post("/async")
    async def async_api(request):
        upload = (await request.aform()).files["f"]
        first = await upload.aread(4)
        target = tmp_path / "async.bin"
        assert await upload.asave(target) == len(content)
        buffer = io.BytesIO()
        await upload.asave(buffer)
        await upload.aseek(-3, io.SEEK_END)
        last = await upload.aread()
        saved = await request.app.thread_pool.run(target.read_bytes)
        await upload.aclose()
        await upload.aclose()
        return {
            "first": first.decode(),
            "last": last.decode(),
            "saved": saved == content,
            "buffer": buffer.getvalue() == content,
            "in_memory": upload.in_memory,
            "closed": upload.file.closed,
        }

    client = make_client(app)
    body = multipart(part("f", content, filename="f.bin"))
    in_memory = threshold > 0
    assert client.post("/sync", content=body, headers=form_type()).json() == {
        "first": "0123",
        "last": "789",
        "saved": True,
        "buffer": True,
        "in_memory": in_memory,
        "file": "01",
    }
    assert client.post("/async", content=body, headers=form_type()).json() == {
        "first": "0123",
        "last": "789",
        "saved": True,
        "buffer": True,
        "in_memory": in_memory,
        "closed": True,
    }


@pytest.mark.parametrize("path", PATHS)
def test_memory_stays_bounded(interface, path):
    # 24 MiB produced chunk by chunk: the parse holds the spooled part of
    # the file (1 MiB), one write batch and a few chunks, never the file.
    app = App(max_body_size=None)
    size = 24 * 1024 * 1024
    chunk = b"\xab" * 65536

    @app.post("/form")
    def form(request):
        return {"size": request.form().files["f"].size}

    @app.post("/aform")
    async def aform(request):
        return {"size": (await request.aform()).files["f"].size}

    def body() -> Iterator[bytes]:
        yield b"--" + BOUNDARY.encode() + b"\r\n" + part("f", b"", filename="f.bin")
        for _ in range(size // len(chunk)):
            yield chunk
        yield b"\r\n--" + BOUNDARY.encode() + b"--\r\n"

    tracemalloc.start()
    try:
        status, answer = call(app, interface, path, body(), form_type())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (status, answer) == (200, b'{"size":25165824}')
    assert peak < 8 * 1024 * 1024, peak


# -- limits ----------------------------------------------------------------------------


def limited_app(**limits: Any) -> App:
    return upload_app(**limits)


@pytest.mark.parametrize("path", PATHS)
def test_max_body_size_applies_to_multipart(make_client, path):
    client = make_client(upload_app(max_body_size=200))
    response = client.post(path, content=multipart(part("a", b"x" * 300)), headers=form_type())
    assert response.status_code == 413
    assert response.text == "Request body is larger than max_body_size (200 bytes)"


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.usefixtures("small_batches")
def test_max_body_size_without_content_length(interface, path, created):
    # The file is being written to disk when the body turns out too large.
    app = upload_app(max_body_size=5000, spool_threshold=100)
    body = multipart(part("f", b"x" * 10_000, filename="f.bin"))
    status, answer = call(app, interface, path, pieces(body, 1000), form_type())
    assert (status, answer) == (413, b"Request body is larger than max_body_size (5000 bytes)")
    assert [upload.file.closed for upload in created] == [True]


@pytest.mark.parametrize("path", PATHS)
def test_max_form_fields_counts_fields_not_files(make_client, path):
    client = make_client(upload_app(max_form_fields=2))
    ok = multipart(part("a", b"1"), part("f", b"x", filename="f"), part("b", b"2"))
    assert client.post(path, content=ok, headers=form_type()).status_code == 200
    response = client.post(
        path,
        content=multipart(part("a", b"1"), part("b", b"2"), part("c", b"3")),
        headers=form_type(),
    )
    assert response.status_code == 413
    assert response.text == "Too many fields in form body (max_form_fields=2)"


@pytest.mark.parametrize("path", PATHS)
def test_max_form_files(make_client, path):
    client = make_client(upload_app(max_form_files=1))
    ok = multipart(part("a", b"1"), part("f", b"x", filename="f"))
    assert client.post(path, content=ok, headers=form_type()).status_code == 200
    too_many = multipart(part("f", b"x", filename="f"), part("g", b"y", filename="g"))
    response = client.post(path, content=too_many, headers=form_type())
    assert response.status_code == 413
    assert response.text == "Too many files in form body (max_form_files=1)"


@pytest.mark.parametrize("path", PATHS)
def test_max_field_size_multipart(interface, path):
    app = upload_app(max_field_size=10)
    ok = multipart(part("a", b"x" * 10), part("f", b"y" * 50, filename="f"))
    assert call(app, interface, path, [ok], form_type())[0] == 200
    # Counted across chunks, as the value arrives.
    body = multipart(part("a", b"x" * 11))
    assert call(app, interface, path, pieces(body, 3), form_type()) == (
        413,
        b"A form field is larger than max_field_size (10 bytes)",
    )


@pytest.mark.parametrize("path", PATHS)
def test_max_field_size_urlencoded(make_client, path):
    client = make_client(upload_app(max_field_size=4))
    urlencoded = {"Content-Type": "application/x-www-form-urlencoded"}
    assert client.post(path, content=b"a=1234&b=%C3%A9%C3%A9", headers=urlencoded).json() == {
        "fields": [["a", "1234"], ["b", "éé"]],
        "files": [],
    }
    for body in (b"a=12345", b"a=%C3%A9%C3%A9x", "a=ééx".encode()):
        response = client.post(path, content=body, headers=urlencoded)
        assert response.status_code == 413
        assert response.text == "A form field is larger than max_field_size (4 bytes)"


@pytest.mark.parametrize("path", PATHS)
def test_max_file_size(interface, path, created):
    app = upload_app(max_file_size=100, spool_threshold=10)
    ok = multipart(part("f", b"x" * 100, filename="f"), part("a", b"y" * 500))
    assert call(app, interface, path, [ok], form_type())[0] == 200
    body = multipart(part("f", b"x" * 101, filename="f"))
    assert call(app, interface, path, pieces(body, 30), form_type()) == (
        413,
        b"An uploaded file is larger than max_file_size (100 bytes)",
    )
    assert all(upload.file.closed for upload in created)


def test_limits_per_route(make_client):
    client = make_client(upload_app(max_file_size=1))
    body = multipart(part("f", b"x" * 10, filename="f"))
    assert client.post("/small-files", content=body, headers=form_type()).json() == {"sizes": [10]}
    assert client.post("/form", content=body, headers=form_type()).status_code == 413
    big = multipart(part("f", b"x" * 11, filename="f"))
    response = client.post("/small-files", content=big, headers=form_type())
    assert response.text == "An uploaded file is larger than max_file_size (10 bytes)"


@pytest.mark.parametrize("path", PATHS)
def test_max_part_header_size(make_client, path):
    client = make_client(upload_app(max_part_header_size=100))
    ok = multipart(part("a", b"1", headers=["X-Note: " + "n" * 90]))
    assert client.post(path, content=ok, headers=form_type()).status_code == 200
    for body in (
        multipart(part("a", b"1", headers=["X-Note: " + "n" * 93])),
        # A header line that never ends is refused without waiting for the end.
        f"--{BOUNDARY}\r\nX-Note: {'n' * 200}".encode(),
    ):
        response = client.post(path, content=body, headers=form_type())
        assert response.status_code == 413
        assert response.text == (
            "A multipart part header is larger than max_part_header_size (100 bytes)"
        )
    unlimited = make_client(upload_app(max_part_header_size=None))
    long_header = multipart(part("a", b"1", headers=["X-Note: " + "n" * 50_000]))
    assert unlimited.post(path, content=long_header, headers=form_type()).status_code == 200


def test_too_many_part_headers(client):
    headers = [f"X-H{i}: v" for i in range(multipart_module.MAX_PART_HEADERS)]
    body = multipart(part("a", b"1", headers=headers))
    response = client.post("/form", content=body, headers=form_type())
    assert response.status_code == 413
    assert response.text == "Too many headers in a multipart part (max 16)"


# -- malformed bodies ------------------------------------------------------------------

_CD = b"Content-Disposition: form-data; name=a\r\n\r\n1\r\n"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "the boundary was not found"),
        (b"just some garbage, no boundary at all" * 100, "the boundary was not found"),
        (multipart(part("a", b"1"))[:-10], "the body ends before the closing boundary"),
        (f"--{BOUNDARY}\r\n".encode() + _CD, "the body ends before the closing boundary"),
        (f"x--{BOUNDARY}\r\n".encode() + _CD, "a boundary line is malformed"),
        (f"--{BOUNDARY}\n".encode() + _CD, "a boundary line is malformed"),
        (f"--{BOUNDARY}xx".encode() + _CD, "a boundary line is malformed"),
        (
            multipart(part("a", b"1")).replace(b"1\r\n--", b"1\r\n--" + BOUNDARY.encode() + b"!"),
            "a boundary line is malformed",
        ),
        (multipart(part(None, b"1")), "a part has no Content-Disposition header"),
        (
            multipart(b"Content-Disposition: attachment; name=a\r\n\r\n1"),
            "a part's Content-Disposition is not form-data",
        ),
        (multipart(part("a", b"1", headers=["no colon here"])), "a part header is malformed"),
        (multipart(part("a", b"1", headers=["Bad Name: x"])), "a part header is malformed"),
        (multipart(b" continued: x\r\n" + part("a", b"1")), "a part header is malformed"),
        (
            multipart(b"Content-Disposition: form-data; name=\xff\r\n\r\n1"),
            "a part header is malformed",
        ),
        (
            multipart(part("a", b"1", headers=["Content-Length: x"])),
            "a part's Content-Length header does not match its body",
        ),
        (
            multipart(part("a", b"1", headers=["Content-Length: 5"])),
            "a part's Content-Length header does not match its body",
        ),
    ],
)
def test_malformed_body_is_400(client, created, body, reason):
    for path in PATHS:
        response = client.post(path, content=body, headers=form_type())
        assert response.status_code == 400, response.text
        assert response.text == f"Malformed multipart body: {reason}"
    assert all(upload.file.closed for upload in created)


def test_unknown_parser_error_has_a_generic_message(client, monkeypatch):
    class Parser:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            pass

        def parse(self, chunk: bytes) -> Iterator[Any]:
            raise multipart_module.multipart.ParserError("Some new parser message")

    monkeypatch.setattr(multipart_module.multipart, "PushMultipartParser", Parser)
    response = client.post("/form", content=multipart(part("a", b"1")), headers=form_type())
    assert (response.status_code, response.text) == (400, "Malformed multipart body")


@pytest.mark.parametrize(
    ("content_type", "message"),
    [
        ("multipart/form-data", "Malformed multipart body: the Content-Type has no boundary"),
        (
            "multipart/form-data; boundary=",
            "Malformed multipart body: the Content-Type has no boundary",
        ),
        (
            "multipart/form-data; boundary=" + "a" * 1000,
            "Malformed multipart body: the boundary is not valid (RFC 2046)",
        ),
        (
            "multipart/form-data; boundary=" + "a" * 71,
            "Malformed multipart body: the boundary is not valid (RFC 2046)",
        ),
        (
            'multipart/form-data; boundary="ends with space "',
            "Malformed multipart body: the boundary is not valid (RFC 2046)",
        ),
        (
            "multipart/form-data; boundary=semi[colon]",
            "Malformed multipart body: the boundary is not valid (RFC 2046)",
        ),
    ],
)
def test_bad_boundary_is_400_before_reading(interface, content_type, message):
    def body() -> Iterator[bytes]:
        raise AssertionError("the body was read")
        yield b""  # pragma: no cover

    for path in PATHS:
        status, answer = call(
            upload_app(), interface, path, body(), {"Content-Type": content_type}
        )
        assert (status, answer.decode()) == (400, message)


def test_longest_valid_boundary(client):
    boundary = "'()+_,-./:=? " * 5 + "0123A"
    body = multipart(part("a", b"1"), boundary=boundary)
    headers = {"Content-Type": f'multipart/form-data; boundary="{boundary}"'}
    assert client.post("/form", content=body, headers=headers).json()["fields"] == [["a", "1"]]


def test_form_needs_a_form_content_type(client):
    for path in PATHS:
        response = client.post(path, content=b"a=1", headers={"Content-Type": "text/plain"})
        assert response.status_code == 415
        assert response.text == (
            "Expected a form body (Content-Type: application/x-www-form-urlencoded "
            "or multipart/form-data)"
        )


# -- cleanup -----------------------------------------------------------------------------


@pytest.mark.usefixtures("small_batches")
def test_uploads_are_closed_when_the_request_ends(make_client):
    app = App(spool_threshold=100)
    kept: list[UploadFile] = []

    @app.post("/keep")
    def keep(request):
        kept.extend(request.form().files.values())
        assert not any(upload.file.closed for upload in kept)
        return "ok"

    @app.post("/fail")
    async def fail(request):
        kept.extend((await request.aform()).files.values())
        raise RuntimeError("handler failed")

    client = make_client(app)
    body = multipart(part("f", b"x" * 5000, filename="f"), part("g", b"y", filename="g"))
    assert client.post("/keep", content=body, headers=form_type()).text == "ok"
    assert client.post("/fail", content=body, headers=form_type()).status_code == 500
    assert len(kept) == 4
    assert [upload.in_memory for upload in kept] == [False, True, False, True]
    # Under ASGI the release runs after the response went out: wait for it.
    assert eventually(lambda: all(upload.file.closed for upload in kept))


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.usefixtures("small_batches")
def test_parse_error_closes_the_files_at_once(make_client, path):
    app = App(spool_threshold=100, max_field_size=5)
    seen: dict[str, Any] = {}

    @app.post("/form")
    def form(request):
        try:
            request.form()
        except HTTPException as exc:
            seen["closed"] = [upload.file.closed for upload in created_here]
            raise exc

    @app.post("/aform")
    async def aform(request):
        try:
            await request.aform()
        except HTTPException:
            seen["closed"] = [upload.file.closed for upload in created_here]
            raise

    created_here: list[UploadFile] = []
    original = multipart_module.UploadFile

    def record(*args: Any, **kwargs: Any) -> UploadFile:
        created_here.append(original(*args, **kwargs))
        return created_here[-1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(multipart_module, "UploadFile", record)
        body = multipart(
            part("f", b"x" * 5000, filename="f"),
            part("g", b"y", filename="g"),
            part("field", b"too long"),
        )
        response = make_client(app).post(path, content=body, headers=form_type())
    assert response.status_code == 413
    assert seen["closed"] == [True, True]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.usefixtures("small_batches")
def test_client_disconnect_mid_upload(interface, path, created):
    app = upload_app(spool_threshold=100)
    head = multipart(part("f", b"x" * 5000, filename="f.bin"))[:3000]
    status, answer = call(app, interface, path, pieces(head, 500), form_type(), disconnect=True)
    assert (status, answer) == (400, b"Client disconnected")
    assert len(created) == 1
    assert not created[0].in_memory
    assert created[0].file.closed


# -- UploadFile and safe_filename ----------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "safe"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd", "passwd"),
        ("/abs/path/x.txt", "x.txt"),
        ("C:\\Users\\ada\\My Doc.docx", "My Doc.docx"),
        ("..\\..\\boot.ini", "boot.ini"),
        ("..", "upload"),
        (".", "upload"),
        ("", "upload"),
        ("dir/", "upload"),
        (".bashrc", "bashrc"),
        ("...hidden...", "hidden"),
        ("  spaced.txt  ", "spaced.txt"),
        ("nul\x00byte\x1f.txt", "nulbyte.txt"),
        ("rlo\u202etxt.exe", "rlotxt.exe"),
        ('a<b>c:d"e|f?g*h.txt', "a_b_c_d_e_f_g_h.txt"),
        ("CON", "_CON"),
        ("nul.txt", "_nul.txt"),
        ("console.txt", "console.txt"),
        ("café ☕.txt", "café ☕.txt"),
        ("\x00\x01", "upload"),
    ],
)
def test_safe_filename(sent, safe):
    assert safe_filename(sent) == safe


def test_safe_filename_shortens_to_255_bytes():
    assert safe_filename("a" * 300 + ".tar.gz") == "a" * 252 + ".gz"
    assert safe_filename("é" * 200 + ".txt") == "é" * 125 + ".txt"
    assert len(safe_filename("é" * 200 + ".txt").encode()) == 254
    long_extension = "x." + "e" * 300
    assert safe_filename(long_extension) == long_extension[:255]
    assert safe_filename("x", fallback="file") == "x"
    assert safe_filename("..", fallback="file") == "file"


def test_upload_file_repr_and_defaults():
    app = App()
    upload = UploadFile("a.txt", thread_pool=app.thread_pool)
    assert repr(upload) == (
        "UploadFile(filename='a.txt', content_type='application/octet-stream', size=0)"
    )
    assert upload.headers == {}
    assert upload.in_memory
    upload.close()
    upload.close()
