"""Security defaults: what an App does before anyone configures it.

Session cookies are HttpOnly and SameSite=Lax, Secure only when asked; a 500
never shows the exception unless ``debug=True``; forwarded headers and the Host
header are taken at face value only through the opt-in middleware. SECURITY.md
lists every limit with its default: checked against the code here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dualweb import App, Middleware, SessionMiddleware, WebSocket, WebSocketDisconnect
from dualweb._bridge import DEFAULT_THREAD_POOL_SIZE
from dualweb._multipart import MAX_PART_HEADERS
from dualweb.files import MAX_RANGE_HEADER_LENGTH, MAX_RANGES
from dualweb.limits import DEFAULT_LIMITS
from dualweb.middleware import ProxyHeadersMiddleware, TrustedHostMiddleware
from dualweb.sessions import MAX_COOKIE_SIZE, MIN_SECRET_SIZE

ROOT = Path(__file__).resolve().parent.parent
SECRET = "s" * 32
SECRET_DETAIL = "password=hunter2 in /srv/app/secrets.py"
# What a 500 body must never show: the traceback, file paths, the exception's
# class or message.
LEAKS = ("Traceback", "/dualweb/", ".py", "RuntimeError", "hunter2", 'File "')


# -- session cookies ------------------------------------------------------------------------


def session_app(**options: object) -> App:
    app = App()
    app.add_middleware(SessionMiddleware(SECRET, **options))  # type: ignore[arg-type]

    @app.post("/login")
    def login(request):
        request.session["user"] = "ada"
        return "in"

    @app.post("/logout")
    async def logout(request):
        request.session.clear()
        return "out"

    return app


def cookie_attributes(response) -> tuple[str, set[str]]:
    """The session's Set-Cookie header: its value, and its attributes lower-cased."""
    (header,) = response.headers.get_list("set-cookie")
    value, *attributes = (part.strip() for part in header.split(";"))
    return value, {attribute.lower() for attribute in attributes}


def test_session_cookie_is_httponly_and_samesite_lax_by_default(make_client):
    client = make_client(session_app())
    value, attributes = cookie_attributes(client.post("/login"))
    assert value.startswith("session=")
    assert {"httponly", "samesite=lax", "path=/"} <= attributes
    # Not Secure by default: a session over plain http (development) must work.
    assert "secure" not in attributes


def test_the_cookie_that_ends_a_session_has_the_same_flags(make_client):
    client = make_client(session_app())
    client.post("/login")
    value, attributes = cookie_attributes(client.post("/logout"))
    assert value == 'session=""' or value == "session="
    assert {"httponly", "samesite=lax", "max-age=0"} <= attributes


def test_secure_is_configurable(make_client):
    client = make_client(session_app(secure=True), base_url="https://testserver")
    _, attributes = cookie_attributes(client.post("/login"))
    assert {"secure", "httponly", "samesite=lax"} <= attributes


def test_a_short_secret_key_is_refused():
    with pytest.raises(ValueError, match="secret key too short"):
        SessionMiddleware("s" * (MIN_SECRET_SIZE - 1))


# -- no debug output unless debug=True --------------------------------------------------------


class Failing(Middleware):
    def before_request(self, request):
        if request.path == "/middleware":
            raise RuntimeError(SECRET_DETAIL)


def crashing_app(**options: object) -> App:
    app = App(**options)  # type: ignore[arg-type]
    app.add_middleware(Failing())

    @app.get("/sync")
    def sync(request):
        raise RuntimeError(SECRET_DETAIL)

    @app.get("/async")
    async def asynchronous(request):
        raise RuntimeError(SECRET_DETAIL)

    @app.get("/middleware")
    def through_middleware(request):
        return "never reached"

    @app.get("/handler-fails")
    def handled(request):
        raise KeyError("first")

    @app.errorhandler(KeyError)
    def broken_handler(request, exc):
        raise RuntimeError(SECRET_DETAIL)

    @app.websocket("/ws")
    async def socket(ws: WebSocket):
        await ws.accept()
        await ws.receive_text()
        raise RuntimeError(SECRET_DETAIL)

    return app


def test_debug_is_off_by_default():
    assert App().debug is False


