"""examples/crud.py: the JSON API under both interfaces in-process, and served by uvicorn."""

from __future__ import annotations

from typing import Any

import pytest
from examplekit import load_example
from serverkit import Servers

CRUD = "examples.crud:app"
PENCIL = {"name": "pencil", "price": 1.5, "tags": ["office"]}


@pytest.fixture
def client(make_client):
    return make_client(load_example("crud").app)


def test_create_then_read(client) -> None:
    assert client.get("/items").json() == {"items": []}
    created = client.post("/items", json=PENCIL)
    assert created.status_code == 201
    assert created.headers["location"] == "/items/1"
    assert created.headers["content-type"] == "application/json"
    assert created.json() == {"id": 1, **PENCIL}
    # Names are trimmed; tags default to none.
    second = client.post("/items", json={"name": "  eraser ", "price": 0})
    assert (second.status_code, second.headers["location"]) == (201, "/items/2")
    assert second.json() == {"id": 2, "name": "eraser", "price": 0, "tags": []}
    assert client.get("/items/1").json() == {"id": 1, **PENCIL}
    assert client.get("/items").json() == {"items": [{"id": 1, **PENCIL}, second.json()]}


def test_replace_and_patch(client) -> None:
    client.post("/items", json=PENCIL)
    replaced = client.put("/items/1", json={"name": "pen", "price": 3})
    assert (replaced.status_code, replaced.json()) == (
        200,
        {"id": 1, "name": "pen", "price": 3, "tags": []},
    )
    patched = client.patch("/items/1", json={"tags": ["blue"]})
    assert patched.json() == {"id": 1, "name": "pen", "price": 3, "tags": ["blue"]}
    assert client.patch("/items/1", json={}).json() == patched.json()  # nothing to change
    assert client.get("/items/1").json() == patched.json()


def test_delete(client) -> None:
    client.post("/items", json=PENCIL)
    deleted = client.delete("/items/1")
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert "content-type" not in deleted.headers
    assert client.get("/items/1").status_code == 404
    assert client.delete("/items/1").status_code == 404
    # Ids are not reused.
    assert client.post("/items", json=PENCIL).json()["id"] == 2


@pytest.mark.parametrize(
    ("method", "body"), [("GET", None), ("PUT", PENCIL), ("PATCH", {}), ("DELETE", None)]
)
def test_unknown_id_is_404_as_json(client, method: str, body: Any) -> None:
    response = client.request(method, "/items/7", json=body)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"detail": "No item with id 7"}


def test_framework_errors_are_json_too(client) -> None:
    missing = client.get("/nothing-here")
    assert (missing.status_code, missing.json()) == (404, {"detail": "Not Found"})
    not_allowed = client.post("/items/1", json=PENCIL)
    assert not_allowed.status_code == 405
    assert set(not_allowed.headers["allow"].split(", ")) >= {"GET", "PUT", "PATCH", "DELETE"}
    assert not_allowed.json() == {"detail": "Method Not Allowed"}
    assert client.get("/items/abc").status_code == 404  # not an int: no route


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        (["pencil"], [{"field": "body", "message": "must be a JSON object"}]),
        ("pencil", [{"field": "body", "message": "must be a JSON object"}]),
        (
            {},
            [
                {"field": "name", "message": "is required"},
                {"field": "price", "message": "is required"},
            ],
        ),
        (
            {"name": "  ", "price": -1, "colour": "red"},
            [
                {"field": "colour", "message": "unknown field"},
                {
                    "field": "name",
                    "message": "must be a non-blank string of at most 100 characters",
                },
                {"field": "price", "message": "must be a number >= 0"},
            ],
        ),
        (
            {"name": "x" * 101, "price": "1.5", "tags": "office"},
            [
                {
                    "field": "name",
                    "message": "must be a non-blank string of at most 100 characters",
                },
                {"field": "price", "message": "must be a number >= 0"},
                {
                    "field": "tags",
                    "message": "must be a list of at most 10 strings of 1 to 30 characters",
                },
            ],
        ),
        ({"name": 3, "price": True}, None),
        ({"name": "a", "price": 1, "tags": ["ok", ""]}, None),
        ({"name": "a", "price": 1, "tags": [1]}, None),
        ({"name": "a", "price": 1, "tags": ["t"] * 11}, None),
    ],
)
def test_invalid_item_is_422_with_errors_per_field(client, body: Any, errors: Any) -> None:
    for method, path in (("POST", "/items"), ("PUT", "/items/1")):
        response = client.request(method, path, json=body)
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/json"
        detail = response.json()["detail"]
        assert all(set(error) == {"field", "message"} for error in detail)
        if errors is not None:
            assert detail == errors
    assert client.get("/items").json() == {"items": []}  # nothing stored


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json(client, value: str) -> None:
    # Python's json module reads them; request.json() refuses them, so they
    # are never stored (nor sent back as invalid JSON).
    body = f'{{"name": "odd", "price": {value}}}'.encode()
    response = client.post("/items", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json() == {"detail": f"Invalid JSON: {value} is not a JSON value"}
    assert client.get("/items").json() == {"items": []}


def test_price_must_not_be_negative(client) -> None:
    response = client.post("/items", json={"name": "odd", "price": -0.5})
    assert response.status_code == 422
    assert response.json() == {"detail": [{"field": "price", "message": "must be a number >= 0"}]}


def test_patch_validates_only_what_is_sent(client) -> None:
    client.post("/items", json=PENCIL)
    response = client.patch("/items/1", json={"price": -2, "id": 5})
    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {"field": "id", "message": "unknown field"},
            {"field": "price", "message": "must be a number >= 0"},
        ]
    }
    assert client.get("/items/1").json() == {"id": 1, **PENCIL}  # unchanged


@pytest.mark.parametrize(("method", "path"), [("POST", "/items"), ("PUT", "/items/1")])
def test_malformed_json_is_400_and_other_types_415(client, method: str, path: str) -> None:
    client.post("/items", json=PENCIL)
    json_type = {"content-type": "application/json"}
    broken = client.request(method, path, content=b'{"name": ', headers=json_type)
    assert broken.status_code == 400
    assert broken.json()["detail"].startswith("Invalid JSON: ")
    empty = client.request(method, path, content=b"", headers=json_type)
    assert (empty.status_code, empty.json()) == (
        400,
        {"detail": "Invalid JSON: the body is empty"},
    )
    form = client.request(method, path, data={"name": "pencil", "price": "1"})
    assert form.status_code == 415
    assert form.json() == {"detail": "Expected a JSON body (Content-Type: application/json)"}
    assert client.get("/items").json() == {"items": [{"id": 1, **PENCIL}]}


@pytest.mark.servers
def test_served_by_uvicorn(servers: Servers) -> None:
    server = servers.get("uvicorn", CRUD)
    with server.client() as client:
        created = client.post("/items", json=PENCIL)
        assert created.status_code == 201, server.describe()
        fetched = client.get(created.headers["location"])
        assert fetched.json() == created.json()
        assert client.post("/items", json={"price": -1}).status_code == 422
    assert "Traceback" not in server.log(), server.describe()
