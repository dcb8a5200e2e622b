"""examples/chat.py: served by uvicorn, spoken to by real WebSocket clients."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from examplekit import FakeMember, load_example
from serverkit import Server, Servers
from websockets.sync.client import ClientConnection, connect

from dualweb import WebSocketClosed, WebSocketDisconnect
from dualweb.testing import TestClient

CHAT = "examples.chat:app"
WAIT = 10.0


def join(server: Server, room: str) -> ClientConnection:
    url = server.url.replace("http://", "ws://", 1) + f"/ws/{room}"
    return connect(url, proxy=None, open_timeout=WAIT, close_timeout=WAIT)


def next_message(ws: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(ws.recv(timeout=WAIT))
    return message


@pytest.mark.servers
def test_members_of_a_room_hear_each_other_and_no_one_else(servers: Servers) -> None:
    server = servers.get("uvicorn", CHAT)
    with join(server, "kitchen") as ada, join(server, "kitchen") as bob:
        with join(server, "garden") as eve:
            ada.send("dinner is ready")
            assert next_message(ada) == {"room": "kitchen", "text": "dinner is ready"}
            assert next_message(bob) == {"room": "kitchen", "text": "dinner is ready"}
            # Had the kitchen's message reached the garden, it would come
            # before eve's own, which the server sent later.
            eve.send("nice weather")
            assert next_message(eve) == {"room": "garden", "text": "nice weather"}
        # Blank messages are not broadcast; a member who left is not missed.
        bob.send("   ")
        bob.send("see you")
        assert next_message(ada) == {"room": "kitchen", "text": "see you"}
        assert next_message(bob) == {"room": "kitchen", "text": "see you"}
    assert "Traceback" not in server.log(), server.describe()


@pytest.mark.servers
@pytest.mark.parametrize("path", ["/", "/rooms/kitchen"])
def test_page_loads(servers: Servers, path: str) -> None:
    server = servers.get("uvicorn", CHAT)
    with server.client() as client:
        response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "new WebSocket(url)" in response.text


def test_page_under_both_interfaces(make_client) -> None:
    client = make_client(load_example("chat").app)
    for path in ("/", "/rooms/attic"):
        response = client.get(path)
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/html; charset=utf-8"


def test_a_room_is_forgotten_when_its_last_member_leaves() -> None:
    chat = load_example("chat")
    with TestClient(chat.app, "asgi") as client:
        with client.websocket_connect("/ws/attic") as ws:
            ws.send_text("anyone?")
            # The echo of one's own message: by now the handler has joined the room.
            assert ws.receive_json() == {"room": "attic", "text": "anyone?"}
            assert len(chat.rooms["attic"].members) == 1
        # Leaving the block waits for the handler to end.
        assert chat.rooms == {}


def test_broadcast_drops_members_whose_send_fails() -> None:
    room = load_example("chat").Room()
    alive = FakeMember()
    closed = FakeMember(WebSocketClosed("closed"))
    gone = FakeMember(WebSocketDisconnect(1006))
    room.members.update({alive, closed, gone})
    asyncio.run(room.broadcast({"room": "r", "text": "hi"}))
    assert alive.received == [{"room": "r", "text": "hi"}]
    assert room.members == {alive}
