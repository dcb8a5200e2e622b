"""File uploads: a form, and two ways to read what it sends.

uvicorn examples.upload:app            # ASGI
gunicorn examples.upload:app           # WSGI (sync worker)
gunicorn -k asgi examples.upload:app   # gunicorn's own ASGI worker

Then open http://127.0.0.1:8000/ and pick a file, or::

    curl -F file=@README.md localhost:8000/upload
    curl -F file=@README.md localhost:8000/upload/stream

Each route answers with the file's name, size and SHA-256:

- ``/upload`` (async) reads the form with ``await request.aform()``: the file
  becomes an ``UploadFile``, kept in memory up to ``app.spool_threshold`` and
  in a temporary file past that, deleted when the request ends.
- ``/upload/stream`` (sync) reads it with ``request.parts()``: the bytes are
  hashed as they arrive and kept nowhere, for uploads that are going
  somewhere else anyway (a hash, object storage, a file of your choosing).

Both allow files of up to 5 MiB (``max_file_size`` on the route); a larger
one gets 413. The route also raises ``max_body_size`` (1 MiB by default),
which counts the whole body, files included.
"""

from __future__ import annotations

import hashlib

from dualweb import App, HTMLResponse, HTTPException

app = App()

MAX_FILE_SIZE = 5 * 1024 * 1024
# The form's own bytes around the file: boundaries, part headers, a field or two.
FORM_OVERHEAD = 64 * 1024
LIMITS = {"max_file_size": MAX_FILE_SIZE, "max_body_size": MAX_FILE_SIZE + FORM_OVERHEAD}
CHUNK_SIZE = 64 * 1024


@app.get("/")
def form_page(request):
    return HTMLResponse(PAGE)


@app.post("/upload", **LIMITS)
async def upload(request):
    form = await request.aform()
    upload = form.files.get("file")
    # A file input left empty arrives as a file with no name and no bytes.
    if upload is None or (not upload.filename and not upload.size):
        raise HTTPException(400, "No file: send one in the form field 'file'")
    digest = hashlib.sha256()
    # aread, not read: once the file is on disk, aread runs in the thread pool
    # instead of blocking the event loop.
    while chunk := await upload.aread(CHUNK_SIZE):
        digest.update(chunk)
    return {"filename": upload.filename, "size": upload.size, "sha256": digest.hexdigest()}


@app.post("/upload/stream", **LIMITS)
def upload_stream(request):
    # A sync handler: under ASGI it runs in the thread pool, where waiting for
    # the next chunk of the body blocks nothing else.
    for part in request.parts():
        if part.name != "file" or part.filename is None:
            continue  # other fields: moving on skips what is left of them
        digest = hashlib.sha256()
        size = 0
        for chunk in part:  # the bytes as they arrive, kept nowhere
            digest.update(chunk)
            size += len(chunk)
        if not part.filename and not size:
            break
        return {"filename": part.filename, "size": size, "sha256": digest.hexdigest()}
    raise HTTPException(400, "No file: send one in the form field 'file'")


PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>dualweb upload</title>
<style>
  body { font: 16px system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; }
  form { border: 1px solid #ccc; padding: 1rem; margin-bottom: 1rem; }
</style>
</head>
<body>
<h1>Upload a file (5 MiB at most)</h1>
<form method="post" action="/upload" enctype="multipart/form-data">
  <h2>With <code>await request.aform()</code></h2>
  <input type="file" name="file" required>
  <button>Upload</button>
</form>
<form method="post" action="/upload/stream" enctype="multipart/form-data">
  <h2>Streamed with <code>request.parts()</code></h2>
  <input type="file" name="file" required>
  <button>Upload</button>
</form>
</body>
</html>
"""
