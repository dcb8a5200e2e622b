"""The App ``dualweb run`` serves in tests/test_cli.py: it says which interface serves it."""

from dualweb import App

app = App()


@app.get("/")
def interface(request):
    return {"interface": request.interface}
