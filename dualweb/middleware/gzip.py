"""gzip content coding for responses whose client accepts it (RFC 9110 §8.4)."""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import TYPE_CHECKING

from ._vary import add_vary
from .base import Middleware

if TYPE_CHECKING:
    from ..requests import Request
    from ..responses import Response

# zlib's wbits for a gzip container (header and CRC) rather than raw zlib.
_GZIP_WBITS = 16 + zlib.MAX_WBITS
# 204 and 304 have no body; a 206 body is a byte range of the identity
# representation, which compressing would make meaningless.
_SKIPPED_STATUSES = frozenset({204, 206, 304})


class GZipMiddleware(Middleware):
    """Compress response bodies with gzip when the client accepts it.

    Full bodies of at least ``minimum_size`` bytes are compressed at once;
    streams chunk by chunk, each chunk flushed so the client gets it as soon
    as the stream produces it. Responses that already have a
    Content-Encoding, server-sent events, ``Cache-Control: no-transform``
    and 204/206/304 responses are left alone.
    """

    inline = True

    def __init__(self, minimum_size: int = 500, compresslevel: int = 6) -> None:
        if minimum_size < 0:
            raise ValueError("minimum_size must not be negative")
        if not 0 <= compresslevel <= 9:
            raise ValueError("compresslevel must be from 0 to 9")
        self.minimum_size = minimum_size
        self.compresslevel = compresslevel

    def after_request(self, request: Request, response: Response) -> None:
        if not self._compressible(response):
            return
        # From here the representation depends on Accept-Encoding.
        add_vary(response, "Accept-Encoding")
        if not accepts_gzip(request.headers.get("accept-encoding", "")):
            return
        headers = response.headers
        stream = response.stream
        if stream is None:
            compressor = self._compressor()
            compressed = compressor.compress(response.body) + compressor.flush()
            if len(compressed) >= len(response.body):
                return  # incompressible: gzip would only add its overhead
            response.body = compressed
            headers["Content-Length"] = str(len(compressed))
        elif isinstance(stream, AsyncIterable):
            response.stream = _AsyncGzipStream(stream, self._compressor())
            del headers["Content-Length"]
        elif isinstance(stream, Iterable):
            response.stream = _GzipStream(stream, self._compressor())
            del headers["Content-Length"]
        else:
            return  # pragma: no cover - a Response's stream is always iterable
        headers["Content-Encoding"] = "gzip"
        # Another representation needs another strong validator (RFC 9110
        # §8.8.1); a weak one still says "semantically the same".
        etag = headers.get("etag")
        if etag is not None and not etag.startswith("W/"):
            headers["ETag"] = f"W/{etag}"
        # Byte ranges would address the identity body, not this one.
        del headers["Accept-Ranges"]

    def _compressible(self, response: Response) -> bool:
        status = response.status_code
        if status < 200 or status in _SKIPPED_STATUSES:
            return False
        stream: object = response.stream
        if stream is response:
            # A response that produces its own body when sent (as an
            # unprepared FileResponse would): its stream is not ours to wrap.
            return False
        headers = response.headers
        if "content-encoding" in headers:
            return False
        media_type = (headers.get("content-type") or "").partition(";")[0].strip().lower()
        if media_type == "text/event-stream":
            return False  # each event must reach the client as it is sent
        cache_control = (headers.get("cache-control") or "").lower()
        if "no-transform" in (item.strip() for item in cache_control.split(",")):
            return False
        if response.stream is None:
            return len(response.body) >= self.minimum_size
        length = headers.get("content-length")
        return not (
            length is not None
            and length.isascii()
            and length.isdigit()
            and int(length) < self.minimum_size
        )

    def _compressor(self) -> zlib._Compress:
        return zlib.compressobj(self.compresslevel, zlib.DEFLATED, _GZIP_WBITS)


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding value allows gzip (RFC 9110 §12.5.3).

    ``gzip`` (or ``x-gzip``) with a q-value above 0 does; otherwise ``*``
    with a q-value above 0 does. Malformed q-values count as 0.
    """
    star: float | None = None
    for item in accept_encoding.split(","):
        coding, _, params = item.partition(";")
        coding = coding.strip().lower()
        if coding in ("gzip", "x-gzip"):
            return _qvalue(params) > 0
        if coding == "*":
            star = _qvalue(params)
    return star is not None and star > 0


def _qvalue(params: str) -> float:
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            value = value.strip()
            # RFC 9110 §12.4.2: "0" to "1" with up to three decimals.
            digits = value.replace(".", "", 1)
            # isascii: str.isdigit() also accepts digits float() refuses ("²").
            if not digits or len(value) > 5 or not (digits.isascii() and digits.isdigit()):
                return 0.0
            number = float(value)
            return number if number <= 1 else 0.0
    return 1.0


def _close(stream: object) -> None:
    close = getattr(stream, "close", None)
    if close is not None:
        close()


async def _aclose(stream: object) -> None:
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        await aclose()


def _to_bytes(chunk: bytes | str) -> bytes:
    return chunk.encode() if isinstance(chunk, str) else chunk


class _GzipStream:
    """A sync stream, compressed chunk by chunk as it is iterated.

    A class rather than a generator so that ``close()`` reaches the wrapped
    stream even when iteration never started (a HEAD request, a client gone
    before the first chunk).
    """

    def __init__(self, stream: Iterable[bytes | str], compressor: zlib._Compress) -> None:
        self._chunks: Iterator[bytes | str] = iter(stream)
        self._stream = stream
        self._compressor = compressor
        self._finished = False

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        if self._finished:
            raise StopIteration
        for chunk in self._chunks:
            data = _to_bytes(chunk)
            if data:
                # A sync flush hands out everything so far: the client gets
                # each chunk now, not when the compressor's window fills.
                return self._compressor.compress(data) + self._compressor.flush(zlib.Z_SYNC_FLUSH)
        self._finished = True
        return self._compressor.flush()

    def close(self) -> None:
        _close(self._chunks)
        if self._stream is not self._chunks:
            _close(self._stream)


class _AsyncGzipStream:
    """An async stream, compressed chunk by chunk (see :class:`_GzipStream`)."""

    def __init__(self, stream: AsyncIterable[bytes | str], compressor: zlib._Compress) -> None:
        self._chunks: AsyncIterator[bytes | str] = aiter(stream)
        self._stream = stream
        self._compressor = compressor
        self._finished = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        if self._finished:
            raise StopAsyncIteration
        async for chunk in self._chunks:
            data = _to_bytes(chunk)
            if data:
                return self._compressor.compress(data) + self._compressor.flush(zlib.Z_SYNC_FLUSH)
        self._finished = True
        return self._compressor.flush()

    async def aclose(self) -> None:
        await _aclose(self._chunks)
        if self._stream is not self._chunks:
            await _aclose(self._stream)