@pytest.mark.parametrize("path", ["/sync", "/async", "/middleware", "/handler-fails"])
@pytest.mark.parametrize("accept", ["text/html", "*/*"])
def test_a_500_shows_nothing_of_the_exception_by_default(make_client, path, accept):
    response = make_client(crashing_app()).get(path, headers={"accept": accept})
    assert response.status_code == 500
    assert response.text == "Internal Server Error"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    for leak in LEAKS:
        assert leak not in response.text
        assert all(leak not in value for value in response.headers.values())


def test_debug_true_is_what_shows_the_traceback(make_client):
    # The same app with debug=True: the opposite, so the test above can fail.
    response = make_client(crashing_app(debug=True)).get("/sync", headers={"accept": "*/*"})
    assert response.status_code == 500
    assert "Traceback" in response.text
    assert "hunter2" in response.text


def test_a_crashing_websocket_handler_closes_with_1011_and_no_detail(asgi_client):
    with asgi_client(crashing_app()).websocket_connect("/ws") as ws:
        ws.send_text("go")
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
    assert closed.value.code == 1011
    assert closed.value.reason == ""


# -- forwarded headers and Host: opt-in ------------------------------------------------------

FORWARDED = {
    "X-Forwarded-For": "203.0.113.7",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "evil.example",
    "Forwarded": 'for=203.0.113.8;proto=https;host="evil.example"',
}


def where_app(*middleware: Middleware) -> App:
    app = App()
    for item in middleware:
        app.add_middleware(item)

    @app.get("/where", name="where")
    def where(request):
        return {
            "client": request.client.host if request.client else None,
            "scheme": request.scheme,
            "host": request.host,
            "url": request.url,
            "url_for": request.url_for("where"),
        }

    return app


def test_a_default_app_ignores_forwarded_headers(make_client):
    data = make_client(where_app()).get("/where", headers=FORWARDED).json()
    assert data == {
        "client": "127.0.0.1",
        "scheme": "http",
        "host": "testserver",
        "url": "http://testserver/where",
        "url_for": "http://testserver/where",
    }


def test_forwarded_headers_apply_only_with_the_middleware(make_client):
    # The contrast: the same request through ProxyHeadersMiddleware (the test
    # client's peer, 127.0.0.1, is its default trusted proxy).
    data = make_client(where_app(ProxyHeadersMiddleware())).get("/where", headers=FORWARDED)
    assert data.json()["client"] == "203.0.113.7"
    assert data.json()["url"] == "https://evil.example/where"


def test_the_host_is_checked_only_with_trusted_host_middleware(make_client):
    headers = {"host": "evil.example"}
    assert make_client(where_app()).get("/where", headers=headers).json()["host"] == (
        "evil.example"
    )
    guarded = make_client(where_app(TrustedHostMiddleware(["shop.example.com"])))
    response = guarded.get("/where", headers=headers)
    assert (response.status_code, response.text) == (400, "Invalid host header")


# -- SECURITY.md states every limit with its default -----------------------------------------


def documented_defaults() -> dict[str, str]:
    """SECURITY.md's limit table: ``| `name` | default | ... |`` rows."""
    text = (ROOT / "SECURITY.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([\w.]+)` \| ([^|]+?) \|", text, flags=re.MULTILINE)
    return dict(rows)


def shown(value: int | None) -> str:
    if value is None:
        return "no limit"
    for unit, size in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if value >= size and value % size == 0:
            return f"{value // size} {unit}"
    return f"{value:,}"


def test_security_md_lists_every_limit_with_its_default():
    documented = documented_defaults()
    app = App()
    expected = {name: shown(value) for name, value in DEFAULT_LIMITS.items()}
    expected |= {
        "spool_threshold": shown(app.spool_threshold),
        "thread_pool_size": str(DEFAULT_THREAD_POOL_SIZE),
        "MAX_PART_HEADERS": str(MAX_PART_HEADERS),
        "MAX_RANGES": str(MAX_RANGES),
        "MAX_RANGE_HEADER_LENGTH": f"{MAX_RANGE_HEADER_LENGTH:,} bytes",
        "MAX_COOKIE_SIZE": f"{MAX_COOKIE_SIZE:,} bytes",
        "MIN_SECRET_SIZE": f"{MIN_SECRET_SIZE} bytes",
    }
    for name, value in expected.items():
        assert documented.get(name) == value, name
    for name in DEFAULT_LIMITS:
        assert getattr(app, name) == DEFAULT_LIMITS[name]
