"""A blocking sync handler, for the thread-pool concurrency test in test_servers.py.

Served by real ASGI servers as ``tests.server_apps.slow:app``.
"""

import threading
import time

from dualweb import App

app = App()


@app.get("/sleep")
def sleep(request):
    time.sleep(0.2)
    return {"thread": threading.current_thread().name}
