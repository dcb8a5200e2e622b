"""Middleware: the model (:class:`Middleware`) and the built-in ones.

Session middleware lives with the sessions, in :mod:`dualweb.sessions`.
"""

from .base import Middleware
from .cors import CORSMiddleware
from .gzip import GZipMiddleware
from .proxyheaders import ProxyHeadersMiddleware
from .trustedhost import TrustedHostMiddleware

__all__ = [
    "CORSMiddleware",
    "GZipMiddleware",
    "Middleware",
    "ProxyHeadersMiddleware",
    "TrustedHostMiddleware",
]
