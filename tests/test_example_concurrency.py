"""examples/concurrency.py: sequential vs gathered awaits, and where the CPU-bound
handler runs, under both interfaces; and served by uvicorn."""

from __future__ import annotations

import threading

import pytest
from examplekit import load_example
from serverkit import Servers

CONCURRENCY = "examples.concurrency:app"
RESULTS = ["value of a", "value of b", "value of c"]


@pytest.fixture
def client(make_client):
    return make_client(load_example("concurrency").app)


def test_gather_overlaps_the_three_awaits(client) -> None:
    # The durations are the app's own report of what it did, not a benchmark:
    # three 100 ms waits in a row cannot take less than 300 ms, and gathered
    # they must overlap (well under the 200 ms that two in a row would take).
    sequential = client.get("/sequential").json()
    gathered = client.get("/gathered").json()
    assert sequential["results"] == gathered["results"] == RESULTS
    assert sequential["seconds"] >= 0.3
    assert gathered["seconds"] < 0.25
    assert gathered["seconds"] < sequential["seconds"]


def test_cpu_bound_sync_handler_runs_off_the_loop(client, interface: str) -> None:
    cpu = client.get("/cpu", params={"n": "1000"}).json()
    assert cpu["n"] == 1000
    assert cpu["primes"] == 168
    assert isinstance(cpu["seconds"], float)
    fast = client.get("/fast").json()
    if interface == "asgi":
        # The sync handler in the App's thread pool; the async one on the loop's thread.
        assert cpu["thread"].startswith("dualweb-sync")
        assert not fast["thread"].startswith("dualweb-sync")
    else:
        # WSGI: both on the server's worker thread (here, the test's own).
        assert cpu["thread"] == fast["thread"] == threading.current_thread().name


def test_cpu_default_size(client) -> None:
    assert client.get("/cpu").json()["primes"] == 17984  # primes below 200,000


@pytest.mark.parametrize("n", ["", "1", "1000001", "abc", "-5", "1e3", "²", "9" * 5000])
def test_cpu_refuses_bad_sizes(client, n: str) -> None:
    response = client.get("/cpu", params={"n": n})
    assert (response.status_code, response.text) == (
        400,
        "n must be a whole number from 2 to 1000000",
    )


@pytest.mark.parametrize(("n", "primes"), [(2, 0), (3, 1), (10, 4), (100, 25)])
def test_count_primes(n: int, primes: int) -> None:
    assert load_example("concurrency").count_primes(n) == primes


@pytest.mark.servers
def test_served_by_uvicorn(servers: Servers) -> None:
    server = servers.get("uvicorn", CONCURRENCY)
    with server.client() as client:
        gathered = client.get("/gathered")
        assert gathered.status_code == 200, server.describe()
        assert gathered.json()["results"] == RESULTS
        assert client.get("/cpu", params={"n": "100"}).json()["primes"] == 25
    assert "Traceback" not in server.log(), server.describe()
