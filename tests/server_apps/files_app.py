"""File downloads for the real-server tests (tests/test_servers_files.py).

Serves the directory named by $DUALWEB_TEST_FILES, as ``wsgi`` and ``asgi``:
the App wrapped in a layer that reports, in a response header, whether the
server's fast path took the file (``X-File-Wrapper``: the app returned the
server's ``wsgi.file_wrapper``; ``X-Pathsend``: it sent
``http.response.pathsend``).
"""

from __future__ import annotations

import os
from typing import Any

from dualweb import App
from dualweb.files import FileResponse

directory = os.environ["DUALWEB_TEST_FILES"]
app = App()
app.static("/static", directory)


@app.get("/download")
def download(request):
    return FileResponse(os.path.join(directory, "data.bin"), filename="données.bin")


@app.get("/open-files")
def open_files(request):
    """How many files below the directory this worker process has open."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(directory + os.sep):
            count += 1
    return {"open": count}


def wsgi(environ: dict[str, Any], start_response: Any) -> Any:
    started: list[Any] = []

    def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started[:] = [status, headers]
        return lambda data: None  # dualweb never calls write()

    result = app.wsgi(environ, capture)
    file_wrapper = environ.get("wsgi.file_wrapper")
    used = file_wrapper is not None and isinstance(result, file_wrapper)
    status, headers = started
    start_response(status, [*headers, ("X-File-Wrapper", "yes" if used else "no")])
    # The very object the app returned: the server recognises its wrapper.
    return result


async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
    start: dict[str, Any] | None = None

    async def observe(message: dict[str, Any]) -> None:
        nonlocal start
        if message["type"] == "http.response.start":
            start = message
            return
        if start is not None:
            used = b"yes" if message["type"] == "http.response.pathsend" else b"no"
            await send({**start, "headers": [*start["headers"], (b"x-pathsend", used)]})
            start = None
        await send(message)

    await app.asgi(scope, receive, observe)
