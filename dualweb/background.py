"""Background tasks: calls made once the response has been sent.

The interface adapters run them (see ``_asgi`` and ``_wsgi``): under ASGI
after the last body message, sync tasks in the App's thread pool; under WSGI
in the ``close()`` of the returned iterable, on the worker thread.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction

logger = logging.getLogger("dualweb")

#: How a sync task is called from the coroutine that runs the tasks: awaited
#: through this (the thread pool, under ASGI), or called in place when None.
CallSync = Callable[..., Awaitable[Any]] | None


class BackgroundTasks:
    """Functions to call, in the order they were added, after the response is sent.

    Each may be sync or async. An exception in one is logged on the
    ``dualweb`` logger; the response is already sent, and the next task runs.
    """

    __slots__ = ("_tasks", "is_async")

    def __init__(self) -> None:
        self._tasks: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any], bool]] = []
        #: Whether any task is a coroutine function (under WSGI they then run on a loop).
        self.is_async = False

    def add(self, func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> None:
        """Call ``func(*args, **kwargs)`` after the response (awaited if it is async)."""
        if not callable(func):
            raise TypeError(f"a background task must be callable, not {type(func).__name__}")
        is_async = iscoroutinefunction(func)
        self._tasks.append((func, args, kwargs, is_async))
        self.is_async = self.is_async or is_async

    def __len__(self) -> int:
        return len(self._tasks)

    def __repr__(self) -> str:
        names = ", ".join(_name(func) for func, *_ in self._tasks)
        return f"<BackgroundTasks [{names}]>"

    async def run(self, call_sync: CallSync) -> None:
        """Run every task in order; an exception is logged and the next task runs."""
        for func, args, kwargs, is_async in self._tasks:
            try:
                if is_async:
                    await func(*args, **kwargs)
                elif call_sync is not None:
                    await call_sync(func, *args, **kwargs)
                else:
                    func(*args, **kwargs)
            except Exception:
                logger.exception("Exception in background task %s", _name(func))


def combine(first: BackgroundTasks | None, then: BackgroundTasks | None) -> BackgroundTasks | None:
    """The tasks of ``first`` followed by those of ``then`` (None when there are none).

    The adapters ask with the request's tasks and the response's.
    """
    if first is None:
        return then
    if then is None or not then._tasks:
        return first
    combined = BackgroundTasks()
    combined._tasks = [*first._tasks, *then._tasks]
    combined.is_async = first.is_async or then.is_async
    return combined


def _name(func: Callable[..., Any]) -> str:
    return getattr(func, "__qualname__", None) or repr(func)
