"""Startup, shutdown and the lifespan context: what runs around an App's whole life.

The sequence is written once, as two coroutines (:meth:`Lifespan.start` and
:meth:`Lifespan.stop`), and each interface drives them its own way:

* ASGI: the server's ``lifespan`` scope (see ``_asgi``) starts on
  ``lifespan.startup`` and stops on ``lifespan.shutdown``, in the one task the
  server runs the scope in; sync code goes to the thread pool.
* WSGI has no such protocol: the first request of each process starts the
  lifespan (under a lock, so concurrent first requests wait for one startup)
  and an ``atexit`` hook stops it. An all-sync lifespan runs in place,
  without a loop; one with async parts runs on a thread of its own whose
  loop lives until the stop, so that an async context manager is entered and
  exited in one task, on one loop.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import sys
import threading
import weakref
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, TypeVar

from asgiref.sync import iscoroutinefunction

from ._bridge import drive_sync
from .background import CallSync

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager, AbstractContextManager

    from .app import App

    LifespanState = Mapping[str, Any] | None
    LifespanFactory = Callable[
        [App],
        AbstractAsyncContextManager[LifespanState] | AbstractContextManager[LifespanState],
    ]

logger = logging.getLogger("dualweb")

_T = TypeVar("_T")
Hook = Callable[[], Any]


class Lifespan:
    """An App's startup and shutdown: hooks, the lifespan context, the process-wide run."""

    def __init__(self, app: App, factory: LifespanFactory | None) -> None:
        if factory is not None and not callable(factory):
            raise TypeError(
                "lifespan must be a function that takes the app and returns a context "
                f"manager, not {type(factory).__name__}"
            )
        self.app = app
        self.factory = factory
        self._startup: list[tuple[Hook, bool]] = []
        self._shutdown: list[tuple[Hook, bool]] = []
        #: The lifespans of the dualweb Apps mounted in this one: they start
        #: after this one's startup hooks and stop before its shutdown hooks.
        self._children: list[Lifespan] = []
        #: Whether the process-wide run (WSGI, ``app.startup()``) is up; the
        #: WSGI adapter reads it on every request.
        self.ready = False
        self._lock = threading.Lock()
        self._stop_run: Callable[[], None] | None = None
        self._failure: Exception | None = None

    def add_startup(self, hook: Hook) -> None:
        self._startup.append((_check_hook(hook), iscoroutinefunction(hook)))

    def add_shutdown(self, hook: Hook) -> None:
        self._shutdown.append((_check_hook(hook), iscoroutinefunction(hook)))

    def add_child(self, child: Lifespan) -> None:
        # An App mounted twice (two prefixes, the same object) starts once.
        if child is not self and child not in self._children:
            self._children.append(child)

    # -- the sequence, driven by either interface ----------------------------------------

    def new_run(self) -> _Run:
        """Create the lifespan context (nothing of it runs yet) for one start-to-stop."""
        if self.factory is None:
            return _Run(None, False)
        context = self.factory(self.app)
        if hasattr(context, "__aenter__") and hasattr(context, "__aexit__"):
            return _Run(context, True)
        if hasattr(context, "__enter__") and hasattr(context, "__exit__"):
            return _Run(context, False)
        raise TypeError(
            "lifespan(app) must return a context manager (sync or async), "
            f"not {type(context).__name__}"
        )

    def needs_loop(self, run: _Run) -> bool:
        # A mounted App's lifespan context is not created yet: it may be async.
        return (
            run.is_async
            or bool(self._children)
            or any(is_async for _, is_async in self._startup + self._shutdown)
        )

    async def start(self, run: _Run, call_sync: CallSync) -> None:
        """Enter the lifespan context, publish its state, then run the startup hooks.

        If anything fails, the context is left again (seeing the exception)
        and the exception propagates; no shutdown hook runs.
        """
        state = await run.enter(call_sync)
        try:
            run.keys = self._publish(state)
            for hook, is_async in self._startup:
                await _run_hook(hook, is_async, call_sync)
            for child in self._children:
                child_run = child.new_run()
                await child.start(child_run, call_sync)
                run.children.append((child, child_run))
                # Its own WSGI side must not start it again.
                child.ready = True
        except BaseException as exc:
            await self._stop_children(run, call_sync)
            self._unpublish(run)
            await run.exit(call_sync, exc)
            raise

    async def stop(self, run: _Run, call_sync: CallSync) -> None:
        """Run the shutdown hooks (the last registered first), then leave the context.

        Every step runs even when one before it failed; then the first error
        is raised, and any others are logged.
        """
        errors = await self._stop_children(run, call_sync)
        for hook, is_async in reversed(self._shutdown):
            try:
                await _run_hook(hook, is_async, call_sync)
            except Exception as exc:
                errors.append(exc)
        try:
            await run.exit(call_sync, None)
        except Exception as exc:
            errors.append(exc)
        self._unpublish(run)
        if errors:
            for error in errors[1:]:
                logger.error("Another exception during shutdown", exc_info=error)
            raise errors[0]

    async def _stop_children(self, run: _Run, call_sync: CallSync) -> list[Exception]:
        """Stop the mounted Apps started by ``run``, the last started first; their errors."""
        errors: list[Exception] = []
        while run.children:
            child, child_run = run.children.pop()
            child.ready = False
            try:
                await child.stop(child_run, call_sync)
            except Exception as exc:
                errors.append(exc)
        return errors

    def _publish(self, state: object) -> tuple[str, ...]:
        """Put what the lifespan context yielded on ``app.state``."""
        if state is None:
            return ()
        if not isinstance(state, Mapping):
            raise TypeError(
                f"the lifespan context must yield a mapping or None, not {type(state).__name__}"
            )
        for key, value in state.items():
            if not isinstance(key, str):
                raise TypeError(f"lifespan state keys must be str, not {key!r}")
            setattr(self.app.state, key, value)
        return tuple(state)

    def _unpublish(self, run: _Run) -> None:
        namespace = vars(self.app.state)
        for key in run.keys:
            namespace.pop(key, None)
        run.keys = ()

    # -- the process-wide run: WSGI, and app.startup() / app.shutdown() -----------------

    def startup(self) -> None:
        """Start once for this process; raise what startup raised."""
        with self._lock:
            if self.ready:
                return
            if self._failure is not None:
                raise RuntimeError(
                    "the app's startup already failed in this process; "
                    "call app.shutdown() before starting it again"
                ) from self._failure
            self._begin()

    def start_for_request(self) -> Exception | None:
        """Start before a WSGI request, once; the startup error if it failed.

        A failure is logged when it happens; it is not retried: every later
        request gets the same answer until ``app.shutdown()`` (or a restart).
        """
        with self._lock:
            if not self.ready and self._failure is None:
                try:
                    self._begin()
                except Exception:
                    logger.exception(
                        "Application startup failed: every request of this process "
                        "will get a 500 response"
                    )
            return self._failure

    def _begin(self) -> None:
        # Called with the lock held.
        _started.add(self)
        _stop_at_exit()
        try:
            run = self.new_run()
            if self.needs_loop(run):
                self._stop_run = _LoopThread(self, run).start()
            else:
                drive_sync(self.start(run, None))
                self._stop_run = lambda: drive_sync(self.stop(run, None))
        except Exception as exc:
            self._failure = exc
            raise
        self.ready = True

    def shutdown(self) -> None:
        """Stop the process-wide run, if it is up, and forget a failed startup."""
        with self._lock:
            stop, self._stop_run = self._stop_run, None
            self.ready = False
            self._failure = None
            if stop is not None:
                stop()

    def _forget(self) -> None:
        """In a forked child: the parent's run (and its threads) are not this process's."""
        self.ready = False
        self._stop_run = None
        self._failure = None
        self._lock = threading.Lock()


