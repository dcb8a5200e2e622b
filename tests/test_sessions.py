"""Signed-cookie sessions: SessionMiddleware, SessionSigner and Session."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time

import pytest

from dualweb import App
from dualweb.sessions import (
    MAX_COOKIE_SIZE,
    Session,
    SessionCookieTooLarge,
    SessionMiddleware,
    SessionSigner,
)

SECRET = "s" * 32
OLD_SECRET = b"o" * 32


def session_app(**options) -> App:
    options.setdefault("secret_key", SECRET)
    app = App()
    app.add_middleware(SessionMiddleware(**options))

    @app.get("/")
    def show(request):
        return dict(request.session)

    @app.post("/set/{key}/{value}")
    def set_value(request, key, value):
        request.session[key] = value
        return dict(request.session)

    @app.post("/aset/{key}/{value}")
    async def aset_value(request, key, value):
        request.session[key] = value
        return dict(request.session)

    @app.post("/clear")
    def clear(request):
        request.session.clear()
        return "cleared"

    @app.post("/big")
    def big(request):
        request.session["blob"] = "x" * 5000
        return "too big"

    @app.post("/unserialisable")
    def unserialisable(request):
        request.session["when"] = object()
        return "no"

    return app


def session_cookie(response, name="session"):
    values = [v for v in response.headers.get_list("set-cookie") if v.startswith(f"{name}=")]
    assert len(values) == 1, values
    return values[0]


def test_session_round_trip_across_requests(make_client):
    client = make_client(session_app())
    assert client.get("/").json() == {}
    response = client.post("/set/user/ada")
    assert response.json() == {"user": "ada"}
    cookie = session_cookie(response)
    assert cookie.endswith("; Max-Age=1209600; Path=/; HttpOnly; SameSite=Lax")
    # The test client sends the cookie back, as a browser would.
    assert client.get("/").json() == {"user": "ada"}
    assert client.post("/aset/theme/dark").json() == {"user": "ada", "theme": "dark"}
    assert client.get("/").json() == {"user": "ada", "theme": "dark"}


def test_unmodified_session_sets_no_cookie(make_client):
    client = make_client(session_app())
    assert "set-cookie" not in client.get("/").headers
    client.post("/set/user/ada")
    assert "set-cookie" not in client.get("/").headers


def test_emptied_session_deletes_the_cookie(make_client):
    client = make_client(session_app())
    client.post("/set/user/ada")
    response = client.post("/clear")
    assert session_cookie(response).startswith("session=; Max-Age=0; Expires=Thu, 01 Jan 1970")
    assert client.get("/").json() == {}
    assert "session" not in client.cookies
    # Nothing to delete when no cookie came in.
    assert "set-cookie" not in client.post("/clear").headers


def test_session_cookie_is_readable_json_but_signed(make_client):
    client = make_client(session_app())
    value = session_cookie(client.post("/set/user/ada")).split(";")[0].partition("=")[2]
    payload, timestamp, signature = value.split(".")
    padded = payload + "=" * (-len(payload) % 4)
    assert json.loads(base64.urlsafe_b64decode(padded)) == {"user": "ada"}
    assert abs(int(timestamp) - time.time()) < 3600
    assert len(signature) == 43  # SHA-256, base64url without padding


def forged(value: str, **changes: str) -> str:
    payload, timestamp, signature = value.split(".")
    parts = {"payload": payload, "timestamp": timestamp, "signature": signature, **changes}
    return ".".join(parts[name] for name in ("payload", "timestamp", "signature"))


@pytest.mark.parametrize(
    "tamper",
    [
        lambda v: forged(v, payload=base64.urlsafe_b64encode(b'{"user":"root"}').decode()),
        lambda v: forged(v, timestamp=str(int(time.time()) + 100)),
        lambda v: forged(v, signature="A" * 43),
        lambda v: forged(v, signature=""),
        lambda v: v[:-1],
        lambda v: v[: len(v) // 2],
        lambda v: v + "x",
        lambda v: v.replace(".", "", 1),
        lambda v: "garbage",
        lambda v: "...",
        lambda v: "a.b.c.d",
        lambda v: v + "." + "A" * 5000,
        lambda v: "",
    ],
)
def test_tampered_cookies_give_an_empty_session(make_client, tamper):
    client = make_client(session_app())
    value = session_cookie(client.post("/set/user/ada")).split(";")[0].partition("=")[2]
    client.cookies.clear()
    client.cookies.set("session", tamper(value))
    response = client.get("/")
    assert (response.status_code, response.json()) == (200, {})


def test_garbage_cookie_headers_give_an_empty_session(make_client):
    client = make_client(session_app())
    valid = SessionSigner(SECRET).dumps({"user": "ada"}).encode()
    headers = [
        b"session",
        b"session=",
        b'session="',
        b"session=\xff\xfe",
        b"=;;session",
        b"session=\xc3\xa9" + valid,
        b"session=" + valid + b"\xe9",
        b'session="' + valid + b'"x',
    ]
    for header in headers:
        response = client.get("/", headers={"Cookie": header})
        assert (response.status_code, response.json()) == (200, {}), header
    response = client.get("/", headers={"Cookie": b"session=" + valid})
    assert response.json() == {"user": "ada"}
    # Quoting a cookie value is allowed (RFC 6265): the quotes are removed.
    response = client.get("/", headers={"Cookie": b'session="' + valid + b'"'})
    assert response.json() == {"user": "ada"}


def test_expiry_is_enforced_from_the_signed_time():
    signer = SessionSigner(SECRET, max_age=60)
    value = signer.dumps({"a": 1}, now=1000)
    assert signer.loads(value, now=1060) == {"a": 1}
    assert signer.loads(value, now=1061) is None
    # A browser-session cookie (max_age=None) has no server-side expiry.
    assert SessionSigner(SECRET).loads(value, now=10**9) == {"a": 1}


def test_expired_cookie_gives_an_empty_session(make_client):
    old = SessionSigner(SECRET).dumps({"user": "ada"}, now=time.time() - 3601)
    client = make_client(session_app(max_age=3600))
    client.cookies.set("session", old)
    assert client.get("/").json() == {}
    fresh = SessionSigner(SECRET).dumps({"user": "ada"}, now=time.time() - 60)
    client.cookies.set("session", fresh)
    assert client.get("/").json() == {"user": "ada"}


def test_secret_key_rotation(make_client):
    old_cookie = SessionSigner(OLD_SECRET).dumps({"user": "ada"})
    client = make_client(session_app(fallback_secret_keys=[OLD_SECRET]))
    client.cookies.set("session", old_cookie)
    assert client.get("/").json() == {"user": "ada"}
    # The next change re-signs with the current key.
    response = client.post("/set/theme/dark")
    new_cookie = session_cookie(response).split(";")[0].partition("=")[2]
    assert SessionSigner(SECRET).loads(new_cookie) == {"user": "ada", "theme": "dark"}
    assert SessionSigner(OLD_SECRET).loads(new_cookie) is None
    # Without the fallback the old cookie is worthless.
    client = make_client(session_app())
    client.cookies.set("session", old_cookie)
    assert client.get("/").json() == {}


def test_signed_but_not_a_session_gives_nothing():
    signer = SessionSigner(SECRET)
    key = signer.key
    for payload in [b"[1, 2]", b"not json", b"\xff"]:
        body = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
        signed = f"{body}.{int(time.time())}"
        digest = hmac.new(key, signed.encode(), hashlib.sha256).digest()
        signature = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        assert signer.loads(f"{signed}.{signature}") is None
    assert signer.loads(signer.dumps({"ok": True})) == {"ok": True}


def test_non_ascii_values_round_trip(make_client):
    client = make_client(session_app())
    client.post("/set/name/Zoë 🐍")
    assert client.get("/").json() == {"name": "Zoë 🐍"}


def test_too_large_session_is_a_logged_500(make_client, caplog):
    client = make_client(session_app())
    with caplog.at_level(logging.ERROR, logger="dualweb"):
        response = client.post("/big")
    assert response.status_code == 500
    assert "set-cookie" not in response.headers
    assert "the session cookie would be" in caplog.text
    with pytest.raises(SessionCookieTooLarge, match="store less in the session"):
        SessionMiddleware(SECRET).after_request(_FakeRequest({"x": "y" * 4000}), None)  # type: ignore[arg-type]


def test_unserialisable_value_is_a_logged_500(make_client, caplog):
    client = make_client(session_app())
    with caplog.at_level(logging.ERROR, logger="dualweb"):
        response = client.post("/unserialisable")
    assert response.status_code == 500
    assert "not JSON serializable" in caplog.text


def test_cookie_options(make_client):
    app = session_app(
        cookie_name="sid",
        max_age=None,
        path="/app",
        domain="testserver.local",
        secure=True,
        httponly=False,
        samesite="strict",
    )
    response = make_client(app).post("/set/a/b")
    cookie = session_cookie(response, "sid")
    assert cookie.endswith("; Path=/app; Domain=testserver.local; Secure; SameSite=Strict")
    assert "Max-Age" not in cookie
    assert "HttpOnly" not in cookie


def test_deleting_uses_the_same_cookie_attributes(make_client):
    app = session_app(path="/", samesite="none", secure=True)
    client = make_client(app)
    value = SessionSigner(SECRET).dumps({"a": 1})
    response = client.post("/clear", headers={"Cookie": f"session={value}"})
    cookie = session_cookie(response)
    assert cookie.startswith("session=; Max-Age=0;")
    assert cookie.endswith("; Path=/; Secure; HttpOnly; SameSite=None")


def test_request_session_without_the_middleware(make_client):
    app = App()
    app.add_route("/", lambda request: request.session)
    response = make_client(app).get("/")
    assert response.status_code == 500


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"secret_key": ""}, ValueError, "secret key too short"),
        ({"secret_key": "short"}, ValueError, r"too short \(5 bytes, at least 32\)"),
        ({"secret_key": b"\x00" * 31}, ValueError, "too short"),
        ({"secret_key": None}, TypeError, "str or bytes, not NoneType"),
        ({"secret_key": SECRET, "fallback_secret_keys": ["short"]}, ValueError, "too short"),
        ({"secret_key": SECRET, "fallback_secret_keys": SECRET}, TypeError, "a list of keys"),
        ({"secret_key": SECRET, "max_age": 0}, ValueError, "max_age must be positive"),
        ({"secret_key": SECRET, "cookie_name": "my session"}, ValueError, "invalid cookie name"),
        ({"secret_key": SECRET, "samesite": "sometimes"}, ValueError, "samesite must be"),
        ({"secret_key": SECRET, "path": "/a;b"}, ValueError, "must not contain ';'"),
    ],
)
def test_configuration_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        SessionMiddleware(**kwargs)


def test_secret_may_be_str_or_bytes():
    text = SessionSigner("k" * 32).dumps({"a": 1}, now=0)
    raw = SessionSigner(b"k" * 32).dumps({"a": 1}, now=0)
    assert text == raw
    assert SessionMiddleware.inline is True


def test_session_tracks_changes():
    def fresh():
        session = Session({"a": 1, "b": 2})
        assert not session.modified
        assert session["a"] == 1
        assert session.get("b") == 2
        assert not session.modified
        return session

    changes = [
        lambda s: s.__setitem__("c", 3),
        lambda s: s.__delitem__("a"),
        lambda s: s.clear(),
        lambda s: s.pop("a"),
        lambda s: s.pop("missing", None),
        lambda s: s.popitem(),
        lambda s: s.setdefault("d", 4),
        lambda s: s.update(e=5),
        lambda s: s.__ior__({"f": 6}),
    ]
    for change in changes:
        session = fresh()
        change(session)
        assert session.modified
    session = fresh()
    session |= {"g": 7}
    assert session.modified
    assert session["g"] == 7
    assert isinstance(session, Session)


def test_max_cookie_size_constant():
    assert MAX_COOKIE_SIZE == 4096


class _FakeRequest:
    def __init__(self, data):
        session = Session(data)
        session.modified = True
        self._session = session
        self.cookies = {}
