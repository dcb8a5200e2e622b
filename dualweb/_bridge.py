"""Crossing between sync and async code — the only module that knows how.

* A sync handler under ASGI runs in the App's thread pool, never on one
  shared thread as asgiref's ``sync_to_async`` does by default
  (``thread_sensitive=True`` serves one request at a time). The hop is a bare
  ``run_in_executor`` plus what asgiref's ``SyncToAsync`` would do that
  matters here: the caller's context variables, changes flowing back, and
  the loop recorded for the thread, so that ``async_to_sync`` in the handler
  (and dualweb's own body reads) runs on the server's loop. asgiref's
  wrapper costs ~40 µs more per hop, measured on this machine.
* An async handler under WSGI runs on an event loop that belongs to the WSGI
  worker thread and lives as long as the thread. asgiref's ``async_to_sync``,
  called from a plain worker thread, builds a new loop on a new thread for
  every call (~1.8 ms measured, against ~0.06 ms for a thread hop), so it is
  not called per request.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import os
import sys
import threading
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Iterable,
    Iterator,
)
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

from asgiref.sync import AsyncToSync, SyncToAsync, async_to_sync

_T = TypeVar("_T")
_P = ParamSpec("_P")

#: 40 threads, as anyio and so Starlette use: enough for 50 concurrent 0.2 s
#: blocking calls to finish within 1 s on a 2-core machine, where Python's own
#: default (cpus + 4 = 6 threads) would take 1.8 s. Configurable per App.
DEFAULT_THREAD_POOL_SIZE = 40


class _InlineExecutor(Executor):
    """Runs each submitted call at once, on the thread that submits it."""

    def submit(self, fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> Future[_T]:
        future: Future[_T] = Future()
        # asgiref's SyncToAsync records the loop in a thread-local of the
        # thread it runs on, and never clears it. Here that thread runs the
        # loop only while the request waits: left behind, the record would
        # send a later async_to_sync() of a sync handler to a stopped loop.
        record = SyncToAsync.threadlocal.__dict__
        saved = dict(record)
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        finally:
            record.clear()
            record.update(saved)
        return future


_INLINE = _InlineExecutor()
_thread_state = threading.local()


def _thread_loop() -> asyncio.AbstractEventLoop:
    """This thread's persistent event loop, created on first use (and after fork)."""
    pid = os.getpid()
    loop: asyncio.AbstractEventLoop | None = getattr(_thread_state, "loop", None)
    if loop is None or _thread_state.pid != pid:
        loop = asyncio.new_event_loop()
        # asgiref semantics: under async_to_sync, thread-sensitive sync_to_async
        # calls run on the outer sync thread. That thread is this one (it runs
        # the loop while the WSGI request waits), so they run inline here.
        AsyncToSync.loop_thread_executors[loop] = _INLINE  # type: ignore[assignment]
        _thread_state.loop = loop
        _thread_state.pid = pid
    return loop


