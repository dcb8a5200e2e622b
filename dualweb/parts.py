"""A multipart body read part by part, as it arrives: ``request.parts()``.

``request.form()`` stores every part (small fields in memory, files in
:class:`~dualweb.uploads.UploadFile` objects, spooled to disk when large).
``parts()`` hands each part over as it comes instead, its bytes straight from
the parser: a handler can stream a large upload to where it belongs (a hash,
object storage, a file of its own choosing) without a temporary copy::

    for part in request.parts():          # async: async for part in request.aparts()
        if part.filename is None:
            note = part.text()            # async: await part.atext()
        else:
            for chunk in part:            # async: async for chunk in part
                sink.write(chunk)

A part is read before the next one: moving on skips what is left of it. The
App's limits apply as for ``form()``.
"""

from __future__ import annotations

import collections
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from ._multipart import (
    file_too_large,
    multipart,
    new_parser,
    parser_error,
    undecodable,
    unterminated,
)
from .datastructures import Headers
from .exceptions import HTTPException
from .forms import field_too_large, too_many_fields

if TYPE_CHECKING:
    from .requests import Request

_END: Any = object()


class Part:
    """One part of a multipart body: its headers now, its bytes as they arrive."""

    __slots__ = (
        "_events",
        "_headers",
        "_limit",
        "_segment",
        "_size",
        "filename",
        "name",
    )

    def __init__(self, segment: Any, events: _Events) -> None:
        #: The form field's name (``Content-Disposition: form-data; name=...``).
        self.name: str = segment.name
        #: The file name a file input sent (``""`` for one left empty), or None
        #: for a plain field.
        self.filename: str | None = segment.filename
        self._segment = segment
        self._headers: Headers | None = None
        self._limit = events.max_field_size if self.filename is None else events.max_file_size
        # None once the part's end was read: an iterator still open on it
        # (a second one, or one left behind) must not pull the next part's events.
        self._events: _Events | None = events
        self._size = 0

    @property
    def content_type(self) -> str | None:
        """The part's media type, lower-case without parameters (as
        ``UploadFile.content_type``), or None when it has no Content-Type."""
        return self._segment.content_type  # type: ignore[no-any-return]

    @property
    def headers(self) -> Headers:
        """The part's own headers (built when first asked for: most parts never are)."""
        if self._headers is None:
            self._headers = Headers(self._segment.headerlist)
        return self._headers

    def __iter__(self) -> Iterator[bytes]:
        """The part's bytes, chunk by chunk (sync: ``request.parts()``)."""
        while (chunk := self._next_chunk()) is not None:
            yield chunk

    async def __aiter__(self) -> AsyncIterator[bytes]:
        """The part's bytes, chunk by chunk (async: ``request.aparts()``)."""
        while (events := self._unread()) is not None:
            # Without a coroutine to await when the event is already parsed.
            pending = events.pending
            chunk = self._take(pending.popleft() if pending else await events.anext_event())
            if chunk is None:
                return
            yield chunk

    def _unread(self) -> _Events | None:
        """The events to read the part's bytes from; None once it was read to its end."""
        events = self._events
        return events if events is not None and events.current is self else None

    def _next_chunk(self) -> bytes | None:
        """The part's next bytes, or None at its end (and ever after)."""
        events = self._unread()
        if events is None:
            return None
        # Most events are already parsed and waiting: taken without a call.
        pending = events.pending
        return self._take(pending.popleft() if pending else events.next_event())

    def _take(self, event: Any) -> bytes | None:
        if event is None or event is _END:  # the part's end, or the body's
            self._events = None
            return None
        self._size += len(event)
        limit = self._limit
        if limit is not None and self._size > limit:
            if self.filename is None:
                raise field_too_large(limit)
            raise file_too_large(limit)
        return event  # type: ignore[no-any-return]

    def read(self) -> bytes:
        """The rest of the part's bytes (held in memory: for small parts)."""
        # A loop rather than join(self): no generator per part.
        chunks = []
        while (chunk := self._next_chunk()) is not None:
            chunks.append(chunk)
        return b"".join(chunks)

    async def aread(self) -> bytes:
        """:meth:`read`, for async code."""
        # __aiter__'s loop, inline: no async generator per part.
        chunks = []
        while (events := self._unread()) is not None:
            pending = events.pending
            chunk = self._take(pending.popleft() if pending else await events.anext_event())
            if chunk is None:
                break
            chunks.append(chunk)
        return b"".join(chunks)

    def text(self) -> str:
        """The rest of the part, decoded with its charset (UTF-8 by default); 400 if it fails."""
        return self._decode(self.read())

    async def atext(self) -> str:
        """:meth:`text`, for async code."""
        return self._decode(await self.aread())

    def _decode(self, data: bytes) -> str:
        # The parser splits the charset off the Content-Type.
        charset = self._segment.charset or "utf-8"
        try:
            return data.decode(charset)
        except (UnicodeError, LookupError, ValueError) as exc:
            raise undecodable(exc, charset) from None

    def __repr__(self) -> str:
        return f"<Part name={self.name!r} filename={self.filename!r}>"


