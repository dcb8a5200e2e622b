"""examples/showcase.py: every part under both interfaces in-process, the chat
over WebSockets under ASGI, and the whole app served by uvicorn, gunicorn's ASGI
worker and gunicorn's sync worker. (tests/test_browser_showcase.py drives it
from a browser.)"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import html
import json
import re
import sys
import threading
import uuid
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from examplekit import (
    UPGRADE_HEADERS,
    WSGI_426_TEXT,
    FakeMember,
    load_example,
    read_events,
)
from serverkit import Server, Servers
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from dualweb import WebSocketClosed, WebSocketDisconnect

SHOWCASE = "examples.showcase:app"
WAIT = 10.0
MAX_FILE_SIZE = 5 * 1024 * 1024
PAGES = ["/", "/upload", "/chat", "/clock", "/routes", "/legacy/", "/legacy/hello/world"]
TIME = re.compile(r"\d\d:\d\d:\d\d")
EMPTY_FILE_INPUT = (
    b"--XyZ\r\n"
    b'Content-Disposition: form-data; name="file"; filename=""\r\n'
    b"Content-Type: application/octet-stream\r\n\r\n"
    b"\r\n--XyZ--\r\n"
)
# Each event is a few lines and a blank one: more than this means the stream is
# not made of the expected events, and the test stops reading instead of hanging.
MAX_LINES = 30


@pytest.fixture
def showcase() -> ModuleType:
    module = load_example("showcase")  # a fresh copy: empty chat history
    module.TICK_SECONDS = 0.02  # the same clock, faster
    return module


@pytest.fixture
def client(make_client, showcase: ModuleType):
    return make_client(showcase.app)


def served_through(text: str) -> str:
    match = re.search(r'<strong id="interface">(\w+)</strong>', text)
    assert match is not None, text
    return match[1]


# -- pages -----------------------------------------------------------------------------------


def test_home_page_says_which_interface_and_links_every_part(client, interface: str) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert served_through(response.text) == interface.upper()
    assert f"This request is served through <strong>{interface.upper()}</strong>" in (
        response.text
    )
    for path in [
        "/api/sync",
        "/api/async",
        "/api/chat",
        "/upload",
        "/chat",
        "/clock",
        "/legacy/",
        "/routes",
    ]:
        assert f'<a href="{path}"><code>{path}</code></a>' in response.text


@pytest.mark.parametrize("path", PAGES)
def test_pages_load_nothing_from_elsewhere(client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    # Every address in the page is on this server (or inline data).
    addresses = re.findall(r'(?:src|href|action)="([^"]*)"', response.text)
    assert addresses
    assert [a for a in addresses if not a.startswith(("/", "../", "data:"))] == []
    # Nor do scripts or styles fetch anything by themselves.
    for fetching in ("<script src", "url(", "@import", "fetch("):
        assert fetching not in response.text
    # And the browser is told so: the mounted Flask app's pages too.
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "connect-src 'self'" in policy


def test_footer_names_the_program_serving(client, showcase: ModuleType, monkeypatch) -> None:
    monkeypatch.setattr(sys, "argv", ["/srv/venv/bin/<uvicorn>", "--port", "secret"])
    text = client.get("/clock").text
    assert '<code id="server">&lt;uvicorn&gt;</code>' in text
    assert "secret" not in text


@pytest.mark.parametrize(
    ("argv", "program"),
    [
        (["/srv/venv/bin/uvicorn", "examples.showcase:app"], "uvicorn"),
        (
            ["/usr/lib/python3/site-packages/gunicorn/__main__.py", "-k", "asgi"],
            "python -m gunicorn",
        ),
        (["/srv/venv/bin/dualweb", "run", "examples.showcase:app"], "dualweb"),
        ([""], "python"),
        ([], "python"),
    ],
)
def test_server_program(showcase: ModuleType, monkeypatch, argv: list[str], program: str) -> None:
    monkeypatch.setattr(sys, "argv", argv)
    assert showcase.server_program() == program


# -- the JSON API --------------------------------------------------------------------------


def test_sync_and_async_handlers_say_where_they_ran(client, interface: str) -> None:
    sync = client.get("/api/sync").json()
    async_ = client.get("/api/async").json()
    assert sync["handler"] == "def"
    assert async_["handler"] == "async def"
    assert sync["interface"] == async_["interface"] == interface
    # A def handler never runs on an event loop; an async def one always does.
    assert sync["event_loop"] is None
    assert async_["event_loop"] is not None
    if interface == "wsgi":
        # The test client calls the WSGI app in this thread: both ran here, the
        # async one on this thread's own loop.
        assert sync["thread"] == async_["thread"] == threading.current_thread().name
    else:
        # The def handler went to the thread pool, away from the loop's thread.
        assert sync["thread"] != async_["thread"]
        assert threading.current_thread().name not in (sync["thread"], async_["thread"])


def test_chat_api_posts_and_lists_messages(client) -> None:
    assert client.get("/api/chat").json() == {"messages": []}
    first = client.post("/api/chat", json={"text": "  hello  "})
    assert first.status_code == 201
    assert first.json().keys() == {"id", "name", "text", "time"}
    assert (first.json()["id"], first.json()["name"], first.json()["text"]) == (
        1,
        "anonymous",
        "hello",
    )
    assert TIME.fullmatch(first.json()["time"])
    second = client.post("/api/chat", json={"name": " Zoë ", "text": "<b>hi</b>"})
    assert (second.json()["id"], second.json()["name"]) == (2, "Zoë")
    assert client.get("/api/chat").json() == {"messages": [first.json(), second.json()]}


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"text": "   "}, ["text"]),
        ({"text": "x" * 501}, ["text"]),
        ({"text": 3}, ["text"]),
        ({}, ["text"]),
        ({"name": "n" * 31, "text": "hi"}, ["name"]),
        ({"name": None, "text": None}, ["name", "text"]),
        (["text"], ["body"]),
    ],
)
def test_chat_api_refuses_invalid_messages_with_422(client, body: Any, fields: list[str]) -> None:
    response = client.post("/api/chat", json=body)
    assert response.status_code == 422
    assert [error["field"] for error in response.json()["detail"]] == fields
    assert client.get("/api/chat").json() == {"messages": []}


def test_chat_api_keeps_the_recent_messages(client, showcase: ModuleType) -> None:
    for number in range(showcase.HISTORY_SIZE + 2):
        assert client.post("/api/chat", json={"text": f"m{number}"}).status_code == 201
    messages = client.get("/api/chat").json()["messages"]
    assert len(messages) == showcase.HISTORY_SIZE
    assert (messages[0]["text"], messages[-1]["text"]) == ("m2", f"m{showcase.HISTORY_SIZE + 1}")


def test_chat_api_needs_json(client) -> None:
    broken = client.post("/api/chat", content=b"{", headers={"content-type": "application/json"})
    assert broken.status_code == 400
    assert client.post("/api/chat", data={"text": "hi"}).status_code == 415


# -- the upload form -------------------------------------------------------------------------


def test_upload_form(client) -> None:
    text = client.get("/upload").text
    assert '<form method="post" action="/upload" enctype="multipart/form-data">' in text
    assert '<input type="file" name="file" required>' in text


@pytest.mark.parametrize(
    "content",
    [b"", b"hello, world\n", bytes(range(256)) * (MAX_FILE_SIZE // 256)],
    ids=["empty", "small", "max"],
)
def test_upload_gives_name_size_and_sha256(client, content: bytes) -> None:
    response = client.post(
        "/upload",
        data={"note": "a field before the file"},
        files={"file": ("notes ü.txt", content, "text/plain")},
    )
    assert response.status_code == 200
    assert response.json() == {
        "filename": "notes ü.txt",
        "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
    }


def test_upload_answers_a_browser_with_a_page(client) -> None:
    content = b"x" * 12345
    response = client.post(
        "/upload",
        files={"file": ("<b>bold</b>.txt", content)},
        headers={"accept": "text/html,application/xhtml+xml,*/*;q=0.8"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert '<dd id="size">12345</dd>' in response.text
    assert f"<code>{hashlib.sha256(content).hexdigest()}</code>" in response.text
    # The file name is the client's: escaped.
    assert '<dd id="filename">&lt;b&gt;bold&lt;/b&gt;.txt</dd>' in response.text
    assert "<b>bold</b>" not in response.text


def test_oversize_upload_is_413(client) -> None:
    response = client.post("/upload", files={"file": ("big.bin", b"x" * (MAX_FILE_SIZE + 1))})
    assert response.status_code == 413
    assert response.text == (
        f"An uploaded file is larger than max_file_size ({MAX_FILE_SIZE} bytes)"
    )


def test_upload_without_a_file_is_400(client) -> None:
    headers = {"content-type": "multipart/form-data; boundary=XyZ"}
    empty = client.post("/upload", content=EMPTY_FILE_INPUT, headers=headers)
    assert (empty.status_code, empty.text) == (400, "No file: send one in the form field 'file'")
    other = client.post("/upload", files={"other": ("a.txt", b"a")}, data={"file": "not a file"})
    assert other.status_code == 400
    assert client.post("/upload", data={"file": "x"}).status_code == 415  # not multipart


# -- the chat --------------------------------------------------------------------------------


def test_chat_page(client, interface: str) -> None:
    text = client.get("/chat").text
    assert f'<div id="log" data-socket="/ws/chat" data-interface="{interface}">' in text
    assert "new WebSocket(url)" in text
    # Under WSGI the page says the chat is off, and why.
    notice = "WebSockets need an ASGI server: this one speaks WSGI, so the chat is off."
    assert (notice in text) == (interface == "wsgi")


def test_chat_socket_route_answers_http_with_426(client, interface: str) -> None:
    response = client.get("/ws/chat", headers=UPGRADE_HEADERS)
    assert response.status_code == 426
    if interface == "wsgi":
        assert response.text == WSGI_426_TEXT
    else:
        assert response.headers["upgrade"] == "websocket"


def next_event(ws: Any) -> dict[str, Any]:
    event: dict[str, Any] = ws.receive_json(timeout=WAIT)
    return event


def test_chat_room(asgi_client, showcase: ModuleType) -> None:
    client = asgi_client(showcase.app)
    client.post("/api/chat", json={"name": "ada", "text": "before anyone came"})
    with client.websocket_connect("/ws/chat") as ada, client.websocket_connect("/ws/chat") as bob:
        # A newcomer gets the recent messages first.
        for ws in (ada, bob):
            event = next_event(ws)
            assert event["type"] == "history"
            assert [m["text"] for m in event["messages"]] == ["before anyone came"]
        ada.send_json({"name": "ada", "text": " dinner is ready "})
        for ws in (ada, bob):
            event = next_event(ws)
            assert event["type"] == "message"
            assert (event["message"]["name"], event["message"]["text"]) == (
                "ada",
                "dinner is ready",
            )
        # A message posted to the API reaches the sockets too.
        posted = client.post("/api/chat", json={"name": "api", "text": "from HTTP"}).json()
        assert next_event(ada) == next_event(bob) == {"type": "message", "message": posted}
        # A bad message: an error to its sender only (bob's next event is ada's next message).
        bob.send_text("not json")
        assert next_event(bob) == {
            "type": "error",
            "detail": [{"field": "body", "message": "must be a JSON object"}],
        }
        bob.send_bytes(b"\xff")
        assert next_event(bob)["type"] == "error"
        bob.send_json({"text": ""})
        assert [error["field"] for error in next_event(bob)["detail"]] == ["text"]
        ada.send_json({"text": "still there?"})
        assert next_event(bob)["message"]["text"] == "still there?"
        assert next_event(ada)["message"]["text"] == "still there?"
        assert len(showcase.room.members) == 2
    # Leaving the blocks waited for the handlers to end: no one is left in the room.
    assert showcase.room.members == set()
    texts = [m["text"] for m in client.get("/api/chat").json()["messages"]]
    assert texts == ["before anyone came", "dinner is ready", "from HTTP", "still there?"]


def test_chat_refuses_messages_over_4_kib(asgi_client, showcase: ModuleType) -> None:
    client = asgi_client(showcase.app)
    with client.websocket_connect("/ws/chat") as ws:
        next_event(ws)  # the history
        ws.send_text(json.dumps({"text": "x" * 5000}))
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json(timeout=WAIT)
    assert closed.value.code == 1009
    assert showcase.room.members == set()


def test_broadcast_drops_members_whose_send_fails(showcase: ModuleType) -> None:
    room = showcase.Room()
    alive = FakeMember()
    room.members.update(
        {alive, FakeMember(WebSocketClosed("closed")), FakeMember(WebSocketDisconnect(1006))}
    )
    asyncio.run(room.broadcast({"type": "message"}))
    assert alive.received == [{"type": "message"}]
    assert room.members == {alive}


# -- the clock -------------------------------------------------------------------------------


def assert_ticks(events: list[list[str]], first_id: int, retry: int) -> None:
    for number, event in enumerate(events, first_id):
        assert event[:3] == ["event: tick", f"id: {number}", f"retry: {retry}"]
        assert len(event) == 4
        assert TIME.fullmatch(event[3].removeprefix("data: "))


def test_clock_page(client, interface: str) -> None:
    text = client.get("/clock").text
    assert '<script data-events="/clock/events"' in text
    assert "new EventSource(config.events)" in text
    assert ("one event per request" in text) == (interface == "wsgi")


def test_clock_ticks(client, interface: str) -> None:
    with client.stream("GET", "/clock/events") as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        events = read_events(response, 3, MAX_LINES)
    # TICK_SECONDS is 0.02 in these tests: retry is 20 ms.
    assert_ticks(events, first_id=1, retry=20)
    if interface == "wsgi":
        # One event per response: a stream would hold a WSGI worker.
        assert len(events) == 1
    else:
        assert len(events) == 3
    assert client.get("/").status_code == 200  # leaving the stream early closed it


@pytest.mark.parametrize(
    ("last_event_id", "first_id"),
    [("41", 42), ("0", 1), ("abc", 1), ("-3", 1), ("9" * 13, 1), ("", 1)],
)
def test_clock_resumes_after_the_last_event_id(client, last_event_id: str, first_id: int) -> None:
    headers = {"Last-Event-ID": last_event_id}
    with client.stream("GET", "/clock/events", headers=headers) as response:
        events = read_events(response, 1, MAX_LINES)
    assert len(events) == 1
    assert_ticks(events, first_id=first_id, retry=20)


# -- the legacy Flask app --------------------------------------------------------------------


def test_legacy_flask_app_is_mounted(client) -> None:
    page = client.get("/legacy/")
    assert page.status_code == 200
    assert "<h1>A Flask page</h1>" in page.text
    # Flask's url_for() knows where the app is mounted.
    assert '<a id="hello" href="/legacy/hello/world">' in page.text
    assert "<tr><th>SCRIPT_NAME</th><td><code>/legacy</code></td></tr>" in page.text
    hello = client.get("/legacy/hello/<script>")
    assert hello.text.startswith("<p>Hello, &lt;script&gt;!</p>")
    assert 'href="/legacy/"' in hello.text
    old = client.get("/legacy/old")
    assert (old.status_code, old.headers["location"]) == (301, "/legacy/")
    assert client.get("/legacy/nothing").status_code == 404


# -- the routes page -------------------------------------------------------------------------

ROUTES = [
    ("GET", "/", "home", "sync"),
    ("GET", "/api/async", "api_async", "async"),
    ("GET", "/api/chat", "chat_history", "sync"),
    ("POST", "/api/chat", "post_chat_message", "async"),
    ("GET", "/api/sync", "api_sync", "sync"),
    ("GET", "/chat", "chat_page", "sync"),
    ("GET", "/clock", "clock_page", "sync"),
    ("GET", "/clock/events", "clock_events", "async"),
    ("*", "/legacy", "legacy", "mount (WSGI)"),
    ("GET", "/routes", "routes_page", "sync"),
    ("GET", "/upload", "upload_form", "sync"),
    ("POST", "/upload", "upload", "sync"),
    ("WS", "/ws/chat", "chat_socket", "websocket"),
]


def route_table(text: str) -> list[tuple[str, ...]]:
    """(methods, path, name, kind, current?) of each row of the page's table."""
    rows = []
    for attributes, cells in re.findall(
        r"<tr( class=\"current\")?>((?:<td>.*?</td>)+)</tr>", text
    ):
        values = [html.unescape(v) for v in re.findall(r"<td><code>(.*?)</code></td>", cells)]
        rows.append((*values[:4], "current" if attributes else ""))
    return rows


