"""The benchmark scripts still run (tiny batches; no timing is asserted)."""

from __future__ import annotations

import importlib.util
import json
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks"
PYPROJECT = ROOT / "pyproject.toml"
D, X = "\u2013", "\u00d7"  # the report's en dash and multiplication sign


def run_script(script: str, *args: str, report: bool = True) -> str:
    """Run ``benchmarks/<script>`` with ``args``; check it succeeds and (``report``)
    prints a report's footer."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    if report:
        assert "os.getloadavg()" in result.stdout
    return result.stdout


def test_routing_benchmark_runs():
    output = run_script("bench_routing.py", "--quick", "--rounds", "1")
    assert '| `router.match("GET", "/users/42")` |' in output


def test_contenders_answer_alike():
    # Every contender of benchmarks/contenders.py, every endpoint (the WebSocket echo
    # and the 100 ms wait included), in-process.
    output = run_script("contenders.py", report=False)
    assert "every contender answers alike" in output


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
    assert [target["target"] for target in results["targets"]] == [1] * 6 + [2, 2, 4, 4] + [5] * 8


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
    assert [target["target"] for target in results["targets"]] == [3, 3, 5, 5, 6, 7, 7]


# -- run_all.py and the report ------------------------------------------------------------------


def load_benchmark(name: str) -> ModuleType:
    """``benchmarks/<name>.py`` as a module (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", BENCHMARKS / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def figures(*values: float) -> dict[str, Any]:
    """A figure as the scripts save it: every round's value, their median, min and max."""
    return {
        "values": list(values),
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
    }


def peers_results(quick: bool = False) -> dict[str, Any]:
    """A tiny bench_peers.py result: two contenders, one request, targets 1 (met) and 4
    (missed)."""
    machine = {"platform": "Linux", "python": "3.11", "cpu_count": 2}
    request = {"interface": "WSGI", "endpoint": "plaintext", "request": "GET /plaintext"}
    bridge = {
        "interface": "ASGI",
        "crossing": "dualweb, sync handler",
        "direct": "dualweb, async handler",
        "floor": "bare hop",
        "limit": 1.2,
        "met": False,
        "ratio_to_floor": 1.5,
        **{f"{name}_us": figures(value) for name, value in (("crossing", 20), ("direct", 5))},
        **{f"{name}_us": figures(value) for name, value in (("overhead", 15), ("floor", 10))},
    }
    return {
        "benchmark": "bench_peers",
        "settings": {"rounds": 2, "quick": quick, "sample_seconds": 0.2},
        "machine": {**machine, "loadavg_before": [0.5, 0.4, 0.3], "loadavg_after": [1, 1, 1]},
        "versions": {"dualweb": "0.1.0", "falcon": "4.0"},
        "unavailable": {"Flask": "not importable"},
        "unsupported": {},
        "requests": [
            {**request, "routes": 10, "contender": "raw WSGI", **figures(1.0, 1.2)}
            | {"ratio_to_raw": 1.0},
            {**request, "routes": 10, "contender": "dualweb", **figures(3.0, 3.5)}
            | {"ratio_to_raw": 3.0},
        ],
        "routing_growth": [],
        "bridges": [bridge],
        "multipart": [],
        "targets": [
            {
                "target": 1,
                "what": "WSGI GET /plaintext: dualweb ≤ Falcon",
                "figure": "3.25 µs vs 4.00 µs",
                "ratio": 0.8125,
                "limit": 1.0,
                "met": True,
            },
            {
                "target": 4,
                "what": "sync handler under ASGI: overhead ≤ 1.2 times a bare hop",
                "figure": "15.00 µs vs 10.00 µs",
                "ratio": 1.5,
                "limit": 1.2,
                "met": False,
            },
        ],
    }


def servers_results() -> dict[str, Any]:
    """A tiny bench_servers.py result: one throughput row, target 3 measured (met) and
    target 7 not (no figure)."""
    settings = {
        "rounds": 1,
        "duration": 1,
        "connections": 4,
        "wait_connections": 20,
        "threads": 40,
        "endpoints": ["plaintext"],
        "memory_rounds": 1,
        "quick": False,
        "server_cpu": 0,
        "client_cpu": 1,
    }
    row = {
        "section": "throughput",
        "job": "plaintext",
        "server": "uvicorn",
        "interface": "ASGI",
        "contender": "dualweb",
        "app": "benchmarks.contenders:dualweb_asgi",
        "method": "GET",
        "path": "/plaintext",
        "connections": 4,
        "load": None,
        "ratio": figures(0.95),
        "req_per_s": figures(9500.4),
        "p50_ms": figures(0.2),
        "p99_ms": figures(1.5),
        "socket_errors": figures(0),
        "non_2xx": figures(0),
    }
    targets = [
        {"target": 3, "what": "uvicorn plaintext", "figure": 0.95, "bound": 0.9, "met": True},
        {"target": 7, "what": "uvicorn WebSocket echo", "figure": None, "bound": 0.9, "met": None},
    ]
    return {
        "benchmark": "bench_servers",
        "settings": settings,
        "machine": {"lines": ["- platform: Linux"], "versions": {"uvicorn": "0.30"}},
        "http": [row],
        "websocket_echo": [],
        "upload_memory": [],
        "idle_websockets": [],
        "targets": [{**target, "comparison": ">="} for target in targets],
    }


def target_rows(page: str) -> dict[str, list[str]]:
    """The targets table's rows: target number -> each row's verdict."""
    table = page.split("## Targets", 1)[1].split("\n## ", 1)[0]
    found: dict[str, list[str]] = {}
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if line.startswith("| ") and cells[0].isdigit():
            found.setdefault(cells[0], []).append(cells[-1])
    return found


def python_block(page: str) -> str:
    blocks = page.split("```python\n")
    assert len(blocks) == 2, "the page has one python block"
    return blocks[1].split("```", 1)[0]


def test_report_states_every_target():
    report = load_benchmark("report")
    page = report.render(peers_results(), servers_results(), {}, "docs/benchmarks")
    # One table, every target of issue 6: met, missed, or not measured (no figure at all,
    # or a row without one).
    assert target_rows(page) == {
        "1": ["met"],
        "2": ["not measured"],
        "3": ["met"],
        "4": ["**missed**"],
        "5": ["not measured"],
        "6": ["not measured"],
        "7": ["not measured"],
    }
    assert (
        f"\n2. Routing: cost at 1,000 routes ≤ 1.3 {X} cost at 10 routes: not measured.\n" in page
    )
    assert "\n3. uvicorn and gunicorn's sync worker: " in page
    assert " on plaintext and JSON: met.\n4. Bridges: " in page
    assert " persistent-loop run: **missed**.\n" in page
    row = f"| 1 | WSGI GET /plaintext: dualweb ≤ Falcon | 3.25 µs vs 4.00 µs (0.81{X}) | ≤ 1{X} |"
    assert row in page
    assert f"| 3 | uvicorn plaintext | 0.95{X} | ≥ 0.9{X} | met |" in page
    assert "--quick" not in page.split("## Targets", 1)[1].split("\n## ", 1)[0]
    # Figures: median (min-max) and the ratio to the raw callable; the load average.
    assert (
        f"| GET /plaintext | 1.10 (1.00{D}1.20), 1.00{X} | 3.25 (3.00{D}3.50), 3.00{X} |" in page
    )
    row = f"| `GET /plaintext` | dualweb | 9,500 (9,500{D}9,500) | 0.20 | 1.50 | 0 | 0 | 0.95{X} |"
    assert row in page
    assert "before 0.50, 0.40, 0.30" in page
    assert "Flask: not importable." in page


def test_report_without_server_results():
    report = load_benchmark("report")
    chart = {"inprocess-wsgi": "benchmarks/inprocess-wsgi.png"}
    page = report.render(peers_results(quick=True), None, chart, "out")
    assert target_rows(page)["3"] == ["not measured"]
    assert "## Under real servers" not in page
    assert "_A `--quick` run: far too short to judge the targets._" in page
    assert "](benchmarks/inprocess-wsgi.png)" in page
    assert page.count("![") == 1  # the charts drawn, no other


@pytest.mark.parametrize("names", [("peers", "servers"), ("servers",)])
def test_report_python_block_checks_the_saved_json(tmp_path, names):
    # The page's python block (tests/test_docs.py runs it on docs/benchmarks.md) reads
    # the JSON saved next to the page and checks a figure the page shows.
    report = load_benchmark("report")
    results = {"peers": peers_results(), "servers": servers_results()}
    results = {name: results[name] if name in names else None for name in results}
    for name in names:
        (tmp_path / f"{name}.json").write_text(json.dumps(results[name]), encoding="utf-8")
    page = report.render(results["peers"], results["servers"], {}, tmp_path.as_posix())
    code = compile(python_block(page), "benchmarks.md", "exec")
    exec(code, {})
    # Once the JSON no longer says what the page shows, the block fails.
    first = names[0]
    changed = results[first]
    row = changed["requests"][1] if first == "peers" else changed["http"][0]["req_per_s"]
    row["median"] = 12345.6
    (tmp_path / f"{first}.json").write_text(json.dumps(changed), encoding="utf-8")
    with pytest.raises(AssertionError):
        exec(code, {})
    # As ruff formats docs/*.md, the generated block must already be formatted.
    markdown = tmp_path / "benchmarks.md"
    markdown.write_text(page, encoding="utf-8")
    check = [sys.executable, "-m", "ruff", "format", "--check", "--config", str(PYPROJECT)]
    done = subprocess.run([*check, str(markdown)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_charts_are_drawn(tmp_path):
    charts = load_benchmark("charts")
    drawn = charts.draw_all({"peers": peers_results(), "servers": servers_results()}, tmp_path)
    # Only the charts with something to show: no ASGI request, routing growth, multipart
    # or 100 ms wait in these results.
    assert sorted(drawn) == ["bridges", "inprocess-wsgi", "servers"]
    for path in drawn.values():
        assert path.read_bytes().startswith(b"\x89PNG\r\n")


@pytest.mark.servers
@pytest.mark.timeout(300)
@pytest.mark.skipif(
    shutil.which("wrk") is None, reason="wrk is not installed (.ci/run installs it)"
)
def test_run_all_writes_the_report(tmp_path):
    # The one command, tiny: bench_peers.py then bench_servers.py (--quick, one round,
    # plaintext only: about a minute), then the page, its charts and the JSON in tmp_path.
    command = [sys.executable, str(BENCHMARKS / "run_all.py"), "--quick", "--rounds", "1"]
    command += ["--endpoints", "plaintext", "--out", str(tmp_path)]
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=280, check=False
    )
    assert done.returncode == 0, done.stderr
    page = (tmp_path / "benchmarks.md").read_text(encoding="utf-8")
    assert sorted(target_rows(page)) == [str(number) for number in range(1, 8)]
    assert "| # | measured | figure | bound |  |" in page
    figures_dir = tmp_path / "benchmarks"
    for name in ("inprocess-wsgi", "inprocess-asgi", "routing", "servers", "claims"):
        assert f"](benchmarks/{name}.png)" in page
        assert (figures_dir / f"{name}.png").stat().st_size > 0
    assert {path.name for path in figures_dir.glob("*.json")} == {"peers.json", "servers.json"}
    exec(compile(python_block(page), "benchmarks.md", "exec"), {})  # reads that JSON
