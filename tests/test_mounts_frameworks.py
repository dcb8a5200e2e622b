"""Real Flask, Django and Starlette apps mounted in a dualweb App, under both interfaces.

The three apps have the same pages (Flask's and Starlette's are built in
tests/mounted_frameworks.py, the Django project is tests/django_project/), so
most tests run for each framework under WSGI and ASGI: pages, URLs that the
mounted app builds (they must include the mount's prefix), bodies of every
kind reaching the app intact, several cookies, HEAD, the app's own 404,
streamed bodies, and the outer App's routes winning over the mount.
Starlette runs under WSGI too, on the worker thread's event loop.
"""

from __future__ import annotations

import importlib
from typing import Any
from urllib.parse import urljoin

import pytest
from mounted_frameworks import (
    NOT_FOUND_MARKS,
    STREAMED,
    make_flask,
    make_starlette,
    upload_report,
)

from dualweb import App

FRAMEWORKS = ["flask", "django", "starlette"]
BASE = "http://testserver"

#: 300 KB with every byte value, CR and LF among them: several chunks of the body.
UPLOAD = bytes(range(256)) * 1200


@pytest.fixture(scope="module")
def django_app() -> Any:
    """tests/django_project's WSGI handler; Django is configured once per process."""
    settings_module = "django_project.settings"
    # Set only while Django reads it: server processes started later by other
    # tests inherit this environment, and could not import this module name.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_SETTINGS_MODULE", settings_module)
        handler = importlib.import_module("django_project.wsgi").application
        from django.conf import settings

        if settings_module != settings.SETTINGS_MODULE:
            pytest.fail(f"Django is already configured with {settings.SETTINGS_MODULE!r}")
    return handler


@pytest.fixture
def flask_closed() -> list[str]:
    return []


@pytest.fixture
def app(django_app: Any, flask_closed: list[str]) -> App:
    outer = App()

    @outer.get("/")
    def index(request):
        return "dualweb index"

    for framework in FRAMEWORKS:
        # Moved over to dualweb: GET only, the mounted app keeps the rest.
        outer.add_route(f"/{framework}/new", lambda request: "dualweb new", methods=["GET"])
    outer.mount("/flask", make_flask(flask_closed))
    outer.mount("/django", django_app)
    outer.mount("/starlette", make_starlette())
    return outer


@pytest.fixture
def client(make_client, app: App):
    return make_client(app)


@pytest.fixture(params=FRAMEWORKS)
def framework(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# -- every framework, both interfaces ------------------------------------------------------


def test_pages(client, framework: str) -> None:
    response = client.get(f"/{framework}/")
    assert response.status_code == 200
    assert response.text == f"{framework} index"
    assert response.headers["content-type"].startswith("text/plain")
    # A non-ASCII path segment arrives decoded, as UTF-8.
    response = client.get(f"/{framework}/hello/zoë")
    assert (response.status_code, response.text) == (200, "hello zoë")
    assert response.headers["content-length"] == str(len("hello zoë".encode()))
    assert client.get("/").text == "dualweb index"


def test_urls_built_by_the_mounted_app_include_the_prefix(client, framework: str) -> None:
    response = client.get(f"/{framework}/urls", params=[("q", "zoë & co"), ("q", "2")])
    assert response.status_code == 200
    assert response.json() == {
        "hello": f"/{framework}/hello/x",
        "absolute": f"{BASE}/{framework}/hello/x",
        "prefix": f"/{framework}",
        "inner": "/urls",
        "query": ["zoë & co", "2"],
    }


def test_redirect_location_includes_the_prefix(client, framework: str) -> None:
    response = client.get(f"/{framework}/go")
    assert response.status_code in (302, 307)
    location = urljoin(f"{BASE}/{framework}/go", response.headers["location"])
    assert location == f"{BASE}/{framework}/hello/there"
    followed = client.get(f"/{framework}/go", follow_redirects=True)
    assert (followed.status_code, followed.text) == (200, "hello there")


def test_outer_routes_win_over_the_mount_for_their_methods(client, framework: str) -> None:
    assert client.get(f"/{framework}/new").text == "dualweb new"
    response = client.post(f"/{framework}/new")
    assert (response.status_code, response.text) == (200, f"{framework} new (POST)")


def test_form_post_reaches_the_app_intact(client, framework: str) -> None:
    fields = {"a": ["1", "2"], "b": ["zoë & co=x"], "empty": [""]}
    response = client.post(f"/{framework}/form", data=fields)
    assert response.status_code == 200
    assert response.json() == fields


def test_json_post_reaches_the_app_intact(client, framework: str) -> None:
    document = {"text": "Zoë ✓", "numbers": [1, 2.5, None], "nested": {"ok": True}}
    response = client.post(f"/{framework}/json", json=document)
    assert response.status_code == 200
    assert response.json() == {"received": document}


def test_upload_reaches_the_app_intact(client, framework: str) -> None:
    response = client.post(
        f"/{framework}/upload",
        data={"note": "binary"},
        files={"file": ("data.bin", UPLOAD, "application/octet-stream")},
    )
    assert response.status_code == 200
    assert response.json() == upload_report(
        "binary", "data.bin", "application/octet-stream", UPLOAD
    )


def test_several_cookies_are_set_and_sent_back(client, framework: str) -> None:
    response = client.get(f"/{framework}/cookies")
    assert response.status_code == 200
    set_cookies = response.headers.get_list("set-cookie")
    assert [header.strip().partition(";")[0] for header in set_cookies] == ["a=1", "b=2", "c=3"]
    assert "httponly" in set_cookies[1].lower()
    assert f"Path=/{framework}" in set_cookies[2]
    # The client keeps them (c only below the prefix) and sends them in one header.
    assert client.get(f"/{framework}/echo-cookies").json() == {"a": "1", "b": "2", "c": "3"}


def test_header_values_have_no_surrounding_whitespace(client, framework: str) -> None:
    # Django's WSGI handler writes its Set-Cookie values with a leading space
    # (" a=1; Path=/"); WSGI servers strip it, and so must the mount, since
    # h11 (uvicorn) refuses such a header (see test_servers_mounts).
    response = client.get(f"/{framework}/cookies")
    values = [value for _, value in response.headers.multi_items()]
    assert values == [value.strip() for value in values]


def test_head_has_no_body(client, framework: str) -> None:
    get = client.get(f"/{framework}/hello/x")
    head = client.head(f"/{framework}/hello/x")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]
    assert head.headers["content-length"] == get.headers["content-length"] == "7"


