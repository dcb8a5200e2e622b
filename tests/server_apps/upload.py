"""Upload routes for benchmarks/bench_upload.py, served by real servers.

Served as ``tests.server_apps.upload:app``. The limits are raised for these
routes only: a 200 MB upload is over the default ``max_body_size``.
"""

from dualweb import App

app = App()
LIMITS = {"max_body_size": 300_000_000, "max_file_size": 300_000_000}


@app.post("/upload", **LIMITS)
def upload(request):
    """multipart parsed by a sync handler (request.form())."""
    return {"size": request.form().files["file"].size}


@app.post("/aupload", **LIMITS)
async def aupload(request):
    """multipart parsed by an async handler (await request.aform())."""
    return {"size": (await request.aform()).files["file"].size}


@app.post("/stream", **LIMITS)
def stream(request):
    """The body read and dropped, not parsed: the server's own share."""
    return {"size": sum(len(chunk) for chunk in request.stream())}


@app.post("/astream", **LIMITS)
async def astream(request):
    size = 0
    async for chunk in request.astream():
        size += len(chunk)
    return {"size": size}
