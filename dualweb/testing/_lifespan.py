"""The app's lifespan for the client: started before the first request, shut down on close.

See docs/lifespan.md.
"""

from __future__ import annotations

import asyncio
import queue
from typing import Any

from .._types import ASGIMessage
from ..app import App

# The module, not its _DISCONNECT_GRACE: the grace is read at each use, so that
# a test patching it there changes it for every part of the client.
from . import _asgi_transport
from ._asgi_transport import _ASGITransport


class _AppLifespan:
    """WSGI mode: a dualweb App's own startup and shutdown (other WSGI apps have none)."""

    def __init__(self, app: Any) -> None:
        self.app = app if isinstance(app, App) else None
        self.attempted = False

    def startup(self) -> None:
        if self.app is not None:
            self.attempted = True
            self.app.startup()

    def shutdown(self) -> None:
        # Also after a failed startup, so that the next client tries again.
        if self.attempted:
            self.attempted = False
            assert self.app is not None
            self.app.shutdown()


class _LifespanEnded:
    """The app returned from the lifespan scope, or raised ``error``."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


_LIFESPAN_REPLIES = {
    "lifespan.startup.complete",
    "lifespan.startup.failed",
    "lifespan.shutdown.complete",
    "lifespan.shutdown.failed",
}


class _ASGILifespan:
    """ASGI mode: the lifespan protocol, spoken as a server speaks it.

    An app that raises or returns before answering ``lifespan.startup``
    does not support the protocol, and is served without it (as uvicorn's
    default ``--lifespan auto`` does). A ``...failed`` answer raises the
    app's own exception if it raised one, else a RuntimeError with its
    message.
    """

    def __init__(self, transport: _ASGITransport) -> None:
        self.transport = transport
        self.replies: queue.Queue[ASGIMessage | _LifespanEnded] = queue.Queue()
        self.inbox: asyncio.Queue[ASGIMessage] | None = None
        self.task: asyncio.Task[None] | None = None
        self.running = False

    def startup(self) -> None:
        loop = self.transport.loop
        asyncio.run_coroutine_threadsafe(self._run(), loop)
        reply = self.replies.get()
        if isinstance(reply, _LifespanEnded):
            return  # no lifespan support
        if reply["type"] != "lifespan.startup.complete":
            raise self._failure(reply)
        self.running = True

    def shutdown(self) -> None:
        if not self.running:
            return
        self.running = False
        loop = self.transport.loop
        # Requests still finishing (background tasks) end first, as a server
        # lets them before it shuts the app down.
        finishing = asyncio.run_coroutine_threadsafe(self._requests_done(), loop)
        finishing.result()
        assert self.inbox is not None
        loop.call_soon_threadsafe(self.inbox.put_nowait, {"type": "lifespan.shutdown"})
        reply = self.replies.get()
        if isinstance(reply, _LifespanEnded):
            if isinstance(reply.error, Exception):
                raise reply.error
            return
        if reply["type"] != "lifespan.shutdown.complete":
            raise self._failure(reply)

    async def _run(self) -> None:
        self.task = asyncio.current_task()
        self.inbox = asyncio.Queue()
        self.inbox.put_nowait({"type": "lifespan.startup"})
        scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": {},
        }
        try:
            await self.transport.app(scope, self.inbox.get, self._send)
        except BaseException as exc:
            self.replies.put(_LifespanEnded(exc))
            raise
        self.replies.put(_LifespanEnded(None))

    async def _send(self, message: ASGIMessage) -> None:
        if message["type"] not in _LIFESPAN_REPLIES:
            raise RuntimeError(f"unexpected message in the lifespan scope: {message['type']!r}")
        self.replies.put(message)

    async def _requests_done(self) -> None:
        others = asyncio.all_tasks() - {asyncio.current_task(), self.task}
        if others:
            await asyncio.wait(others, timeout=_asgi_transport._DISCONNECT_GRACE)

    def _failure(self, reply: ASGIMessage) -> Exception:
        """The app's own exception (it raises right after the message), or the message."""
        try:
            ended = self.replies.get(timeout=_asgi_transport._DISCONNECT_GRACE)
        except queue.Empty:
            ended = None
        if isinstance(ended, _LifespanEnded) and isinstance(ended.error, Exception):
            return ended.error
        return RuntimeError(f"{reply['type']}: {reply.get('message', '')}")
