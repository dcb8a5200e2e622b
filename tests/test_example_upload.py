"""examples/upload.py: the form and both upload routes under both interfaces, and uvicorn."""

from __future__ import annotations

import hashlib

import pytest
from examplekit import load_example
from serverkit import Servers

UPLOAD = "examples.upload:app"
ROUTES = ["/upload", "/upload/stream"]
MAX_FILE_SIZE = 5 * 1024 * 1024
EMPTY_FILE_INPUT = (
    b"--XyZ\r\n"
    b'Content-Disposition: form-data; name="file"; filename=""\r\n'
    b"Content-Type: application/octet-stream\r\n\r\n"
    b"\r\n--XyZ--\r\n"
)


@pytest.fixture
def client(make_client):
    return make_client(load_example("upload").app)


def test_form_page(client) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    for route in ROUTES:
        assert f'action="{route}" enctype="multipart/form-data"' in response.text
    assert response.text.count('<input type="file" name="file" required>') == 2


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    "content",
    [
        b"hello, world\n",
        # Past the 1 MiB spool threshold (a temporary file for aform()), and the
        # largest allowed.
        bytes(range(256)) * (MAX_FILE_SIZE // 256),
    ],
    ids=["small", "max"],
)
def test_upload_gives_name_size_and_sha256(client, route: str, content: bytes) -> None:
    response = client.post(
        route,
        data={"note": "before the file"},
        files={"file": ("notes ü.txt", content, "text/plain")},
    )
    assert response.status_code == 200
    assert response.json() == {
        "filename": "notes ü.txt",
        "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
    }


@pytest.mark.parametrize("route", ROUTES)
def test_oversize_file_is_413(client, route: str) -> None:
    response = client.post(route, files={"file": ("big.bin", b"x" * (MAX_FILE_SIZE + 1))})
    assert response.status_code == 413
    assert (
        response.text == f"An uploaded file is larger than max_file_size ({MAX_FILE_SIZE} bytes)"
    )


@pytest.mark.parametrize("route", ROUTES)
def test_no_file_is_400(client, route: str) -> None:
    headers = {"content-type": "multipart/form-data; boundary=XyZ"}
    empty = client.post(route, content=EMPTY_FILE_INPUT, headers=headers)
    assert (empty.status_code, empty.text) == (400, "No file: send one in the form field 'file'")
    other = client.post(route, files={"other": ("a.txt", b"a")}, data={"file": "not a file"})
    assert other.status_code == 400


def test_urlencoded_body_is_refused_by_the_streaming_route(client) -> None:
    # parts() needs multipart: a url-encoded form has no parts.
    assert client.post("/upload/stream", data={"file": "x"}).status_code == 415
    # aform() reads it, and finds no file.
    assert client.post("/upload", data={"file": "x"}).status_code == 400


@pytest.mark.servers
def test_served_by_uvicorn(servers: Servers) -> None:
    server = servers.get("uvicorn", UPLOAD)
    content = b"uploaded through a real server\n" * 1000
    with server.client() as client:
        assert client.get("/").status_code == 200, server.describe()
        for route in ROUTES:
            response = client.post(route, files={"file": ("a.txt", content)})
            assert response.json()["sha256"] == hashlib.sha256(content).hexdigest()
    assert "Traceback" not in server.log(), server.describe()
