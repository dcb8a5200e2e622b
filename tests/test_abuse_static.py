"""Hostile input, files half: path traversal on static files and FileResponse,
and Range header abuse.

Under both interfaces (``make_client``) and, as raw bytes on a socket,
against real uvicorn and gunicorn (sync) processes. httpx removes literal
``.`` and ``..`` segments before sending, so those go over the socket only;
in-process, their percent-encoded forms (``%2e%2e``) reach the app decoded
the same way a server decodes the literal ones.

Symbolic links (documented in docs/files.md): ``StaticFiles`` resolves the
real path and serves a link only when its target is inside the directory
(relative or absolute link alike); ``follow_symlinks=True`` lifts that.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from abusekit import (
    RawResponse,
    assert_no_leak,
    assert_still_answering,
    raw_request,
    rss_kib,
    worker_pid,
)
from server_apps.abuse_http_app import build_app
from serverkit import Server, Servers

from dualweb import App
from dualweb.files import MAX_RANGE_HEADER_LENGTH, MAX_RANGES

SERVER_NAMES = ["uvicorn", "gunicorn-sync"]
SERVER_APP = "tests.server_apps.abuse_http_app:app"
DATA = bytes(range(256)) * 4
SIZE = len(DATA)
SECRET = b"outside the static directory\n"
NOTES = b"notes\n"


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """root/secret.txt, and root/public/ to serve, with links in and out."""
    root = tmp_path_factory.mktemp("abuse-static")
    (root / "secret.txt").write_bytes(SECRET)
    public = root / "public"
    public.mkdir()
    (public / "data.bin").write_bytes(DATA)
    (public / "sub").mkdir()
    (public / "sub" / "notes.txt").write_bytes(NOTES)
    (public / "%2e%2e").write_bytes(b"literally named %2e%2e")
    (public / "link-in.bin").symlink_to("data.bin")
    (public / "link-in-abs.bin").symlink_to(public / "data.bin")
    (public / "link-out.txt").symlink_to(Path("..") / "secret.txt")
    (public / "link-out-abs.txt").symlink_to(root / "secret.txt")
    (public / "link-dir-out").symlink_to(root)
    (public / "link-loop").symlink_to("link-loop")
    os.mkfifo(public / "fifo")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DUALWEB_ABUSE_STATIC", str(public))
        yield public


@pytest.fixture(scope="module")
def app(tree: Path) -> App:
    return build_app(str(tree))


@pytest.fixture(params=SERVER_NAMES)
def server(request: pytest.FixtureRequest, servers: Servers, tree: Path) -> Server:
    return servers.get(request.param, SERVER_APP)


# -- the cases ---------------------------------------------------------------------------

#: (target, status, body of a 200)
TRAVERSAL = [
    pytest.param("/static/%2e%2e/secret.txt", 404, None, id="escaped-dotdot"),
    pytest.param("/static/%2E%2E/secret.txt", 404, None, id="escaped-dotdot-upper"),
    pytest.param("/static/.%2e/secret.txt", 404, None, id="half-escaped-dotdot"),
    pytest.param("/static/..%2fsecret.txt", 404, None, id="escaped-slash"),
    pytest.param("/static/sub/..%2f..%2fsecret.txt", 404, None, id="escaped-slash-twice"),
    pytest.param("/static/%2e%2e%2f%2e%2e%2fsecret.txt", 404, None, id="all-escaped"),
    pytest.param("/static/%252e%252e/secret.txt", 404, None, id="double-escaped"),
    pytest.param(
        "/static/%252e%252e", 200, b"literally named %2e%2e", id="double-escaped-is-a-name"
    ),
    pytest.param("/static/..\\secret.txt", 404, None, id="backslash"),
    pytest.param("/static/%5c..%5csecret.txt", 404, None, id="escaped-backslash"),
    pytest.param("/static/sub%5cnotes.txt", 404, None, id="backslash-inside"),
    pytest.param("/static/%00", 404, None, id="nul"),
    pytest.param("/static/data.bin%00.txt", 404, None, id="nul-suffix"),
    pytest.param("/static//etc/passwd", 404, None, id="absolute"),
    pytest.param("/static/%2fetc%2fpasswd", 404, None, id="escaped-absolute"),
    pytest.param("/static/C:%5cWindows%5cwin.ini", 404, None, id="drive-letter"),
    pytest.param("/static/%c0%ae%c0%ae/secret.txt", 404, None, id="overlong-dotdot"),
    pytest.param("/static/%ef%bc%8e%ef%bc%8e/secret.txt", 404, None, id="fullwidth-dots"),
    pytest.param("/static/%ff%fe", 404, None, id="invalid-utf8"),
    pytest.param("/static/" + "a/" * 2000 + "x", 404, None, id="deep-path"),
    pytest.param("/static/" + "x" * 3000, 404, None, id="long-name"),
    pytest.param("/static/link-out.txt", 404, None, id="symlink-out"),
    pytest.param("/static/link-out-abs.txt", 404, None, id="symlink-out-absolute"),
    pytest.param("/static/link-dir-out/secret.txt", 404, None, id="symlink-dir-out"),
    pytest.param("/static/link-loop", 404, None, id="symlink-loop"),
    pytest.param("/static/link-in.bin", 200, DATA, id="symlink-in"),
    pytest.param("/static/link-in-abs.bin", 200, DATA, id="symlink-in-absolute"),
    pytest.param("/static/fifo", 404, None, id="fifo"),
    pytest.param("/static/sub", 404, None, id="directory-without-index"),
    pytest.param("/static/data.bin/", 404, None, id="file-as-directory"),
    pytest.param("/static/data.bin?x=../../secret.txt", 200, DATA, id="query-ignored"),
    # FileResponse with a name from the client, resolved by StaticFiles first.
    pytest.param("/file?name=../secret.txt", 404, None, id="resolved-dotdot"),
    pytest.param("/file?name=/etc/passwd", 404, None, id="resolved-absolute"),
    pytest.param("/file?name=link-out.txt", 404, None, id="resolved-symlink-out"),
    pytest.param("/file?name=sub/notes.txt", 200, NOTES, id="resolved-inside"),
    # FileResponse with the name joined as it comes: nothing that is no
    # regular file is served, and nothing is a 500.
    pytest.param("/file-unchecked?name=%00", 404, None, id="unchecked-nul"),
    pytest.param("/file-unchecked?name=sub", 404, None, id="unchecked-directory"),
    pytest.param("/file-unchecked?name=fifo", 404, None, id="unchecked-fifo"),
    pytest.param("/file-unchecked?name=missing", 404, None, id="unchecked-missing"),
    pytest.param("/file-unchecked?name=link-loop", 404, None, id="unchecked-symlink-loop"),
    pytest.param("/file-unchecked?name=" + "x" * 5000, 404, None, id="unchecked-name-too-long"),
    pytest.param("/file-unchecked?name=data.bin/x", 404, None, id="unchecked-not-a-directory"),
]

#: Literal dot segments and other targets httpx would rewrite: servers only.
RAW_TRAVERSAL = [
    pytest.param(b"/static/../secret.txt", id="dotdot"),
    pytest.param(b"/static/sub/../../secret.txt", id="dotdot-twice"),
    pytest.param(b"/static/./../secret.txt", id="dot-dotdot"),
    pytest.param(b"/static/..", id="dotdot-alone"),
    pytest.param(b"/static/...", id="three-dots"),
    pytest.param(b"/static/../../../../../../etc/passwd", id="dotdot-etc-passwd"),
    pytest.param(b"/../../secret.txt", id="dotdot-root"),
    pytest.param(b"http://127.0.0.1/static/../secret.txt", id="absolute-form"),
]

# Ranges over the 1024-byte file. 16 disjoint ranges is MAX_RANGES.
DISJOINT_16 = "bytes=" + ",".join(f"{n * 10}-{n * 10}" for n in range(MAX_RANGES))
DISJOINT_17 = "bytes=" + ",".join(f"{n * 10}-{n * 10}" for n in range(MAX_RANGES + 1))
FITTING_1024 = "bytes=" + ",".join(["0-5"] * ((MAX_RANGE_HEADER_LENGTH - 6) // 4))
SMALL_MANY = "bytes=" + ",".join(f"{n * 2}-{n * 2}" for n in range(120))

#: (Range header, status, what the body must be: "all", (start, stop), or a number of parts)
RANGES = [
    pytest.param("bytes=" + ",".join(["0-0"] * 2000), 200, "all", id="2000-ranges-too-long"),
    pytest.param(SMALL_MANY, 200, "all", id="120-disjoint-ranges"),
    pytest.param(DISJOINT_17, 200, "all", id="17-disjoint-ranges"),
    pytest.param(DISJOINT_16, 206, MAX_RANGES, id="16-disjoint-ranges"),
    pytest.param(FITTING_1024, 206, (0, 6), id="254-overlapping-ranges"),
    pytest.param(FITTING_1024 + ",0-5", 200, "all", id="header-over-1024"),
    pytest.param("bytes=0-10,5-20,15-30", 206, (0, 31), id="overlapping-chain"),
    pytest.param("bytes=0-9,10-19", 206, (0, 20), id="adjacent"),
    pytest.param("bytes=500-600,0-10", 206, 2, id="out-of-order"),
    pytest.param("bytes=-5", 206, (SIZE - 5, SIZE), id="suffix"),
    pytest.param("bytes=-0", 416, None, id="suffix-zero"),
    pytest.param("bytes=--5", 200, "all", id="double-negative"),
    pytest.param("bytes=-5--1", 200, "all", id="negative-range"),
    pytest.param("bytes=10-5", 200, "all", id="reversed"),
    pytest.param("bytes=0-5,10-5", 200, "all", id="one-reversed"),
    pytest.param(f"bytes={SIZE}-", 416, None, id="at-the-end"),
    pytest.param(f"bytes={SIZE - 1}-", 206, (SIZE - 1, SIZE), id="last-byte"),
    pytest.param("bytes=99999999999999999999-", 416, None, id="huge-start"),
    pytest.param("bytes=0-" + "9" * 1000, 206, (0, SIZE), id="1000-digit-end"),
    pytest.param("bytes=" + "9" * 1000 + "-", 416, None, id="1000-digit-start"),
    pytest.param("bytes=-" + "9" * 1000, 206, (0, SIZE), id="1000-digit-suffix"),
    pytest.param("bytes=2000-3000,4000-", 416, None, id="all-beyond"),
    pytest.param("bytes=2000-3000,0-1", 206, (0, 2), id="some-beyond"),
    pytest.param("bytes=", 200, "all", id="empty-set"),
    pytest.param("bytes=,,,", 200, "all", id="only-commas"),
    pytest.param("bytes=,,0-1,,", 206, (0, 2), id="empty-elements"),
    pytest.param("bytes", 200, "all", id="no-equals"),
    pytest.param("=0-1", 200, "all", id="no-unit"),
    pytest.param("lines=0-1", 200, "all", id="other-unit"),
    pytest.param("bytes=abc", 200, "all", id="letters"),
    pytest.param("bytes=0x10-0x20", 200, "all", id="hex"),
    pytest.param("bytes=1e3-", 200, "all", id="exponent"),
    pytest.param("bytes=+1-2", 200, "all", id="plus-sign"),
    pytest.param("bytes=0-1;2-3", 200, "all", id="semicolon"),
    pytest.param("bytes=0-1-2", 200, "all", id="two-dashes"),
    pytest.param("bytes=\u0661-\u0662", 200, "all", id="arabic-indic-digits"),
    pytest.param("bytes=\xb2-\xb3", 200, "all", id="superscript-digits"),
    pytest.param("BYTES = 0-1", 206, (0, 2), id="case-and-spaces"),
]


# -- checks --------------------------------------------------------------------------------


def check_range_body(status: int, body: bytes, content_range: str | None, expect: object) -> None:
    if status == 416:
        assert content_range == f"bytes */{SIZE}"
        return
    if expect == "all":
        assert body == DATA
        assert content_range is None
    elif isinstance(expect, tuple):
        start, stop = expect
        assert body == DATA[start:stop]
        assert content_range == f"bytes {start}-{stop - 1}/{SIZE}"
    else:
        # multipart/byteranges: the number of parts, never more than MAX_RANGES.
        parts = re.findall(rb"Content-Range: bytes (\d+)-(\d+)/" + str(SIZE).encode(), body)
        assert len(parts) == expect
        assert len(body) < SIZE + 200 * MAX_RANGES


def range_header_bytes(header: str) -> bytes:
    return (
        header.encode("latin-1") if header.isascii() or max(header) < "\u0100" else header.encode()
    )


# -- under both interfaces ----------------------------------------------------------------


@pytest.mark.parametrize(("target", "status", "body"), TRAVERSAL)
def test_traversal(make_client, app, target, status, body):
    client = make_client(app, follow_redirects=False)
    for method in ("GET", "HEAD"):
        response = client.request(method, target)
        assert response.status_code == status
        assert SECRET not in response.content
        if status == 200 and method == "GET":
            assert response.content == body
        if status >= 400:
            assert_no_leak(response.content)
    assert client.get("/").text == "ok"


@pytest.mark.parametrize(("header", "status", "expect"), RANGES)
def test_range_abuse(make_client, app, header, status, expect):
    client = make_client(app)
    value = range_header_bytes(header)
    response = client.get("/static/data.bin", headers={"range": value})
    assert response.status_code == status
    check_range_body(status, response.content, response.headers.get("content-range"), expect)
    if status >= 400:
        assert_no_leak(response.content)
    # HEAD gets the same status, and no body however many ranges.
    head = client.head("/static/data.bin", headers={"range": value})
    assert (head.status_code, head.content) == (status, b"")
    assert client.get("/").text == "ok"


def test_symlinks_are_followed_only_inside(tree):
    from dualweb.staticfiles import StaticFiles

    confined = StaticFiles(tree)
    assert confined.resolve("link-in.bin") == str(tree / "data.bin")
    assert confined.resolve("link-out.txt") is None
    assert confined.resolve("link-dir-out/secret.txt") is None
    opened = StaticFiles(tree, follow_symlinks=True)
    assert opened.resolve("link-out.txt") == str(tree.parent / "secret.txt")
    # follow_symlinks never lets ".." through.
    assert opened.resolve("../secret.txt") is None


# -- against real servers -------------------------------------------------------------


def get_raw(
    server: Server, target: str | bytes, headers: list[tuple[bytes, bytes]]
) -> RawResponse:
    raw = target if isinstance(target, bytes) else target.encode("ascii")
    return raw_request(server, raw, headers)


#: gunicorn's limit_request_line: a longer request line is its 414.
GUNICORN_MAX_LINE = 4094


@pytest.mark.servers
@pytest.mark.parametrize(("target", "status", "body"), TRAVERSAL)
def test_traversal_on_servers(server, target, status, body):
    if server.name.startswith("gunicorn") and len(f"GET {target} HTTP/1.1") > GUNICORN_MAX_LINE:
        status = 414
    response = get_raw(server, target, [])
    assert response.status == status, server.describe()
    assert SECRET not in response.body
    if status == 200:
        assert response.body == body
    else:
        assert_no_leak(response.body)
    assert_still_answering(server)


@pytest.mark.servers
@pytest.mark.parametrize("target", RAW_TRAVERSAL)
def test_raw_traversal_on_servers(server, target):
    # Neither server normalises the path: dualweb sees the ".." and refuses it.
    response = raw_request(server, target)
    assert response.status == 404, server.describe()
    assert SECRET not in response.body
    assert_no_leak(response.body)
    assert_still_answering(server)


@pytest.mark.servers
@pytest.mark.parametrize(("header", "status", "expect"), RANGES)
def test_range_abuse_on_servers(server, header, status, expect):
    value = range_header_bytes(header)
    response = raw_request(server, b"/static/data.bin", [(b"Range", value)])
    assert response.status == status, server.describe()
    check_range_body(status, response.body, response.header("content-range"), expect)
    if status >= 400:
        assert_no_leak(response.body)
    assert_still_answering(server)


@pytest.mark.servers
def test_memory_stays_bounded(server):
    pid = worker_pid(server)
    before = rss_kib(pid)
    for _ in range(10):
        for case in TRAVERSAL:
            get_raw(server, case.values[0], [])
        for case in RAW_TRAVERSAL:
            raw_request(server, case.values[0])
        for case in RANGES:
            raw_request(
                server, b"/static/data.bin", [(b"Range", range_header_bytes(case.values[0]))]
            )
    assert rss_kib(pid) - before < 50 * 1024
    assert_still_answering(server)
