"""examples/sse.py: the clock's event stream under both interfaces, and served by uvicorn."""

from __future__ import annotations

import re
from types import ModuleType

import pytest
from examplekit import load_example, read_events
from serverkit import Servers

SSE = "examples.sse:app"
TIME = re.compile(r"\d\d:\d\d:\d\d")
# Each event is three lines and a blank one: more than this means the stream is not
# made of the expected events, and the test stops reading instead of hanging.
MAX_LINES = 20


@pytest.fixture
def sse() -> ModuleType:
    module = load_example("sse")
    module.TICK_SECONDS = 0.02  # the same clock, faster
    return module


def assert_ticks(events: list[list[str]], first_id: int) -> None:
    assert len(events) == 2
    for number, event in enumerate(events, first_id):
        assert len(event) == 3
        assert event[:2] == ["event: tick", f"id: {number}"]
        assert event[2].startswith("data: ")
        assert TIME.fullmatch(event[2].removeprefix("data: "))


def test_page_listens_to_the_clock(make_client, sse: ModuleType) -> None:
    response = make_client(sse.app).get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert 'new EventSource("/clock")' in response.text
    assert 'addEventListener("tick"' in response.text


def test_clock_streams_tick_events(make_client, sse: ModuleType) -> None:
    client = make_client(sse.app)
    with client.stream("GET", "/clock") as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert response.headers["cache-control"] == "no-store"
        assert "content-length" not in response.headers
        events = read_events(response, 2, MAX_LINES)
    assert_ticks(events, first_id=1)
    # Leaving the stream early closed it; the app goes on serving.
    assert client.get("/").status_code == 200


@pytest.mark.parametrize(
    ("last_event_id", "first_id"),
    [("41", 42), ("0", 1), ("abc", 1), ("-3", 1), ("9" * 13, 1), ("", 1)],
)
def test_reconnecting_client_resumes_after_its_last_event(
    make_client, sse: ModuleType, last_event_id: str, first_id: int
) -> None:
    client = make_client(sse.app)
    headers = {"Last-Event-ID": last_event_id}
    with client.stream("GET", "/clock", headers=headers) as response:
        assert_ticks(read_events(response, 2, MAX_LINES), first_id=first_id)


@pytest.mark.servers
def test_served_by_uvicorn(servers: Servers) -> None:
    server = servers.get("uvicorn", SSE)
    with server.client() as client:
        assert client.get("/").status_code == 200, server.describe()
        with client.stream("GET", "/clock") as response:
            assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
            # The second tick comes a second after the first: real time, real server.
            assert_ticks(read_events(response, 2, MAX_LINES), first_id=1)
    assert "Traceback" not in server.log(), server.describe()
