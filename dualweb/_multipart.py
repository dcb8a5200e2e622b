"""multipart/form-data bodies (RFC 7578), parsed as they arrive.

The ``multipart`` package's :class:`PushMultipartParser` is sans-IO: it is fed
the body chunk by chunk, from ``request.stream()`` or ``request.astream()``,
and gives back part headers and pieces of part bodies. :class:`FormBuilder`
turns those into fields and :class:`~dualweb.uploads.UploadFile` objects and
enforces the limits; the two drivers, :func:`parse` and :func:`aparse`, only
add the reading and the disk writes, so nothing is held beyond the current
chunk, a small field, and a file's in-memory part.
"""

from __future__ import annotations

import asyncio
import math
import re
from typing import TYPE_CHECKING, Any

from ._multipart_import import load_multipart
from .datastructures import Headers
from .exceptions import HTTPException
from .forms import FormData, FormFiles, field_too_large, too_many_fields
from .uploads import UploadFile

if TYPE_CHECKING:
    from .requests import Request

multipart = load_multipart()

#: Most header lines in one part. RFC 7578 §4.8 names three headers
#: (Content-Disposition, Content-Type, Content-Transfer-Encoding); browsers
#: send two. With ``max_part_header_size`` this bounds a part's headers.
MAX_PART_HEADERS = 16

# RFC 2046 §5.1.1: 1 to 70 characters out of bchars, not ending with a space.
_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")
_BOUNDARY_MAX = 70
# The parameter, as a quoted-string or as everything up to the next ";"
# (RFC 9110 §5.6.6); what is not a valid boundary is refused, not cut short.
_BOUNDARY_PARAM = re.compile(r';\s*boundary\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]*))', re.IGNORECASE)
_QUOTED_PAIR = re.compile(r"\\(.)")

_MALFORMED = "Malformed multipart body"
_BAD_BOUNDARY_LINE = "a boundary line is malformed"
_BAD_HEADER = "a part header is malformed"
_BAD_LENGTH = "a part's Content-Length header does not match its body"
# The parser's messages (multipart 2.x), said in our words.
_PARSER_ERRORS = {
    "Unexpected byte in front of first boundary": _BAD_BOUNDARY_LINE,
    "Invalid line break after first boundary": _BAD_BOUNDARY_LINE,
    "Unexpected byte after first boundary": _BAD_BOUNDARY_LINE,
    "Unexpected bytes after boundary": _BAD_BOUNDARY_LINE,
    "Invalid line break in segment header": _BAD_HEADER,
    "Segment header failed to decode": _BAD_HEADER,
    "Malformed segment header": _BAD_HEADER,
    "Invalid segment header name": _BAD_HEADER,
    "Unexpected segment header continuation": _BAD_HEADER,
    "Empty segment header continuation": _BAD_HEADER,
    "Multiple segment Content-Length headers": _BAD_LENGTH,
    "Invalid segment Content-Length header value": _BAD_LENGTH,
    "Segment Content-Length exceeded": _BAD_LENGTH,
    "Segment size does not match Content-Length header": _BAD_LENGTH,
    "Missing Content-Disposition segment header": "a part has no Content-Disposition header",
    "Invalid Content-Disposition segment header: Wrong type": (
        "a part's Content-Disposition is not form-data"
    ),
}


def boundary_of(content_type: str) -> str:
    """The ``boundary`` parameter of a multipart Content-Type; 400 when missing or invalid."""
    match = _BOUNDARY_PARAM.search(content_type)
    if match is None:
        raise HTTPException(400, f"{_MALFORMED}: the Content-Type has no boundary")
    quoted, token = match.groups()
    boundary = _QUOTED_PAIR.sub(r"\1", quoted) if quoted is not None else token.strip()
    if not boundary:
        raise HTTPException(400, f"{_MALFORMED}: the Content-Type has no boundary")
    if len(boundary) > _BOUNDARY_MAX or not _BOUNDARY.fullmatch(boundary):
        raise HTTPException(400, f"{_MALFORMED}: the boundary is not valid (RFC 2046)")
    return boundary


