from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
from blockbuster import blockbuster_ctx
from rawwsgi import http_environ, run_wsgi

from dualweb import App, PlainTextResponse
from dualweb.staticfiles import StaticFiles

CSS = b"body { color: red }\n"
INDEX = b"<h1>home</h1>\n"
SECRET = b"outside the static directory\n"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """root/outside.txt, and root/public/ to serve, with links in and out."""
    root = tmp_path_factory.mktemp("site")
    (root / "outside.txt").write_bytes(SECRET)
    (root / "outside-dir").mkdir()
    (root / "outside-dir" / "index.html").write_bytes(SECRET)
    public = root / "public"
    public.mkdir()
    (public / "index.html").write_bytes(INDEX)
    (public / "style.css").write_bytes(CSS)
    (public / "with space.txt").write_bytes(b"spaced")
    (public / "%2e%2e").write_bytes(b"a file named %2e%2e")
    (public / "sub").mkdir()
    (public / "sub" / "index.html").write_bytes(b"<p>sub</p>")
    (public / "sub" / "notes.txt").write_bytes(b"notes")
    (public / "empty-dir").mkdir()
    (public / "link-in.css").symlink_to(public / "style.css")
    (public / "link-sub").symlink_to(public / "sub")
    (public / "link-out.txt").symlink_to(root / "outside.txt")
    (public / "link-relative-out.txt").symlink_to(Path("..") / "outside.txt")
    (public / "link-dir-out").symlink_to(root)
    (public / "trap").mkdir()
    (public / "trap" / "index.html").symlink_to(root / "outside.txt")
    (public / "link-outside-dir").symlink_to(root / "outside-dir")
    os.mkfifo(public / "fifo")
    return root


def static_app(site: Path, **options: Any) -> App:
    app = App()
    app.static("/static", site / "public", **options)
    return app


# Paths (already percent-decoded, as servers hand them over) that must never
# reach a file outside public/, nor a 500.
HOSTILE = [
    "../outside.txt",
    "..",
    "../",
    "sub/../../outside.txt",
    "sub/../style.css",
    "./style.css",
    "sub/./notes.txt",
    "/etc/passwd",
    "//etc/passwd",
    "sub//notes.txt",
    "..\\outside.txt",
    "sub\\..\\..\\outside.txt",
    "\\etc\\passwd",
    "style.css\x00.txt",
    "\x00",
    "C:/Windows/win.ini",
    "C:\\Windows\\win.ini",
    "%2e%2e/outside.txt",
    "%252e%252e/outside.txt",
    "link-out.txt",
    "link-relative-out.txt",
    "link-dir-out/outside.txt",
    "link-outside-dir/",
    "link-outside-dir",
    "trap/",
    "fifo",
    "empty-dir/",
    "empty-dir",
    "style.css/",
    "missing.txt",
    "\udcff.txt",
    "x" * 5000,
    "/".join(["a"] * 2000),
    "...",
    "sub/...",
]


# -- resolving paths, directly -------------------------------------------------------------


def test_resolve_serves_what_is_inside(site):
    static = StaticFiles(site / "public")
    public = os.path.realpath(site / "public")
    assert static.directory == public
    assert static.resolve("style.css") == os.path.join(public, "style.css")
    assert static.resolve("") == os.path.join(public, "index.html")
    assert static.resolve("sub/") == os.path.join(public, "sub", "index.html")
    assert static.resolve("with space.txt") == os.path.join(public, "with space.txt")
    # Links that stay inside are followed, to their real path.
    assert static.resolve("link-in.css") == os.path.join(public, "style.css")
    assert static.resolve("link-sub/notes.txt") == os.path.join(public, "sub", "notes.txt")
    assert static.resolve("%2e%2e") == os.path.join(public, "%2e%2e")
    # A way out and back in is still inside.
    assert static.resolve("link-dir-out/public/style.css") == os.path.join(public, "style.css")
    # A directory is only a directory with its slash.
    assert static.resolve("sub") is None


@pytest.mark.parametrize("path", HOSTILE, ids=lambda path: repr(path)[:30])
def test_resolve_refuses_hostile_paths(site, path):
    assert StaticFiles(site / "public").resolve(path) is None


def test_follow_symlinks_serves_links_leading_out(site):
    static = StaticFiles(site / "public", follow_symlinks=True)
    outside = os.path.realpath(site / "outside.txt")
    assert static.resolve("link-out.txt") == outside
    assert static.resolve("link-dir-out/outside.txt") == outside
    assert static.resolve("trap/") == outside
    # Still never by ".." or an absolute path.
    assert static.resolve("../outside.txt") is None
    assert static.resolve("/etc/passwd") is None
    assert static.resolve("link-dir-out/../outside.txt") is None


