"""Hostile input, bodies half: JSON bombs, form and multipart abuse, lying
Content-Length, chunked bodies.

Every case in CASES runs under both interfaces (``make_client``) and against
real uvicorn and gunicorn (sync) processes serving
``tests/server_apps/abuse_app.py``. Each answer: the expected status with a
short message (or the expected JSON for input that is valid after all), no
traceback or internal detail in the body, no error in the server's log, and
the server still answering afterwards. The large cases are repeated against
the real servers with the serving process's RSS measured before and after.

Decisions these cases pin down (see docs/requests.md and docs/limits.md):
JSON must be UTF-8; NaN, Infinity, numbers that overflow a float and
unpaired surrogate escapes are 400; duplicate keys are allowed (the last one
wins). Form field *names* are bounded by ``max_body_size`` (url-encoded) or
``max_part_header_size`` (multipart), not by ``max_field_size``. A client's
file name reaches the handler as sent (``upload.filename``);
``upload.safe_filename`` is the name to store under.
"""

from __future__ import annotations

import contextlib
import functools
import json
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from abusekit import assert_no_leak, parse_response, port_of, receive_all, rss_kib
from server_apps.abuse_app import BIG_BODY, app
from serverkit import HOST, REQUEST_TIMEOUT, Server, Servers

from dualweb import App
from dualweb.testing import TestClient

SERVER_NAMES = ["uvicorn", "gunicorn-sync"]
SERVER_APP = "tests.server_apps.abuse_app:app"
MiB = 1024 * 1024
JSON = "application/json"
URLENCODED = "application/x-www-form-urlencoded"
BOUNDARY = "abuse-boundary"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
# Generous: the big cases allocate a few MB each while they run.
RSS_GROWTH_LIMIT_KIB = 50 * 1024


# -- building hostile bodies ---------------------------------------------------------------


def multipart(
    parts: list[tuple[bytes, bytes]], boundary: str = BOUNDARY, end: bool = True
) -> bytes:
    """A multipart body from (header block, content) pairs."""
    dashes = b"--" + boundary.encode()
    out = [dashes + b"\r\n" + head + b"\r\n\r\n" + content + b"\r\n" for head, content in parts]
    if end:
        out.append(dashes + b"--\r\n")
    return b"".join(out)


def field(name: bytes, value: bytes = b"v") -> tuple[bytes, bytes]:
    return b'Content-Disposition: form-data; name="' + name + b'"', value


def file(filename: bytes, content: bytes = b"x", name: bytes = b"f") -> tuple[bytes, bytes]:
    head = b'Content-Disposition: form-data; name="' + name + b'"; filename="' + filename + b'"'
    return head + b"\r\nContent-Type: text/plain", content


def fields(count: int) -> bytes:
    return multipart([field(b"f%d" % i) for i in range(count)])


def files(count: int) -> bytes:
    return multipart([file(b"f%d.txt" % i) for i in range(count)])


@dataclass(frozen=True)
class Case:
    """One hostile body: where it goes, what it is, and what must come back."""

    paths: tuple[str, ...]
    content_type: str | None
    build: Callable[[], bytes]
    status: int
    #: The error message's start (4xx), or the JSON answer (200).
    expect: Any
    #: Large enough to count for the memory check against real servers.
    big: bool = False

    @functools.cached_property
    def body(self) -> bytes:
        return self.build()

    def headers(self) -> dict[str, str]:
        return {} if self.content_type is None else {"Content-Type": self.content_type}


def const(data: bytes) -> Callable[[], bytes]:
    return lambda: data


