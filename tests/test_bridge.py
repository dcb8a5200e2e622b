"""How sync and async code cross: thread pool, per-thread loops, context variables."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time

import pytest
from asgiref.sync import sync_to_async

from dualweb import App
from dualweb._bridge import ThreadPool, drive_sync, run_coroutine
from dualweb.testing import TestClient

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="unset")


def test_sync_handler_runs_inline_under_wsgi_and_in_the_pool_under_asgi(make_client, interface):
    app = App()
    main_thread = threading.get_ident()

    @app.get("/where")
    def where(request):
        return {
            "same_thread": threading.get_ident() == main_thread,
            "name": threading.current_thread().name,
        }

    data = make_client(app).get("/where").json()
    if interface == "wsgi":
        assert data["same_thread"] is True
    else:
        assert data["same_thread"] is False
        assert data["name"].startswith("dualweb-sync")


def test_inline_sync_handler_runs_on_the_event_loop_under_asgi(make_client, interface):
    app = App()

    @app.get("/inline", inline=True)
    def inline(request):
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return "no loop"
        return "on the loop"

    expected = "no loop" if interface == "wsgi" else "on the loop"
    assert make_client(app).get("/inline").text == expected


def test_async_handler_under_wsgi_uses_one_persistent_loop_per_thread(make_client, interface):
    app = App()
    loops: list[int] = []

    @app.get("/loop")
    async def loop(request):
        loops.append(id(asyncio.get_running_loop()))
        await asyncio.sleep(0)
        return "ok"

    client = make_client(app)
    for _ in range(3):
        assert client.get("/loop").text == "ok"
    assert len(set(loops)) == 1


def test_async_handlers_under_wsgi_in_several_threads_get_their_own_loops():
    app = App()
    seen: dict[int, int] = {}
    lock = threading.Lock()

    @app.get("/loop")
    async def loop(request):
        await asyncio.sleep(0.01)
        with lock:
            seen[threading.get_ident()] = id(asyncio.get_running_loop())
        return "ok"

    def worker() -> None:
        with TestClient(app, "wsgi") as client:
            for _ in range(3):
                assert client.get("/loop").text == "ok"

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(seen) == 4
    assert len(set(seen.values())) == 4


def test_context_variables_flow_into_handlers(make_client):
    """A value set around the app (server or middleware) reaches both kinds of handler."""
    app = App()

    @app.get("/sync")
    def sync_handler(request):
        return request_id.get()

    @app.get("/async")
    async def async_handler(request):
        return request_id.get()

    def set_request_id(*args):
        # Works for both interfaces: WSGI calls it in the worker thread, and
        # the ASGI coroutine it returns runs in the task that called it.
        request_id.set("from middleware")
        return app(*args)

    client = make_client(set_request_id)
    assert client.get("/sync").text == "from middleware"
    assert client.get("/async").text == "from middleware"


def test_run_coroutine_propagates_context_changes_back():
    async def change() -> str:
        request_id.set("changed inside")
        return "done"

    token = request_id.set("before")
    try:
        assert run_coroutine(change()) == "done"
        assert request_id.get() == "changed inside"
    finally:
        request_id.reset(token)


def test_run_coroutine_inside_a_running_loop_uses_a_helper_thread():
    async def inner() -> int:
        return threading.get_ident()

    async def outer() -> int:
        return run_coroutine(inner())

    assert asyncio.run(outer()) != threading.get_ident()


def test_sync_to_async_inside_async_handler_under_wsgi_runs_on_the_worker_thread():
    app = App()

    @app.get("/thread")
    async def thread(request):
        ident = await sync_to_async(threading.get_ident)()
        unsafe = await sync_to_async(threading.get_ident, thread_sensitive=False)()
        return {"sensitive": ident, "pooled": unsafe, "outer": threading.get_ident()}

    with TestClient(app, "wsgi") as client:
        data = client.get("/thread").json()
    assert data["sensitive"] == data["outer"] == threading.get_ident()
    assert data["pooled"] != data["outer"]


def test_sync_handler_under_asgi_does_not_block_the_loop_or_serialize():
    app = App(thread_pool_size=10)

    @app.get("/sleep")
    def sleep(request):
        time.sleep(0.2)
        return "slept"

    async def main() -> float:
        async def call() -> int:
            sent: list[dict] = []

            async def receive():
                return {"type": "http.request", "body": b""}

            async def send(message):
                sent.append(message)

            await app(
                {"type": "http", "method": "GET", "path": "/sleep", "headers": []}, receive, send
            )
            return sent[0]["status"]

        started = time.perf_counter()
        statuses = await asyncio.gather(*(call() for _ in range(10)))
        assert statuses == [200] * 10
        return time.perf_counter() - started

    elapsed = asyncio.run(main())
    # Serialized (asgiref's thread_sensitive default) would take 2 s.
    assert elapsed < 1.5


def test_drive_sync_refuses_a_coroutine_that_suspends():
    async def suspends() -> None:
        await asyncio.sleep(0)

    with pytest.raises(RuntimeError, match="needs an event loop"):
        drive_sync(suspends())


def test_thread_pool_validates_its_size():
    with pytest.raises(ValueError, match="at least 1"):
        ThreadPool(0)
    assert ThreadPool(3).size == 3


def test_async_error_handler_under_wsgi_with_sync_route(make_client):
    app = App()

    @app.errorhandler(RuntimeError)
    async def handled(request, exc):
        await asyncio.sleep(0)
        return ("handled async", 503)

    @app.get("/fail")
    def fail(request):
        raise RuntimeError

    response = make_client(app).get("/fail")
    assert (response.status_code, response.text) == (503, "handled async")


def test_sync_error_handler_runs_in_the_pool_under_asgi(make_client, interface):
    app = App()

    @app.errorhandler(RuntimeError)
    def handled(request, exc):
        time.sleep(0.01)  # would be caught by blockbuster on the loop
        return threading.current_thread().name

    @app.get("/fail")
    async def fail(request):
        raise RuntimeError

    name = make_client(app).get("/fail").text
    assert name.startswith("dualweb-sync") == (interface == "asgi")


def test_sync_body_read_from_pool_thread_under_asgi(make_client):
    app = App()

    @app.post("/read")
    def read(request):
        return {"size": len(request.body()), "json": request.json()}

    response = make_client(app).post("/read", json={"k": "v" * 1000})
    assert response.json()["json"] == {"k": "v" * 1000}


def test_sync_body_read_from_asgirefs_own_thread_under_asgi(make_client):
    # Code of the user's that hops with asgiref's sync_to_async (not dualweb's
    # pool) can still read the body: the read goes back to the server's loop.
    from asgiref.sync import sync_to_async

    app = App()

    @app.post("/read")
    async def read(request):
        body = await sync_to_async(request.body)()
        return {"size": len(body)}

    assert make_client(app).post("/read", content=b"x" * 5000).json() == {"size": 5000}


def test_async_to_sync_in_a_sync_handler_runs_on_the_servers_loop(make_client, interface):
    from asgiref.sync import async_to_sync, sync_to_async

    app = App()
    loops: list[object] = []

    async def where():
        loops.append(asyncio.get_running_loop())
        return "done"

    @app.get("/bridge")
    def bridge(request):
        return async_to_sync(where)()

    @app.get("/hop")
    async def hop(request):
        # Under WSGI, asgiref runs this inline on the worker thread and
        # records the (then stopped) loop there: /bridge must not use it.
        return await sync_to_async(lambda: "hopped")()

    @app.get("/loop")
    async def loop(request):
        return str(id(asyncio.get_running_loop()))

    client = make_client(app)
    assert client.get("/hop").text == "hopped"
    assert client.get("/bridge").text == "done"
    if interface == "asgi":
        # The handler ran in a pool thread; async_to_sync went back to the loop.
        assert str(id(loops[0])) == client.get("/loop").text


def test_streaming_sync_generator_runs_in_the_pool_under_asgi(make_client, interface):
    app = App()

    def chunks():
        time.sleep(0.01)  # blocking: must not run on the loop
        yield threading.current_thread().name

    @app.get("/stream")
    async def stream(request):
        from dualweb import StreamingResponse

        return StreamingResponse(chunks(), media_type="text/plain")

    name = make_client(app).get("/stream").text
    assert name.startswith("dualweb-sync") == (interface == "asgi")
