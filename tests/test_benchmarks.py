"""The benchmark scripts still run (tiny batches; no timing is asserted)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_script(script: str, *args: str) -> str:
    """Run ``benchmarks/<script>`` with ``args``; check it succeeds and prints its footer."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "os.getloadavg()" in result.stdout
    return result.stdout


def test_routing_benchmark_runs():
    output = run_script("bench_routing.py", "--quick", "--rounds", "1")
    assert '| `router.match("GET", "/users/42")` |' in output


def test_contenders_answer_alike():
    # Every contender of benchmarks/contenders.py, every endpoint (the WebSocket echo
    # and the 100 ms wait included), in-process.
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "contenders.py")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "every contender answers alike" in result.stdout


def test_peers_benchmark_runs(tmp_path):
    # In-process, with the peers installed here (the others are reported missing):
    # 3 ms samples, one round, a 4 MB file for the multipart throughput.
    figures = tmp_path / "peers.json"
    output = run_script("bench_peers.py", "--quick", "--rounds", "1", "--json", str(figures))
    assert output.count("| GET /plaintext | ") == 2  # the WSGI table and the ASGI one
    assert "| GET /users/42, 1,000 routes | (no router) | " in output
    assert "| WSGI | dualweb | " in output  # routing growth
    assert "| ASGI: dualweb, sync handler | " in output  # bridges
    assert "| 2,000 small fields | " in output  # multipart throughput
    results = json.loads(figures.read_text())
    rows = {
        (row["interface"], row["contender"], row["endpoint"], row["routes"])
        for row in results["requests"]
    }
    assert ("WSGI", "dualweb", "users", 1000) in rows
    assert ("ASGI", "dualweb", "upload", 10) in rows
    for row in results["requests"]:
        assert row["median"] > 0, row
        assert len(row["values"]) == 1, row
    assert [bridge["interface"] for bridge in results["bridges"]] == ["ASGI", "WSGI"]
    assert [target["target"] for target in results["targets"]] == [1] * 6 + [2, 2, 4, 4] + [5] * 4


@pytest.mark.servers
def test_upload_benchmark_runs():
    # Starts uvicorn and gunicorn on 127.0.0.1 and uploads a 4 MB file once to each route.
    output = run_script("bench_upload.py", "--quick")
    assert "| uvicorn | `/aupload` |" in output
    assert "| gunicorn | `/upload` |" in output
    assert "`PushMultipartParser` alone" in output


@pytest.mark.servers
def test_websocket_benchmark_runs():
    # Starts uvicorn and gunicorn -k asgi on 127.0.0.1 with the dualweb and raw echo apps;
    # a few round trips and 20 idle sockets each.
    output = run_script("bench_websockets.py", "--quick")
    for server in ("uvicorn", "gunicorn -k asgi"):
        assert f"| {server} | dualweb |" in output
        assert f"| {server} | raw ASGI |" in output
    assert "with 20 idle WebSockets open" in output


@pytest.mark.servers
@pytest.mark.skipif(
    shutil.which("wrk") is None, reason="wrk is not installed (.ci/run installs it)"
)
def test_mount_benchmark_runs():
    # Starts uvicorn (twice) and gunicorn's sync worker on 127.0.0.1 with a small Flask
    # app; 4 concurrent /sleep requests and 1 s of wrk each.
    output = run_script("bench_mount.py", "--quick")
    for contender in ("dualweb mount (uvicorn)", "asgiref WsgiToAsgi (uvicorn)"):
        assert f"| {contender} | " in output
    assert "| Flask (gunicorn sync) | " in output


@pytest.mark.servers
@pytest.mark.skipif(
    shutil.which("wrk") is None, reason="wrk is not installed (.ci/run installs it)"
)
def test_servers_benchmark_runs(tmp_path):
    # Starts about 20 servers in turn (uvicorn, gunicorn sync, -k asgi and gthread) on
    # 127.0.0.1 with the contenders and claims apps: 1 s of wrk per run, a few WebSocket
    # round trips, a 4 MB upload and 20 idle sockets. Only plaintext, to keep it short.
    figures = tmp_path / "servers.json"
    output = run_script(
        "bench_servers.py", "--quick", "--endpoints", "plaintext", "--json", str(figures)
    )
    assert "| `GET /plaintext` | dualweb |" in output
    assert "| dualweb `async def`, `await asyncio.sleep(0.1)` | uvicorn |" in output
    assert "| uvicorn | dualweb |" in output  # WebSocket echo
    assert "| `asyncio.gather` |" in output
    results = json.loads(figures.read_text())
    servers = {row["server"] for row in results["http"]}
    assert servers == {"uvicorn", "gunicorn -k asgi", "gunicorn sync", "gunicorn gthread"}
    for row in results["http"]:  # every run was answered, and only with 200s
        assert row["req_per_s"]["median"] > 0, row["job"]
        assert row["non_2xx"]["values"] == [0], row["job"]
    assert {row["contender"] for row in results["websocket_echo"]} >= {"raw ASGI", "dualweb"}
    assert len(results["upload_memory"]) == 4
    assert [target["target"] for target in results["targets"]] == [3, 3, 5, 5, 7, 7]