class _Events:
    """The parser's events for one body, pulled from the request as parts ask for them."""

    __slots__ = (
        "_body",
        "_fields",
        "_files",
        "_max_fields",
        "_max_files",
        "_max_header_size",
        "_parser",
        "_sync_body",
        "current",
        "max_field_size",
        "max_file_size",
        "pending",
    )

    def __init__(self, request: Request, boundary: str, asynchronous: bool) -> None:
        limit = request.limit
        self._max_fields = limit("max_form_fields")
        self._max_files = limit("max_form_files")
        self._max_header_size = limit("max_part_header_size")
        self.max_field_size = limit("max_field_size")
        self.max_file_size = limit("max_file_size")
        self._parser: Any = new_parser(boundary, self._max_header_size)
        #: Events parsed and not yet taken.
        self.pending: collections.deque[Any] = collections.deque()
        self._body: AsyncIterator[bytes] | None = request.astream() if asynchronous else None
        self._sync_body: Iterator[bytes] | None = None if asynchronous else request.stream()
        self._fields = 0
        self._files = 0
        #: The part being read; earlier ones are done.
        self.current: Part | None = None

    def next_event(self) -> Any:
        while not self.pending:
            assert self._sync_body is not None
            chunk = next(self._sync_body, None)
            if chunk is None:
                return self._finish()
            self._feed(chunk)
        return self.pending.popleft()

    async def anext_event(self) -> Any:
        while not self.pending:
            assert self._body is not None
            chunk = await anext(self._body, None)
            if chunk is None:
                return self._finish()
            self._feed(chunk)
        return self.pending.popleft()

    def _feed(self, chunk: bytes) -> None:
        try:
            self.pending.extend(self._parser.parse(chunk))
        except multipart.MultipartError as exc:
            raise parser_error(exc, self._max_header_size) from None

    def _finish(self) -> Any:
        try:
            self._parser.close()
        except multipart.MultipartError:
            raise unterminated(self._fields + self._files) from None
        return _END

    def start(self, segment: Any) -> Part:
        """A part begins: count it against the limits."""
        if segment.filename is None:
            self._fields += 1
            if self._max_fields is not None and self._fields > self._max_fields:
                raise too_many_fields(self._max_fields)
        else:
            self._files += 1
            if self._max_files is not None and self._files > self._max_files:
                raise HTTPException(
                    413, f"Too many files in form body (max_form_files={self._max_files})"
                )
        part = self.current = Part(segment, self)
        return part


def iter_parts(request: Request, boundary: str) -> Iterator[Part]:
    events = _Events(request, boundary, asynchronous=False)
    while True:
        part = events.current
        if part is not None:
            while part._next_chunk() is not None:  # what the handler left of it
                pass
        pending = events.pending
        event = pending.popleft() if pending else events.next_event()
        if event is _END:
            events.current = None
            return
        yield events.start(event)


async def aiter_parts(request: Request, boundary: str) -> AsyncIterator[Part]:
    events = _Events(request, boundary, asynchronous=True)
    while True:
        part = events.current
        if part is not None and part._unread() is not None:
            async for _ in part:  # what the handler left of it
                pass
        pending = events.pending
        event = pending.popleft() if pending else await events.anext_event()
        if event is _END:
            events.current = None
            return
        yield events.start(event)
