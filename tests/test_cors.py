"""CORSMiddleware: preflights answered, CORS headers on cross-origin responses."""

from __future__ import annotations

import pytest

from dualweb import App
from dualweb.middleware import CORSMiddleware, GZipMiddleware

SITE = "https://site.example"
OTHER = "https://evil.example"


def cors_app(**options) -> App:
    app = App()
    app.add_middleware(CORSMiddleware(**options))

    @app.get("/data")
    def data(request):
        return {"ok": True}

    @app.route("/items", ["GET", "PUT", "DELETE"])
    async def items(request):
        return "items"

    @app.get("/boom")
    def boom(request):
        raise RuntimeError("boom")

    return app


def preflight(client, origin=SITE, method="PUT", headers=None, path="/items"):
    request_headers = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers is not None:
        request_headers["Access-Control-Request-Headers"] = headers
    return client.options(path, headers=request_headers)


def test_simple_request_from_a_listed_origin(make_client):
    client = make_client(cors_app(allow_origins=[SITE]))
    response = client.get("/data", headers={"Origin": SITE})
    assert response.json() == {"ok": True}
    assert response.headers["access-control-allow-origin"] == SITE
    assert response.headers["vary"] == "Origin"
    assert "access-control-allow-credentials" not in response.headers


def test_simple_request_from_an_unlisted_origin_gets_no_allow_origin(make_client):
    client = make_client(cors_app(allow_origins=[SITE]))
    response = client.get("/data", headers={"Origin": OTHER})
    # The request is still served; the browser will not let the page read it.
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers
    assert response.headers["vary"] == "Origin"


def test_any_origin_without_credentials_is_a_wildcard(make_client):
    client = make_client(cors_app(allow_origins=["*"]))
    response = client.get("/data", headers={"Origin": OTHER})
    assert response.headers["access-control-allow-origin"] == "*"
    # The same answer for every origin: caches need not vary on it.
    assert "vary" not in response.headers


def test_any_origin_with_credentials_echoes_the_origin(make_client):
    client = make_client(cors_app(allow_origins=["*"], allow_credentials=True))
    response = client.get("/data", headers={"Origin": OTHER})
    assert response.headers["access-control-allow-origin"] == OTHER
    assert response.headers["access-control-allow-credentials"] == "true"
    assert response.headers["vary"] == "Origin"


def test_origin_regex_must_match_in_full(make_client):
    client = make_client(cors_app(allow_origin_regex=r"https://[a-z]+\.site\.example"))
    response = client.get("/data", headers={"Origin": "https://app.site.example"})
    assert response.headers["access-control-allow-origin"] == "https://app.site.example"
    for origin in ("https://app.site.example.evil.example", "http://app.site.example"):
        response = client.get("/data", headers={"Origin": origin})
        assert "access-control-allow-origin" not in response.headers


def test_expose_headers_on_actual_responses(make_client):
    client = make_client(cors_app(allow_origins=[SITE], expose_headers=["X-Total", "ETag"]))
    response = client.get("/data", headers={"Origin": SITE})
    assert response.headers["access-control-expose-headers"] == "X-Total, ETag"
    response = preflight(client, method="GET")
    assert "access-control-expose-headers" not in response.headers


def test_request_without_origin_only_gets_vary(make_client):
    for options in ({"allow_origins": [SITE]}, {"allow_origins": ["*"]}):
        client = make_client(cors_app(**options))
        response = client.get("/data")
        assert response.json() == {"ok": True}
        assert not [name for name in response.headers if name.startswith("access-control-")]
        # A shared cache must not serve this header-less answer to a CORS request.
        assert response.headers["vary"] == "Origin"


def test_vary_is_added_to_what_the_handler_set(make_client):
    app = App()
    app.add_middleware(CORSMiddleware(allow_origins=[SITE]))
    app.add_middleware(GZipMiddleware(minimum_size=10))
    app.add_route("/", lambda request: ("x" * 100, 200, {"Vary": "Cookie"}))
    client = make_client(app)
    response = client.get("/", headers={"Origin": SITE, "Accept-Encoding": "gzip"})
    assert response.headers["vary"] == "Cookie, Accept-Encoding, Origin"
    assert response.text == "x" * 100


def test_vary_star_is_left_alone(make_client):
    app = App()
    app.add_middleware(CORSMiddleware(allow_origins=[SITE]))
    app.add_route("/", lambda request: ("x", 200, {"Vary": "*"}))
    response = make_client(app).get("/", headers={"Origin": SITE})
    assert response.headers["vary"] == "*"