JSON_PATHS = ("/json", "/ajson")
FORM_PATHS = ("/form", "/aform", "/parts", "/aparts")
BIG_FORM_PATHS = ("/big-form", "/big-aform", "/big-parts")
TOO_DEEP = "Invalid JSON: nested too deeply"
OUT_OF_RANGE = "Invalid JSON: number or string out of range"
NOT_UTF8 = "Invalid JSON: not valid UTF-8"
SURROGATE = "Invalid JSON: a string has an unpaired surrogate"
TOO_LARGE = "Request body is larger than max_body_size (1048576 bytes)"
MALFORMED = "Malformed multipart body"
BAD_BOUNDARY = "Malformed multipart body: the boundary is not valid (RFC 2046)"
NO_BOUNDARY = "Malformed multipart body: the Content-Type has no boundary"
HEADER_TOO_LARGE = "A multipart part header is larger than max_part_header_size (8192 bytes)"
TOO_MANY_FIELDS = "Too many fields in form body (max_form_fields=1000)"
TOO_MANY_FILES = "Too many files in form body (max_form_files=100)"


CASES: dict[str, Case] = {
    # -- JSON bombs ------------------------------------------------------------------------
    "json-100k-open-brackets": Case(JSON_PATHS, JSON, const(b"[" * 100_000), 400, TOO_DEEP, True),
    "json-100k-nested-arrays": Case(
        JSON_PATHS, JSON, const(b"[" * 100_000 + b"]" * 100_000), 400, TOO_DEEP, True
    ),
    "json-100k-nested-objects": Case(
        JSON_PATHS, JSON, const(b'{"a":' * 100_000 + b"1" + b"}" * 100_000), 400, TOO_DEEP, True
    ),
    "json-exponent-1e999999": Case(JSON_PATHS, JSON, const(b"1e999999"), 400, OUT_OF_RANGE),
    "json-negative-overflow": Case(JSON_PATHS, JSON, const(b"[-1e400]"), 400, OUT_OF_RANGE),
    "json-100k-digit-int": Case(JSON_PATHS, JSON, const(b"9" * 100_000), 400, OUT_OF_RANGE, True),
    "json-100k-digit-int-in-object": Case(
        JSON_PATHS, JSON, const(b'{"n": -' + b"1" * 100_000 + b"}"), 400, OUT_OF_RANGE, True
    ),
    "json-tiny-exponent-is-zero": Case(JSON_PATHS, JSON, const(b"1e-999999"), 200, {"got": 0.0}),
    "json-string-over-max-body-size": Case(
        JSON_PATHS, JSON, lambda: b'"' + b"a" * (2 * MiB) + b'"', 413, TOO_LARGE, True
    ),
    "json-invalid-utf8": Case(JSON_PATHS, JSON, const(b'"\xff"'), 400, NOT_UTF8),
    "json-overlong-utf8": Case(JSON_PATHS, JSON, const(b'"\xc0\xaf"'), 400, NOT_UTF8),
    "json-utf8-encoded-surrogate": Case(JSON_PATHS, JSON, const(b'"\xed\xa0\x80"'), 400, NOT_UTF8),
    "json-utf16": Case(JSON_PATHS, JSON, const('{"a": 1}'.encode("utf-16")), 400, NOT_UTF8),
    "json-lone-high-surrogate": Case(JSON_PATHS, JSON, const(b'"\\ud800"'), 400, SURROGATE),
    "json-lone-low-surrogate": Case(JSON_PATHS, JSON, const(b'["\\uDC00"]'), 400, SURROGATE),
    "json-surrogate-in-key": Case(JSON_PATHS, JSON, const(b'{"\\ud800": 1}'), 400, SURROGATE),
    "json-reversed-surrogate-pair": Case(
        JSON_PATHS, JSON, const(b'"\\ude00\\ud83d"'), 400, SURROGATE
    ),
    "json-surrogate-pair-is-fine": Case(
        JSON_PATHS, JSON, const(b'"\\ud83d\\ude00"'), 200, {"got": "\U0001f600"}
    ),
    "json-surrogate-pair-deep-inside-is-fine": Case(
        JSON_PATHS,
        JSON,
        const(b'{"a": [1, "x", {"b": "\\ud83d\\ude00"}]}'),
        200,
        {"got": {"a": [1, "x", {"b": "\U0001f600"}]}},
    ),
    "json-escaped-backslash-is-not-an-escape": Case(
        JSON_PATHS, JSON, const(b'"\\\\ud800"'), 200, {"got": "\\ud800"}
    ),
    "json-nan": Case(
        JSON_PATHS, JSON, const(b"NaN"), 400, "Invalid JSON: NaN is not a JSON value"
    ),
    "json-infinity": Case(
        JSON_PATHS, JSON, const(b"[Infinity]"), 400, "Invalid JSON: Infinity is not a JSON value"
    ),
    "json-minus-infinity": Case(
        JSON_PATHS, JSON, const(b'{"a": -Infinity}'), 400, "Invalid JSON: -Infinity is not"
    ),
    "json-duplicate-keys-last-wins": Case(
        JSON_PATHS, JSON, const(b'{"a": 1, "a": 2}'), 200, {"got": {"a": 2}}
    ),
    "json-byte-order-mark-ignored": Case(
        JSON_PATHS, JSON, const(b'\xef\xbb\xbf{"a": 1}'), 200, {"got": {"a": 1}}
    ),
    "json-raw-control-character": Case(
        JSON_PATHS, JSON, const(b'"\x00"'), 400, "Invalid JSON: Invalid control character"
    ),
    "json-empty": Case(JSON_PATHS, JSON, const(b" \r\n"), 400, "Invalid JSON: the body is empty"),
    "json-trailing-garbage": Case(JSON_PATHS, JSON, const(b"{} {}"), 400, "Invalid JSON: Extra"),
    "json-wrong-content-type": Case(
        JSON_PATHS, "text/plain", const(b"{}"), 415, "Expected a JSON"
    ),
    # -- url-encoded forms -----------------------------------------------------------------
    "urlencoded-100k-fields": Case(
        ("/form", "/aform"),
        URLENCODED,
        lambda: b"&".join([b"a=1"] * 100_000),
        413,
        TOO_MANY_FIELDS,
        True,
    ),
    "urlencoded-900k-field-name": Case(
        ("/form", "/aform"),
        URLENCODED,
        lambda: b"n" * 900_000 + b"=1",
        200,
        {"fields": 1, "files": []},
        True,
    ),
    "urlencoded-2m-field-name": Case(
        ("/form", "/aform"), URLENCODED, lambda: b"n" * (2 * MiB) + b"=1", 413, TOO_LARGE, True
    ),
    "urlencoded-invalid-utf8": Case(
        ("/form", "/aform"), URLENCODED, const(b"a=%ff"), 400, "Malformed form body: not valid"
    ),
    "urlencoded-raw-invalid-utf8": Case(
        ("/form", "/aform"), URLENCODED, const(b"a=\xff\xfe"), 400, "Malformed form body: not"
    ),
    "urlencoded-encoded-surrogate": Case(
        ("/form", "/aform"), URLENCODED, const(b"a=%ed%a0%80"), 400, "Malformed form body: not"
    ),
    # -- multipart: counts and sizes ---------------------------------------------------------
    "multipart-100k-fields": Case(
        BIG_FORM_PATHS, MULTIPART, lambda: fields(100_000), 413, TOO_MANY_FIELDS, True
    ),
    "multipart-100k-fields-default-limit": Case(
        FORM_PATHS, MULTIPART, lambda: fields(100_000), 413, TOO_LARGE, True
    ),
    "multipart-10k-tiny-files": Case(
        BIG_FORM_PATHS, MULTIPART, lambda: files(10_000), 413, TOO_MANY_FILES, True
    ),
    "multipart-100k-field-name": Case(
        FORM_PATHS,
        MULTIPART,
        lambda: multipart([field(b"n" * 100_000)]),
        413,
        HEADER_TOO_LARGE,
        True,
    ),
    "multipart-100kb-part-header": Case(
        FORM_PATHS,
        MULTIPART,
        lambda: multipart(
            [(b"Content-Disposition: form-data; name=a\r\nX-Pad: " + b"p" * 100_000, b"v")]
        ),
        413,
        HEADER_TOO_LARGE,
        True,
    ),
    "multipart-17-part-headers": Case(
        FORM_PATHS,
        MULTIPART,
        const(
            multipart(
                [
                    (
                        b"\r\n".join(
                            [b"Content-Disposition: form-data; name=a"] + [b"X-H: 1"] * 16
                        ),
                        b"v",
                    )
                ]
            )
        ),
        413,
        "Too many headers in a multipart part (max 16)",
    ),
    "multipart-field-over-max-field-size": Case(
        ("/big-form", "/big-aform"),
        MULTIPART,
        lambda: multipart([field(b"a", b"v" * (MiB + 1))]),
        413,
        "A form field is larger than max_field_size",
        True,
    ),
    # -- multipart: boundaries ----------------------------------------------------------------
    "boundary-missing": Case(
        FORM_PATHS, "multipart/form-data", const(multipart([field(b"a")])), 400, NO_BOUNDARY
    ),
    "boundary-empty": Case(
        FORM_PATHS,
        'multipart/form-data; boundary=""',
        const(multipart([field(b"a")])),
        400,
        NO_BOUNDARY,
    ),
    "boundary-invalid-characters": Case(
        FORM_PATHS,
        "multipart/form-data; boundary=a{b}",
        const(multipart([field(b"a")], "a{b}")),
        400,
        BAD_BOUNDARY,
    ),
    "boundary-ends-with-space": Case(
        FORM_PATHS,
        'multipart/form-data; boundary="ab "',
        const(multipart([field(b"a")], "ab ")),
        400,
        BAD_BOUNDARY,
    ),
    "boundary-1000-characters": Case(
        FORM_PATHS,
        "multipart/form-data; boundary=" + "b" * 1000,
        const(multipart([field(b"a")], "b" * 1000)),
        400,
        BAD_BOUNDARY,
    ),
    "boundary-71-characters": Case(
        FORM_PATHS,
        "multipart/form-data; boundary=" + "b" * 71,
        const(multipart([field(b"a")], "b" * 71)),
        400,
        BAD_BOUNDARY,
    ),
    "boundary-70-characters-is-fine": Case(
        ("/form", "/aform"),
        "multipart/form-data; boundary=" + "b" * 70,
        const(multipart([field(b"a")], "b" * 70)),
        200,
        {"fields": 1, "files": []},
    ),
    "boundary-mismatch": Case(
        FORM_PATHS,
        MULTIPART,
        const(multipart([field(b"a")], "other")),
        400,
        "Malformed multipart body: the boundary was not found",
    ),
    "multipart-unterminated": Case(
        FORM_PATHS,
        MULTIPART,
        const(multipart([field(b"a")], end=False)),
        400,
        "Malformed multipart body: the body ends before the closing boundary",
    ),
    "multipart-cut-in-part-header": Case(
        FORM_PATHS,
        MULTIPART,
        const(b"--" + BOUNDARY.encode() + b"\r\nContent-Disp"),
        400,
        MALFORMED,
    ),
    "multipart-cut-in-file": Case(
        FORM_PATHS,
        MULTIPART,
        const(multipart([file(b"a.txt", b"x" * 5000)])[:-200]),
        400,
        MALFORMED,
    ),
    "multipart-garbage": Case(FORM_PATHS, MULTIPART, const(b"\x00" * 4096), 400, MALFORMED),
    "multipart-no-content-disposition": Case(
        FORM_PATHS,
        MULTIPART,
        const(multipart([(b"Content-Type: text/plain", b"v")])),
        400,
        "Malformed multipart body: a part has no Content-Disposition header",
    ),
    "multipart-header-without-colon": Case(
        FORM_PATHS,
        MULTIPART,
        const(multipart([(b"Content-Disposition form-data", b"v")])),
        400,
        MALFORMED,
    ),
    "multipart-invalid-utf8-name": Case(
        FORM_PATHS,
        MULTIPART,
        const(multipart([field(b"\xff\xfe")])),
        400,
        "Malformed multipart body: a part header is malformed",
    ),
    "multipart-invalid-utf8-value": Case(
        ("/form", "/aform"),
        MULTIPART,
        const(multipart([field(b"a", b"\xff")])),
        400,
        "Malformed multipart body: a field is not valid utf-8",
    ),
    "multipart-unknown-charset": Case(
        ("/form", "/aform"),
        MULTIPART,
        const(
            multipart(
                [
                    (
                        b"Content-Disposition: form-data; name=a\r\n"
                        b"Content-Type: text/plain; charset=nope",
                        b"v",
                    )
                ]
            )
        ),
        400,
        "Malformed multipart body: unknown charset",
    ),
    "multipart-wrong-content-type": Case(
        ("/parts", "/aparts"), URLENCODED, const(b"a=1"), 415, "Expected a multipart body"
    ),
}

