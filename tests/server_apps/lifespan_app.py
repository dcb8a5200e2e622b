"""Apps whose lifespan and background tasks leave marks, for the real-server tests.

Each mark is a line ``<event> <pid>`` appended to the file that
``DUALWEB_TEST_MARKS`` names. ``app`` starts and stops cleanly; ``failing``
cannot start. With ``DUALWEB_TEST_START_AT_IMPORT=1``, ``app`` starts as
soon as it is imported (in gunicorn's master, with ``--preload``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator
from typing import Any

from dualweb import App

MARKS = os.environ.get("DUALWEB_TEST_MARKS", os.devnull)
#: How long a task waits for the test to release it.
TASK_WAIT = 10.0


def mark(event: str) -> None:
    with open(MARKS, "a", encoding="utf-8") as marks:
        marks.write(f"{event} {os.getpid()}\n")


@contextlib.asynccontextmanager
async def lifespan(app: App) -> AsyncIterator[dict[str, Any]]:
    mark("enter")
    yield {"resource": "ready"}
    mark("exit")


app = App(lifespan=lifespan)


@app.on_startup
def started() -> None:
    # Slow enough for concurrent first requests under WSGI to queue up.
    time.sleep(0.2)
    mark("startup")


@app.on_shutdown
async def stopping() -> None:
    mark("shutdown")


@app.get("/")
def index(request):
    return request.state.resource


def released(task_id: str) -> bool:
    return os.path.exists(f"{MARKS}.release-{task_id}")


def wait_for_release(task_id: str) -> None:
    mark(f"task-started-{task_id}")
    deadline = time.monotonic() + TASK_WAIT
    while not released(task_id):
        if time.monotonic() > deadline:
            mark(f"task-gave-up-{task_id}")
            return
        time.sleep(0.01)
    mark(f"task-released-{task_id}")


async def await_release(task_id: str) -> None:
    mark(f"task-started-{task_id}")
    deadline = time.monotonic() + TASK_WAIT
    while not released(task_id):
        if time.monotonic() > deadline:
            mark(f"task-gave-up-{task_id}")
            return
        await asyncio.sleep(0.01)
    mark(f"task-released-{task_id}")


@app.get("/task/{task_id}")
def with_task(request, task_id: str):
    request.add_task(wait_for_release, task_id)
    return "sent"


@app.get("/async-task/{task_id}")
async def with_async_task(request, task_id: str):
    request.add_task(await_release, task_id)
    return "sent"


@app.get("/failing-task")
def with_failing_task(request):
    def broken() -> None:
        raise RuntimeError("the task failed")

    request.add_task(broken)
    return "sent"


if os.environ.get("DUALWEB_TEST_START_AT_IMPORT") == "1":
    app.startup()


failing = App()


@failing.on_startup
def cannot_start() -> None:
    raise ValueError("the database is down")


failing.add_route("/", lambda request: "never served")
