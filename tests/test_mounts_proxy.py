"""Mounted apps behind ProxyHeadersMiddleware: an untrusted peer's proxy headers are not facts.

(What a trusted proxy reports reaching the mounted app is tested in test_mounts.py.)
"""

from __future__ import annotations

from dualweb import App
from dualweb.middleware import ProxyHeadersMiddleware

FORWARDED = {
    "X-Forwarded-For": "203.0.113.9",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "example.com",
}


def wsgi_where(environ, start_response):
    seen = [environ["REMOTE_ADDR"], environ["wsgi.url_scheme"], environ["HTTP_HOST"]]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [" ".join(seen).encode()]


async def asgi_where(scope, receive, send):
    hosts = [value.decode() for name, value in scope["headers"] if name == b"host"]
    seen = [scope["client"][0], scope["scheme"], *hosts]
    start = {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-type", b"text/plain")],
    }
    await send(start)
    await send({"type": "http.response.body", "body": " ".join(seen).encode()})


def test_untrusted_peer_headers_do_not_reach_the_mounted_app_as_facts(make_client):
    app = App()
    app.add_middleware(ProxyHeadersMiddleware(trusted_proxies=["127.0.0.1"]))
    app.mount("/wsgi", wsgi_where)
    app.mount("/asgi", asgi_where)
    client = make_client(app, client=("198.51.100.7", 40000))
    assert client.get("/wsgi/", headers=FORWARDED).text == "198.51.100.7 http testserver"
    assert client.get("/asgi/", headers=FORWARDED).text == "198.51.100.7 http testserver"
    trusted = make_client(app, client=("127.0.0.1", 40000))
    assert trusted.get("/wsgi/", headers=FORWARDED).text == "203.0.113.9 https example.com"
    assert trusted.get("/asgi/", headers=FORWARDED).text == "203.0.113.9 https example.com"