def test_routes_page_lists_every_route(client, interface: str) -> None:
    response = client.get("/routes")
    assert response.status_code == 200
    expected = [(*row, "current" if row[2] == "routes_page" else "") for row in ROUTES]
    assert route_table(response.text) == expected
    assert f"served through <strong>{interface.upper()}</strong>" in response.text
    assert "<code>http://testserver</code>" in response.text


# -- real servers ---------------------------------------------------------------------------


@contextlib.contextmanager
def join_chat(server: Server) -> Iterator[ClientConnection]:
    """A member of the server's chat room, past the history it is sent first."""
    url = server.url.replace("http://", "ws://", 1) + "/ws/chat"
    with connect(url, proxy=None, open_timeout=WAIT, close_timeout=WAIT) as ws:
        assert json.loads(ws.recv(timeout=WAIT))["type"] == "history"
        yield ws


def check_http_parts(server: Server, interface: str, program: str) -> None:
    content = uuid.uuid4().bytes * 10_000
    with server.client() as client:
        home = client.get("/")
        assert home.status_code == 200, server.describe()
        assert served_through(home.text) == interface
        assert f'<code id="server">{program}</code>' in home.text
        assert client.get("/api/sync").json()["interface"] == interface.lower()
        assert client.get("/api/async").json()["event_loop"] is not None
        uploaded = client.post("/upload", files={"file": ("a.bin", content)})
        assert uploaded.json()["sha256"] == hashlib.sha256(content).hexdigest()
        assert client.get("/legacy/").status_code == 200
        assert ("GET", "/routes", "routes_page", "sync", "current") in route_table(
            client.get("/routes").text
        )


