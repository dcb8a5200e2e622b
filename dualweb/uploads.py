"""Uploaded files: kept in memory up to a threshold, then in a temporary file.

An :class:`UploadFile` is created by the multipart parser (``request.form()``)
and filled while the body arrives. Its bytes stay in memory until they pass
``app.spool_threshold``; after that they are collected in batches and written
to an anonymous temporary file, by a pool thread under ASGI so the event loop
never waits for the disk.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import unicodedata
from typing import IO, TYPE_CHECKING

from .datastructures import Headers

if TYPE_CHECKING:
    from ._bridge import ThreadPool

#: Spooled bytes are written to disk in batches of about this size: one
#: thread hop per batch, not per chunk received.
WRITE_BATCH = 1024 * 1024
_COPY_BUFFER = 1024 * 1024

_FALLBACK_NAME = "upload"
# Forbidden in Windows file names; "/" and "\\" are path separators, handled first.
_WINDOWS_FORBIDDEN = str.maketrans(dict.fromkeys('<>:"|?*', "_"))
_WINDOWS_DEVICES = frozenset(
    ["CON", "PRN", "AUX", "NUL"]
    + [f"COM{digit}" for digit in range(1, 10)]
    + [f"LPT{digit}" for digit in range(1, 10)]
)
# Most file systems cap a name at 255 bytes.
_MAX_NAME_BYTES = 255
_MAX_EXTENSION_BYTES = 16


class UploadFile:
    """A file sent in a ``multipart/form-data`` body.

    ``filename`` is the name as the client sent it; use :attr:`safe_filename`
    to store it. The content is read with :meth:`read` and :meth:`seek` (or
    :meth:`aread` and :meth:`aseek`, which never block the event loop) and
    copied somewhere with :meth:`save` / :meth:`asave`. The request closes
    the file when it ends, which deletes its temporary file.
    """

    __slots__ = (
        "_complete",
        "_file",
        "_pending",
        "_pending_size",
        "_pool",
        "_threshold",
        "content_type",
        "filename",
        "headers",
        "size",
    )

    def __init__(
        self,
        filename: str,
        *,
        thread_pool: ThreadPool,
        content_type: str = "application/octet-stream",
        headers: Headers | None = None,
        spool_threshold: int = 1024 * 1024,
    ) -> None:
        #: The file name as sent, possibly empty (a file input left empty).
        self.filename = filename
        #: The part's media type, lower-case and without parameters.
        self.content_type = content_type
        #: The part's own headers (Content-Disposition, Content-Type...).
        self.headers = headers if headers is not None else Headers()
        #: The size in bytes (while parsing: the bytes received so far).
        self.size = 0
        self._threshold = spool_threshold
        self._pool = thread_pool
        self._file: IO[bytes] = io.BytesIO()
        # None while in memory; once rolled over, the bytes not yet on disk.
        self._pending: list[bytes] | None = None
        self._pending_size = 0
        self._complete = False

    @property
    def safe_filename(self) -> str:
        """:attr:`filename` made safe to use as a file name (see :func:`safe_filename`)."""
        return safe_filename(self.filename)

    @property
    def in_memory(self) -> bool:
        """False once the content went past ``spool_threshold`` into a temporary file."""
        return self._pending is None

    @property
    def close_blocks(self) -> bool:
        """Whether :meth:`close` deletes a temporary file (the request's end asks)."""
        return not self.in_memory

    @property
    def file(self) -> IO[bytes]:
        """The underlying binary file object (in memory, or a temporary file).

        Reading a temporary file blocks: in async code prefer :meth:`aread`.
        """
        return self._file

    # -- reading (sync) ------------------------------------------------------------

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes from the current position (all that is left by default)."""
        return self._file.read(size)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """Move the position, as ``io.IOBase.seek`` does; returns the new position."""
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        """The current position."""
        return self._file.tell()

    def save(self, destination: str | os.PathLike[str] | IO[bytes]) -> int:
        """Write the whole content to a path or a binary file object; the bytes written.

        The copy starts at the first byte whatever was read before, and the
        read position is left where it was. A path is created or truncated.
        """
        source = self._file
        position = source.tell()
        source.seek(0)
        try:
            if isinstance(destination, (str, os.PathLike)):
                with open(destination, "wb") as target:
                    return self._copy_to(target)
            return self._copy_to(destination)
        finally:
            source.seek(position)

    def _copy_to(self, target: IO[bytes]) -> int:
        source = self._file
        if isinstance(source, io.BytesIO):
            target.write(source.getbuffer())
        else:
            shutil.copyfileobj(source, target, _COPY_BUFFER)
        return self.size

    def close(self) -> None:
        """Release the content; a temporary file is deleted. Safe to call twice."""
        self._file.close()
        if self._pending:
            self._pending = []

    # -- reading (async) -----------------------------------------------------------
    # In memory these run inline; a temporary file is read in the thread pool.

    async def aread(self, size: int = -1) -> bytes:
        """:meth:`read`, in the thread pool when the content is in a temporary file."""
        if self._pending is None:
            return self._file.read(size)
        return await self._pool.run(self._file.read, size)

    async def aseek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """:meth:`seek`, in the thread pool when the content is in a temporary file."""
        if self._pending is None:
            return self._file.seek(offset, whence)
        return await self._pool.run(self._file.seek, offset, whence)

    async def asave(self, destination: str | os.PathLike[str] | IO[bytes]) -> int:
        """:meth:`save`, in the thread pool (writing the destination may block)."""
        return await self._pool.run(self.save, destination)

    async def aclose(self) -> None:
        """:meth:`close`, in the thread pool when a temporary file is deleted."""
        if self._pending is None:
            self.close()
        else:
            await self._pool.run(self.close)

    # -- filled by the multipart parser ----------------------------------------------

    def _append(self, chunk: bytes) -> bool:
        """Add the next bytes of the part; True when a batch is due for disk (:meth:`_take`)."""
        self.size += len(chunk)
        pending = self._pending
        if pending is None:
            if self.size <= self._threshold:
                self._file.write(chunk)
                return False
            # Past the threshold: what memory holds goes to disk first.
            memory = self._file
            assert isinstance(memory, io.BytesIO)
            self._pending = pending = [memory.getvalue()]
            self._pending_size = len(pending[0])
            memory.close()
        pending.append(chunk)
        self._pending_size += len(chunk)
        return self._pending_size >= WRITE_BATCH

    def _finish(self) -> bool:
        """The part is complete; True when a last :meth:`_write` must make it ready."""
        self._complete = True
        if self._pending is None:
            self._file.seek(0)
            return False
        return True

    def _take(self) -> tuple[list[bytes], bool]:
        """The bytes due for disk, and whether they are the last: :meth:`_write`'s arguments.

        Called where the parser runs, so that a batch being written in a pool
        thread and the bytes still arriving never share a list.
        """
        batch = self._pending
        assert batch is not None
        self._pending = []
        self._pending_size = 0
        return batch, self._complete

    def _write(self, batch: list[bytes], last: bool) -> None:
        """Write a batch to the temporary file (blocking: not on the event loop)."""
        file = self._file
        if isinstance(file, io.BytesIO):
            # An anonymous file where the OS allows it (O_TMPFILE): it goes
            # away with the process even if close() is never reached.
            file = self._file = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        file.writelines(batch)
        if last:
            file.seek(0)

    def __repr__(self) -> str:
        return (
            f"UploadFile(filename={self.filename!r}, content_type={self.content_type!r}, "
            f"size={self.size})"
        )


def safe_filename(filename: str, fallback: str = _FALLBACK_NAME) -> str:
    """A version of a client's file name that is safe to store under.

    Keeps the last path segment (``/`` or ``\\`` separated), drops control and
    format characters (NUL included), replaces the characters Windows forbids
    (``<>:"|?*``) with ``_``, strips leading and trailing dots and spaces (so
    no hidden file, no ``.`` or ``..``), prefixes Windows device names
    (``CON``, ``NUL``...) with ``_`` and shortens the name to 255 bytes of
    UTF-8, keeping a short extension. Gives ``fallback`` when nothing is left.
    It does not make names unique: two uploads may still share one.
    """
    name = filename.replace("\\", "/").rpartition("/")[2]
    if not name.isprintable():
        name = "".join(char for char in name if unicodedata.category(char) not in ("Cc", "Cf"))
    name = name.translate(_WINDOWS_FORBIDDEN).strip(". ")
    if name.partition(".")[0].upper() in _WINDOWS_DEVICES:
        name = "_" + name
    if len(name.encode()) > _MAX_NAME_BYTES:
        name = _shorten(name)
    return name or fallback


def _shorten(name: str) -> str:
    stem, dot, extension = name.rpartition(".")
    if not dot or len(extension.encode()) > _MAX_EXTENSION_BYTES:
        stem, extension = name, ""
    suffix = f".{extension}" if extension else ""
    room = _MAX_NAME_BYTES - len(suffix.encode())
    # Cut on bytes, dropping a character split in two.
    stem = stem.encode()[:room].decode("utf-8", "ignore").rstrip(". ")
    return stem + suffix
