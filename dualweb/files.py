"""File responses: a file sent whole or in byte ranges, with conditional requests.

A handler returns ``FileResponse(path)``; what is sent depends on the
request (RFC 9110 §13 preconditions, §14 ranges), so the response is
evaluated once a handler, error handler or middleware hook returned it:
the App calls :meth:`FileResponse.prepare` with the request (before any
further ``after_request`` hook), and sends what it returns. ``prepare`` opens the
file (in the thread pool under ASGI), answers 304, 412 or 416 when the
headers say so, and otherwise gives a response whose ``stream`` is a
:class:`FileBody`: the open file and the spans of it to send. The adapters
send a ``FileBody`` by reading it chunk by chunk, or hand the file to the
server (``wsgi.file_wrapper``, the ASGI ``http.response.pathsend`` and
``http.response.zerocopysend`` extensions). The file is closed when the
request ends, however it ends.
"""

from __future__ import annotations

import errno
import logging
import mimetypes
import os
import re
import secrets
import stat
import unicodedata
from collections.abc import Iterator
from email.utils import formatdate, mktime_tz, parsedate_tz
from typing import TYPE_CHECKING, BinaryIO
from urllib.parse import quote

from .responses import (
    BODILESS_STATUSES,
    HeadersInput,
    MutableHeaders,
    PlainTextResponse,
    Response,
    check_header,
)

if TYPE_CHECKING:
    from .datastructures import Headers
    from .requests import Request

logger = logging.getLogger("dualweb")

#: Bytes read from the file at a time.
CHUNK_SIZE = 64 * 1024
#: A Range header longer than this is ignored: the whole file is sent.
MAX_RANGE_HEADER_LENGTH = 1024
#: Most ranges one response serves, once overlapping and adjacent ones are
#: merged; a request for more gets the whole file (one pass over it, never
#: more work than a plain GET).
MAX_RANGES = 16

# mimetypes reads the system's type files on first use: do it at import, not
# later on the event loop.
if not mimetypes.inited:  # pragma: no branch
    mimetypes.init()

# Compressed files are sent as they are, without Content-Encoding, so a
# download stays compressed: their type is the compressor's.
_ENCODING_TYPES = {
    "gzip": "application/gzip",
    "bzip2": "application/x-bzip2",
    "xz": "application/x-xz",
    "br": "application/x-brotli",
    "compress": "application/x-compress",
}
_DIGITS = re.compile(r"[0-9]+").fullmatch
_ENTITY_TAG = re.compile(r'(W/)?"([^"]*)"')
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+").fullmatch
# RFC 8187 attr-char: what filename* may carry without percent-encoding.
_ATTR_CHARS = "!#$&+-.^_`|~"
# Opening errors that mean "there is no file here to serve".
_MISSING = frozenset({errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.ELOOP, errno.ENAMETOOLONG})
# O_NONBLOCK: opening a FIFO must not wait for a writer (it is then refused
# as not a regular file); reads from regular files ignore the flag.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)
_GET_OR_HEAD = ("GET", "HEAD")
# RFC 9110's reason phrases (Python's differ for 416 in some versions).
_PHRASES = {
    403: "Forbidden",
    404: "Not Found",
    412: "Precondition Failed",
    416: "Range Not Satisfiable",
}


def guess_media_type(name: str) -> str:
    """The media type a file name's extension says, ``application/octet-stream`` if none."""
    # Only the base name, behind a dummy directory, so mimetypes never reads
    # a name such as "data:text/html,..." as a data URL.
    media_type, encoding = mimetypes.guess_type("f/" + os.path.basename(name))
    if encoding is not None:
        media_type = _ENCODING_TYPES.get(encoding)
    return media_type or "application/octet-stream"


