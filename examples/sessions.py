"""Logging in and out with a signed-cookie session, and a middleware of our own.

uvicorn examples.sessions:app            # ASGI
gunicorn examples.sessions:app           # WSGI (sync worker)
gunicorn -k asgi examples.sessions:app   # gunicorn's own ASGI worker

Then open http://127.0.0.1:8000/ and log in as ``demo`` with the password
``demo-password``; /account needs the login.

The session lives in a cookie signed with ``SECRET_KEY``, taken from the
environment. Without it, a key written in this file is used, which is fine
for trying the example and nothing else: anyone who reads the file can sign
a session. For a real deployment::

    SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(32))')" \\
        gunicorn examples.sessions:app

Every worker process must get the same key, or a session signed by one is
refused by the others. Behind HTTPS, also set ``secure=True`` on the
SessionMiddleware, so that the cookie is never sent over plain HTTP.

``RequestId`` is a middleware of our own: it gives every response (errors
included) an ``X-Request-ID`` header, the client's own when it sent a
sensible one, so that a request can be followed through the logs.
"""

from __future__ import annotations

import hmac
import os
import re
import uuid
from html import escape

from dualweb import App, HTMLResponse, Middleware, RedirectResponse, SessionMiddleware

# For trying the example only: set SECRET_KEY in the environment for anything else.
INSECURE_DEVELOPMENT_KEY = "development-only-key-do-not-deploy-0123456789"
SECRET_KEY = os.environ.get("SECRET_KEY") or INSECURE_DEVELOPMENT_KEY

# The one user. A real app keeps a slow, salted hash of each password
# (hashlib.scrypt, argon2) and compares hashes, never the password itself.
DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-password"

# What we accept as a client's request id: short, and safe to log as is.
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


class RequestId(Middleware):
    """Give each request an id (the client's X-Request-ID if sensible) and send it back."""

    inline = True  # never blocks: no need for the thread pool under ASGI

    def before_request(self, request):
        given = request.headers.get("x-request-id", "")
        request.state.request_id = given if REQUEST_ID.fullmatch(given) else uuid.uuid4().hex

    def after_request(self, request, response):
        response.headers["X-Request-ID"] = request.state.request_id


app = App()
# Outermost first: the request id is there for everything, the session's errors included.
app.add_middleware(RequestId())
# SameSite=Lax (the default): the browser does not send the cookie with a
# form posted from another site, so no other site can log our users out or in.
app.add_middleware(SessionMiddleware(SECRET_KEY, max_age=8 * 60 * 60))


def check_credentials(username: str, password: str) -> bool:
    # compare_digest takes as long wherever the strings differ, so timing
    # tells nothing of how close a guess was. Both are always compared: a
    # right username with a wrong password takes as long as a wrong username.
    user_ok = hmac.compare_digest(username.encode(), DEMO_USERNAME.encode())
    password_ok = hmac.compare_digest(password.encode(), DEMO_PASSWORD.encode())
    return user_ok and password_ok


@app.get("/")
def home(request):
    user = request.session.get("user")
    if user is None:
        return page("Welcome", '<p>You are not logged in. <a href="/login">Log in</a></p>')
    return page(
        "Welcome",
        f'<p>Logged in as <b>{escape(user)}</b>. <a href="/account">Your account</a></p>'
        + LOGOUT_FORM,
    )


@app.get("/login")
def login_form(request):
    return page("Log in", LOGIN_FORM.format(error=""))


@app.post("/login")
def login(request):
    form = request.form()
    username = form.get("username", "")
    if not check_credentials(username, form.get("password", "")):
        error = '<p class="error">Wrong username or password.</p>'
        return page("Log in", LOGIN_FORM.format(error=error), status=401)
    # Whatever the session held before belongs to whoever was there before.
    request.session.clear()
    request.session["user"] = username
    # 303: the browser follows with a GET, and reloading does not post again.
    return RedirectResponse("/account", 303)


@app.post("/logout")
def logout(request):
    request.session.clear()  # an empty session: the cookie is deleted
    return RedirectResponse("/", 303)


@app.get("/account")
async def account(request):
    user = request.session.get("user")
    if user is None:
        return RedirectResponse("/login", 303)
    request_id = escape(request.state.request_id)
    return page(
        "Your account",
        f"<p>Hello, <b>{escape(user)}</b>. This page needs a login.</p>"
        f"<p>Request id: <code>{request_id}</code></p>" + LOGOUT_FORM,
    )


def page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(PAGE.format(title=escape(title), body=body), status)


PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
  body {{ font: 16px system-ui, sans-serif; max-width: 30rem; margin: 2rem auto; }}
  .error {{ color: #b00; }}
  label {{ display: block; margin: .5rem 0; }}
</style>
</head>
<body>
<h1>{title}</h1>
{body}
</body>
</html>
"""

LOGIN_FORM = """{error}
<form method="post" action="/login">
  <label>Username <input name="username" autocomplete="username" required></label>
  <label>Password <input name="password" type="password"
    autocomplete="current-password" required></label>
  <button>Log in</button>
</form>
"""

LOGOUT_FORM = '<form method="post" action="/logout"><button>Log out</button></form>'
