"""The benchmark scripts still run (tiny batches; no timing is asserted)."""

from __future__ import annotations

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


@pytest.mark.parametrize(
    ("script", "heading"),
    [
        ("bench_inprocess.py", "| WSGI | GET / | dualweb |"),
        ("bench_routing.py", '| `router.match("GET", "/users/42")` |'),
    ],
)
def test_benchmark_script_runs(script, heading):
    assert heading in run_script(script, "--quick", "--rounds", "1")


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