#: Hostile file names: as sent, as the handler gets it (``upload.filename``), and
#: what ``upload.safe_filename`` makes of it.
FILENAMES = {
    "dotdot-slash": ("../../etc/passwd", "../../etc/passwd", "passwd"),
    "dotdot-backslash": ("..\\..\\windows\\win.ini", "..\\..\\windows\\win.ini", "win.ini"),
    "absolute": ("/etc/passwd", "/etc/passwd", "passwd"),
    "dotdot-alone": ("..", "..", "upload"),
    "nul-inside": ("evil\x00.txt", "evil\x00.txt", "evil.txt"),
    "nul-then-dotdot": ("a\x00/../../b", "a\x00/../../b", "b"),
    "hidden": (".bashrc", ".bashrc", "bashrc"),
    "windows-device": ("NUL.txt", "NUL.txt", "_NUL.txt"),
    # The multipart parser keeps only the base name of a Windows path (old IE sent those).
    "drive-letter": ("C:\\boot.ini", "boot.ini", "boot.ini"),
    "newline": ("a\nb.txt", "a\nb.txt", "ab.txt"),
    "long": ("a" * 1000 + ".txt", "a" * 1000 + ".txt", "a" * 251 + ".txt"),
    "empty": ("", "", "upload"),
}


def expand() -> Iterator[Any]:
    for case_id, case in CASES.items():
        for path in case.paths:
            yield pytest.param(path, case, id=f"{case_id}{path.replace('/', '-')}")