class _Run:
    """One start-to-stop of a lifespan: its context and what it put on ``app.state``."""

    __slots__ = ("children", "context", "is_async", "keys")

    def __init__(self, context: Any, is_async: bool) -> None:
        self.context = context
        self.is_async = is_async
        self.keys: tuple[str, ...] = ()
        #: The mounted Apps' lifespans it started, with their runs.
        self.children: list[tuple[Lifespan, _Run]] = []

    async def enter(self, call_sync: CallSync) -> object:
        if self.context is None:
            return None
        if self.is_async:
            return await self.context.__aenter__()
        return await _call(call_sync, self.context.__enter__)

    async def exit(self, call_sync: CallSync, error: BaseException | None) -> None:
        if self.context is None:
            return
        if error is None:
            exc_info: tuple[Any, ...] = (None, None, None)
        else:
            exc_info = (type(error), error, error.__traceback__)
        if self.is_async:
            await self.context.__aexit__(*exc_info)
        else:
            await _call(call_sync, self.context.__exit__, *exc_info)


async def _run_hook(hook: Hook, is_async: bool, call_sync: CallSync) -> None:
    if is_async:
        await hook()
    else:
        await _call(call_sync, hook)


async def _call(call_sync: CallSync, func: Callable[..., _T], *args: Any) -> _T:
    if call_sync is None:
        return func(*args)
    return await call_sync(func, *args)  # type: ignore[no-any-return]