class FormBuilder:
    """Feeds the parser and builds the form from its events, enforcing the limits.

    It does no I/O: file bytes go to :meth:`UploadFile._append`, and the
    uploads whose spooled bytes must now be written to disk are returned to
    the driver, which writes them the way its mode allows.
    """

    __slots__ = (
        "_field_chunks",
        "_field_count",
        "_field_size",
        "_fields",
        "_files",
        "_max_field_size",
        "_max_fields",
        "_max_file_size",
        "_max_files",
        "_max_header_size",
        "_parser",
        "_parts",
        "_pool",
        "_request",
        "_segment",
        "_threshold",
        "_upload",
    )

    def __init__(self, request: Request, boundary: str) -> None:
        limit = request.limit
        self._request = request
        self._max_fields = limit("max_form_fields")
        self._max_files = limit("max_form_files")
        self._max_field_size = limit("max_field_size")
        self._max_file_size = limit("max_file_size")
        self._max_header_size = limit("max_part_header_size")
        self._threshold = request.app.spool_threshold
        self._pool = request.app.thread_pool
        self._parser: Any = new_parser(boundary, self._max_header_size)
        self._fields: list[tuple[str, str]] = []
        self._files: list[tuple[str, UploadFile]] = []
        self._parts = 0
        self._field_count = 0
        self._segment: Any = None
        self._upload: UploadFile | None = None
        self._field_chunks: list[bytes] = []
        self._field_size = 0

    @property
    def uploads(self) -> list[UploadFile]:
        return [upload for _, upload in self._files]

    def feed(self, chunk: bytes) -> list[UploadFile]:
        """Parse the next chunk; the uploads with bytes due for disk (``UploadFile._take``)."""
        due: list[UploadFile] = []
        # The work per event runs inline on local variables, not in methods
        # and attributes: on a body of many small fields, those cost a third
        # of the parser's own time. The state goes back to self at the end.
        max_field_size = self._max_field_size
        max_file_size = self._max_file_size
        max_fields = self._max_fields
        fields = self._fields
        upload = self._upload
        segment = self._segment
        field_chunks = self._field_chunks
        field_size = self._field_size
        field_count = self._field_count
        parts = self._parts
        try:
            for event in self._parser.parse(chunk):
                if type(event) is bytes:
                    if upload is None:
                        field_size += len(event)
                        if max_field_size is not None and field_size > max_field_size:
                            raise field_too_large(max_field_size)
                        field_chunks.append(event)
                    else:
                        if max_file_size is not None and upload.size + len(event) > max_file_size:
                            raise file_too_large(max_file_size)
                        if upload._append(event):
                            due.append(upload)
                elif event is None:
                    if upload is None:
                        data = (
                            field_chunks[0] if len(field_chunks) == 1 else b"".join(field_chunks)
                        )
                        field_chunks = []
                        field_size = 0
                        charset = segment.charset or "utf-8"
                        try:
                            value = data.decode(charset)
                        except (UnicodeError, LookupError, ValueError) as exc:
                            raise undecodable(exc, charset) from None
                        fields.append((segment.name, value))
                    else:
                        if upload._finish():
                            due.append(upload)
                        upload = None
                else:
                    parts += 1
                    segment = event
                    if event.filename is not None:
                        upload = self._start_file(event)
                    else:
                        field_count += 1
                        if max_fields is not None and field_count > max_fields:
                            raise too_many_fields(max_fields)
        except multipart.MultipartError as exc:
            raise parser_error(exc, self._max_header_size) from None
        finally:
            self._upload = upload
            self._segment = segment
            self._field_chunks = field_chunks
            self._field_size = field_size
            self._field_count = field_count
            self._parts = parts
        return due

    def finish(self) -> FormData:
        """The body ended: 400 unless the closing boundary was seen."""
        try:
            self._parser.close()
        except multipart.MultipartError:
            raise unterminated(self._parts) from None
        return FormData(self._fields, FormFiles(self._files))

    def _start_file(self, segment: Any) -> UploadFile:
        # A part with a filename is a file, even an empty one: browsers send
        # filename="" and no bytes for a file input left empty.
        if self._max_files is not None and len(self._files) >= self._max_files:
            raise HTTPException(
                413, f"Too many files in form body (max_form_files={self._max_files})"
            )
        upload = UploadFile(
            segment.filename,
            thread_pool=self._pool,
            content_type=segment.content_type or "application/octet-stream",
            headers=Headers(segment.headerlist),
            spool_threshold=self._threshold,
        )
        # Registered at once: whatever happens next, the request closes it.
        self._request.add_cleanup(upload)
        self._files.append((segment.name, upload))
        return upload


