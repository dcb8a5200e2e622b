"""App(debug=True): the HTML page for browsers, the plain traceback for other clients."""

from __future__ import annotations

import html
import os
from types import SimpleNamespace

import pytest

import dualweb
from dualweb import App
from dualweb.datastructures import Address
from dualweb.debug import HIDDEN, _address

BROWSER = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def crashing_app(debug: bool = True) -> App:
    app = App(debug=debug)

    @app.get("/users/{user_id:int}", name="user")
    async def user(request, user_id):
        lookup_user(user_id)

    @app.get("/sync")
    def sync(request):
        lookup_user(0)

    @app.get("/chained")
    def chained(request):
        try:
            {}["missing"]
        except KeyError as exc:
            raise ValueError("while reading the cache") from exc

    return app


def lookup_user(user_id: int) -> None:
    raise RuntimeError(f"no user <b>{user_id}</b> & no luck")


def test_a_browser_gets_an_html_page_with_the_traceback_and_the_request(make_client):
    client = make_client(crashing_app())
    headers = {**BROWSER, "cookie": "session=secret-value", "x-trace": "abc"}
    response = client.get("/users/7?tab=<x>", headers=headers)
    assert response.status_code == 500
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    page = response.text
    assert page.startswith("<!doctype html>")
    # The message is escaped, never markup.
    assert "no user &lt;b&gt;7&lt;/b&gt; &amp; no luck" in page
    assert "<b>7</b>" not in page
    # Every frame down to the one that raised, with its source line.
    assert "in <b>user</b>" in page
    assert "in <b>lookup_user</b>" in page
    assert "raise RuntimeError(f&quot;no user" in page
    assert "test_debug.py" in page
    # The request.
    assert "<th>method</th><td>GET</td>" in page
    assert "<th>path</th><td>/users/7</td>" in page
    assert "<th>query string</th><td>tab=%3Cx%3E</td>" in page
    assert "<th>route</th><td>/users/{user_id:int} (user)</td>" in page
    assert f"<th>interface</th><td>{client.interface}</td>" in page
    assert "<th>x-trace</th><td>abc</td>" in page
    # Credentials are not shown.
    assert f"<th>cookie</th><td>{HIDDEN}</td>" in page
    assert "secret-value" not in page


def test_a_sync_handler_and_a_chained_exception(make_client):
    client = make_client(crashing_app())
    page = client.get("/chained", headers=BROWSER).text
    # Both exceptions, the first raised first.
    first = page.index("<h2>KeyError: &#x27;missing&#x27;</h2>")
    second = page.index("<h2>ValueError: while reading the cache</h2>")
    assert first < second
    assert "in <b>chained</b>" in page
    assert "in <b>lookup_user</b>" in client.get("/sync", headers=BROWSER).text


def test_other_clients_get_the_plain_traceback(make_client):
    client = make_client(crashing_app())
    response = client.get("/users/7", headers={"accept": "application/json"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text.startswith("Traceback (most recent call last):")
    assert "RuntimeError: no user <b>7</b> & no luck" in response.text


@pytest.mark.parametrize("headers", [BROWSER, {}])
def test_never_without_debug(make_client, headers):
    response = make_client(crashing_app(debug=False)).get("/users/7", headers=headers)
    assert (response.status_code, response.text) == (500, "Internal Server Error")
    assert response.headers["content-type"] == "text/plain; charset=utf-8"


def test_a_failing_error_handler_is_shown_too(make_client):
    app = crashing_app()

    @app.errorhandler(RuntimeError)
    def broken_handler(request, exc):
        raise LookupError("the error handler failed")

    page = make_client(app).get("/users/1", headers=BROWSER).text
    assert "LookupError: the error handler failed" in page
    assert "in <b>broken_handler</b>" in page


def test_raise_from_none_hides_the_context(make_client):
    app = App(debug=True)

    @app.get("/quiet")
    def quiet(request):
        try:
            {}["missing"]
        except KeyError:
            raise ValueError("the context is suppressed") from None

    page = make_client(app).get("/quiet", headers=BROWSER).text
    assert "<h2>ValueError: the context is suppressed</h2>" in page
    assert "KeyError" not in page


@pytest.mark.parametrize(
    ("client", "shown"),
    [(None, "unknown"), (Address("10.0.0.1", None), "10.0.0.1"), (Address("::1", 5), "::1:5")],
)
def test_client_address(client, shown):
    assert _address(SimpleNamespace(client=client)) == shown  # type: ignore[arg-type]


def test_the_apps_own_frames_stand_out(make_client):
    page = make_client(crashing_app()).get("/sync", headers=BROWSER).text
    frames = page.split("<li")[1:]
    mine = [frame for frame in frames if "test_debug.py" in frame]
    package = html.escape(os.path.dirname(dualweb.__file__))
    theirs = [frame for frame in frames if package in frame]
    assert mine
    assert theirs
    assert all(not frame.startswith(" class='library'") for frame in mine)
    assert all(frame.startswith(" class='library'") for frame in theirs)