EXPANDED = list(expand())


def expected(case: Case, path: str) -> Any:
    """The 200 answer: the form routes' summary, or what the parts routes make of it."""
    if "parts" in path and isinstance(case.expect, dict) and "fields" in case.expect:
        return {"parts": [["a", None, 1]]}
    return case.expect


def check(status: int, body: bytes, case: Case, path: str) -> None:
    assert status == case.status, body[:300]
    if status == 200:
        assert json.loads(body) == expected(case, path)
        return
    text = body.decode()
    assert text.startswith(case.expect), text
    assert len(text) < 200
    assert_no_leak(body)


# -- under both interfaces ------------------------------------------------------------------


@pytest.mark.parametrize(("path", "case"), EXPANDED)
def test_hostile_body(make_client, path: str, case: Case) -> None:
    client = make_client(app)
    response = client.post(path, content=case.body, headers=case.headers())
    check(response.status_code, response.content, case, path)
    assert client.get("/").text == "ok"


@pytest.mark.parametrize(("sent", "received", "safe"), FILENAMES.values(), ids=FILENAMES.keys())
def test_hostile_filename_reaches_the_handler_as_sent(
    make_client, sent: str, received: str, safe: str
) -> None:
    client = make_client(app)
    body = multipart([file(sent.encode())])
    response = client.post("/aform", content=body, headers={"Content-Type": MULTIPART})
    assert response.json() == {
        "fields": 0,
        "files": [{"name": "f", "filename": received, "safe": safe}],
    }