@pytest.mark.servers
@pytest.mark.parametrize("name", ["uvicorn", "gunicorn-asgi"])
def test_served_through_asgi(servers: Servers, name: str) -> None:
    server = servers.get(name, SHOWCASE)
    check_http_parts(server, "ASGI", f"python -m {name.split('-')[0]}")
    text = f"hello {uuid.uuid4().hex}"
    with join_chat(server) as ada, join_chat(server) as bob:
        ada.send(json.dumps({"name": "ada", "text": text}))
        for ws in (ada, bob):
            event = json.loads(ws.recv(timeout=WAIT))
            assert (event["type"], event["message"]["text"]) == ("message", text)
    with server.client() as client, client.stream("GET", "/clock/events") as response:
        # Real time: the second tick comes a second after the first.
        events = read_events(response, 2, MAX_LINES)
    assert len(events) == 2
    assert_ticks(events, first_id=1, retry=1000)
    assert "Traceback" not in server.log(), server.describe()


@pytest.mark.servers
def test_served_by_gunicorn_sync_worker(servers: Servers) -> None:
    server = servers.get("gunicorn-sync", SHOWCASE)
    check_http_parts(server, "WSGI", "python -m gunicorn")
    with server.client() as client:
        # The legacy app sees gunicorn's own environ.
        assert re.search(r"<code>gunicorn/[\d.]+</code>", client.get("/legacy/").text)
        assert "so the chat is off" in client.get("/chat").text
        # One tick, and the response ends: the only worker is free again.
        with client.stream("GET", "/clock/events", headers={"Last-Event-ID": "7"}) as response:
            events = read_events(response, 2, MAX_LINES)
        assert len(events) == 1
        assert_ticks(events, first_id=8, retry=1000)
        assert client.get("/").status_code == 200
    url = server.url.replace("http://", "ws://", 1) + "/ws/chat"
    with pytest.raises(InvalidStatus) as refused:
        connect(url, proxy=None, open_timeout=WAIT, close_timeout=WAIT)
    assert refused.value.response.status_code == 426, server.describe()
    assert refused.value.response.body == WSGI_426_TEXT.encode()
    assert "Traceback" not in server.log(), server.describe()
