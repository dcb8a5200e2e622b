from __future__ import annotations

import asyncio
import errno
import os
import re
from email.utils import formatdate
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar
from wsgiref.util import FileWrapper
from wsgiref.validate import validator

import httpx
import pytest
from blockbuster import blockbuster_ctx

from dualweb import App, Response
from dualweb.datastructures import Headers
from dualweb.files import (
    MAX_RANGE_HEADER_LENGTH,
    MAX_RANGES,
    FileBody,
    FileResponse,
    content_disposition,
    evaluate,
    guess_media_type,
    parse_ranges,
)
from dualweb.middleware.base import Middleware
from dualweb.testing import TestClient

DATA = bytes(range(256)) * 400  # 102400 bytes: more than one 64 KiB chunk
SIZE = len(DATA)


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "data.bin"
    path.write_bytes(DATA)
    return path


def file_app(path: Path, **options: Any) -> App:
    app = App()
    app.add_route("/file", lambda request: FileResponse(path, **options), ["GET", "POST"])
    return app


def open_fds(path: Path) -> int:
    """How many of this process's file descriptors are open on ``path``."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == str(path):
                count += 1
        except OSError:
            pass
    return count


needs_proc = pytest.mark.skipif(
    not os.path.isdir("/proc/self/fd"), reason="counts open files through /proc"
)


def wait_until_closed(path: Path) -> None:
    """Under ASGI the file may be closed a moment after the client is done."""
    for _ in range(500):
        if open_fds(path) == 0:
            return
        asyncio.run(asyncio.sleep(0.01))
    assert open_fds(path) == 0


# -- a whole file ------------------------------------------------------------------------


def test_whole_file_with_headers(make_client, data_file):
    response = make_client(file_app(data_file)).get("/file")
    assert response.status_code == 200
    assert response.content == DATA
    info = data_file.stat()
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-length"] == str(SIZE)
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["etag"] == f'"{info.st_mtime_ns:x}-{SIZE:x}"'
    assert response.headers["last-modified"] == formatdate(info.st_mtime, usegmt=True)
    assert "content-disposition" not in response.headers


def test_text_types_get_a_charset_and_media_type_wins(make_client, tmp_path):
    (tmp_path / "a.txt").write_text("héllo", encoding="utf-8")
    (tmp_path / "page.html").write_text("<p>", encoding="utf-8")
    app = App()
    app.add_route("/txt", lambda request: FileResponse(tmp_path / "a.txt"))
    app.add_route("/html", lambda request: FileResponse(str(tmp_path / "page.html")))
    app.add_route(
        "/typed", lambda request: FileResponse(tmp_path / "a.txt", media_type="text/markdown")
    )
    client = make_client(app)
    assert client.get("/txt").headers["content-type"] == "text/plain; charset=utf-8"
    assert client.get("/txt").text == "héllo"
    assert client.get("/html").headers["content-type"] == "text/html; charset=utf-8"
    assert client.get("/typed").headers["content-type"] == "text/markdown; charset=utf-8"


def test_empty_file(make_client, tmp_path):
    (tmp_path / "empty.txt").write_bytes(b"")
    client = make_client(file_app(tmp_path / "empty.txt"))
    response = client.get("/file")
    assert (response.status_code, response.content) == (200, b"")
    assert response.headers["content-length"] == "0"
    # An empty file has no range to give: sent whole.
    response = client.get("/file", headers={"range": "bytes=0-10"})
    assert (response.status_code, response.content) == (200, b"")
    response = client.get("/file", headers={"range": "bytes=-5"})
    assert response.status_code == 200


def test_head_has_the_headers_of_get_and_no_body(make_client, data_file):
    client = make_client(file_app(data_file))
    get = client.get("/file")
    head = client.head("/file")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers == get.headers


def test_other_status_sends_the_whole_file_without_conditions(make_client, data_file):
    app = App()
    app.add_route("/gone", lambda request: FileResponse(data_file, status=410))
    client = make_client(app)
    etag = client.get("/gone").headers["etag"]
    response = client.get("/gone", headers={"if-none-match": etag, "range": "bytes=0-1"})
    assert response.status_code == 410
    assert response.content == DATA


def test_headers_given_win_and_are_kept(make_client, data_file):
    app = file_app(
        data_file,
        headers={"ETag": '"sha-abc"', "Cache-Control": "max-age=60", "Accept-Ranges": "none"},
    )
    client = make_client(app)
    response = client.get("/file")
    assert response.headers["etag"] == '"sha-abc"'
    assert response.headers["cache-control"] == "max-age=60"
    assert response.headers["accept-ranges"] == "none"
    # Preconditions are checked against the ETag that is sent.
    assert client.get("/file", headers={"if-none-match": '"sha-abc"'}).status_code == 304


def test_middleware_sees_the_file_response_as_it_will_be_sent(make_client, data_file):
    """Prepared before the after hooks: they see the 206 or 304 and its headers."""
    seen: list[tuple[int, bool]] = []

    class AddHeader(Middleware):
        inline = True

        def after_request(self, request, response):
            seen.append((response.status_code, "content-length" in response.headers))
            response.headers["X-Seen"] = "yes"
            response.set_cookie("visited", "1")

    app = file_app(data_file)
    app.add_middleware(AddHeader())
    client = make_client(app)
    response = client.get("/file", headers={"range": "bytes=0-9"})
    assert response.status_code == 206
    assert response.headers["x-seen"] == "yes"
    assert seen == [(206, True)]
    etag = response.headers["etag"]
    not_modified = client.get("/file", headers={"if-none-match": etag})
    assert not_modified.status_code == 304
    assert seen[-1] == (304, False)
    assert not_modified.headers["x-seen"] == "yes"
    assert "visited=1" in not_modified.headers["set-cookie"]


def test_middleware_may_transform_the_prepared_file_body(make_client, data_file):
    class Reverse(Middleware):
        inline = True

        def after_request(self, request, response):
            stream = response.stream
            response.stream = (chunk[::-1] for chunk in stream)

    app = file_app(data_file, chunk_size=SIZE)
    app.add_middleware(Reverse())
    # The middleware gets the body that will be sent: here the range's bytes.
    response = make_client(app).get("/file", headers={"range": "bytes=0-9"})
    assert response.status_code == 206
    assert response.content == DATA[:10][::-1]
    assert response.headers["content-range"] == f"bytes 0-9/{SIZE}"


def test_stream_of_an_unsent_file_response_is_the_whole_file(data_file):
    response = FileResponse(data_file, chunk_size=10_000)
    chunks = list(response.stream)  # type: ignore[arg-type]
    assert b"".join(chunks) == DATA
    assert len(chunks) == 11


def test_bodiless_status_is_refused(data_file):
    with pytest.raises(ValueError, match="304"):
        FileResponse(data_file, status=304)


# -- media types and Content-Disposition --------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.png", "image/png"),
        ("dir/Report.PDF", "application/pdf"),
        ("archive.tar.gz", "application/gzip"),
        ("notes.txt.bz2", "application/x-bzip2"),
        ("no-extension", "application/octet-stream"),
        ("strange.zzzunknown", "application/octet-stream"),
        # Never read as a data URL.
        ("data:text/html,x", "application/octet-stream"),
    ],
)
def test_guess_media_type(name, expected):
    assert guess_media_type(name) == expected


def test_guessed_type_that_is_not_a_header_value_is_refused(monkeypatch, data_file):
    monkeypatch.setattr("mimetypes.guess_type", lambda name: ("text/x\r\nX-Evil: 1", None))
    with pytest.raises(ValueError, match="CR, LF"):
        FileResponse(data_file)


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("report.pdf", 'attachment; filename="report.pdf"'),
        ("my report.pdf", 'attachment; filename="my report.pdf"'),
        (
            "Grüße.txt",
            "attachment; filename=\"Gru_e.txt\"; filename*=UTF-8''Gr%C3%BC%C3%9Fe.txt",
        ),
        ("日本.txt", "attachment; filename=\"__.txt\"; filename*=UTF-8''%E6%97%A5%E6%9C%AC.txt"),
        (
            'a"b\\c%d.txt',
            "attachment; filename=\"a_b_c_d.txt\"; filename*=UTF-8''a%22b%5Cc%25d.txt",
        ),
        ("a\r\nb.txt", "attachment; filename=\"a__b.txt\"; filename*=UTF-8''a%0D%0Ab.txt"),
    ],
)
def test_content_disposition(filename, expected):
    assert content_disposition(filename) == expected


def test_content_disposition_type_must_be_a_token():
    assert content_disposition("a.txt", "inline") == 'inline; filename="a.txt"'
    with pytest.raises(ValueError, match="disposition type"):
        content_disposition("a.txt", "attachment; evil")


def test_filename_gives_content_disposition_and_the_type(make_client, data_file):
    app = App()
    app.add_route("/dl", lambda request: FileResponse(data_file, filename="Résumé.pdf"))
    app.add_route(
        "/inline",
        lambda request: FileResponse(
            data_file, filename="photo.png", content_disposition_type="inline"
        ),
    )
    client = make_client(app)
    response = client.get("/dl")
    assert response.headers["content-disposition"] == (
        "attachment; filename=\"Resume.pdf\"; filename*=UTF-8''R%C3%A9sum%C3%A9.pdf"
    )
    assert response.headers["content-type"] == "application/pdf"
    response = client.get("/inline")
    assert response.headers["content-disposition"] == 'inline; filename="photo.png"'
    assert response.headers["content-type"] == "image/png"


# -- files that cannot be served ----------------------------------------------------------


def test_missing_file_directory_and_bad_paths_are_404(make_client, tmp_path):
    os.mkfifo(tmp_path / "fifo")  # opening it must not wait for a writer
    app = App()
    paths = {
        "missing": tmp_path / "missing.txt",
        "directory": tmp_path,
        "fifo": tmp_path / "fifo",
        "nul": str(tmp_path / "a\x00b"),
        "below-a-file": tmp_path / "fifo" / "x",
        "too-long": tmp_path / ("x" * 5000),
    }
    app.add_route("/{name}", lambda request, name: FileResponse(paths[name]))
    client = make_client(app)
    for name in paths:
        response = client.get(f"/{name}")
        assert (name, response.status_code, response.text) == (name, 404, "Not Found")
        assert "etag" not in response.headers
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
        assert client.head(f"/{name}").status_code == 404


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads every file"
)
def test_unreadable_file_is_403(make_client, data_file):
    data_file.chmod(0)
    response = make_client(file_app(data_file)).get("/file")
    assert (response.status_code, response.text) == (403, "Forbidden")


def test_permission_error_is_403_but_404_for_a_directory(make_client, monkeypatch, tmp_path):
    def refuse(path):
        raise PermissionError(errno.EACCES, "Permission denied", path)

    monkeypatch.setattr("dualweb.files._open_regular_file", refuse)
    app = App()
    app.add_route("/file", lambda request: FileResponse(tmp_path / "x", headers={"X-A": "1"}))
    # Windows refuses to open a directory with a PermissionError.
    app.add_route("/dir", lambda request: FileResponse(tmp_path))
    client = make_client(app)
    response = client.get("/file")
    assert (response.status_code, response.text) == (403, "Forbidden")
    assert response.headers["x-a"] == "1"
    assert "accept-ranges" not in response.headers
    assert client.get("/dir").status_code == 404


def test_other_errors_opening_the_file_are_500_and_logged(
    make_client, monkeypatch, tmp_path, caplog
):
    def fail(path):
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr("dualweb.files._open_regular_file", fail)
    response = make_client(file_app(tmp_path / "x")).get("/file")
    assert (response.status_code, response.text) == (500, "Internal Server Error")
    assert "Cannot open" in caplog.text
    assert "for GET /file" in caplog.text
    assert "Too many open files" in caplog.text


class _Request(SimpleNamespace):
    """Just what FileResponse.prepare uses of a request."""

    def __init__(self, method: str = "GET", **headers: str) -> None:
        super().__init__(method=method, path="/x", headers=Headers(list(headers.items())))
        self.cleanups: list[Any] = []

    def add_cleanup(self, resource: Any) -> None:
        self.cleanups.append(resource)


@needs_proc
def test_prepare_closes_the_file_when_it_fails(monkeypatch, data_file):
    def fail(*args: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr("dualweb.files.evaluate", fail)
    with pytest.raises(RuntimeError, match="boom"):
        FileResponse(data_file).prepare(_Request())  # type: ignore[arg-type]
    assert open_fds(data_file) == 0


@needs_proc
def test_prepare_registers_the_open_file_for_cleanup(data_file):
    request = _Request()
    prepared = FileResponse(data_file).prepare(request)  # type: ignore[arg-type]
    assert isinstance(prepared.stream, FileBody)
    assert prepared.stream.path == str(data_file)
    assert open_fds(data_file) == 1
    assert request.cleanups == [prepared.stream.file]
    request.cleanups[0].close()
    assert open_fds(data_file) == 0
    # Nothing to send, nothing left open.
    request = _Request("HEAD")
    assert FileResponse(data_file).prepare(request).stream is None  # type: ignore[arg-type]
    assert request.cleanups == []
    assert open_fds(data_file) == 0


def test_relative_path_is_made_absolute_for_the_server(data_file, monkeypatch):
    monkeypatch.chdir(data_file.parent)
    prepared = FileResponse("data.bin").prepare(_Request())  # type: ignore[arg-type]
    assert isinstance(prepared.stream, FileBody)
    assert prepared.stream.path == str(data_file)
    prepared.stream.close()


# -- conditional requests ------------------------------------------------------------------


def test_if_none_match(make_client, data_file):
    client = make_client(file_app(data_file, headers={"Cache-Control": "no-cache"}))
    etag = client.get("/file").headers["etag"]
    weak = "W/" + etag
    for value in [etag, weak, "*", f'"other", {etag}', f'"a,b", {weak} , "c"']:
        response = client.get("/file", headers={"if-none-match": value})
        assert (value, response.status_code, response.content) == (value, 304, b"")
        assert response.headers["etag"] == etag
        assert response.headers["cache-control"] == "no-cache"
        assert "last-modified" in response.headers
        for name in ("content-type", "content-length", "content-disposition"):
            assert name not in response.headers
        assert client.head("/file", headers={"if-none-match": value}).status_code == 304
    for value in ['"other"', etag.strip('"'), "", "W/"]:
        response = client.get("/file", headers={"if-none-match": value})
        assert (value, response.status_code, response.content) == (value, 200, DATA)


def test_if_none_match_on_other_methods_is_412(make_client, data_file):
    client = make_client(file_app(data_file))
    etag = client.get("/file").headers["etag"]
    response = client.post("/file", headers={"if-none-match": etag})
    assert (response.status_code, response.text) == (412, "Precondition Failed")
    assert "etag" not in response.headers
    assert client.post("/file", headers={"if-none-match": '"x"'}).status_code == 200


def test_if_modified_since(make_client, data_file):
    os.utime(data_file, (1_700_000_000, 1_700_000_000.5))
    client = make_client(file_app(data_file))
    last_modified = client.get("/file").headers["last-modified"]
    assert last_modified == "Tue, 14 Nov 2023 22:13:20 GMT"
    for value, status in [
        (last_modified, 304),
        ("Tue, 14 Nov 2023 22:13:21 GMT", 304),
        ("Tue, 14 Nov 2023 22:13:19 GMT", 200),
        ("Tuesday, 14-Nov-23 22:13:20 GMT", 304),  # RFC 850, obsolete but valid
        ("Tue Nov 14 22:13:20 2023", 304),  # asctime
        ("not a date", 200),
        ("", 200),
    ]:
        response = client.get("/file", headers={"if-modified-since": value})
        assert (value, response.status_code) == (value, status)
    # If-None-Match wins over If-Modified-Since (RFC 9110 §13.1.3).
    response = client.get(
        "/file", headers={"if-none-match": '"other"', "if-modified-since": last_modified}
    )
    assert response.status_code == 200
    # Only for GET and HEAD.
    response = client.post("/file", headers={"if-modified-since": last_modified})
    assert response.status_code == 200


def test_if_match_and_if_unmodified_since(make_client, data_file):
    os.utime(data_file, (1_700_000_000, 1_700_000_000))
    client = make_client(file_app(data_file))
    etag = client.get("/file").headers["etag"]
    for headers, status in [
        ({"if-match": etag}, 200),
        ({"if-match": f'"x", {etag}'}, 200),
        ({"if-match": "*"}, 200),
        ({"if-match": '"x"'}, 412),
        ({"if-match": "W/" + etag}, 412),  # If-Match compares strongly
        ({"if-unmodified-since": "Tue, 14 Nov 2023 22:13:20 GMT"}, 200),
        ({"if-unmodified-since": "Tue, 14 Nov 2023 22:13:19 GMT"}, 412),
        ({"if-unmodified-since": "garbage"}, 200),
        # If-Match present: If-Unmodified-Since is not looked at.
        ({"if-match": etag, "if-unmodified-since": "Tue, 14 Nov 2023 22:13:19 GMT"}, 200),
    ]:
        response = client.get("/file", headers=headers)
        assert (headers, response.status_code) == (headers, status)
        if status == 412:
            assert response.text == "Precondition Failed"


def test_weak_etag_never_matches_if_match(make_client, data_file):
    client = make_client(file_app(data_file, headers={"ETag": 'W/"v1"'}))
    assert client.get("/file", headers={"if-match": 'W/"v1"'}).status_code == 412
    assert client.get("/file", headers={"if-match": '"v1"'}).status_code == 412
    assert client.get("/file", headers={"if-none-match": '"v1"'}).status_code == 304
    # And a garbled ETag matches no list.
    client = make_client(file_app(data_file, headers={"ETag": "unquoted"}))
    assert client.get("/file", headers={"if-none-match": "unquoted"}).status_code == 200


# -- ranges ---------------------------------------------------------------------------


def test_single_ranges(make_client, data_file):
    client = make_client(file_app(data_file))
    for header, start, stop in [
        ("bytes=0-0", 0, 1),
        ("bytes=0-99", 0, 100),
        ("bytes=100-", 100, SIZE),
        ("bytes=-500", SIZE - 500, SIZE),
        ("bytes=-999999", 0, SIZE),
        (f"bytes=1000-{SIZE * 2}", 1000, SIZE),
        ("BYTES = 5-9", 5, 10),
        (f"bytes=0-{SIZE - 1}", 0, SIZE),
    ]:
        response = client.get("/file", headers={"range": header})
        assert (header, response.status_code) == (header, 206)
        assert response.content == DATA[start:stop]
        assert response.headers["content-range"] == f"bytes {start}-{stop - 1}/{SIZE}"
        assert response.headers["content-length"] == str(stop - start)
        assert response.headers["content-type"] == "application/octet-stream"
        assert "etag" in response.headers


def test_overlapping_and_adjacent_ranges_are_merged(make_client, data_file):
    client = make_client(file_app(data_file))
    for header, start, stop in [
        ("bytes=0-9,5-19", 0, 20),
        ("bytes=10-19,0-9", 0, 20),
        ("bytes=50-60,0-100,20-30", 0, 101),
        ("bytes=-10,100000-", 100000, SIZE),
    ]:
        response = client.get("/file", headers={"range": header})
        assert response.status_code == 206
        assert response.headers["content-range"] == f"bytes {start}-{stop - 1}/{SIZE}"
        assert response.content == DATA[start:stop]


def parse_multipart(response: Any) -> list[tuple[dict[str, str], bytes]]:
    media_type = response.headers["content-type"]
    match = re.fullmatch(r"multipart/byteranges; boundary=([0-9a-f]{32})", media_type)
    assert match, media_type
    delimiter = b"--" + match.group(1).encode()
    body = response.content
    assert len(body) == int(response.headers["content-length"])
    assert body.startswith(delimiter + b"\r\n")
    assert body.endswith(b"\r\n" + delimiter + b"--\r\n")
    parts = []
    for raw in body[: -len(delimiter) - 6].split(b"\r\n" + delimiter + b"\r\n"):
        raw = raw.removeprefix(delimiter + b"\r\n")
        head, _, content = raw.partition(b"\r\n\r\n")
        fields = dict(line.decode().split(": ", 1) for line in head.split(b"\r\n"))
        parts.append((fields, content))
    return parts


def test_multiple_ranges_are_multipart_byteranges(make_client, data_file):
    client = make_client(file_app(data_file))
    response = client.get("/file", headers={"range": "bytes=-100, 0-9 ,, 20-29,90000-90999"})
    assert response.status_code == 206
    assert "content-range" not in response.headers
    parts = parse_multipart(response)
    expected = [(0, 10), (20, 30), (90000, 91000), (SIZE - 100, SIZE)]
    assert [content for _, content in parts] == [DATA[a:b] for a, b in expected]
    for (fields, _), (start, stop) in zip(parts, expected, strict=True):
        assert fields == {
            "Content-Type": "application/octet-stream",
            "Content-Range": f"bytes {start}-{stop - 1}/{SIZE}",
        }
    boundaries = {
        client.get("/file", headers={"range": "bytes=0-1,5-6"}).headers["content-type"]
        for _ in range(3)
    }
    assert len(boundaries) == 3  # random, so no file can be made to contain it


def test_multipart_head_has_the_same_length(make_client, data_file):
    client = make_client(file_app(data_file))
    get = client.get("/file", headers={"range": "bytes=0-1,5-6"})
    head = client.head("/file", headers={"range": "bytes=0-1,5-6"})
    assert head.status_code == 206
    assert head.content == b""
    assert head.headers["content-length"] == get.headers["content-length"]


def test_unsatisfiable_ranges_are_416(make_client, data_file):
    client = make_client(file_app(data_file, headers={"X-Kept": "1"}))
    for header in [f"bytes={SIZE}-", f"bytes={SIZE + 10}-{SIZE + 20}", "bytes=-0"]:
        response = client.get("/file", headers={"range": header})
        assert (header, response.status_code) == (header, 416)
        assert response.headers["content-range"] == f"bytes */{SIZE}"
        assert response.headers["x-kept"] == "1"
        assert response.text == "Range Not Satisfiable"
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
    # Unsatisfiable ranges next to satisfiable ones are left out.
    response = client.get("/file", headers={"range": f"bytes={SIZE + 1}-,0-4"})
    assert (response.status_code, response.content) == (206, DATA[:5])


@pytest.mark.parametrize(
    "header",
    [
        "bytes=",
        "bytes=,",
        "bytes=abc",
        "bytes=5",
        "bytes=9-5",
        "bytes=-",
        "bytes=--5",
        "bytes=1-2-3",
        "bytes=+1-2",
        "bytes=1_0-20",
        "bytes=²-³",  # digits to str.isdigit, not to HTTP
        "bytes=0-1,x",
        "bytes=0 -1",
        "items=0-5",
        "0-5",
        "bytes=0-0," * (MAX_RANGE_HEADER_LENGTH // 8),  # too long
        "bytes=" + ",".join(f"{n * 10}-{n * 10 + 1}" for n in range(MAX_RANGES + 1)),
    ],
)
def test_invalid_or_excessive_range_headers_are_ignored(make_client, data_file, header):
    range_header = header.encode("latin-1")
    response = make_client(file_app(data_file)).get("/file", headers={"range": range_header})
    assert response.status_code == 200
    assert response.content == DATA


def test_range_is_only_for_get_and_head(make_client, data_file):
    response = make_client(file_app(data_file)).post("/file", headers={"range": "bytes=0-1"})
    assert (response.status_code, response.content) == (200, DATA)


def test_if_range(make_client, data_file):
    os.utime(data_file, (1_700_000_000, 1_700_000_000))
    client = make_client(file_app(data_file))
    etag = client.get("/file").headers["etag"]
    last_modified = client.get("/file").headers["last-modified"]
    for if_range, status in [
        (etag, 206),
        ('"other"', 200),
        ("W/" + etag, 200),  # a weak tag never matches
        (last_modified, 206),
        ("Tue, 14 Nov 2023 22:13:21 GMT", 200),  # must be the exact date
        ("garbage", 200),
    ]:
        response = client.get("/file", headers={"range": "bytes=0-9", "if-range": if_range})
        assert (if_range, response.status_code) == (if_range, status)
        assert response.content == (DATA[:10] if status == 206 else DATA)
    # Without a Range header, If-Range changes nothing.
    assert client.get("/file", headers={"if-range": etag}).status_code == 200


def test_preconditions_come_before_ranges(make_client, data_file):
    client = make_client(file_app(data_file))
    etag = client.get("/file").headers["etag"]
    response = client.get("/file", headers={"range": "bytes=0-9", "if-none-match": etag})
    assert response.status_code == 304
    response = client.get("/file", headers={"range": f"bytes={SIZE}-", "if-match": '"x"'})
    assert response.status_code == 412


# -- the pure functions, directly -----------------------------------------------------------


def test_parse_ranges_directly():
    assert parse_ranges("bytes=0-4", 10) == [(0, 5)]
    assert parse_ranges("bytes=0-4,5-9", 10) == [(0, 10)]
    assert parse_ranges("bytes=0-4,6-9", 10) == [(0, 5), (6, 10)]
    assert parse_ranges("bytes=3-4,0-8", 10) == [(0, 9)]
    assert parse_ranges("bytes=10-", 10) == []
    assert parse_ranges("bytes=-0", 10) == []
    assert parse_ranges("bytes=0-0", 0) == []
    assert parse_ranges("bytes=-1", 0) == []  # was [(0, 0)], an empty range
    assert parse_ranges("bytes=5-4", 10) is None
    assert parse_ranges("bytes=\u0661-\u0662", 10) is None  # Arabic-Indic digits
    big = "9" * 1000
    assert parse_ranges(f"bytes={big}-", 10) == []
    assert parse_ranges(f"bytes=0-{big}", 10) == [(0, 10)]


def test_parse_ranges_gives_sorted_disjoint_ranges_within_the_file():
    hypothesis = pytest.importorskip("hypothesis")
    strategies = hypothesis.strategies
    spec = strategies.one_of(
        strategies.from_regex(r"-?[0-9]{0,6}-?[0-9]{0,6}", fullmatch=True),
        strategies.text(max_size=8),
    )
    headers = strategies.one_of(
        strategies.text(max_size=60),
        strategies.lists(spec, max_size=30).map(lambda specs: "bytes=" + ",".join(specs)),
    )

    @hypothesis.settings(max_examples=150, deadline=None, database=None)
    @hypothesis.given(headers, strategies.integers(0, 10**7))
    def check(header: str, size: int) -> None:
        ranges = parse_ranges(header, size)
        if ranges is None:
            return
        assert len(ranges) <= MAX_RANGES
        end = -1
        for start, stop in ranges:
            # Non-empty, inside the file, sorted, neither overlapping nor adjacent.
            assert end < start < stop <= size
            end = stop

    check()


def test_many_ranges_merge_in_bounded_work():
    # The longest header parsed, all ranges overlapping: one range, quickly.
    header = "bytes=" + ",".join(["0-5"] * ((MAX_RANGE_HEADER_LENGTH - 6) // 4))
    assert len(header) <= MAX_RANGE_HEADER_LENGTH
    assert parse_ranges(header, 100) == [(0, 6)]
    exactly_max = "bytes=" + ",".join(f"{n * 10}-{n * 10}" for n in range(MAX_RANGES))
    assert len(parse_ranges(exactly_max, 1000) or []) == MAX_RANGES


def test_evaluate_with_an_unparsable_last_modified():
    headers = Headers([("if-modified-since", "Tue, 14 Nov 2023 22:13:20 GMT")])
    assert evaluate("GET", headers, 10, '"x"', None) == (200, None)
    headers = Headers([("if-unmodified-since", "Tue, 14 Nov 2023 22:13:20 GMT")])
    assert evaluate("GET", headers, 10, '"x"', None) == (200, None)
    headers = Headers([("range", "bytes=0-1"), ("if-range", "Tue, 14 Nov 2023 22:13:20 GMT")])
    assert evaluate("GET", headers, 10, '"x"', None) == (200, None)


@pytest.mark.parametrize(
    "value", ["Mon, 01 Jan 99999999999 00:00:00 GMT", "Mon, 32 Foo 2020 99:99:99 +9999", "a b c"]
)
def test_absurd_dates_are_ignored(value):
    headers = Headers([("if-modified-since", value)])
    assert evaluate("GET", headers, 10, '"x"', 0)[0] in (200, 304)


def test_user_last_modified_is_compared(make_client, data_file):
    app = file_app(data_file, headers={"Last-Modified": "Wed, 01 Jan 2020 00:00:00 GMT"})
    client = make_client(app)
    response = client.get("/file", headers={"if-modified-since": "Wed, 01 Jan 2020 00:00:00 GMT"})
    assert response.status_code == 304
    app = file_app(data_file, headers={"Last-Modified": "someday"})
    response = make_client(app).get("/file", headers={"if-modified-since": "Wed, 01 Jan 2020"})
    assert response.status_code == 200


# -- the body: chunks, closing, a file that shrinks ----------------------------------------


def test_file_body_iterates_its_segments(data_file):
    with open(data_file, "rb") as file:
        body = FileBody(str(data_file), file, SIZE, [b"<", (10, 5), b">", (0, 3)], 2)
        assert not body.whole
        assert list(body) == [
            b"<",
            DATA[10:12],
            DATA[12:14],
            DATA[14:15],
            b">",
            DATA[:2],
            DATA[2:3],
        ]
        assert file.closed


def test_file_body_read_stops_at_the_size_it_announced(tmp_path):
    path = tmp_path / "grows.bin"
    path.write_bytes(b"0123456789")
    with open(path, "rb") as file:
        body = FileBody(str(path), file, 6, [(0, 6)])
        assert body.whole
        assert body.fileno() == file.fileno()
        path.write_bytes(b"0123456789abcdef")  # grows after the headers were made
        assert body.read(4) == b"0123"
        assert body.read() == b"45"
        assert body.read(4) == b""


def test_file_body_raises_when_the_file_shrinks(tmp_path):
    path = tmp_path / "shrinks.bin"
    path.write_bytes(b"0123456789")
    with open(path, "rb") as file:
        body = FileBody(str(path), file, 10, [(0, 10)], 4)
        path.write_bytes(b"012345")
        with pytest.raises(OSError, match="shorter"):
            list(body)
    with open(path, "rb") as file:
        body = FileBody(str(path), file, 10, [(0, 10)], 4)
        with pytest.raises(OSError, match="shorter"):
            body.read(8)


def test_a_file_that_shrinks_while_sent_ends_the_response_early(make_client, tmp_path, caplog):
    path = tmp_path / "shrinks.bin"
    path.write_bytes(DATA)
    client = make_client(file_app(path, chunk_size=1000))
    with client.stream("GET", "/file") as response:
        assert response.headers["content-length"] == str(SIZE)
        chunks = response.iter_raw()
        assert next(chunks) == DATA[:1000]
        path.write_bytes(b"")
        # The response is left incomplete: the server drops the connection.
        with pytest.raises(httpx.RemoteProtocolError):
            b"".join(chunks)
    assert "Exception in the streamed body of GET /file" in caplog.text
    assert "became shorter" in caplog.text


@needs_proc
def test_file_is_closed_after_each_kind_of_response(make_client, data_file):
    client = make_client(file_app(data_file))
    etag = client.get("/file").headers["etag"]
    wait_until_closed(data_file)
    for headers in [
        {},
        {"range": "bytes=0-9"},
        {"range": "bytes=0-9,20-29"},
        {"range": f"bytes={SIZE}-"},
        {"if-none-match": etag},
        {"if-match": '"x"'},
    ]:
        for method in ("GET", "HEAD"):
            response = client.request(method, "/file", headers=headers)
            assert response.status_code in (200, 206, 304, 412, 416)
            wait_until_closed(data_file)


@needs_proc
def test_file_is_closed_when_the_client_disconnects(make_client, data_file):
    client = make_client(file_app(data_file, chunk_size=1000))
    with client.stream("GET", "/file") as response:
        assert next(response.iter_raw()) == DATA[:1000]
        assert open_fds(data_file) == 1
    wait_until_closed(data_file)


# -- WSGI: wsgi.file_wrapper ---------------------------------------------------------------


class RecordingFileWrapper(FileWrapper):
    instances: ClassVar[list[RecordingFileWrapper]] = []

    def __init__(self, filelike: Any, blksize: int = 8192) -> None:
        super().__init__(filelike, blksize)
        self.instances.append(self)
        # What gunicorn hands to sendfile(2).
        self.target = os.readlink(f"/proc/self/fd/{filelike.fileno()}")


def with_file_wrapper(app: Any) -> Any:
    def offer_file_wrapper(environ: dict[str, Any], start_response: Any) -> Any:
        environ["wsgi.file_wrapper"] = RecordingFileWrapper
        return app(environ, start_response)

    return offer_file_wrapper


@needs_proc
def test_wsgi_whole_file_goes_through_the_file_wrapper(data_file):
    RecordingFileWrapper.instances.clear()
    app = file_app(data_file)
    with TestClient(app, "wsgi", wrap_wsgi=lambda a: with_file_wrapper(validator(a))) as client:
        response = client.get("/file")
        assert (response.status_code, response.content) == (200, DATA)
        assert len(RecordingFileWrapper.instances) == 1
        assert RecordingFileWrapper.instances[0].target == str(data_file)
        assert open_fds(data_file) == 0
        # Ranges are read in chunks instead: a file wrapper sends files whole.
        response = client.get("/file", headers={"range": "bytes=0-9"})
        assert (response.status_code, response.content) == (206, DATA[:10])
        assert len(RecordingFileWrapper.instances) == 1


@needs_proc
def test_wsgi_body_closed_without_being_iterated_closes_the_file(data_file):
    app = file_app(data_file)
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/file",
        "SERVER_NAME": "test",
        "SERVER_PORT": "80",
        "wsgi.url_scheme": "http",
    }
    for extra in ({}, {"wsgi.file_wrapper": FileWrapper}):
        result = app.wsgi({**environ, **extra}, lambda status, headers, exc_info=None: None)
        assert open_fds(data_file) == 1
        result.close()  # type: ignore[attr-defined]
        assert open_fds(data_file) == 0


def test_wsgi_releases_the_request_of_a_bodiless_answer(data_file):
    closed: list[str] = []

    class Resource:
        def close(self) -> None:
            closed.append("closed")

    def handler(request):
        request.add_cleanup(Resource())
        return FileResponse(data_file)

    app = App()
    app.add_route("/file", handler)
    with TestClient(app, "wsgi", wrap_wsgi=validator) as client:
        etag = client.get("/file").headers["etag"]
        assert closed == ["closed"]
        assert client.get("/file", headers={"if-none-match": etag}).status_code == 304
        assert closed == ["closed", "closed"]


# -- ASGI: the pathsend and zerocopysend extensions ----------------------------------------


async def _call_asgi(
    app: App, extensions: dict[str, Any], headers: list[tuple[bytes, bytes]], method: str = "GET"
) -> list[dict[str, Any]]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": "/file",
        "raw_path": b"/file",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 5000),
        "extensions": extensions,
    }
    messages: list[dict[str, Any]] = []
    received = False

    async def receive() -> dict[str, Any]:
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.zerocopysend":
            # What a server would do with it: copy the span, in a thread.
            fd, offset, count = message["file"].fileno(), message["offset"], message["count"]
            copied = await asyncio.to_thread(os.pread, fd, count, offset)
            message = {**message, "copied": copied}
        messages.append(message)

    await app.asgi(scope, receive, send)
    return messages


def call_asgi(
    app: App, extensions: dict[str, Any], headers: dict[str, str] | None = None, method="GET"
) -> list[dict[str, Any]]:
    raw = [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    with blockbuster_ctx():
        return asyncio.run(_call_asgi(app, extensions, raw, method))


@needs_proc
def test_asgi_pathsend_sends_whole_files_by_path(data_file):
    app = file_app(data_file)
    messages = call_asgi(app, {"http.response.pathsend": {}})
    assert [m["type"] for m in messages] == ["http.response.start", "http.response.pathsend"]
    assert messages[0]["status"] == 200
    assert (b"content-length", str(SIZE).encode()) in messages[0]["headers"]
    assert messages[1]["path"] == str(data_file)
    assert os.path.isabs(messages[1]["path"])
    assert open_fds(data_file) == 0
    # A range is not the whole file: streamed as usual.
    messages = call_asgi(app, {"http.response.pathsend": {}}, {"range": "bytes=0-9"})
    assert messages[0]["status"] == 206
    assert [m["type"] for m in messages[1:]] == ["http.response.body"] * 2
    assert messages[1]["body"] == DATA[:10]
    # HEAD sends no body at all.
    messages = call_asgi(app, {"http.response.pathsend": {}}, method="HEAD")
    assert [m["type"] for m in messages] == ["http.response.start", "http.response.body"]
    assert messages[1]["body"] == b""


@needs_proc
def test_asgi_zerocopysend(data_file):
    app = file_app(data_file)
    extensions = {"http.response.zerocopysend": {}, "http.response.pathsend": {}}
    messages = call_asgi(app, extensions)
    assert messages[1]["type"] == "http.response.pathsend"  # preferred for whole files
    messages = call_asgi(app, {"http.response.zerocopysend": {}}, {"range": "bytes=5-"})
    assert [m["type"] for m in messages] == [
        "http.response.start",
        "http.response.zerocopysend",
        "http.response.body",
    ]
    assert (messages[1]["offset"], messages[1]["count"]) == (5, SIZE - 5)
    assert messages[1]["more_body"] is True
    assert messages[1]["copied"] == DATA[5:]
    assert (messages[2]["body"], messages[2].get("more_body", False)) == (b"", False)
    assert open_fds(data_file) == 0
    # Multipart: heads as body messages, spans as zero-copy sends.
    messages = call_asgi(app, {"http.response.zerocopysend": {}}, {"range": "bytes=0-1,10-11"})
    kinds = [m["type"].rsplit(".", 1)[1] for m in messages]
    assert kinds == ["start", "body", "zerocopysend", "body", "zerocopysend", "body", "body"]
    assert [m["copied"] for m in messages if "copied" in m] == [DATA[0:2], DATA[10:12]]
    assert open_fds(data_file) == 0


@needs_proc
def test_asgi_zerocopysend_stops_when_the_client_is_gone(data_file):
    sent: list[dict[str, Any]] = []

    async def run() -> None:
        scope = {
            "type": "http",
            "method": "GET",
            "path": "/file",
            "headers": [],
            "extensions": {"http.response.zerocopysend": {}},
        }

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b""}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.zerocopysend":
                raise OSError("client disconnected")
            sent.append(message)

        await file_app(data_file).asgi(scope, receive, send)

    with blockbuster_ctx():
        asyncio.run(run())
    assert [m["type"] for m in sent] == ["http.response.start"]
    assert open_fds(data_file) == 0


def test_plain_responses_do_not_use_the_extensions():
    app = App()
    app.add_route("/file", lambda request: Response(b"plain"))
    messages = call_asgi(app, {"http.response.pathsend": {}, "http.response.zerocopysend": {}})
    assert [m["type"] for m in messages] == ["http.response.start", "http.response.body"]
    assert messages[1]["body"] == b"plain"


def test_async_handler_returns_a_file_without_blocking_the_loop(make_client, data_file):
    app = App()

    @app.get("/file")
    async def handler(request):
        return FileResponse(data_file, filename="data.bin")

    response = make_client(app).get("/file", headers={"range": "bytes=0-9,100-109"})
    assert response.status_code == 206
    assert [content for _, content in parse_multipart(response)] == [
        DATA[:10],
        DATA[100:110],
    ]
