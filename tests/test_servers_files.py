"""Files under real servers: whole files through each server's fast path
(gunicorn's ``wsgi.file_wrapper``, granian's ASGI pathsend), byte ranges
read in chunks, conditional requests, no way out of the static directory,
and no file left open, whatever the client does."""

from __future__ import annotations

import random
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from serverkit import HOST, REQUEST_TIMEOUT, Server, Servers

pytestmark = pytest.mark.servers

FILES_WSGI = "tests.server_apps.files_app:wsgi"
FILES_ASGI = "tests.server_apps.files_app:asgi"
# A little over 1 MiB, not a multiple of any chunk size.
DATA = random.Random(20240601).randbytes(1024 * 1024 + 123)
SIZE = len(DATA)
SECRET = b"outside the static directory\n"
WAIT = 5.0
BIG_SIZE = 256 * 1024 * 1024

#: (server, app, the header reporting the fast path, whether the server has one)
CASES = {
    "gunicorn-sync": (FILES_WSGI, "x-file-wrapper", "yes"),
    "gunicorn-gthread": (FILES_WSGI, "x-file-wrapper", "yes"),
    "granian-wsgi": (FILES_WSGI, "x-file-wrapper", "no"),
    "uvicorn": (FILES_ASGI, "x-pathsend", "no"),
    "gunicorn-asgi": (FILES_ASGI, "x-pathsend", "no"),
    "granian-asgi": (FILES_ASGI, "x-pathsend", "yes"),
}