def run_coroutine(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run ``coro`` to completion from sync code, e.g. a WSGI worker thread.

    Context variables flow in and, as with asgiref's async_to_sync, changes the
    coroutine makes flow back out to the caller.
    """
    if asyncio._get_running_loop() is not None:
        # Called from inside a running loop (a WSGI app driven from async code):
        # this thread's loop cannot be re-entered, so use a helper thread's.
        return asyncio.run_coroutine_threadsafe(coro, _helper_loop()).result()
    loop = _thread_loop()
    context = contextvars.copy_context()
    if sys.version_info >= (3, 11):
        task = loop.create_task(coro, context=context)
    else:  # pragma: no cover - Python 3.10
        task = context.run(loop.create_task, _capture_context(coro, context))
    try:
        return loop.run_until_complete(task)
    finally:
        _restore_context(context)


async def _capture_context(  # pragma: no cover - Python 3.10
    coro: Coroutine[Any, Any, _T], into: contextvars.Context
) -> _T:
    try:
        return await coro
    finally:
        for var, value in contextvars.copy_context().items():
            into.run(var.set, value)


def _restore_context(context: contextvars.Context) -> None:
    for var, value in context.items():
        if var.get(_MISSING) is not value:
            var.set(value)


_MISSING: Any = object()
_helper: list[asyncio.AbstractEventLoop] = []
_helper_lock = threading.Lock()


def _helper_loop() -> asyncio.AbstractEventLoop:
    with _helper_lock:
        if not _helper or _helper[0].is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="dualweb-loop", daemon=True).start()
            _helper[:] = [loop]
        return _helper[0]


def drive_sync(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run a coroutine that never suspends, without any event loop.

    The dispatch logic is written once, as a coroutine. Under WSGI, when the
    handler and everything around it is sync, nothing in it ever awaits a real
    future, so a single ``send(None)`` runs it to the end: no loop is paid for.
    """
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise RuntimeError("a sync code path awaited a real future; it needs an event loop")


def iterate_async(iterable: AsyncIterable[_T]) -> Iterator[_T]:
    """Iterate an async iterable from sync code (an async body under WSGI)."""
    iterator = aiter(iterable)
    try:
        while True:
            try:
                yield run_coroutine(_anext(iterator))
            except StopAsyncIteration:
                return
    finally:
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            run_coroutine(aclose())


async def _anext(iterator: AsyncIterator[_T]) -> _T:
    return await anext(iterator)


def _in_thread(loop: asyncio.AbstractEventLoop, call: Callable[[], _T]) -> _T:
    """Run ``call`` in a pool thread that knows the loop it came from."""
    _thread_state.origin = loop
    # What asgiref's SyncToAsync records, so async_to_sync() in sync code
    # called from here runs on the server's loop, as under SyncToAsync.
    SyncToAsync.threadlocal.main_event_loop = loop
    SyncToAsync.threadlocal.main_event_loop_pid = os.getpid()
    return call()


def call_async_from_thread(func: Callable[[], Awaitable[_T]]) -> _T:
    """From a sync handler's worker thread, await ``func()`` on the server's loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError(
            "this sync call would block the event loop: use the async variant "
            "(e.g. 'await request.abody()') or let the route run in the thread pool"
        )

    async def call() -> _T:
        return await func()

    loop: asyncio.AbstractEventLoop | None = getattr(_thread_state, "origin", None)
    if loop is None or loop.is_closed():
        return async_to_sync(call)()  # a thread that is not the pool's
    return asyncio.run_coroutine_threadsafe(call(), loop).result()


_DONE: Any = object()


class ThreadPool:
    """The pool that runs sync code for async servers; one per App.

    Threads start on first use, so an App imported before a fork (gunicorn's
    --preload) starts its threads in each worker.
    """

    def __init__(self, size: int = DEFAULT_THREAD_POOL_SIZE) -> None:
        if size < 1:
            raise ValueError("thread_pool_size must be at least 1")
        self.size = size
        self.executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="dualweb-sync")

    def wrap(self, func: Callable[_P, _T]) -> Callable[_P, Coroutine[Any, Any, _T]]:
        """An async function that runs ``func`` in this pool (see the module docstring)."""
        return functools.partial(self.run, func)

    async def run(self, func: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        """Run ``func(*args, **kwargs)`` in this pool and await its result."""
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        call = functools.partial(context.run, func, *args, **kwargs)
        try:
            return await loop.run_in_executor(self.executor, _in_thread, loop, call)
        finally:
            _restore_context(context)

    async def iterate(self, iterable: Iterable[_T]) -> AsyncIterator[_T]:
        """Iterate a sync iterable from async code, each step in the pool.

        When the consumer stops early (a client disconnect cancels it), a
        step may still be running in its thread: the iterator is closed only
        once that step is over, since closing a running generator fails.
        """
        iterator = iter(iterable)
        lock = threading.Lock()

        def step() -> _T:
            with lock:
                return next(iterator, _DONE)

        def close() -> None:
            with lock:
                close_iterator = getattr(iterator, "close", None)
                if close_iterator is not None:
                    close_iterator()

        run_step = self.wrap(step)
        try:
            while True:
                item = await run_step()
                if item is _DONE:
                    return
                yield item
        finally:
            if hasattr(iterator, "close"):
                await self.wrap(close)()
