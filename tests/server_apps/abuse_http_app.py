"""The app of the hostile-input suites (tests/test_abuse_http.py, test_abuse_static.py).

``build_app(directory)`` is what the in-process tests use; ``app`` is the
same app for the real servers, serving the directory named by
$DUALWEB_ABUSE_STATIC (no static files without it). Every handler echoes
what the request parsing made of its input, or puts client input into a
response header, so the tests can check both directions.
"""

from __future__ import annotations

import os

from dualweb import App, FileResponse, PlainTextResponse, RedirectResponse
from dualweb.exceptions import HTTPException
from dualweb.redirects import safe_redirect
from dualweb.staticfiles import StaticFiles

#: The only host an absolute ``?next=`` may name.
TRUSTED_HOST = "good.example"


def build_app(directory: str | None) -> App:
    app = App()

    @app.get("/")
    def index(request):
        return "ok"

    @app.get("/str/{value}")
    def str_param(request, value):
        return {"value": value}

    @app.get("/int/{value:int}")
    def int_param(request, value):
        return {"value": value}

    @app.get("/path/{value:path}")
    def path_param(request, value):
        return {"value": value}

    @app.get("/query")
    def query(request):
        return {"items": request.query_params.multi_items()}

    @app.get("/headers")
    def headers(request):
        return {"x-test": request.headers.getlist("x-test")}

    @app.get("/cookies")
    def cookies(request):
        return request.cookies

    @app.get("/set-cookie")
    def set_cookie(request):
        query = request.query_params
        response = PlainTextResponse("cookie set")
        try:
            response.set_cookie(
                "c",
                query.get("value", ""),
                path=query.get("path", "/"),
                domain=query.get("domain"),
            )
        except ValueError:
            raise HTTPException(400, "Invalid cookie") from None
        return response

    @app.get("/echo-header")
    def echo_header(request):
        # The way to put client input in a header: refuse what would split it.
        response = PlainTextResponse("echoed")
        try:
            response.headers["X-Echo"] = request.query_params["value"]
        except ValueError:
            raise HTTPException(400, "Invalid header value") from None
        return response

    @app.get("/echo-header-unchecked")
    def echo_header_unchecked(request):
        # The ValueError reaches the App: a bare 500, the header never sent.
        response = PlainTextResponse("echoed")
        response.headers["X-Echo"] = request.query_params["value"]
        return response

    @app.get("/redirect")
    def redirect(request):
        return RedirectResponse(request.query_params["to"])

    @app.get("/next")
    def next_page(request):
        return safe_redirect(request.query_params.get("next"), allowed_hosts=[TRUSTED_HOST])

    if directory is not None:
        app.static("/static", directory)

        @app.get("/download")
        def download(request):
            name = request.query_params.get("name", "data.bin")
            return FileResponse(os.path.join(directory, "data.bin"), filename=name)

        files = StaticFiles(directory)

        @app.get("/file")
        def file(request):
            # The safe way to serve a file the client names: resolve it first.
            found = files.resolve(request.query_params.get("name", ""))
            if found is None:
                raise HTTPException(404)
            return FileResponse(found)

        @app.get("/file-unchecked")
        def file_unchecked(request):
            # Joined as it comes (what never to do with ".."): still no 500
            # for names that are no regular file.
            return FileResponse(os.path.join(directory, request.query_params["name"]))

    return app


app = build_app(os.environ.get("DUALWEB_ABUSE_STATIC"))