@pytest.mark.parametrize(("sent", "received", "safe"), FILENAMES.values(), ids=FILENAMES.keys())
def test_saving_under_safe_filename_stays_in_the_directory(
    make_client, tmp_path: Path, sent: str, received: str, safe: str
) -> None:
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    saver = App()

    @saver.post("/save")
    def save(request):
        upload = request.form().files["f"]
        target = uploads / upload.safe_filename
        upload.save(target)
        return {"saved": str(target.resolve().relative_to(uploads.resolve()))}

    client = make_client(saver)
    body = multipart([file(sent.encode(), b"content")])
    response = client.post("/save", content=body, headers={"Content-Type": MULTIPART})
    assert response.json() == {"saved": safe}
    assert [entry.name for entry in tmp_path.iterdir()] == ["uploads"]
    assert (uploads / safe).read_bytes() == b"content"


def test_nul_in_multipart_field_name_is_kept(make_client) -> None:
    client = make_client(app)
    body = multipart([field(b"a\x00b")])
    response = client.post("/parts", content=body, headers={"Content-Type": MULTIPART})
    assert response.json() == {"parts": [["a\x00b", None, 1]]}


@pytest.mark.parametrize("path", ["/body", "/abody"])
def test_content_length_shorter_than_the_body(make_client, interface: str, path: str) -> None:
    """WSGI reads what Content-Length declares (PEP 3333); under ASGI the server frames the
    body (a real one keeps the rest for the next request: see the raw-socket tests)."""
    client = make_client(app)
    response = client.post(path, content=b"0123456789", headers={"Content-Length": "3"})
    assert response.json() == {"size": 3 if interface == "wsgi" else 10}