def test_no_index(site):
    static = StaticFiles(site / "public", index=None)
    assert static.resolve("") is None
    assert static.resolve("sub/") is None
    assert static.resolve("style.css") is not None


def test_directory_must_exist(site):
    with pytest.raises(ValueError, match="not a directory"):
        StaticFiles(site / "nowhere")
    with pytest.raises(ValueError, match="not a directory"):
        StaticFiles(site / "outside.txt")
    assert StaticFiles(site / "nowhere", check_dir=False).resolve("a.txt") is None


def test_hostile_paths_property(site):
    hypothesis = pytest.importorskip("hypothesis")
    strategies = hypothesis.strategies
    pieces = [
        "..",
        ".",
        "",
        "sub",
        "style.css",
        "outside.txt",
        "public",
        "link-out.txt",
        "link-dir-out",
        "link-sub",
        "trap",
        "%2e%2e",
        "..\\",
        "\\",
        "\x00",
        "C:",
        "\udcff",
    ]
    paths = strategies.one_of(
        strategies.lists(strategies.sampled_from(pieces), max_size=8).map("/".join),
        strategies.text(alphabet="./\\%2e\x00:aé\udcff~ ", max_size=30),
    )
    static = StaticFiles(site / "public")
    inside = os.path.join(static.directory, "")

    @hypothesis.settings(max_examples=500, deadline=None, database=None)
    @hypothesis.given(paths)
    def check(path: str) -> None:
        found = static.resolve(path)
        if found is not None:
            assert found.startswith(inside)
            assert os.path.isfile(found)
            assert ".." not in path.split("/")

    check()


# -- over HTTP, through the test client (both interfaces) -----------------------------------


def test_serves_files_with_their_types(make_client, site):
    client = make_client(static_app(site))
    response = client.get("/static/style.css")
    assert response.status_code == 200
    assert response.content == CSS
    assert response.headers["content-type"] == "text/css; charset=utf-8"
    assert response.headers["content-length"] == str(len(CSS))
    assert "etag" in response.headers
    assert client.get("/static/with%20space.txt").content == b"spaced"
    assert client.get("/static/sub/notes.txt").content == b"notes"
    assert client.get("/static/link-in.css").content == CSS
    head = client.head("/static/style.css")
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["content-length"] == str(len(CSS))
    assert client.post("/static/style.css").status_code == 405


def test_index_and_the_redirect_to_the_slash(make_client, site):
    client = make_client(static_app(site), follow_redirects=False)
    response = client.get("/static/")
    assert (response.status_code, response.content) == (200, INDEX)
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert client.get("/static/sub/").content == b"<p>sub</p>"
    response = client.get("/static/sub?v=1")
    assert response.status_code == 308
    assert response.headers["location"] == "/static/sub/?v=1"
    response = client.get("/static/link-sub")
    assert response.headers["location"] == "/static/link-sub/"
    # The prefix alone goes to its slash through the router.
    assert client.get("/static").headers["location"] == "/static/"
    # No index file, no listing, no redirect.
    assert client.get("/static/empty-dir").status_code == 404
    assert client.get("/static/empty-dir/").status_code == 404


def test_without_index_directories_are_404(make_client, site):
    client = make_client(static_app(site, index=None), follow_redirects=False)
    assert client.get("/static/").status_code == 404
    assert client.get("/static/sub").status_code == 404
    assert client.get("/static/sub/").status_code == 404


@pytest.mark.parametrize(
    "url",
    [
        "/static/%2e%2e/outside.txt",
        "/static/%2E%2E/outside.txt",
        "/static/..%2foutside.txt",
        "/static/..%2Foutside.txt",
        "/static/sub/..%2f..%2foutside.txt",
        "/static/%2e%2e%2f%2e%2e%2foutside.txt",
        "/static/%2e%2e%5coutside.txt",
        "/static/..%5c..%5coutside.txt",
        "/static/%252e%252e/outside.txt",
        "/static/%252e%252e%252foutside.txt",
        "/static/%00",
        "/static/style.css%00.txt",
        "/static//etc/passwd",
        "/static/%2fetc%2fpasswd",
        "/static/C:%5cWindows%5cwin.ini",
        "/static/link-out.txt",
        "/static/link-dir-out/outside.txt",
        "/static/trap/",
        "/static/link-outside-dir/",
        "/static/fifo",
        "/static/%ff%fe",
        "/static/%c0%ae%c0%ae/outside.txt",  # overlong UTF-8 for ".."
    ],
)
def test_traversal_attempts_are_404(make_client, site, url):
    client = make_client(static_app(site), follow_redirects=False)
    response = client.get(url)
    assert response.status_code == 404
    assert SECRET not in response.content
    assert client.head(url).status_code == 404


