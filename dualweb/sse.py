"""Server-sent events: a streaming response in the ``text/event-stream`` format.

The events come from a sync or async iterable, as under any streaming
response. With ``ping`` set (the default), a comment line goes out whenever
no event came for that many seconds: proxies and browsers then keep an idle
connection open, and under ASGI a client that went away is noticed.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import re
import threading
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Mapping
from typing import Any

from .responses import HeadersInput, StreamingResponse

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class ServerSentEvent:
    """One event: ``data`` (any text; several lines are fine) and the optional fields.

    ``event`` names the event type (the browser's ``addEventListener`` name),
    ``id`` sets the client's last event ID, ``retry`` the reconnection delay in
    milliseconds, and ``comment`` adds a comment line, which clients ignore.
    """

    __slots__ = ("comment", "data", "event", "id", "retry")

    def __init__(
        self,
        data: str | None = None,
        *,
        event: str | None = None,
        id: str | None = None,
        retry: int | None = None,
        comment: str | None = None,
    ) -> None:
        for name, value in (("event", event), ("id", id)):
            if value is not None and _LINE_BREAK.search(value):
                raise ValueError(f"the {name} field of an event cannot contain a line break")
        if id is not None and "\0" in id:
            raise ValueError("the id field of an event cannot contain NUL")
        if retry is not None and (not isinstance(retry, int) or retry < 0):
            raise ValueError(f"retry must be a non-negative int (milliseconds), not {retry!r}")
        self.data = data
        self.event = event
        self.id = id
        self.retry = retry
        self.comment = comment

    def encode(self) -> bytes:
        """The event in the wire format, blank line included."""
        lines: list[str] = []
        if self.comment is not None:
            lines.extend(f": {line}" for line in _LINE_BREAK.split(self.comment))
        if self.event is not None:
            lines.append(f"event: {self.event}")
        if self.id is not None:
            lines.append(f"id: {self.id}")
        if self.retry is not None:
            lines.append(f"retry: {self.retry}")
        if self.data is not None:
            lines.extend(f"data: {line}" for line in _LINE_BREAK.split(self.data))
        lines.append("\n")
        return "\n".join(lines).encode()

    def __repr__(self) -> str:
        return f"ServerSentEvent(data={self.data!r}, event={self.event!r}, id={self.id!r})"


def encode_event(item: ServerSentEvent | Mapping[str, Any] | str) -> bytes:
    """An event from what a generator yields: a ServerSentEvent, a dict of its fields, or data."""
    if isinstance(item, ServerSentEvent):
        return item.encode()
    if isinstance(item, str):
        return ServerSentEvent(item).encode()
    if isinstance(item, Mapping):
        return ServerSentEvent(**item).encode()
    raise TypeError(f"an event stream cannot send {type(item).__name__!r}")


_PING = b": ping\n\n"


class EventSourceResponse(StreamingResponse):
    """A ``text/event-stream`` response from a sync or async iterable of events.

    Each item is a :class:`ServerSentEvent`, a dict of its fields, or a str
    (the data). ``ping`` is the keep-alive interval in seconds (None for none).

    A source may yield None to send nothing: a sync generator that waits for
    events should do so now and then (``queue.get(timeout=1)``, then ``yield
    None`` when nothing came), since a running sync generator cannot be
    interrupted: when the client leaves, it is closed at its next ``yield``.
    """

    __slots__ = ()
    media_type = "text/event-stream"

    def __init__(
        self,
        content: Iterable[Any] | AsyncIterable[Any],
        status: int = 200,
        headers: HeadersInput = None,
        *,
        ping: float | None = 15.0,
    ) -> None:
        # "not > 0" also refuses NaN, which would make every wait time out
        # at once: an endless stream of pings.
        if ping is not None and not ping > 0:
            raise ValueError("ping must be a positive number of seconds, or None")
        stream: Iterable[bytes] | AsyncIterable[bytes]
        if ping is not None:
            stream = _with_pings(_aiter_events(content), ping)
        elif isinstance(content, AsyncIterable):
            stream = _aencode(content)
        else:
            stream = _encode(content)
        super().__init__(stream, status, headers)
        headers_view = self.headers
        # Caches and buffering proxies must pass events through as they come.
        headers_view.setdefault("cache-control", "no-store")
        headers_view.setdefault("x-accel-buffering", "no")


def _encode(events: Iterable[Any]) -> Iterator[bytes]:
    for item in events:
        if item is not None:
            yield encode_event(item)


async def _aencode(events: AsyncIterable[Any]) -> AsyncIterator[bytes]:
    async for item in events:
        if item is not None:
            yield encode_event(item)


async def _aiter_events(events: Iterable[Any] | AsyncIterable[Any]) -> AsyncIterator[Any]:
    """Async iteration over either kind of event source."""
    if isinstance(events, AsyncIterable):
        async for item in events:
            yield item
    else:
        async for item in _aiter_sync_events(events):
            yield item


async def _aiter_sync_events(events: Iterable[Any]) -> AsyncIterator[Any]:
    """Step a sync event source in a thread of its own, one item per request.

    A sync event source mostly waits (on a queue, a database notification)
    and lives as long as its client: on a shared, bounded pool, a few
    listeners would take every thread. The generator is advanced, and closed,
    only by its own thread, since a running generator cannot be closed from
    another.
    """
    iterator = iter(events)
    loop = asyncio.get_running_loop()
    arrived: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    wanted = threading.Semaphore(0)
    stopping = False

    finished: asyncio.Future[None] = loop.create_future()

    def deliver(kind: str, value: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody listens
            loop.call_soon_threadsafe(arrived.put_nowait, (kind, value))

    def mark_finished() -> None:
        if not finished.done():
            finished.set_result(None)

    def produce() -> None:
        try:
            while True:
                wanted.acquire()
                if stopping:
                    return
                try:
                    item = next(iterator)
                except StopIteration:
                    deliver("end", None)
                    return
                except BaseException as exc:
                    deliver("error", exc)
                    return
                deliver("item", item)
        finally:
            try:
                close = getattr(iterator, "close", None)
                if close is not None:
                    close()
            finally:
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(mark_finished)

    context = contextvars.copy_context()
    threading.Thread(
        target=context.run, args=(produce,), name="dualweb-events", daemon=True
    ).start()
    try:
        while True:
            wanted.release()
            kind, value = await arrived.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stopping = True
        wanted.release()
        # The response ends once the source is closed (its finally clauses ran).
        await finished


async def _with_pings(events: AsyncIterator[Any], interval: float) -> AsyncIterator[bytes]:
    """Encode events; send a comment when none came for ``interval`` seconds.

    The pending ``anext`` lives in a task of its own so that a timeout never
    interrupts the event source; it is cancelled only when the stream ends.
    """
    loop = asyncio.get_running_loop()
    pending: asyncio.Task[Any] | None = None
    # Measured from the last thing sent, so that a source yielding None
    # often still gets its pings (under WSGI they are how a gone client shows).
    ping_at = loop.time() + interval
    try:
        while True:
            if pending is None:
                pending = loop.create_task(_anext(events))
            done, _ = await asyncio.wait((pending,), timeout=max(0.0, ping_at - loop.time()))
            if not done:
                ping_at = loop.time() + interval
                yield _PING
                continue
            finished, pending = pending, None
            try:
                item = finished.result()
            except StopAsyncIteration:
                return
            if item is not None:
                ping_at = loop.time() + interval
                yield encode_event(item)
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await pending
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()


async def _anext(iterator: AsyncIterator[Any]) -> Any:
    return await anext(iterator)
