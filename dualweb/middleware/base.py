"""The middleware model shared by both interfaces.

A middleware sees the request before the handler (and may answer it
itself) and sees the response after (and may change or replace it). Either
hook may be sync or async; the App runs them the same way under WSGI and
ASGI, so one middleware class serves both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..requests import Request
    from ..responses import Response


class Middleware:
    """Base class for App middleware: override one or both hooks.

    ``before_request(request)`` runs before routing's outcome is acted on (so
    it also sees requests that will get a 404); returning anything but None
    answers the request with it (converted like a handler's return value),
    and the handler is skipped.

    ``after_request(request, response)`` runs on every response, error
    responses included, in the reverse order of registration; it changes
    ``response`` in place and returns None, or returns a replacement.

    Sync hooks run in the thread pool under ASGI, like sync handlers, unless
    ``inline`` is true (the App's ``inline_sync`` when None): set it for hooks
    that never block, as the built-in middleware does.
    """

    #: Run sync hooks on the event loop under ASGI (None: the App's ``inline_sync``).
    inline: bool | None = None

    def before_request(self, request: Request) -> Any:
        """Called before the handler; return None to go on, anything else to answer with it."""
        return None

    def after_request(self, request: Request, response: Response) -> Any:
        """Called on every response; change it in place and return None, or return another."""
        return None
