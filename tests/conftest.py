"""Shared fixtures: every HTTP behaviour test runs under WSGI and ASGI.

WSGI runs inside ``wsgiref.validate.validator`` so a PEP 3333 violation fails
the test; ASGI runs with blockbuster on, so a blocking call on the event loop
fails the test.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import Any
from wsgiref.validate import validator

import pytest
from blockbuster import BlockingError, blockbuster_ctx
from serverkit import Servers

from dualweb import App
from dualweb.testing import TestClient

ClientFactory = Callable[..., TestClient]


@pytest.fixture(params=["wsgi", "asgi"])
def interface(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_client(interface: str) -> Iterator[ClientFactory]:
    clients: list[TestClient] = []

    def make(app: App, **kwargs: Any) -> TestClient:
        client = TestClient(app, interface, wrap_wsgi=validator, **kwargs)  # type: ignore[arg-type]
        clients.append(client)
        return client

    blocked = _BlockingErrors()
    logging.getLogger("dualweb").addHandler(blocked)
    guard: AbstractContextManager[Any] = (
        blockbuster_ctx() if interface == "asgi" else nullcontext()
    )
    try:
        with guard:
            yield make
    finally:
        logging.getLogger("dualweb").removeHandler(blocked)
        for client in clients:
            client.close()
    if blocked.errors and not getattr(make, "allow_blocking", False):
        pytest.fail(f"blocking call on the event loop: {blocked.errors[0]}")


@pytest.fixture
def asgi_client() -> Iterator[ClientFactory]:
    """``asgi_client(app)``: an ASGI-only TestClient (WebSockets), closed at the end, with
    blockbuster on."""
    clients: list[TestClient] = []

    def make(app: Any, **kwargs: Any) -> TestClient:
        client = TestClient(app, "asgi", **kwargs)
        clients.append(client)
        return client

    with blockbuster_ctx():
        try:
            yield make
        finally:
            for client in clients:
                client.close()


class _BlockingErrors(logging.Handler):
    """Collects blockbuster's errors that the app turned into 500 responses."""

    def __init__(self) -> None:
        super().__init__()
        self.errors: list[BaseException] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and isinstance(record.exc_info[1], BlockingError):
            self.errors.append(record.exc_info[1])


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    """Real servers (see serverkit.py): each started on first use, all stopped with the module."""
    pool = Servers(tmp_path_factory.mktemp("servers"))
    try:
        yield pool
    finally:
        pool.stop_all()