@pytest.mark.parametrize("path", ["/body", "/abody"])
def test_content_length_longer_than_the_body(make_client, interface: str, path: str) -> None:
    client = make_client(app)
    response = client.post(path, content=b"0123456789", headers={"Content-Length": "100"})
    if interface == "wsgi":  # the input ends early: the client went away
        assert (response.status_code, response.text) == (400, "Client disconnected")
    else:
        assert response.json() == {"size": 10}
    assert client.get("/").text == "ok"


# b"\xb3" is "³" in latin-1, which str.isdigit() accepts.
@pytest.mark.parametrize("declared", [b"abc", b"-1", b"1e3", b"0x10", b"\xb3", b"9" * 5000])
def test_invalid_content_length_is_400(interface: str, declared: bytes) -> None:
    # Not under wsgiref's validator, which itself refuses such an environ.
    with TestClient(app, interface) as client:
        response = client.post("/abody", content=b"12345", headers={"Content-Length": declared})
        assert (response.status_code, response.text) == (400, "Invalid Content-Length header")
        assert client.get("/").text == "ok"


def chunks(data: bytes, size: int = 16 * 1024) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/ajson", b'{"a": [1, 2]}', 200),
        ("/json", b"[" * 100_000, 400),
        ("/abody", b"x" * (2 * MiB), 413),
        ("/big-aform", fields(2000), 413),
    ],
    ids=["small-json", "json-bomb", "over-max-body-size", "too-many-fields"],
)
def test_chunked_body(make_client, path: str, body: bytes, status: int) -> None:
    """No Content-Length (Transfer-Encoding: chunked): the limits count what arrives."""
    client = make_client(app)
    content_type = MULTIPART if "form" in path else JSON
    response = client.post(path, content=chunks(body), headers={"Content-Type": content_type})
    assert response.status_code == status, response.text
    assert client.get("/").text == "ok"


# -- against real servers ------------------------------------------------------------------------


@pytest.fixture(params=SERVER_NAMES)
def server(request: pytest.FixtureRequest, servers: Servers) -> Iterator[Server]:
    """A real server running the abuse app; what the test made it log must be clean."""
    running = servers.get(request.param, SERVER_APP)
    start = len(running.log())
    yield running
    assert_clean_log(running, start)


def assert_clean_log(server: Server, since: int = 0) -> None:
    log = server.log()[since:]
    for marker in ("Traceback", "Exception in", '" 500'):
        assert marker not in log, f"{marker!r} in the log of {server.describe()}"


def raw_exchange(server: Server, data: bytes, *, shut_write: bool = False) -> bytes:
    """Send ``data`` on a new connection and read until the server closes it."""
    with socket.create_connection((HOST, port_of(server)), timeout=REQUEST_TIMEOUT) as sock:
        sock.sendall(data)
        if shut_write:
            sock.shutdown(socket.SHUT_WR)
        received = bytearray()
        while True:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            received += chunk
    return bytes(received)


