"""Loading an example app (or a tool script) as a fresh module, so that each test starts
from empty state, and the helpers that the tests of the examples and of WebSockets share."""

from __future__ import annotations

import importlib.util
import itertools
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent


def load_example(name: str) -> ModuleType:
    """A new copy of ``examples/<name>.py`` (its module-level state starts afresh)."""
    spec = importlib.util.spec_from_file_location(
        f"examples_{name}", ROOT / "examples" / f"{name}.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_tool(name: str) -> ModuleType:
    """``tools/<name>.py`` as the module ``name`` (tools/ is not a package).

    Registered in ``sys.modules`` first, as an import would: its dataclasses
    look their module up there. Loaded once, whichever test file asks first.
    """
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# -- what several tests share (the examples' and the servers') ---------------------------

#: The body dualweb answers a WebSocket handshake with under WSGI (426).
WSGI_426_TEXT = "WebSocket routes need an ASGI server; this one speaks WSGI"
#: A WebSocket handshake's headers, sent as a plain HTTP request.
UPGRADE_HEADERS = {
    "Upgrade": "websocket",
    "Connection": "Upgrade",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version": "13",
}


class FakeMember:
    """A chat room member whose sends succeed, or fail with ``error``."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.received: list[Any] = []

    async def send_json(self, message: Any) -> None:
        if self.error is not None:
            raise self.error
        self.received.append(message)


def read_events(response: httpx.Response, count: int, max_lines: int) -> list[list[str]]:
    """Up to ``count`` server-sent events of an open stream, each as its lines.

    A bounded read: after ``max_lines`` lines the stream is not made of the
    expected events, and the test stops reading instead of hanging.
    """
    events: list[list[str]] = []
    current: list[str] = []
    for line in itertools.islice(response.iter_lines(), max_lines):
        if line:
            current.append(line)
            continue
        if current:
            events.append(current)
        current = []
        if len(events) == count:
            break
    return events