def _check_hook(hook: Hook) -> Hook:
    if not callable(hook):
        raise TypeError(f"a startup or shutdown hook must be callable, not {type(hook).__name__}")
    return hook


class _LoopThread:
    """A thread whose event loop runs one lifespan, from start to stop, as one task.

    The loop stays alive in between, so tasks an async startup hook spawns
    keep running, and an async context manager is left on the loop (and in
    the task) that entered it.
    """

    def __init__(self, lifespan: Lifespan, run: _Run) -> None:
        self.lifespan = lifespan
        self.run = run
        self.started: Future[None] = Future()
        self.stopped: Future[None] = Future()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stopping: asyncio.Event | None = None

    def start(self) -> Callable[[], None]:
        """Start the thread; return once startup is done (raising its error)."""
        # A daemon: the interpreter joins other threads before atexit, which stops this one.
        thread = threading.Thread(
            target=asyncio.run, args=(self._life(),), name="dualweb-lifespan", daemon=True
        )
        thread.start()
        self.started.result()
        return self.stop

    async def _life(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.stopping = asyncio.Event()
        try:
            await self.lifespan.start(self.run, None)
        except BaseException as exc:
            self.started.set_exception(exc)
            return
        self.started.set_result(None)
        await self.stopping.wait()
        try:
            await self.lifespan.stop(self.run, None)
        except BaseException as exc:
            self.stopped.set_exception(exc)
        else:
            self.stopped.set_result(None)

    def stop(self) -> None:
        assert self.loop is not None
        assert self.stopping is not None
        self.loop.call_soon_threadsafe(self.stopping.set)
        self.stopped.result()


#: Lifespans whose process-wide run was started, to stop at exit and forget after a fork.
_started: weakref.WeakSet[Lifespan] = weakref.WeakSet()


def _shutdown_at_exit() -> None:
    for lifespan in list(_started):
        try:
            lifespan.shutdown()
        except Exception:
            logger.exception("Exception during the app's shutdown at process exit")


_exit_watched_in: list[int] = []


def _stop_at_exit() -> None:
    """Make sure this process runs :func:`_shutdown_at_exit` when it ends normally.

    ``atexit`` (registered below) covers a plain process and a forked
    gunicorn worker. A multiprocessing child (granian's workers) ends with
    ``os._exit()`` instead, after running multiprocessing's own finalizers.
    """
    pid = os.getpid()
    if _exit_watched_in == [pid]:
        return
    _exit_watched_in[:] = [pid]
    # A multiprocessing child has imported multiprocessing: no import otherwise.
    multiprocessing = sys.modules.get("multiprocessing")
    in_child = multiprocessing is not None and multiprocessing.parent_process() is not None
    if in_child:  # pragma: no cover - true in a child only (see the tests)
        from multiprocessing.util import Finalize

        Finalize(None, _shutdown_at_exit, exitpriority=0)


def _forget_after_fork() -> None:
    for lifespan in _started:
        lifespan._forget()


# atexit runs on a normal interpreter exit: a gunicorn worker's end, SIGTERM
# included (its handler makes the worker exit normally), not SIGKILL.
atexit.register(_shutdown_at_exit)
if hasattr(os, "register_at_fork"):  # pragma: no branch - not on Windows
    os.register_at_fork(after_in_child=_forget_after_fork)