def post_raw(server: Server, path: str, case: Case) -> tuple[int, bytes]:
    """POST a case's body with Connection: close, on a raw socket.

    Raw rather than httpx: a server that answers 413 before reading the body
    closes the connection, and httpx, still sending, may see the reset first.
    """
    head = [f"POST {path} HTTP/1.1", f"Host: {HOST}", "Connection: close"]
    head.append(f"Content-Length: {len(case.body)}")
    head += [f"{name}: {value}" for name, value in case.headers().items()]
    request = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
    with socket.create_connection((HOST, port_of(server)), timeout=REQUEST_TIMEOUT) as sock:
        sock.sendall(request)
        # A server may answer (and close) before it read the whole body.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(case.body)
        received = receive_all(sock)
    response = parse_response(received)
    return response.status, response.body


@pytest.mark.servers
@pytest.mark.parametrize(("path", "case"), EXPANDED)
def test_hostile_body_on_a_real_server(server: Server, path: str, case: Case) -> None:
    status, body = post_raw(server, path, case)
    check(status, body, case, path)
    with server.client() as client:
        assert client.get("/").text == "ok"


@pytest.mark.servers
def test_big_cases_keep_memory_bounded(server: Server) -> None:
    """The large cases three times over: the serving process's RSS grows by less than
    RSS_GROWTH_LIMIT_KIB (its first round is the warm-up)."""
    big = [(path, case) for path, case in (param.values for param in EXPANDED) if case.big]
    assert len(big) >= 20
    with server.client() as client:
        pid = client.get("/pid").json()["pid"]

    def round_of_abuse() -> None:
        for path, case in big:
            status, body = post_raw(server, path, case)
            check(status, body, case, path)

    round_of_abuse()
    before = rss_kib(pid)
    round_of_abuse()
    round_of_abuse()
    after = rss_kib(pid)
    assert after - before < RSS_GROWTH_LIMIT_KIB, (before, after)
    with server.client() as client:
        assert client.get("/pid").json()["pid"] == pid  # the same process, still answering


@pytest.mark.servers
def test_content_length_shorter_than_the_body_on_a_real_server(server: Server) -> None:
    """The server reads the declared bytes; the rest is not a request: 400 or a close."""
    request = (
        f"POST /body HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: 3\r\n\r\n0123456789"
    ).encode()
    data = raw_exchange(server, request, shut_write=True)
    # gunicorn answers the request (3 bytes of body), then drops "3456789",
    # which is not HTTP; uvicorn's parser sees the whole packet and refuses
    # it all with its own 400.
    if server.name == "uvicorn":
        assert data.startswith(b"HTTP/1.1 400 "), data
    else:
        assert data.startswith(b"HTTP/1.1 200 "), data
        assert b'{"size":3}' in data
    assert b" 500 " not in data
    with server.client() as client:
        assert client.get("/").text == "ok"


@pytest.mark.servers
def test_content_length_longer_than_the_body_on_a_real_server(server: Server) -> None:
    """The client stops sending and leaves: the handler's read ends, nothing is logged."""
    request = (
        f"POST /body HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: 100\r\n\r\n0123456789"
    ).encode()
    data = raw_exchange(server, request, shut_write=True)
    assert b" 500 " not in data, data
    assert b" 200 " not in data, data
    with server.client() as client:
        assert client.get("/").text == "ok"


@pytest.mark.servers
@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/ajson", b'{"a": [1, 2]}', 200),
        ("/json", b"[" * 100_000, 400),
        ("/abody", b"x" * (2 * MiB), 413),
    ],
    ids=["small-json", "json-bomb", "over-max-body-size"],
)
def test_chunked_body_on_a_real_server(
    server: Server, path: str, body: bytes, status: int
) -> None:
    encoded = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks(body))
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: {JSON}\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    ).encode()
    data = raw_exchange(server, request + encoded + b"0\r\n\r\n")
    response = parse_response(data)
    assert response.status == status, data[:300]
    assert_no_leak(response.body)
    with server.client() as client:
        assert client.get("/").text == "ok"


def test_big_bodies_fit_the_big_routes() -> None:
    """The /big-* routes' limit leaves room for the count limits to be what stops them."""
    assert len(fields(100_000)) < BIG_BODY
    assert len(files(10_000)) < BIG_BODY