Jobs = list[tuple[UploadFile, list[bytes], bool]]


def _jobs(due: list[UploadFile]) -> Jobs:
    # An upload can be listed twice (a full batch, then its end): one job.
    return [(upload, *upload._take()) for upload in dict.fromkeys(due)]


def _write(jobs: Jobs) -> None:
    for upload, batch, last in jobs:
        upload._write(batch, last)


def _close_all(uploads: list[UploadFile]) -> None:
    for upload in uploads:
        upload.close()


def parse(request: Request, boundary: str) -> FormData:
    """Parse the body from sync code; disk writes happen on this thread."""
    builder = FormBuilder(request, boundary)
    try:
        for chunk in request.stream():
            due = builder.feed(chunk)
            if due:
                _write(_jobs(due))
        return builder.finish()
    except BaseException:
        _close_all(builder.uploads)
        raise


async def aparse(request: Request, boundary: str) -> FormData:
    """Parse the body from async code.

    Under ASGI the loop must not wait for the disk: batches are written in
    the thread pool while the next chunks are received and parsed, with one
    write in flight at a time, which keeps them in order and bounds memory
    to two batches. Under WSGI the loop belongs to this request's worker
    thread alone, so they are written inline.
    """
    builder = FormBuilder(request, boundary)
    offload = request.interface == "asgi"
    run = request.app.thread_pool.run
    writing: asyncio.Future[None] | None = None
    try:
        async for chunk in request.astream():
            due = builder.feed(chunk)
            if due:
                jobs = _jobs(due)
                if not offload:
                    _write(jobs)
                    continue
                if writing is not None:
                    await writing
                writing = asyncio.ensure_future(run(_write, jobs))
        if writing is not None:
            await writing
        return builder.finish()
    except BaseException:
        if writing is not None:
            # Let the write in flight end before its file is closed (its
            # own error, if any, is superseded by the one being raised).
            await asyncio.gather(writing, return_exceptions=True)
        uploads = builder.uploads
        if offload and not all(upload.in_memory for upload in uploads):
            await run(_close_all, uploads)
        else:
            _close_all(uploads)
        raise


def new_parser(boundary: str, max_header_size: int | None) -> Any:
    """A push parser for one body, with the part header limits."""
    return multipart.PushMultipartParser(
        boundary,
        max_header_size=math.inf if max_header_size is None else max_header_size,
        max_header_count=MAX_PART_HEADERS,
    )


def parser_error(exc: Exception, max_header_size: int | None) -> HTTPException:
    """The parser's complaint as the 400 or 413 the client gets."""
    message = str(exc.args[0]) if exc.args else ""
    if isinstance(exc, multipart.ParserLimitReached):
        if "count" in message:
            return HTTPException(
                413, f"Too many headers in a multipart part (max {MAX_PART_HEADERS})"
            )
        return HTTPException(
            413,
            "A multipart part header is larger than max_part_header_size "
            f"({max_header_size} bytes)",
        )
    reason = _PARSER_ERRORS.get(message)
    return HTTPException(400, f"{_MALFORMED}: {reason}" if reason else _MALFORMED)


def unterminated(parts_seen: int) -> HTTPException:
    """400 for a body that ended without its closing boundary."""
    if parts_seen == 0:
        return HTTPException(400, f"{_MALFORMED}: the boundary was not found")
    return HTTPException(400, f"{_MALFORMED}: the body ends before the closing boundary")


def undecodable(error: Exception, charset: str) -> HTTPException:
    """400 for a field whose bytes its charset does not decode, or an unknown charset."""
    if isinstance(error, UnicodeError):
        # Not only UnicodeDecodeError: the idna and punycode codecs raise a
        # bare UnicodeError on bad input.
        return HTTPException(400, f"{_MALFORMED}: a field is not valid {charset[:40]}")
    # LookupError: no such codec; ValueError: a NUL in the name ("embedded null character").
    return HTTPException(400, f"{_MALFORMED}: unknown charset {charset[:40]!r}")


def file_too_large(limit: int) -> HTTPException:
    return HTTPException(413, f"An uploaded file is larger than max_file_size ({limit} bytes)")
