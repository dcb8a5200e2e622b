"""The smallest dualweb app, served unchanged by WSGI and ASGI servers.

uvicorn examples.hello:app            # ASGI
gunicorn examples.hello:app           # WSGI (sync worker)
gunicorn -k asgi examples.hello:app   # gunicorn's own ASGI worker
"""

from dualweb import App

app = App()


@app.get("/")
def index(request):
    return "Hello, World!"


@app.get("/users/{user_id:int}")
async def user(request, user_id):
    return {"id": user_id}


@app.post("/echo")
def echo(request):
    return request.json()


@app.post("/aecho")
async def aecho(request):
    return await request.ajson()
