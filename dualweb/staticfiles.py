"""Static files: the files below one directory, served by URL path.

``StaticFiles`` is an endpoint for a route ending in ``{path:path}``
(``app.static(prefix, directory)`` registers one). It maps the path to a
file below its directory, refusing anything that could lead elsewhere, and
answers with a :class:`~dualweb.files.FileResponse`, so conditional and
range requests work as for any file.
"""

from __future__ import annotations

import os
import re
import stat
from typing import TYPE_CHECKING
from urllib.parse import quote

from .exceptions import HTTPException
from .files import FileResponse
from .responses import RedirectResponse, Response

if TYPE_CHECKING:
    from .requests import Request

# A path segment that is refused: empty, "." or "..", or holding a backslash
# (a separator on Windows) or NUL. On Windows also a colon (drive letters,
# alternate data streams) and a trailing dot or space, which Windows drops
# (so ".. " would mean "..").
_UNSAFE_SEGMENT = re.compile(
    r"\A\.{0,2}\Z|" + (r"[\\\x00:]|[. ]\Z" if os.name == "nt" else r"[\\\x00]")
).search
# What stays unescaped in a redirect's path (as in Request.url).
_URL_PATH_SAFE = "/!$&'()*+,;=:@~"


class StaticFiles:
    """Serve the files below ``directory``; an endpoint for ``/prefix/{path:path}``.

    ``app.static("/static", "assets")`` registers it; by hand it is
    ``app.add_route("/static/{path:path}", StaticFiles("assets"))``.

    A path that names no regular file below the directory is a 404 raised as
    an :class:`~dualweb.exceptions.HTTPException` (so error handlers see
    it): missing files, ``..`` or ``.`` segments, empty segments (``a//b``,
    absolute paths), backslashes and NUL bytes anywhere, and symbolic links
    whose target is outside the directory unless ``follow_symlinks`` is
    true (links that stay inside are followed). Percent-escapes are decoded
    once, by the server, never again: ``%252e%252e`` names a file called
    ``%2e%2e``.

    A path ending in ``/`` names a directory, served as its ``index`` file
    (``index=None``: never); a directory named without the slash is
    redirected (308) to it, as common servers do. There are no directory
    listings.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        index: str | None = "index.html",
        follow_symlinks: bool = False,
        check_dir: bool = True,
    ) -> None:
        #: The directory, as an absolute path with its own symbolic links resolved.
        self.directory = os.path.realpath(directory)
        if check_dir and not os.path.isdir(self.directory):
            raise ValueError(f"StaticFiles: {os.fspath(directory)!r} is not a directory")
        self.index = index
        self.follow_symlinks = follow_symlinks
        self._prefix = os.path.join(self.directory, "")

    def __call__(self, request: Request, path: str) -> Response:
        # A sync endpoint: it stats files, so under ASGI it runs in the thread pool.
        found = self.resolve(path)
        if found is not None:
            return FileResponse(found)
        if (
            self.index is not None
            and path
            and not path.endswith("/")
            and self.resolve(path + "/") is not None
        ):
            return RedirectResponse(_with_slash(request), 308)
        raise HTTPException(404)

    def resolve(self, path: str) -> str | None:
        """The real path of the regular file that URL path ``path`` names, or None.

        ``path`` is relative to the directory and already percent-decoded; a
        trailing ``/`` asks for the directory's index file.
        """
        segments = path.split("/")
        if segments[-1] == "":
            if self.index is None:
                return None
            segments[-1] = self.index
        for segment in segments:
            if _UNSAFE_SEGMENT(segment):
                return None
        try:
            real = os.path.realpath(os.path.join(self.directory, *segments))
            if not (self.follow_symlinks or real.startswith(self._prefix)):
                return None
            info = os.stat(real)
        except (OSError, ValueError):
            # ValueError: a character the file system cannot encode.
            return None
        return real if stat.S_ISREG(info.st_mode) else None


def _with_slash(request: Request) -> str:
    location = quote(request.root_path + request.path, safe=_URL_PATH_SAFE) + "/"
    query = request.query_string
    return f"{location}?{query}" if query else location