@pytest.fixture(scope="module")
def files_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The served directory; the servers find it in $DUALWEB_TEST_FILES."""
    root = tmp_path_factory.mktemp("served")
    (root / "secret.txt").write_bytes(SECRET)
    public = root / "public"
    public.mkdir()
    (public / "data.bin").write_bytes(DATA)
    # Sparse: more than the sockets can buffer, so a client can leave half-way.
    with open(public / "big.bin", "wb") as big:
        big.truncate(BIG_SIZE)
    (public / "docs").mkdir()
    (public / "docs" / "index.html").write_bytes(b"<h1>docs</h1>")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DUALWEB_TEST_FILES", str(public))
        yield public


@pytest.fixture(params=list(CASES))
def files_server(request: pytest.FixtureRequest, servers: Servers, files_dir: Path) -> Server:
    return servers.get(request.param, CASES[request.param][0])


def fast_path(server: Server) -> tuple[str, str]:
    _, header, expected = CASES[server.name]
    return header, expected


def test_download_is_identical_through_the_fast_path(files_server: Server) -> None:
    header, expected = fast_path(files_server)
    with files_server.client() as client:
        for path in ("/download", "/static/data.bin"):
            response = client.get(path)
            assert response.status_code == 200, files_server.describe()
            assert response.content == DATA
            assert response.headers["content-length"] == str(SIZE)
            assert response.headers["content-type"] == "application/octet-stream"
            assert response.headers["accept-ranges"] == "bytes"
            assert response.headers[header] == expected, files_server.describe()
        assert response.headers["etag"]
    with files_server.client() as client:
        response = client.get("/download")
    assert response.headers["content-disposition"] == (
        "attachment; filename=\"donnees.bin\"; filename*=UTF-8''donn%C3%A9es.bin"
    )


def test_ranges(files_server: Server) -> None:
    with files_server.client() as client:
        response = client.get("/static/data.bin", headers={"range": "bytes=1000-299999"})
        assert response.status_code == 206, files_server.describe()
        assert response.content == DATA[1000:300000]
        assert response.headers["content-range"] == f"bytes 1000-299999/{SIZE}"
        assert response.headers["content-length"] == str(299000)
        # Never through the fast path: it sends files whole.
        assert response.headers[fast_path(files_server)[0]] == "no"

        response = client.get("/static/data.bin", headers={"range": "bytes=-70000"})
        assert (response.status_code, response.content) == (206, DATA[-70000:])

        response = client.get("/static/data.bin", headers={"range": "bytes=0-9,500000-600000"})
        assert response.status_code == 206
        boundary = re.fullmatch(
            r"multipart/byteranges; boundary=(\w+)", response.headers["content-type"]
        )
        assert boundary, response.headers["content-type"]
        delimiter = b"--" + boundary.group(1).encode()
        parts = response.content.split(b"\r\n" + delimiter)
        assert parts[0].endswith(b"\r\n\r\n" + DATA[:10])
        assert parts[1].endswith(b"\r\n\r\n" + DATA[500000:600001])
        assert parts[2] == b"--\r\n"

        response = client.get("/static/data.bin", headers={"range": f"bytes={SIZE}-"})
        assert response.status_code == 416
        assert response.headers["content-range"] == f"bytes */{SIZE}"


def test_conditional_requests_and_head(files_server: Server) -> None:
    with files_server.client() as client:
        etag = client.get("/static/data.bin").headers["etag"]
        response = client.get("/static/data.bin", headers={"if-none-match": etag})
        assert response.status_code == 304, files_server.describe()
        assert response.content == b""
        assert response.headers["etag"] == etag
        head = client.head("/static/data.bin")
        assert (head.status_code, head.content) == (200, b"")
        assert head.headers["content-length"] == str(SIZE)
        assert head.headers["etag"] == etag


def test_static_index_and_redirect(files_server: Server) -> None:
    with files_server.client() as client:
        response = client.get("/static/docs")
        assert response.status_code == 308, files_server.describe()
        assert response.headers["location"] == "/static/docs/"
        assert client.get("/static/docs/").content == b"<h1>docs</h1>"


def raw_get(server: Server, target: str) -> bytes:
    """Send ``GET target`` as is (no client normalisation); the response head and body."""
    port = int(server.url.rsplit(":", 1)[1])
    request = f"GET {target} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n"
    with socket.create_connection((HOST, port), timeout=REQUEST_TIMEOUT) as sock:
        sock.sendall(request.encode("latin-1"))
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


@pytest.mark.parametrize(
    "target",
    [
        "/static/../secret.txt",
        "/static/%2e%2e/secret.txt",
        "/static/..%2fsecret.txt",
        "/static/%2e%2e%5csecret.txt",
        "/static/%252e%252e/secret.txt",
        "/static//etc/passwd",
        "/static/%00",
        "/static/data.bin/../../secret.txt",
    ],
)
def test_no_way_out_of_the_static_directory(files_server: Server, target: str) -> None:
    received = raw_get(files_server, target)
    status = int(received.split(b" ", 2)[1])
    # 404 from the app, or 400/404 from a server that refuses the target itself.
    assert status in (400, 404), received[:300]
    assert SECRET not in received


def open_files(client: httpx.Client) -> int:
    return int(client.get("/open-files").json()["open"])


def test_no_file_is_left_open(files_server: Server) -> None:
    with files_server.client() as client:
        for headers in ({}, {"range": "bytes=0-99"}, {"range": "bytes=0-1,5-6"}):
            assert client.get("/static/data.bin", headers=headers).status_code in (200, 206)
        client.head("/static/data.bin")
        # Clients that leave half-way.
        for headers in ({}, {"range": "bytes=10-"}):
            with client.stream("GET", "/static/big.bin", headers=headers) as response:
                assert response.status_code in (200, 206), files_server.describe()
                assert next(response.iter_raw(1024)) == bytes(1024)
    with files_server.client() as client:
        deadline = time.monotonic() + WAIT
        while (count := open_files(client)) != 0:
            assert time.monotonic() < deadline, (
                f"{count} files still open {WAIT} s later: " + files_server.describe()
            )
            time.sleep(0.05)


def test_no_errors_in_the_server_output(files_server: Server) -> None:
    log = files_server.log()
    for sign in ("Traceback", "Exception in", "[ERROR]", "ERROR:"):
        assert sign not in log, files_server.describe()
