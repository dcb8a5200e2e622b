"""examples/sessions.py: login, logout and the request-id middleware under both
interfaces, and served by uvicorn."""

from __future__ import annotations

import re

import pytest
from examplekit import load_example
from serverkit import Servers

SESSIONS = "examples.sessions:app"
DEMO = {"username": "demo", "password": "demo-password"}
HEX_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def client(make_client):
    return make_client(load_example("sessions").app)


def log_in(client) -> None:
    response = client.post("/login", data=DEMO)
    assert (response.status_code, response.headers["location"]) == (303, "/account")


def test_account_needs_a_login(client) -> None:
    response = client.get("/account")
    assert (response.status_code, response.headers["location"]) == (303, "/login")
    assert "set-cookie" not in response.headers
    page = client.get("/account", follow_redirects=True)
    assert page.status_code == 200
    assert '<form method="post" action="/login">' in page.text
    assert "You are not logged in" in client.get("/").text


def test_login_sets_the_session_cookie(client) -> None:
    response = client.post("/login", data=DEMO)
    assert (response.status_code, response.headers["location"]) == (303, "/account")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("session=")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Max-Age=28800" in cookie
    account = client.get("/account")
    assert account.status_code == 200
    assert "Hello, <b>demo</b>" in account.text
    assert "Logged in as <b>demo</b>" in client.get("/").text


def test_logout_clears_the_cookie_and_the_account_is_refused(client) -> None:
    log_in(client)
    response = client.post("/logout")
    assert (response.status_code, response.headers["location"]) == (303, "/")
    assert response.headers["set-cookie"] == (
        "session=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; "
        "Path=/; HttpOnly; SameSite=Lax"
    )
    assert "session" not in client.cookies
    refused = client.get("/account")
    assert (refused.status_code, refused.headers["location"]) == (303, "/login")


@pytest.mark.parametrize(
    "form",
    [
        {"username": "demo", "password": "wrong"},
        {"username": "Demo", "password": "demo-password"},
        {"username": "", "password": ""},
        {"username": "démo", "password": "démo-password"},
        {"password": "demo-password"},
        {"username": "demo"},
        {"username": "demo", "password": "demo-password "},
    ],
)
def test_wrong_credentials_are_401(client, form: dict[str, str]) -> None:
    response = client.post("/login", data=form)
    assert response.status_code == 401
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "Wrong username or password." in response.text
    assert "set-cookie" not in response.headers
    assert client.get("/account").status_code == 303


def test_tampered_or_foreign_cookie_is_not_a_login(make_client, monkeypatch) -> None:
    client = make_client(load_example("sessions").app)
    log_in(client)
    value = client.cookies["session"]
    payload, timestamp, signature = value.split(".")
    client.cookies.clear()
    client.cookies["session"] = f"{payload}.{timestamp}.{signature[:-2]}AA"
    assert client.get("/account").status_code == 303
    client.cookies.clear()
    client.cookies["session"] = value
    assert client.get("/account").status_code == 200  # untouched: still valid
    # A key from the environment replaces the fallback: the fallback's cookies are refused.
    monkeypatch.setenv("SECRET_KEY", "k" * 40)
    other = load_example("sessions")
    assert other.SECRET_KEY == "k" * 40
    other_client = make_client(other.app)
    other_client.cookies["session"] = value
    assert other_client.get("/account").status_code == 303


def test_the_fallback_key_is_the_labelled_one(monkeypatch) -> None:
    monkeypatch.delenv("SECRET_KEY", raising=False)
    example = load_example("sessions")
    assert example.SECRET_KEY == example.INSECURE_DEVELOPMENT_KEY


def test_user_name_is_escaped(make_client, monkeypatch) -> None:
    # Only the demo user can log in, but what the pages show is escaped all the same.
    example = load_example("sessions")
    monkeypatch.setattr(example, "DEMO_USERNAME", "<script>")
    client = make_client(example.app)
    client.post("/login", data={"username": "<script>", "password": "demo-password"})
    for path in ("/", "/account"):
        text = client.get(path).text
        assert "<b>&lt;script&gt;</b>" in text
        assert "<script>" not in text


def test_every_response_gets_a_request_id(client) -> None:
    for path in ("/", "/account", "/missing"):
        response = client.get(path)
        assert HEX_ID.fullmatch(response.headers["x-request-id"])
    first, second = client.get("/"), client.get("/")
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


@pytest.mark.parametrize(
    ("sent", "kept"),
    [("abc-123.x_Y", True), ("", False), ("a" * 65, False), ("bad id", False), ("<x>", False)],
)
def test_a_sensible_client_request_id_is_kept(client, sent: str, kept: bool) -> None:
    log_in(client)
    response = client.get("/account", headers={"X-Request-ID": sent})
    request_id = response.headers["x-request-id"]
    assert (request_id == sent) is kept
    if not kept:
        assert HEX_ID.fullmatch(request_id)
    # The handler sees the same id as the header.
    assert f"<code>{request_id}</code>" in response.text


@pytest.mark.servers
def test_served_by_uvicorn(servers: Servers) -> None:
    server = servers.get("uvicorn", SESSIONS)
    with server.client() as client:
        assert client.get("/account").status_code == 303, server.describe()
        assert client.post("/login", data=DEMO).status_code == 303
        account = client.get("/account")
        assert account.status_code == 200
        assert "Hello, <b>demo</b>" in account.text
        assert HEX_ID.fullmatch(account.headers["x-request-id"])
        client.post("/logout")
        assert client.get("/account").status_code == 303
    assert "Traceback" not in server.log(), server.describe()
