"""The benchmark scripts still run (tiny batches; no timing is asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("script", "heading"),
    [
        ("bench_inprocess.py", "| WSGI | GET / | dualweb |"),
        ("bench_routing.py", '| `router.match("GET", "/users/42")` |'),
    ],
)
def test_benchmark_script_runs(script, heading):
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--quick", "--rounds", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert heading in result.stdout
    assert "os.getloadavg()" in result.stdout


@pytest.mark.servers
def test_upload_benchmark_runs():
    # Starts uvicorn and gunicorn on 127.0.0.1 and uploads a 4 MB file once to each route.
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_upload.py"), "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "| uvicorn | `/aupload` |" in result.stdout
    assert "| gunicorn | `/upload` |" in result.stdout
    assert "`PushMultipartParser` alone" in result.stdout
    assert "os.getloadavg()" in result.stdout


@pytest.mark.servers
def test_websocket_benchmark_runs():
    # Starts uvicorn and gunicorn -k asgi on 127.0.0.1 with the dualweb and raw echo apps;
    # a few round trips and 20 idle sockets each.
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_websockets.py"), "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for server in ("uvicorn", "gunicorn -k asgi"):
        assert f"| {server} | dualweb |" in result.stdout
        assert f"| {server} | raw ASGI |" in result.stdout
    assert "with 20 idle WebSockets open" in result.stdout
    assert "os.getloadavg()" in result.stdout
