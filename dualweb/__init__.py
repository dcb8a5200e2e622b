"""dualweb: one web app object for WSGI and ASGI servers alike."""

from .app import App
from .background import BackgroundTasks
from .converters import Converter
from .datastructures import Address, Headers, MultiDict, QueryParams
from .exceptions import HTTPException, abort
from .files import FileResponse
from .forms import FormData, FormFiles
from .middleware import Middleware
from .parts import Part
from .redirects import is_safe_url, safe_redirect
from .requests import ClientDisconnect, Request
from .responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from .routing import Route
from .sessions import Session, SessionMiddleware
from .sse import EventSourceResponse, ServerSentEvent
from .staticfiles import StaticFiles
from .uploads import UploadFile
from .websockets import WebSocket, WebSocketClosed, WebSocketDisconnect

__version__ = "0.1.0"

__all__ = [
    "Address",
    "App",
    "BackgroundTasks",
    "ClientDisconnect",
    "Converter",
    "EventSourceResponse",
    "FileResponse",
    "FormData",
    "FormFiles",
    "HTMLResponse",
    "HTTPException",
    "Headers",
    "JSONResponse",
    "Middleware",
    "MultiDict",
    "Part",
    "PlainTextResponse",
    "QueryParams",
    "RedirectResponse",
    "Request",
    "Response",
    "Route",
    "ServerSentEvent",
    "Session",
    "SessionMiddleware",
    "StaticFiles",
    "StreamingResponse",
    "UploadFile",
    "WebSocket",
    "WebSocketClosed",
    "WebSocketDisconnect",
    "abort",
    "is_safe_url",
    "safe_redirect",
]
