"""examples/hybrid.py: the legacy Flask pages, the async API and the WebSocket,
under both interfaces in-process, and served by uvicorn and gunicorn."""

from __future__ import annotations

import json
import uuid

import pytest
from examplekit import UPGRADE_HEADERS, WSGI_426_TEXT, load_example
from serverkit import Servers
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from dualweb.testing import TestClient

HYBRID = "examples.hybrid:app"
WAIT = 10.0


@pytest.fixture
def client(make_client):
    return make_client(load_example("hybrid").app)


# -- in-process, both interfaces ---------------------------------------------------------------


def test_root_leads_to_the_legacy_pages(client) -> None:
    response = client.get("/")
    assert (response.status_code, response.headers["location"]) == (302, "/legacy/")
    page = client.get("/", follow_redirects=True)
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "<h1>Notes</h1>" in page.text
    # Flask's url_for() knows where the app is mounted.
    assert 'action="/legacy/notes"' in page.text


def test_form_post_redirects_back_to_the_list(client) -> None:
    response = client.post("/legacy/notes", data={"text": "  <b>milk</b> "})
    assert (response.status_code, response.headers["location"]) == (302, "/legacy/")
    assert client.post("/legacy/notes", data={"text": "   "}).status_code == 302  # no note
    page = client.get("/legacy/")
    assert "<li>&lt;b&gt;milk&lt;/b&gt;</li>" in page.text  # escaped by the template
    assert client.get("/api/notes").json() == {"notes": [{"id": 1, "text": "<b>milk</b>"}]}


def test_old_address_redirects_permanently(client) -> None:
    response = client.get("/legacy/home")
    assert (response.status_code, response.headers["location"]) == (301, "/legacy/")


def test_api(client) -> None:
    assert client.get("/api/notes").json() == {"notes": []}
    created = client.post("/api/notes", json={"text": "Zoë's list"})
    assert (created.status_code, created.json()) == (201, {"id": 1, "text": "Zoë's list"})
    assert client.get("/api/notes/1").json() == {"id": 1, "text": "Zoë's list"}
    missing = client.get("/api/notes/2")
    assert (missing.status_code, missing.text) == (404, "No such note")
    for bad in ({"text": "  "}, {"text": 3}, ["text"]):
        assert client.post("/api/notes", json=bad).status_code == 422
    broken = client.post("/api/notes", content=b"{", headers={"content-type": "application/json"})
    assert broken.status_code == 400
    # What the API added, the legacy page shows.
    assert "<li>Zoë&#39;s list</li>" in client.get("/legacy/").text


def test_websocket_route_answers_http_with_426(client, interface: str) -> None:
    response = client.get("/ws", headers=UPGRADE_HEADERS)
    assert response.status_code == 426
    if interface == "wsgi":
        # The upgrade itself is refused: WSGI cannot speak WebSocket.
        assert response.text == WSGI_426_TEXT
    else:
        # The test client sent a plain request: "use WebSocket here" (PEP 3333
        # forbids the hop-by-hop Upgrade header under WSGI).
        assert response.headers["upgrade"] == "websocket"


def test_websocket_takes_notes() -> None:
    hybrid = load_example("hybrid")
    with TestClient(hybrid.app, "asgi") as client:
        with client.websocket_connect("/ws") as ws:
            ws.send_text("  ")  # blank: ignored
            ws.send_text("from the socket")
            assert ws.receive_json() == {"id": 1, "text": "from the socket"}
        assert client.get("/api/notes").json() == {"notes": [{"id": 1, "text": "from the socket"}]}
        assert "<li>from the socket</li>" in client.get("/legacy/").text


# -- real servers ---------------------------------------------------------------------------------


@pytest.mark.servers
@pytest.mark.parametrize("name", ["uvicorn", "gunicorn-sync"])
def test_served(servers: Servers, name: str) -> None:
    server = servers.get(name, HYBRID)
    text = f"note {uuid.uuid4().hex}"
    with server.client() as client:
        posted = client.post("/legacy/notes", data={"text": text})
        assert (posted.status_code, posted.headers["location"]) == (302, "/legacy/")
        page = client.get("/", follow_redirects=True)
        assert page.status_code == 200, server.describe()
        assert f"<li>{text}</li>" in page.text
        created = client.post("/api/notes", json={"text": text + " via the API"})
        assert created.status_code == 201, server.describe()
        note = created.json()
        assert client.get(f"/api/notes/{note['id']}").json() == note
        assert {"id": note["id"] - 1, "text": text} in client.get("/api/notes").json()["notes"]
    assert "Traceback" not in server.log(), server.describe()


@pytest.mark.servers
def test_websocket_under_uvicorn(servers: Servers) -> None:
    server = servers.get("uvicorn", HYBRID)
    text = f"socket {uuid.uuid4().hex}"
    url = server.url.replace("http://", "ws://", 1) + "/ws"
    with connect(url, proxy=None, open_timeout=WAIT, close_timeout=WAIT) as ws:
        ws.send(text)
        note = json.loads(ws.recv(timeout=WAIT))
    assert note["text"] == text
    with server.client() as client:
        assert client.get(f"/api/notes/{note['id']}").json() == note
        assert f"<li>{text}</li>" in client.get("/legacy/").text


@pytest.mark.servers
def test_websocket_under_gunicorn_is_426(servers: Servers) -> None:
    server = servers.get("gunicorn-sync", HYBRID)
    url = server.url.replace("http://", "ws://", 1) + "/ws"
    with pytest.raises(InvalidStatus) as refused:
        connect(url, proxy=None, open_timeout=WAIT, close_timeout=WAIT)
    assert refused.value.response.status_code == 426, server.describe()
    assert refused.value.response.body == WSGI_426_TEXT.encode()
