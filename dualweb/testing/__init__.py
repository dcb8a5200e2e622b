"""TestClient: an httpx.Client that calls the app in-process, as WSGI or as ASGI.

Both modes have the same API. In ASGI mode the app runs on an event loop in a
background thread, driven synchronously from the test; streaming responses
arrive chunk by chunk in both modes. ASGI mode also speaks WebSocket
(``client.websocket_connect``).
"""

from ._client import Interface, TestClient
from ._websocket import WebSocketRejected, WebSocketSession

__all__ = ["Interface", "TestClient", "WebSocketRejected", "WebSocketSession"]