def test_the_mounted_apps_404_passes_through(client, framework: str) -> None:
    response = client.get(f"/{framework}/nowhere")
    assert response.status_code == 404
    assert NOT_FOUND_MARKS[framework] in response.text
    # Outside the mount, dualweb's own.
    response = client.get("/nowhere")
    assert (response.status_code, response.text) == (404, "Not Found")


def test_streamed_body_arrives_complete(client, framework: str) -> None:
    with client.stream("GET", f"/{framework}/stream") as response:
        assert response.status_code == 200
        received = b"".join(response.iter_bytes())
    assert received == STREAMED


def test_url_path_for_the_mount(app: App, client, framework: str) -> None:
    path = app.url_path_for(framework, path="/hello/x")
    assert path == f"/{framework}/hello/x"
    assert client.get(path).text == "hello x"


@pytest.mark.parametrize("framework", ["flask", "starlette"])
def test_url_path_for_a_route_of_the_mounted_app(app: App, client, framework: str) -> None:
    path = app.url_path_for(f"{framework}:hello", name="x")
    assert path == f"/{framework}/hello/x"
    assert client.get(path).text == "hello x"


def test_django_has_no_reverse_routing_from_outside(app: App) -> None:
    with pytest.raises(LookupError, match="no reverse routing"):
        app.url_path_for("django:hello", name="x")


# -- Flask ------------------------------------------------------------------------------------


def test_flask_response_is_closed(client, flask_closed: list[str]) -> None:
    assert client.get("/flask/stream").content == STREAMED
    assert flask_closed == ["/stream"]


def test_flask_stream_with_context(client) -> None:
    # Under ASGI each step of the body (next(), close()) runs on whichever
    # pool thread is free; Flask's context, pushed in one contextvars.Context,
    # must be popped in the same one.
    response = client.get("/flask/stream-with-context", params=[("word", "a"), ("word", "b")])
    assert (response.status_code, response.text) == (200, "a\nb\n")


# -- Django -----------------------------------------------------------------------------------


def test_django_csrf_protection_works_mounted(client) -> None:
    token = client.get("/django/csrf").json()["token"]
    assert "csrftoken" in client.cookies
    refused = client.post("/django/csrf", data={"text": "hi"})
    assert refused.status_code == 403
    assert "CSRF" in refused.text
    accepted = client.post("/django/csrf", data={"text": "hi", "csrfmiddlewaretoken": token})
    assert (accepted.status_code, accepted.text) == (200, "accepted hi")
    by_header = client.post("/django/csrf", data={"text": "ho"}, headers={"X-CSRFToken": token})
    assert (by_header.status_code, by_header.text) == (200, "accepted ho")


def test_django_session_works_mounted(client) -> None:
    assert client.get("/django/count").json() == {"count": 1}
    assert "sessionid" in client.cookies
    assert client.get("/django/count").json() == {"count": 2}
    client.cookies.clear()
    assert client.get("/django/count").json() == {"count": 1}


def test_django_request_finished_when_the_stream_ends(client) -> None:
    from django.core.signals import request_finished

    finished: list[object] = []

    def record(sender: object, **kwargs: object) -> None:
        finished.append(sender)

    request_finished.connect(record)
    try:
        assert client.get("/django/stream").content == STREAMED
    finally:
        request_finished.disconnect(record)
    # Django sends it from its response's close(): the mount called close().
    assert len(finished) == 1


# Not Starlette: its redirect to the slash has no Content-Type, which
# wsgiref.validate (the WSGI side of these tests) refuses.
@pytest.mark.parametrize("framework", ["flask", "django"])
def test_the_prefix_itself_is_the_mounted_apps(client, framework: str) -> None:
    # Each app answers its empty path in its own way (Flask redirects to
    # the slash); the index is where it ends.
    response = client.get(f"/{framework}", follow_redirects=True)
    assert (response.status_code, response.text) == (200, f"{framework} index")
    assert str(response.url).rstrip("/") == f"{BASE}/{framework}"
