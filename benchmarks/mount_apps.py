"""The apps of ``bench_mount.py``: one small Flask app, served four ways.

* ``flask_app``: the Flask app itself (for gunicorn's sync worker);
* ``mounted``: a dualweb App with the Flask app mounted at ``/legacy``;
* ``asgiref_app``: the Flask app behind asgiref's ``WsgiToAsgi``, as is.

Its endpoints: ``/hello`` (``"Hello, World!"``) and ``/sleep`` (a blocking
0.5 s ``time.sleep``, as a legacy view waiting on a slow query would).
"""

from __future__ import annotations

import time

from asgiref.wsgi import WsgiToAsgi
from flask import Flask

from dualweb import App

flask_app = Flask("legacy")


@flask_app.get("/hello")
def hello() -> str:
    return "Hello, World!"


@flask_app.get("/sleep")
def sleep() -> str:
    time.sleep(0.5)
    return "slept"


mounted = App()
mounted.mount("/legacy", flask_app)

asgiref_app = WsgiToAsgi(flask_app)
