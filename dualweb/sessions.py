"""Sessions kept in a signed cookie.

The cookie holds the session itself, as compact JSON, with the time it was
written, signed with HMAC-SHA256: ``<payload>.<timestamp>.<signature>``,
the payload base64url-encoded. The client can read it but not change it.
Nothing is stored on the server, so sessions need no storage and survive
restarts, but they hold only what fits in a cookie (about 4 KB).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .cookies import SameSite, format_set_cookie
from .middleware.base import Middleware

if TYPE_CHECKING:
    from .requests import Request
    from .responses import Response

logger = logging.getLogger("dualweb")

#: Browsers keep cookies of up to 4096 bytes, name and value together
#: (RFC 6265 §6.1 asks for at least that much); a larger one is dropped.
MAX_COOKIE_SIZE = 4096
#: The shortest secret key accepted, in bytes.
MIN_SECRET_SIZE = 32
# Signing keys are derived from the secret for this one use, so a secret
# shared with other code never signs the same messages as it.
_KEY_SALT = b"dualweb.sessions.SessionMiddleware"
_JSON_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


class Session(dict[str, Any]):
    """The session: a dict that remembers whether it was changed.

    Only changes made through the dict's own methods are noticed: after
    changing a value in place (``session["cart"].append(item)``) assign it
    again or set ``session.modified = True``.
    """

    #: Whether the session changed, so the middleware sends a new cookie.
    modified = False

    def __setitem__(self, key: str, value: Any) -> None:
        self.modified = True
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self.modified = True
        super().__delitem__(key)

    def __ior__(self, other: Any) -> Session:  # type: ignore[override,misc]
        self.modified = True
        super().__ior__(other)
        return self

    def clear(self) -> None:
        self.modified = True
        super().clear()

    def pop(self, key: str, *default: Any) -> Any:
        self.modified = True
        return super().pop(key, *default)

    def popitem(self) -> tuple[str, Any]:
        self.modified = True
        return super().popitem()

    def setdefault(self, key: str, default: Any = None) -> Any:
        self.modified = True
        return super().setdefault(key, default)

    def update(self, *args: Any, **kwargs: Any) -> None:
        self.modified = True
        super().update(*args, **kwargs)


class SessionCookieTooLarge(ValueError):
    """The session does not fit in a cookie browsers keep."""


class SessionSigner:
    """Turns session data into a signed cookie value and back.

    ``loads`` never raises: a value that is tampered with, expired,
    truncated, oversized or otherwise not one of ours gives None.
    """

    def __init__(
        self,
        secret_key: str | bytes,
        fallback_secret_keys: Iterable[str | bytes] = (),
        *,
        max_age: int | None = None,
    ) -> None:
        if isinstance(fallback_secret_keys, (str, bytes)):
            raise TypeError("fallback_secret_keys must be a list of keys, not one key")
        self.key = _derive_key(secret_key)
        self.keys = [self.key, *(_derive_key(key) for key in fallback_secret_keys)]
        self.max_age = max_age

    def dumps(self, data: dict[str, Any], now: float | None = None) -> str:
        payload = _b64encode(_JSON_ENCODER.encode(data).encode())
        signed = f"{payload}.{int(time.time() if now is None else now)}"
        return f"{signed}.{_sign(self.key, signed)}"

    def loads(self, value: str, now: float | None = None) -> dict[str, Any] | None:
        if len(value) > MAX_COOKIE_SIZE or not value.isascii():
            return None
        signed, _, signature = value.rpartition(".")
        payload, _, timestamp = signed.partition(".")
        if not payload or not timestamp.isdigit() or len(timestamp) > 12:
            return None
        # compare_digest takes time independent of where the strings differ,
        # so the signature cannot be guessed byte by byte from timings.
        if not any(hmac.compare_digest(_sign(key, signed), signature) for key in self.keys):
            return None
        if self.max_age is not None:
            age = (time.time() if now is None else now) - int(timestamp)
            if age > self.max_age:
                return None
        try:
            data = json.loads(_b64decode(payload))
        except ValueError:  # signed with one of the keys, but not by this code
            return None
        return data if isinstance(data, dict) else None


class SessionMiddleware(Middleware):
    """``request.session``, kept in a signed cookie.

    ``secret_key`` (str or bytes, at least 32 bytes, e.g. from
    ``secrets.token_urlsafe(32)``) signs the cookie; cookies signed with one
    of ``fallback_secret_keys`` are still accepted, so a key can be replaced
    without logging everyone out. A session is valid for ``max_age`` seconds
    (None: until the browser closes) after it was last changed; the cookie's
    attributes are the other options. The session must be JSON-serialisable.
    """

    inline = True

    def __init__(
        self,
        secret_key: str | bytes,
        *,
        cookie_name: str = "session",
        max_age: int | None = 14 * 24 * 60 * 60,
        path: str = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = True,
        samesite: SameSite | None = "lax",
        fallback_secret_keys: Iterable[str | bytes] = (),
    ) -> None:
        if max_age is not None and max_age <= 0:
            raise ValueError("max_age must be positive, or None for a browser-session cookie")
        self.signer = SessionSigner(secret_key, fallback_secret_keys, max_age=max_age)
        # Refuse a bad name or attribute now rather than on the first response.
        format_set_cookie(cookie_name, path=path, domain=domain, samesite=samesite)
        self.cookie_name = cookie_name
        self.max_age = max_age
        self.path = path
        self.domain = domain
        self.secure = secure
        self.httponly = httponly
        self.samesite: SameSite | None = samesite

    def before_request(self, request: Request) -> None:
        value = request.cookies.get(self.cookie_name)
        data = self.signer.loads(value) if value else None
        request._session = Session(data) if data else Session()

    def after_request(self, request: Request, response: Response) -> None:
        session = request._session
        if not session.modified:
            return
        if not session:
            if self.cookie_name in request.cookies:
                response.delete_cookie(
                    self.cookie_name,
                    path=self.path,
                    domain=self.domain,
                    secure=self.secure,
                    httponly=self.httponly,
                    samesite=self.samesite,
                )
            return
        value = self.signer.dumps(session)
        size = len(self.cookie_name) + 1 + len(value)
        if size > MAX_COOKIE_SIZE:
            # Browsers silently drop such a cookie, which would lose the
            # session without a trace: better to fail loudly here.
            raise SessionCookieTooLarge(
                f"the session cookie would be {size} bytes, over the {MAX_COOKIE_SIZE} "
                "browsers keep: store less in the session"
            )
        response.set_cookie(
            self.cookie_name,
            value,
            max_age=self.max_age,
            path=self.path,
            domain=self.domain,
            secure=self.secure,
            httponly=self.httponly,
            samesite=self.samesite,
        )


def _derive_key(secret: str | bytes) -> bytes:
    if isinstance(secret, str):
        secret = secret.encode()
    if not isinstance(secret, bytes):
        raise TypeError(f"a secret key is str or bytes, not {type(secret).__name__}")
    if len(secret) < MIN_SECRET_SIZE:
        raise ValueError(
            f"secret key too short ({len(secret)} bytes, at least {MIN_SECRET_SIZE}): "
            "use secrets.token_urlsafe(32)"
        )
    return hmac.new(secret, _KEY_SALT, hashlib.sha256).digest()


def _sign(key: bytes, signed: str) -> str:
    return _b64encode(hmac.new(key, signed.encode(), hashlib.sha256).digest())


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
