"""A JSON API over an in-memory store: list, create, read, replace, patch and delete items.

uvicorn examples.crud:app            # ASGI
gunicorn examples.crud:app           # WSGI (sync worker)
gunicorn -k asgi examples.crud:app   # gunicorn's own ASGI worker

Then try::

    curl -i localhost:8000/items -H 'Content-Type: application/json' \\
         -d '{"name": "pencil", "price": 1.5, "tags": ["office"]}'
    curl localhost:8000/items/1
    curl -i -X PATCH localhost:8000/items/1 -H 'Content-Type: application/json' \\
         -d '{"price": -2}'          # 422, with the errors per field
    curl -i -X DELETE localhost:8000/items/1

Sync and async handlers sit side by side: each kind runs under either kind of
server. Input is validated by hand (no schema library): a body that is JSON
but not a valid item gets 422 with a list of ``{"field", "message"}`` errors;
a body that is not JSON at all gets the framework's 400, and one sent with
another Content-Type its 415. Every error is answered as JSON.

The items live in this process's memory: each worker process has its own.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any

from dualweb import App, HTTPException, JSONResponse

app = App()

MAX_NAME_LENGTH = 100
MAX_TAGS = 10
MAX_TAG_LENGTH = 30
FIELDS = ("name", "price", "tags")
REQUIRED = ("name", "price")


class ValidationError(Exception):
    """The body is JSON, but not a valid item: answered with 422 (see below)."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__(errors)
        self.errors = errors


def validate(document: Any, *, partial: bool = False) -> dict[str, Any]:
    """The item's fields from a request body, or ValidationError listing every problem.

    ``partial``: for PATCH, where any field may be left out.
    """
    if not isinstance(document, dict):
        raise ValidationError([{"field": "body", "message": "must be a JSON object"}])
    errors = [
        {"field": field, "message": "unknown field"} for field in document if field not in FIELDS
    ]
    if not partial:
        errors += [
            {"field": field, "message": "is required"}
            for field in REQUIRED
            if field not in document
        ]
    values: dict[str, Any] = {}
    if "name" in document:
        name = document["name"]
        if isinstance(name, str) and 0 < len(name.strip()) <= MAX_NAME_LENGTH:
            values["name"] = name.strip()
        else:
            message = f"must be a non-blank string of at most {MAX_NAME_LENGTH} characters"
            errors.append({"field": "name", "message": message})
    if "price" in document:
        price = document["price"]
        # bool is an int subclass. NaN and Infinity never get here: request.json()
        # refuses them (400), as they are not JSON.
        if isinstance(price, (int, float)) and not isinstance(price, bool) and price >= 0:
            values["price"] = price
        else:
            errors.append({"field": "price", "message": "must be a number >= 0"})
    if "tags" in document:
        tags = document["tags"]
        if (
            isinstance(tags, list)
            and len(tags) <= MAX_TAGS
            and all(isinstance(tag, str) and 0 < len(tag) <= MAX_TAG_LENGTH for tag in tags)
        ):
            values["tags"] = tags
        else:
            message = (
                f"must be a list of at most {MAX_TAGS} strings of 1 to {MAX_TAG_LENGTH} characters"
            )
            errors.append({"field": "tags", "message": message})
    elif not partial:
        values["tags"] = []
    if errors:
        raise ValidationError(errors)
    return values


class Store:
    """The items, by id.

    Under ASGI the sync handlers run in the thread pool while the async ones
    run on the event loop, and a gthread worker serves several requests at
    once: the lock keeps a read-modify-write (PATCH) or taking an id and
    storing the item whole. It is held for a few dict operations, never
    across I/O or an ``await``, so the async handlers may take it on the loop.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._items: dict[int, dict[str, Any]] = {}

    def all(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(item) for item in self._items.values()]

    def add(self, values: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            item = {"id": next(self._ids), **values}
            self._items[item["id"]] = item
            return dict(item)

    def get(self, item_id: int) -> dict[str, Any]:
        with self._lock:
            return dict(self._find(item_id))

    def replace(self, item_id: int, values: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._find(item_id)
            item = self._items[item_id] = {"id": item_id, **values}
            return dict(item)

    def update(self, item_id: int, values: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            item = self._find(item_id)
            item.update(values)
            return dict(item)

    def delete(self, item_id: int) -> None:
        with self._lock:
            self._find(item_id)
            del self._items[item_id]

    def _find(self, item_id: int) -> dict[str, Any]:
        item = self._items.get(item_id)
        if item is None:
            raise HTTPException(404, f"No item with id {item_id}")
        return item


store = Store()


# -- errors as JSON -------------------------------------------------------------------------------


@app.errorhandler(ValidationError)
def invalid_item(request, exc: ValidationError):
    return JSONResponse({"detail": exc.errors}, 422)


@app.errorhandler(HTTPException)
def http_error(request, exc: HTTPException):
    """The framework's errors (404, 405, 400 for malformed JSON, 415...) as JSON too."""
    return JSONResponse({"detail": exc.detail}, exc.status_code, exc.headers)


# -- the API: sync and async handlers side by side ----------------------------------------------


@app.get("/items")
def list_items(request):
    return {"items": store.all()}


@app.post("/items")
async def create_item(request):
    item = store.add(validate(await request.ajson()))
    location = request.url_path_for("get_item", item_id=item["id"])
    return item, 201, {"Location": location}


@app.get("/items/{item_id:int}")
def get_item(request, item_id: int):
    return store.get(item_id)


@app.put("/items/{item_id:int}")
def replace_item(request, item_id: int):
    return store.replace(item_id, validate(request.json()))


@app.patch("/items/{item_id:int}")
async def patch_item(request, item_id: int):
    return store.update(item_id, validate(await request.ajson(), partial=True))


@app.delete("/items/{item_id:int}")
async def delete_item(request, item_id: int):
    store.delete(item_id)
    # A handler that returns None answers 204 No Content.