def content_disposition(filename: str, disposition_type: str = "attachment") -> str:
    """A Content-Disposition value naming ``filename`` (RFC 6266).

    ``filename=`` carries an ASCII stand-in (accents stripped, other
    characters and ``%``, ``"``, ``\\`` replaced by ``_``); when that differs
    from the name, ``filename*=`` carries it exactly, UTF-8 percent-encoded
    (RFC 8187), which every current browser prefers.
    """
    if not _TOKEN(disposition_type):
        raise ValueError(f"invalid disposition type: {disposition_type!r}")
    fallback = "".join(_ascii_stand_in(char) for char in filename)
    value = f'{disposition_type}; filename="{fallback}"'
    if fallback != filename:
        value += "; filename*=UTF-8''" + quote(filename, safe=_ATTR_CHARS)
    return value


def _ascii_stand_in(char: str) -> str:
    if " " <= char <= "~" and char not in '"%\\':
        return char
    base = unicodedata.normalize("NFKD", char)[:1]
    return base if " " <= base <= "~" and base not in '"%\\' else "_"


class FileResponse(Response):
    """The file at ``path``, evaluated against the request when it is sent.

    Content-Type is ``media_type``, or guessed from the extension of
    ``filename`` or ``path`` (text types get ``charset=utf-8``). With
    ``filename``, Content-Disposition (``attachment`` or ``inline``) names
    it. Sent with Content-Length, ``Accept-Ranges: bytes``, Last-Modified
    and a strong ETag made of the file's modification time (in nanoseconds)
    and size; headers given in ``headers`` win, so ``{"ETag": ...}`` may set
    a content hash instead, and preconditions are checked against it.

    The file is looked at only once the handler returned the response (see
    :meth:`prepare`), so the constructor does no I/O and an async handler
    may return it. Middleware ``after_request`` hooks see the prepared
    response: the 200, 206 or 304 with all its headers.

    When the file cannot be served the client gets 404 (missing, a
    directory, not a regular file) or 403 (the server may not read it);
    these come from :meth:`prepare`, so error handlers do not see them.
    Check first (or use :class:`~dualweb.staticfiles.StaticFiles`) for a
    custom 404 page.
    """

    __slots__ = ("chunk_size", "path")

    def __init__(
        self,
        path: str | os.PathLike[str],
        status: int = 200,
        headers: HeadersInput = None,
        media_type: str | None = None,
        filename: str | None = None,
        content_disposition_type: str = "attachment",
        *,
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        if status in BODILESS_STATUSES:
            raise ValueError(f"a FileResponse cannot have status {status}, which has no body")
        self._start(status, b"", headers)
        #: The file to send, as given (made absolute when sent).
        self.path = os.fspath(path)
        self.chunk_size = chunk_size
        # Code that reads ``stream`` itself (a middleware) gets the whole file.
        self.stream = self
        if media_type is None:
            media_type = guess_media_type(filename or self.path)
            check_header("content-type", media_type)
        self._add_entity_headers(media_type, None)
        headers_view = MutableHeaders(self.raw_headers)
        if filename is not None:
            headers_view.setdefault(
                "content-disposition", content_disposition(filename, content_disposition_type)
            )
        headers_view.setdefault("accept-ranges", "bytes")

    def __iter__(self) -> Iterator[bytes]:
        """The whole file, chunk by chunk, whatever the request (blocking reads)."""
        file, _ = _open_regular_file(self.path)
        with file:
            while chunk := file.read(self.chunk_size):
                yield chunk

    def prepare(self, request: Request) -> Response:
        """The response to send for ``request``; the App calls it.

        Opens the file (blocking: under ASGI the App calls it in the thread
        pool), then answers, in the order of RFC 9110 §13.2.2: 412 when
        If-Match or If-Unmodified-Since fails; 304 when If-None-Match or
        If-Modified-Since matches (412 for methods other than GET and HEAD);
        for GET and HEAD with a Range header that If-Range allows, 206 with
        one range, 206 ``multipart/byteranges`` with several, or 416 when
        none can be satisfied; otherwise 200. Conditions and ranges apply
        only to a 200 FileResponse: with another status the file is sent
        whole. A HEAD gets the headers of the GET.

        A returned response with a body has a :class:`FileBody` as its
        stream, registered with ``request.add_cleanup``; without a body the
        file is already closed.
        """
        try:
            file, info = _open_regular_file(self.path)
        except PermissionError:
            # Windows refuses to open a directory with EACCES: still "not here".
            status = 404 if os.path.isdir(self.path) else 403
            return _error(status, self.raw_headers)
        except (OSError, ValueError) as exc:
            # ValueError: a NUL byte or an unencodable character in the path.
            if isinstance(exc, OSError) and exc.errno not in _MISSING:
                logger.exception(
                    "Cannot open %r for %s %s", self.path, request.method, request.path
                )
                return PlainTextResponse("Internal Server Error", 500)
            return _error(404, self.raw_headers)
        try:
            response = self._answer(request, file, info)
        except BaseException:
            file.close()
            raise
        if response.stream is None:
            file.close()
        else:
            request.add_cleanup(file)
        return response

    def _answer(self, request: Request, file: BinaryIO, info: os.stat_result) -> Response:
        size = info.st_size
        headers = list(self.raw_headers)
        view = MutableHeaders(headers)
        etag = view.setdefault("etag", f'"{info.st_mtime_ns:x}-{size:x}"')
        last_modified = view.setdefault("last-modified", formatdate(info.st_mtime, usegmt=True))
        status, ranges = self.status_code, None
        if status == 200:
            status, ranges = evaluate(
                request.method, request.headers, size, etag, _parse_http_date(last_modified)
            )
        if status == 304:
            return Response(b"", 304, _not_modified_headers(headers))
        if status == 412:
            return _error(412, headers)
        if status == 416:
            return _error(416, [*headers, ("content-range", f"bytes */{size}")])
        segments: list[bytes | tuple[int, int]]
        if ranges is None:
            segments = [(0, size)]
            view["content-length"] = str(size)
        elif len(ranges) == 1:
            start, stop = ranges[0]
            segments = [(start, stop - start)]
            view["content-range"] = f"bytes {start}-{stop - 1}/{size}"
            view["content-length"] = str(stop - start)
        else:
            segments, media_type = _multipart(ranges, size, view.get("content-type"))
            view["content-type"] = media_type
            view["content-length"] = str(
                sum(len(s) if isinstance(s, bytes) else s[1] for s in segments)
            )
        response = Response(b"", status, headers)
        if request.method != "HEAD":
            response.stream = FileBody(
                os.path.abspath(self.path), file, size, segments, self.chunk_size
            )
        return response


class FileBody:
    """What a prepared file response sends: an open file and the spans of it.

    ``segments`` lists, in order, bytes sent as they are (the parts' headers
    of a ``multipart/byteranges`` body) and ``(offset, count)`` spans of the
    file. Iterating reads the spans chunk by chunk (blocking reads). A file
    that turns out shorter than it was when the headers were made raises
    ``OSError`` rather than send fewer bytes than Content-Length says.
    """

    __slots__ = ("_remaining", "chunk_size", "file", "path", "segments", "size")

    def __init__(
        self,
        path: str,
        file: BinaryIO,
        size: int,
        segments: list[bytes | tuple[int, int]],
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        #: The file's absolute path (for the ASGI pathsend extension).
        self.path = path
        self.file = file
        #: The file's size when the response was prepared.
        self.size = size
        self.segments = segments
        self.chunk_size = chunk_size
        self._remaining = size

    @property
    def whole(self) -> bool:
        """Whether the body is the whole file, and nothing else."""
        return self.segments == [(0, self.size)]

    def __iter__(self) -> Iterator[bytes]:
        try:
            for segment in self.segments:
                if isinstance(segment, bytes):
                    yield segment
                    continue
                offset, count = segment
                self.file.seek(offset)
                while count:
                    chunk = self.file.read(min(self.chunk_size, count))
                    if not chunk:
                        raise self._shrunk()
                    count -= len(chunk)
                    yield chunk
        finally:
            self.close()

    def read(self, size: int = -1) -> bytes:
        """The next bytes of a whole-file body, never past ``size`` (for ``wsgi.file_wrapper``)."""
        if size < 0 or size > self._remaining:
            size = self._remaining
        data = self.file.read(size) if size else b""
        if len(data) < size:
            raise self._shrunk()
        self._remaining -= size
        return data

    def fileno(self) -> int:
        return self.file.fileno()

    def close(self) -> None:
        self.file.close()

    def _shrunk(self) -> OSError:
        return OSError(f"{self.path} became shorter while it was being sent")


def _open_regular_file(path: str) -> tuple[BinaryIO, os.stat_result]:
    """Open ``path`` for reading; FileNotFoundError unless it is a regular file."""
    fd = os.open(path, _OPEN_FLAGS)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FileNotFoundError(errno.ENOENT, "not a regular file", path)
        return open(fd, "rb"), info
    except BaseException:
        os.close(fd)
        raise


# -- evaluating the request's headers (no I/O) ------------------------------------------


def evaluate(
    method: str, headers: Headers, size: int, etag: str, last_modified: int | None
) -> tuple[int, list[tuple[int, int]] | None]:
    """(status, ranges) for a request on a representation (RFC 9110 §13.2.2, §14).

    ``last_modified`` is in seconds since the epoch. The status is 200,
    206 (with the merged ``(start, stop)`` ranges, ``stop`` exclusive), 304,
    412 or 416.
    """
    safe = method in _GET_OR_HEAD
    if_match = headers.get("if-match")
    if if_match is not None:
        if not _etag_matches(if_match, etag, weak=False):
            return 412, None
    else:
        since = _parse_http_date(headers.get("if-unmodified-since"))
        if since is not None and last_modified is not None and last_modified > since:
            return 412, None
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        if _etag_matches(if_none_match, etag, weak=True):
            return (304 if safe else 412), None
    elif safe:
        since = _parse_http_date(headers.get("if-modified-since"))
        if since is not None and last_modified is not None and last_modified <= since:
            return 304, None
    range_header = headers.get("range")
    # §14.2: ranges are defined for GET (HEAD gets GET's headers); an empty
    # file has no range to give, so it is sent whole.
    if range_header is None or not safe or size == 0:
        return 200, None
    if_range = headers.get("if-range")
    if if_range is not None and not _if_range_holds(if_range, etag, last_modified):
        return 200, None
    ranges = parse_ranges(range_header, size)
    if ranges is None:
        return 200, None
    if not ranges:
        return 416, None
    return 206, ranges


def parse_ranges(header: str, size: int) -> list[tuple[int, int]] | None:
    """The ``(start, stop)`` byte ranges a Range header asks of ``size`` bytes.

    Sorted and merged (overlapping or adjacent ranges become one), ``stop``
    exclusive. None means "ignore the header and send everything": another
    unit, invalid syntax (RFC 9110 §14.2), a header longer than
    ``MAX_RANGE_HEADER_LENGTH``, or more than ``MAX_RANGES`` ranges once
    merged. ``[]`` means none of the ranges can be satisfied (416). The work
    is O(n log n) in the number of ranges, which the length bound caps.
    """
    if len(header) > MAX_RANGE_HEADER_LENGTH:
        return None
    unit, equals, specs = header.partition("=")
    if not equals or unit.strip().lower() != "bytes":
        return None
    ranges: list[tuple[int, int]] = []
    seen = False
    for spec in specs.split(","):
        spec = spec.strip(" \t")
        if not spec:
            continue  # RFC 9110 §5.6.1: empty list elements are allowed
        seen = True
        first, dash, last = spec.partition("-")
        if not dash:
            return None
        if not first:
            # A suffix: the last ``last`` bytes (all of them if the file is shorter).
            if not _DIGITS(last):
                return None
            length = int(last)
            # An empty file has no last bytes to give: unsatisfiable, not (0, 0).
            if length and size:
                ranges.append((max(size - length, 0), size))
            continue
        if not _DIGITS(first) or (last and not _DIGITS(last)):
            return None
        start = int(first)
        stop = size
        if last:
            stop = int(last) + 1
            if stop <= start:
                return None  # last-pos before first-pos: invalid
        if start < size:
            ranges.append((start, min(stop, size)))
    if not seen:
        return None
    merged = _merge(ranges)
    return merged if len(merged) <= MAX_RANGES else None


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, stop in sorted(ranges):
        if merged and start <= merged[-1][1]:
            if stop > merged[-1][1]:
                merged[-1] = (merged[-1][0], stop)
        else:
            merged.append((start, stop))
    return merged


def _multipart(
    ranges: list[tuple[int, int]], size: int, media_type: str | None
) -> tuple[list[bytes | tuple[int, int]], str]:
    """The segments of a ``multipart/byteranges`` body (RFC 9110 §14.6), and its type."""
    boundary = secrets.token_hex(16)
    part_type = f"Content-Type: {media_type}\r\n" if media_type else ""
    segments: list[bytes | tuple[int, int]] = []
    for index, (start, stop) in enumerate(ranges):
        # Each part after the first starts on a new line (the CRLF before a
        # delimiter belongs to the delimiter).
        head = f"--{boundary}\r\n{part_type}Content-Range: bytes {start}-{stop - 1}/{size}\r\n\r\n"
        segments.append((b"\r\n" if index else b"") + head.encode("latin-1"))
        segments.append((start, stop - start))
    segments.append(f"\r\n--{boundary}--\r\n".encode("latin-1"))
    return segments, f"multipart/byteranges; boundary={boundary}"


def _etag_matches(header: str, etag: str, *, weak: bool) -> bool:
    """Whether an If-Match / If-None-Match list matches ``etag`` (RFC 9110 §8.8.3.2)."""
    if header.strip() == "*":
        return True
    current = _ENTITY_TAG.fullmatch(etag.strip())
    if current is None:
        return False
    if not weak and current.group(1):
        return False
    for match in _ENTITY_TAG.finditer(header):
        if match.group(2) == current.group(2) and (weak or not match.group(1)):
            return True
    return False


def _if_range_holds(header: str, etag: str, last_modified: int | None) -> bool:
    """Whether If-Range lets the Range header apply (RFC 9110 §13.1.5)."""
    value = header.strip()
    if value.startswith(('"', "W/")):
        # A strong comparison: a weak tag never matches.
        return value == etag.strip() and not value.startswith("W/")
    since = _parse_http_date(value)
    return since is not None and since == last_modified


def _parse_http_date(value: str | None) -> int | None:
    """An HTTP-date as seconds since the epoch; None when absent or invalid."""
    if not value:
        return None
    try:
        parsed = parsedate_tz(value)
        return mktime_tz(parsed) if parsed is not None else None
    except (ValueError, OverflowError, IndexError, TypeError):
        return None


def _not_modified_headers(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    # RFC 9110 §15.4.5: a 304 describes no content, but keeps the validators
    # and caching headers (and anything else, such as Set-Cookie).
    return [
        (name, value)
        for name, value in headers
        if not name.startswith("content-") or name == "content-location"
    ]


def _error(status: int, headers: list[tuple[str, str]]) -> Response:
    # An error response is not the file: it drops every header about the file
    # (Content-Range of a 416 excepted) and keeps the others (Set-Cookie...).
    kept = [
        (name, value)
        for name, value in headers
        if name == "content-range"
        or not (name.startswith("content-") or name in ("etag", "last-modified", "accept-ranges"))
    ]
    return PlainTextResponse(_PHRASES[status], status, kept)
