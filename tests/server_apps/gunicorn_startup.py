"""A gunicorn config: start the app when the worker boots, not at its first request.

``gunicorn -c python:tests.server_apps.gunicorn_startup ...``: a failing
startup then stops gunicorn ("Worker failed to boot") instead of leaving a
worker that answers 500.
"""


def post_worker_init(worker):
    worker.wsgi.startup()
