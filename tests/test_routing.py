from __future__ import annotations

import uuid

import pytest

from dualweb import App, Converter, HTTPException
from dualweb.routing import Router


def make_app() -> App:
    app = App()

    @app.get("/")
    def index(request):
        return "index"

    @app.get("/users/{user_id:int}")
    async def user(request, user_id):
        return {"id": user_id, "type": type(user_id).__name__}

    @app.get("/users/me")
    def me(request):
        return "me"

    @app.post("/users/{name}")
    def create(request, name):
        return f"created {name}"

    @app.get("/prices/{value:float}")
    def price(request, value):
        return {"value": value}

    @app.get("/things/{thing_id:uuid}")
    def thing(request, thing_id):
        return {"id": str(thing_id), "type": type(thing_id).__name__}

    @app.get("/files/{rest:path}")
    def files(request, rest):
        return {"rest": rest}

    @app.get("/download/{name}.{ext}")
    def download(request, name, ext):
        return {"name": name, "ext": ext}

    @app.route("/multi", methods=["GET", "PUT"], name="multi_route")
    def multi(request):
        return request.method

    @app.get("/slash/")
    def slash(request):
        return "slash"

    @app.put("/items/{item_id:int}")
    def put_item(request, item_id):
        return {"put": item_id}

    @app.patch("/items/{item_id:int}")
    def patch_item(request, item_id):
        return {"patch": item_id}

    @app.delete("/items/{item_id:int}")
    def delete_item(request, item_id):
        return None

    @app.options("/custom-options")
    def custom_options(request):
        return ("custom", 200, {"Allow": "OPTIONS"})

    @app.get("/unicode/{word}")
    def unicode_word(request, word):
        return {"word": word, "path": request.path}

    return app


@pytest.fixture
def client(make_client):
    return make_client(make_app())


def test_static_route(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response.text == "index"


def test_int_converter_gives_int(client):
    assert client.get("/users/42").json() == {"id": 42, "type": "int"}


def test_static_route_wins_over_placeholder(client):
    assert client.get("/users/me").text == "me"


def test_method_picks_among_matching_patterns(client):
    # GET /users/me is static; POST falls through to the {name} pattern.
    assert client.post("/users/me").text == "created me"
    assert client.post("/users/bob").text == "created bob"


def test_unconvertible_value_is_404(client):
    assert client.put("/items/abc").status_code == 404
    assert client.put("/items/-1").status_code == 404
    # /users/abc matches POST /users/{name}, so GET there is 405, not 404.
    assert client.get("/users/abc").status_code == 405
    assert client.get("/prices/1.2.3").status_code == 404
    assert client.get("/things/not-a-uuid").status_code == 404


def test_float_and_uuid(client):
    assert client.get("/prices/2.50").json() == {"value": 2.5}
    value = uuid.uuid4()
    assert client.get(f"/things/{value}").json() == {"id": str(value), "type": "UUID"}


def test_path_converter_takes_the_rest(client):
    assert client.get("/files/a/b/c.txt").json() == {"rest": "a/b/c.txt"}


def test_mixed_segment(client):
    assert client.get("/download/report.pdf").json() == {"name": "report", "ext": "pdf"}
    assert client.get("/download/report").status_code == 404


def test_unknown_path_is_404(client):
    response = client.get("/nowhere")
    assert response.status_code == 404
    assert response.text == "Not Found"


def test_wrong_method_is_405_with_allow(client):
    response = client.delete("/users/me")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, OPTIONS, POST"


def test_methods_of_one_route(client):
    assert client.get("/multi").text == "GET"
    assert client.put("/multi").text == "PUT"
    assert client.post("/multi").status_code == 405
    assert client.put("/items/3").json() == {"put": 3}
    assert client.patch("/items/3").json() == {"patch": 3}
    assert client.delete("/items/3").status_code == 204


def test_head_is_answered_for_get_routes(client):
    get = client.get("/users/7")
    head = client.head("/users/7")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == get.headers["content-length"]
    assert head.headers["content-type"] == get.headers["content-type"]


def test_automatic_options(client):
    response = client.options("/prices/1.5")
    assert response.status_code == 204
    assert response.headers["allow"] == "GET, HEAD, OPTIONS"
    assert response.content == b""


def test_routed_options_wins(client):
    response = client.options("/custom-options")
    assert response.text == "custom"


def test_trailing_slash_redirects_with_308(client):
    response = client.get("/users/7/?x=1")
    assert response.status_code == 308
    assert response.headers["location"] == "/users/7?x=1"
    response = client.get("/slash")
    assert response.status_code == 308
    assert response.headers["location"] == "/slash/"
    assert client.get("/slash/").text == "slash"


def test_trailing_slash_redirect_can_be_disabled(make_client):
    app = App(redirect_slashes=False)

    @app.get("/a")
    def a(request):
        return "a"

    assert make_client(app).get("/a/").status_code == 404


def test_non_ascii_path_matches_the_same_under_both(client):
    response = client.get("/unicode/Zoë")
    assert response.json() == {"word": "Zoë", "path": "/unicode/Zoë"}
    response = client.get("/unicode/%E2%82%AC")
    assert response.json()["word"] == "€"


def test_url_path_for():
    app = make_app()
    assert app.url_path_for("user", user_id=5) == "/users/5"
    assert app.url_path_for("files", rest="a/b c") == "/files/a/b%20c"
    assert app.url_path_for("multi_route") == "/multi"
    assert app.url_path_for("download", name="x", ext="tar") == "/download/x.tar"
    with pytest.raises(LookupError):
        app.url_path_for("missing")
    with pytest.raises(ValueError, match="takes parameters"):
        app.url_path_for("user")
    with pytest.raises(ValueError, match="must not be negative"):
        app.url_path_for("user", user_id=-1)
    with pytest.raises(ValueError, match="without '/'"):
        app.url_path_for("create", name="a/b")


def test_request_url_path_for_includes_root_path(make_client, interface):
    app = App()

    @app.get("/users/{user_id:int}")
    def user(request, user_id):
        return {
            "path": request.url_path_for("user", user_id=user_id + 1),
            "url": request.url_for("user", user_id=1),
        }

    client = make_client(app)
    assert client.get("/users/1").json() == {
        "path": "/users/2",
        "url": "http://testserver/users/1",
    }


def test_url_path_for_under_script_name_and_root_path():
    app = make_app()
    import io

    seen = {}

    @app.get("/where")
    def where(request):
        seen["path"] = request.url_path_for("user", user_id=3)
        seen["request_path"] = request.path
        return "ok"

    environ = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "/prefix",
        "PATH_INFO": "/where",
        "wsgi.input": io.BytesIO(),
    }
    list(app(environ, lambda status, headers, exc_info=None: None))
    assert seen == {"path": "/prefix/users/3", "request_path": "/where"}

    import asyncio

    async def run() -> None:
        async def receive():
            return {"type": "http.request", "body": b""}

        async def send(message):
            return None

        scope = {"type": "http", "method": "GET", "path": "/api/where", "root_path": "/api"}
        await app(scope, receive, send)

    asyncio.run(run())
    assert seen == {"path": "/api/users/3", "request_path": "/where"}


