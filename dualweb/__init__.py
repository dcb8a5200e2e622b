"""dualweb: one web app object for WSGI and ASGI servers alike."""

from .app import App
from .converters import Converter
from .datastructures import Address, Headers, MultiDict, QueryParams
from .exceptions import HTTPException, abort
from .forms import FormData
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

__version__ = "0.1.0"

__all__ = [
    "Address",
    "App",
    "ClientDisconnect",
    "Converter",
    "FormData",
    "HTMLResponse",
    "HTTPException",
    "Headers",
    "JSONResponse",
    "MultiDict",
    "PlainTextResponse",
    "QueryParams",
    "RedirectResponse",
    "Request",
    "Response",
    "Route",
    "StreamingResponse",
    "abort",
]
