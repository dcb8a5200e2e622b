from __future__ import annotations

import logging

import pytest

from dualweb import App, HTTPException, JSONResponse, abort


def test_http_exception_and_abort(make_client):
    app = App()

    @app.get("/teapot")
    def teapot(request):
        raise HTTPException(418, "short and stout", {"X-Tea": "earl grey"})

    @app.get("/gone")
    async def gone(request):
        abort(410)

    client = make_client(app)
    response = client.get("/teapot")
    assert (response.status_code, response.text) == (418, "short and stout")
    assert response.headers["x-tea"] == "earl grey"
    response = client.get("/gone")
    assert (response.status_code, response.text) == (410, "Gone")


def test_http_exception_validation_and_repr():
    with pytest.raises(ValueError, match="4xx or 5xx"):
        HTTPException(200)
    exc = HTTPException(599)
    assert exc.detail == "Error"
    assert str(exc) == "599: Error"
    assert repr(HTTPException(404)) == "HTTPException(404, 'Not Found')"


def test_unhandled_exception_is_a_generic_500_and_logged(make_client, caplog):
    app = App()

    @app.get("/boom")
    def boom(request):
        raise RuntimeError("secret database password")

    client = make_client(app)
    with caplog.at_level(logging.ERROR, logger="dualweb"):
        response = client.get("/boom")
    assert response.status_code == 500
    assert response.text == "Internal Server Error"
    assert "secret" not in response.text
    records = [r for r in caplog.records if r.name == "dualweb"]
    assert len(records) == 1
    assert records[0].exc_info is not None
    assert "secret database password" in caplog.text
    # The app keeps serving.
    assert client.get("/boom").status_code == 500


def test_debug_shows_the_traceback(make_client):
    app = App(debug=True)

    @app.get("/boom")
    async def boom(request):
        raise RuntimeError("visible in debug")

    response = make_client(app).get("/boom")
    assert response.status_code == 500
    assert "Traceback" in response.text
    assert "RuntimeError: visible in debug" in response.text


def test_handlers_by_status_and_class_sync_and_async(make_client):
    app = App()

    class PaymentRequired(Exception):
        pass

    class CardDeclined(PaymentRequired):
        pass

    @app.errorhandler(404)
    def not_found(request, exc):
        return JSONResponse({"error": "no such page", "path": request.path}, 404)

    @app.errorhandler(PaymentRequired)
    async def payment(request, exc):
        return ({"error": type(exc).__name__}, 402)

    @app.errorhandler(500)
    def server_error(request, exc):
        return (f"custom 500 for {type(exc).__name__}", 500)

    @app.get("/pay")
    def pay(request):
        raise CardDeclined()

    @app.get("/crash")
    def crash(request):
        raise KeyError("x")

    @app.get("/forbidden")
    def forbidden(request):
        abort(403)

    client = make_client(app)
    assert client.get("/missing").json() == {"error": "no such page", "path": "/missing"}
    response = client.get("/pay")
    assert (response.status_code, response.json()) == (402, {"error": "CardDeclined"})
    response = client.get("/crash")
    assert (response.status_code, response.text) == (500, "custom 500 for KeyError")
    # No handler for 403: the default plain-text answer.
    assert client.get("/forbidden").text == "Forbidden"


def test_failing_error_handler_gives_a_generic_500(make_client, caplog):
    app = App()

    @app.errorhandler(ValueError)
    def broken(request, exc):
        raise RuntimeError("handler broke")

    @app.errorhandler(404)
    async def reraise(request, exc):
        raise exc

    @app.errorhandler(409)
    def converts(request, exc):
        abort(400, "converted")

    @app.get("/value")
    def value(request):
        raise ValueError("bad")

    @app.get("/conflict")
    def conflict(request):
        abort(409)

    client = make_client(app)
    response = client.get("/value")
    assert (response.status_code, response.text) == (500, "Internal Server Error")
    assert "Exception in error handler" in caplog.text
    assert client.get("/nowhere").status_code == 500
    response = client.get("/conflict")
    assert (response.status_code, response.text) == (400, "converted")


def test_error_handler_keys_are_validated():
    with pytest.raises(ValueError, match="4xx and 5xx"):
        App().add_error_handler(302, lambda request, exc: None)


def test_405_and_404_go_through_status_handlers(make_client):
    app = App()

    @app.errorhandler(405)
    def not_allowed(request, exc):
        return (f"use {exc.headers['Allow']}", 405, exc.headers)

    app.add_route("/only-get", lambda request: "ok")
    response = make_client(app).post("/only-get")
    assert response.status_code == 405
    assert response.text == "use GET, HEAD, OPTIONS"
    assert response.headers["allow"] == "GET, HEAD, OPTIONS"


def test_404_and_405_handlers_do_not_catch_slash_redirects_or_options(make_client):
    app = App()
    app.add_route("/page", lambda request: "page")

    @app.errorhandler(404)
    def not_found(request, exc):
        return ("custom 404", 404)

    @app.errorhandler(Exception)
    def anything(request, exc):
        return ("custom", 500)

    client = make_client(app)
    response = client.get("/page/")
    assert (response.status_code, response.headers["location"]) == (308, "/page")
    response = client.options("/page")
    assert (response.status_code, response.headers["allow"]) == (204, "GET, HEAD, OPTIONS")
    assert client.get("/other").text == "custom 404"


def test_body_error_is_logged_without_a_chained_attribute_error(make_client, caplog):
    app = App()

    @app.post("/twice")
    def twice(request):
        for _ in request.stream():
            break
        return request.body()

    assert make_client(app).post("/twice", content=b"abc").status_code == 500
    assert "already consumed" in caplog.text
    assert "AttributeError" not in caplog.text