def test_custom_converter(make_client):
    class Upper(Converter):
        regex = "[A-Z]+"

        def to_python(self, value):
            return value.lower()

        def to_url(self, value):
            return value.upper()

    app = App()
    app.add_converter("upper", Upper)

    @app.get("/codes/{code:upper}")
    def code(request, code):
        return code

    client = make_client(app)
    assert client.get("/codes/ABC").text == "abc"
    assert client.get("/codes/abc").status_code == 404
    assert app.url_path_for("code", code="xy") == "/codes/XY"


def test_typed_placeholder_tried_before_str_whatever_the_order(make_client):
    app = App()

    @app.get("/v/{name}")
    def by_name(request, name):
        return "name"

    @app.get("/v/{number:int}")
    def by_number(request, number):
        return "number"

    client = make_client(app)
    assert client.get("/v/12").text == "number"
    assert client.get("/v/ab").text == "name"


def test_backtracking_across_segments(make_client):
    app = App()

    @app.get("/a/{x}/c")
    def first(request, x):
        return f"first {x}"

    @app.get("/a/b/d")
    def second(request):
        return "second"

    client = make_client(app)
    assert client.get("/a/b/c").text == "first b"
    assert client.get("/a/b/d").text == "second"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("no-slash", "must start with '/'"),
        ("/a/{b", "malformed placeholder"),
        ("/a/{x}/{x}", "twice"),
        ("/a/{x:nope}", "unknown converter"),
        ("/a/{p:path}/b", "whole, final segment"),
        ("/a/x{p:path}", "whole, final segment"),
    ],
)
def test_bad_patterns_fail_at_registration(path, message):
    app = App()
    with pytest.raises(ValueError, match=message):
        app.add_route(path, lambda request: None)