def test_percent_escapes_are_decoded_once(make_client, site):
    # %25 is "%": the file served is the one literally named "%2e%2e".
    response = make_client(static_app(site)).get("/static/%252e%252e")
    assert (response.status_code, response.content) == (200, b"a file named %2e%2e")


def test_follow_symlinks_over_http(make_client, site):
    client = make_client(static_app(site, follow_symlinks=True))
    assert client.get("/static/link-out.txt").content == SECRET
    assert client.get("/static/%2e%2e/outside.txt").status_code == 404


def test_conditional_and_range_requests(make_client, site):
    client = make_client(static_app(site))
    etag = client.get("/static/style.css").headers["etag"]
    assert client.get("/static/style.css", headers={"if-none-match": etag}).status_code == 304
    response = client.get("/static/style.css", headers={"range": "bytes=0-3"})
    assert (response.status_code, response.content) == (206, CSS[:4])
    assert response.headers["content-range"] == f"bytes 0-3/{len(CSS)}"


def test_error_handlers_see_static_404s(make_client, site):
    app = static_app(site)
    app.add_error_handler(404, lambda request, exc: PlainTextResponse("custom", 404))
    response = make_client(app).get("/static/missing.css")
    assert (response.status_code, response.text) == (404, "custom")


def test_url_path_for_and_a_route_by_hand(make_client, site):
    app = static_app(site)
    assert app.url_path_for("static", path="sub/notes.txt") == "/static/sub/notes.txt"
    assert app.url_path_for("static", path="with space.txt") == "/static/with%20space.txt"
    app.add_route("/files/{path:path}", StaticFiles(site / "public" / "sub"), name="files")
    app.static("/", site / "public", name="root")
    client = make_client(app)
    assert client.get("/files/notes.txt").content == b"notes"
    assert client.get("/style.css").content == CSS
    assert client.get("/").content == INDEX


# -- raw paths, as a server could hand them over (no client normalisation) ------------------


def raw_get(
    interface: str, app: App, path: str, root_path: str = "", query: str = ""
) -> tuple[int, dict[str, str], bytes]:
    if interface == "wsgi":
        return _raw_wsgi(app, path, root_path, query)
    with blockbuster_ctx():
        return asyncio.run(_raw_asgi(app, path, root_path, query))


def _raw_wsgi(
    app: App, path: str, root_path: str, query: str
) -> tuple[int, dict[str, str], bytes]:
    environ = http_environ(
        # PEP 3333: native strings holding the bytes as latin-1.
        path.encode("utf-8", "surrogateescape").decode("latin-1"),
        SCRIPT_NAME=root_path,
        QUERY_STRING=query,
        SERVER_NAME="test",
    )
    status, headers, body = run_wsgi(app, environ)
    return status, {k.lower(): v for k, v in headers}, body


async def _raw_asgi(
    app: App, path: str, root_path: str, query: str
) -> tuple[int, dict[str, str], bytes]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": root_path + path,
        "query_string": query.encode(),
        "root_path": root_path,
        "headers": [],
    }
    messages: list[dict[str, Any]] = []
    requests = [{"type": "http.request", "body": b""}]

    async def receive() -> dict[str, Any]:
        if requests:
            return requests.pop()
        await asyncio.Event().wait()  # the client never leaves
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    await app.asgi(scope, receive, send)
    headers = {k.decode(): v.decode() for k, v in messages[0]["headers"]}
    body = b"".join(m.get("body", b"") for m in messages[1:])
    return messages[0]["status"], headers, body


@pytest.mark.parametrize("path", HOSTILE, ids=lambda path: repr(path)[:30])
def test_raw_hostile_paths_are_404(interface, site, path):
    status, _, body = raw_get(interface, static_app(site), "/static/" + path)
    assert status in (404, 308)  # the router redirects a few slash variants
    assert SECRET not in body


def test_raw_paths_served(interface, site):
    app = static_app(site)
    assert raw_get(interface, app, "/static/style.css")[::2] == (200, CSS)
    assert raw_get(interface, app, "/static/sub/")[::2] == (200, b"<p>sub</p>")


def test_redirect_keeps_the_root_path_and_escapes_the_path(interface, site):
    (site / "public" / "dir %41é").mkdir(exist_ok=True)
    (site / "public" / "dir %41é" / "index.html").write_bytes(b"odd")
    app = static_app(site)
    status, headers, _ = raw_get(interface, app, "/static/sub", root_path="/mount", query="a=1")
    assert (status, headers["location"]) == (308, "/mount/static/sub/?a=1")
    status, headers, _ = raw_get(interface, app, "/static/dir %41é")
    assert (status, headers["location"]) == (308, "/static/dir%20%2541%C3%A9/")
    assert raw_get(interface, app, "/static/dir %41é/")[::2] == (200, b"odd")