def test_preflight_allowed(make_client):
    client = make_client(
        cors_app(
            allow_origins=[SITE],
            allow_methods=["GET", "put", "DELETE"],
            allow_headers=["X-Token"],
            max_age=3600,
        )
    )
    response = preflight(client, headers="X-Token, Content-Type")
    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["access-control-allow-origin"] == SITE
    assert response.headers["access-control-allow-methods"] == "DELETE, GET, PUT"
    assert response.headers["access-control-allow-headers"] == (
        "accept, accept-language, content-language, content-type, x-token"
    )
    assert response.headers["access-control-max-age"] == "3600"
    assert response.headers["vary"] == "Origin"
    assert "allow" not in response.headers  # answered before routing's OPTIONS


@pytest.mark.parametrize(
    ("origin", "method", "headers", "message"),
    [
        (OTHER, "PUT", None, "Disallowed CORS origin"),
        (SITE, "PATCH", None, "Disallowed CORS method"),
        (SITE, "PUT", "X-Token, X-Other", "Disallowed CORS headers"),
        (OTHER, "PATCH", "X-Other", "Disallowed CORS origin, method, headers"),
        (SITE, "", None, "Disallowed CORS method"),
    ],
)
def test_preflight_refused(make_client, origin, method, headers, message):
    client = make_client(
        cors_app(allow_origins=[SITE], allow_methods=["GET", "PUT"], allow_headers=["X-Token"])
    )
    response = preflight(client, origin=origin, method=method, headers=headers)
    assert (response.status_code, response.text) == (400, message)
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-methods" not in response.headers


def test_preflight_with_wildcards_answers_what_was_asked(make_client):
    client = make_client(
        cors_app(
            allow_origins=["*"],
            allow_methods=["*"],
            allow_headers=["*"],
            allow_credentials=True,
        )
    )
    response = preflight(client, origin=OTHER, method="PATCH", headers="X-A, x-b")
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == OTHER
    assert response.headers["access-control-allow-methods"] == "PATCH"
    assert response.headers["access-control-allow-headers"] == "x-a, x-b"
    assert response.headers["access-control-allow-credentials"] == "true"
    response = preflight(client, origin=OTHER, method="GET")
    assert "access-control-allow-headers" not in response.headers


def test_preflight_on_any_path_even_without_a_route(make_client):
    client = make_client(cors_app(allow_origins=["*"]))
    response = preflight(client, method="GET", path="/nowhere")
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    assert "vary" not in response.headers


def test_options_without_request_method_is_an_ordinary_request(make_client):
    client = make_client(cors_app(allow_origins=[SITE]))
    response = client.options("/items", headers={"Origin": SITE})
    # Routing's automatic OPTIONS answer, with CORS headers added.
    assert response.status_code == 204
    assert response.headers["allow"] == "DELETE, GET, HEAD, OPTIONS, PUT"
    assert response.headers["access-control-allow-origin"] == SITE
    assert "access-control-allow-methods" not in response.headers
    response = client.options("/items")
    assert response.headers["allow"] == "DELETE, GET, HEAD, OPTIONS, PUT"
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize(("path", "status"), [("/missing", 404), ("/boom", 500)])
def test_error_responses_carry_cors_headers(make_client, path, status):
    client = make_client(cors_app(allow_origins=[SITE], allow_credentials=True))
    response = client.get(path, headers={"Origin": SITE})
    assert response.status_code == status
    # Without these the page could not even see that the request failed.
    assert response.headers["access-control-allow-origin"] == SITE
    assert response.headers["access-control-allow-credentials"] == "true"


def test_null_origin_only_when_listed(make_client):
    client = make_client(cors_app(allow_origins=[SITE]))
    response = client.get("/data", headers={"Origin": "null"})
    assert "access-control-allow-origin" not in response.headers
    client = make_client(cors_app(allow_origins=["null"]))
    response = client.get("/data", headers={"Origin": "null"})
    assert response.headers["access-control-allow-origin"] == "null"


def test_configuration_errors():
    with pytest.raises(ValueError, match="without a path"):
        CORSMiddleware(allow_origins=["https://site.example/"])
    with pytest.raises(TypeError, match="allow_origins must be a list"):
        CORSMiddleware(allow_origins="https://site.example")
    with pytest.raises(ValueError, match="max_age must not be negative"):
        CORSMiddleware(max_age=-1)
    middleware = CORSMiddleware(allow_origins=["https://a.example", "*"])
    assert middleware.is_allowed_origin("https://anything.example")
    assert not CORSMiddleware().is_allowed_origin(SITE)
    assert CORSMiddleware.inline is True