def test_duplicate_route_fails_at_registration():
    app = App()

    @app.get("/dup/{x:int}")
    def one(request, x):
        return ""

    with pytest.raises(ValueError, match="duplicate route: GET /dup"):

        @app.get("/dup/{x:int}")
        def two(request, x):
            return ""


def test_explicit_head_replaces_the_implicit_one(make_client):
    app = App()

    @app.get("/h")
    def get(request):
        return "get"

    @app.route("/h", methods=["HEAD"])
    def head(request):
        return ("", 200, {"X-Head": "explicit"})

    assert make_client(app).head("/h").headers["x-head"] == "explicit"


def test_duplicate_name_with_another_function_fails():
    app = App()
    app.add_route("/a", lambda request: "", name="same")
    with pytest.raises(ValueError, match="already used"):
        app.add_route("/b", lambda request: "", name="same")


def test_same_function_on_two_paths_keeps_the_first_for_reverse_routing():
    app = App()

    @app.get("/one")
    @app.get("/two")
    def page(request):
        return ""

    assert app.url_path_for("page") == "/two"


def test_methods_must_be_a_list():
    with pytest.raises(TypeError):
        App().add_route("/x", lambda request: "", "GET")
    with pytest.raises(ValueError, match="at least one method"):
        App().add_route("/x", lambda request: "", [])


def test_router_cost_does_not_depend_on_route_count_structurally():
    # 1,000 dynamic routes: the tree holds them under distinct literal
    # children, so a match visits one branch (a count, not a timing).
    router = Router()
    app = App()
    for index in range(1000):
        app.add_route(f"/r{index}/{{x:int}}", lambda request, x: "", name=f"r{index}")
    router = app.router
    route, params = router.match("GET", "/r999/5")
    assert route.name == "r999"
    assert params == {"x": 5}
    assert len(router._root.static) == 1000
    assert router._root.segments == []
    with pytest.raises(HTTPException) as info:
        router.match("GET", "/r1000/5")
    assert info.value.status_code == 404


def test_rest_placeholders_with_methods_and_custom_regex(make_client):
    class Digits(Converter):
        regex = "[0-9/]+"
        spans_segments = True

        def to_python(self, value):
            if value.endswith("/"):
                raise ValueError("no trailing slash")
            return value

    app = App()
    app.add_converter("digits", Digits)

    @app.get("/d/{rest:digits}")
    def digits(request, rest):
        return rest

    @app.post("/d/{rest:digits}")
    def digits_post(request, rest):
        return "post " + rest

    @app.get("/any/{rest:path}")
    def any_path(request, rest):
        return rest

    client = make_client(app)
    assert client.get("/d/1/2/3").text == "1/2/3"
    assert client.post("/d/1/2").text == "post 1/2"
    assert client.get("/d/1/x").status_code == 404
    # to_python refuses the trailing slash; the slash policy redirects instead.
    response = client.get("/d/12/")
    assert (response.status_code, response.headers["location"]) == (308, "/d/12")
    response = client.delete("/d/12")
    assert (response.status_code, response.headers["allow"]) == (405, "GET, HEAD, OPTIONS, POST")
    assert client.get("/any/").text == ""
    assert "<Route GET /any/{rest:path}" in repr(app.router.routes[-1])


def test_mixed_segment_conversion_failure_is_404(make_client):
    class Even(Converter):
        regex = "[0-9]+"

        def to_python(self, value):
            if int(value) % 2:
                raise ValueError("odd")
            return int(value)

    app = App()
    app.add_converter("even", Even)

    @app.get("/n/v{number:even}")
    def number(request, number):
        return {"number": number}

    client = make_client(app)
    assert client.get("/n/v4").json() == {"number": 4}
    assert client.get("/n/v3").status_code == 404


def test_failed_registration_leaves_nothing_behind(make_client):
    app = App()
    app.add_route("/a", lambda request: "a")
    with pytest.raises(ValueError, match="duplicate route: GET /a"):
        app.add_route("/a", lambda request: "b", ["POST", "GET", "PUT", "PATCH"])
    client = make_client(app)
    for method in ("POST", "PUT", "PATCH"):
        assert client.request(method, "/a").status_code == 405


def test_same_pattern_with_other_parameter_names_is_refused():
    app = App()
    app.add_route("/u/{x:int}", lambda request, x: "")
    with pytest.raises(ValueError, match="other parameter names"):
        app.add_route("/u/{y:int}", lambda request, y: "", ["POST"])
    app.add_route("/p/{rest:path}", lambda request, rest: "")
    with pytest.raises(ValueError, match="another parameter name"):
        app.add_route("/p/{other:path}", lambda request, other: "", ["POST"])
