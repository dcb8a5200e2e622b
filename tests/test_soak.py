"""The load and soak script in its short configuration: every server, 7 s each (21 s of
load), 64 connections. Nothing may be lost: no socket error or timeout, no failed
WebSocket echo, no non-2xx answer but the intended 404s, no error in the servers'
output; the RSS figures are there and grew by less than a generous 50 MB. No timing
is asserted.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SERVERS = ("uvicorn", "gunicorn-gthread", "gunicorn-asgi")
KINDS = {"plaintext", "json", "form", "upload", "stream", "astream", "missing"}


@pytest.mark.servers
# Skipped on a machine without wrk; in CI (where .ci/run installs it) it must run.
@pytest.mark.skipif(
    shutil.which("wrk") is None and not os.environ.get("CI"),
    reason="wrk is not installed (.ci/run installs it)",
)
def test_short_soak_loses_nothing(tmp_path):
    figures = tmp_path / "soak.json"
    # The 100,000-request and 10 MB targets are the full run's; 7 s gives fewer requests.
    command = [
        *(sys.executable, str(ROOT / "benchmarks" / "soak.py")),
        *("--duration", "7", "--connections", "64", "--servers", ",".join(SERVERS)),
        *("--min-requests", "1000", "--max-growth-mb", "50", "--json", str(figures)),
    ]
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=110, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {row["server"]: row for row in json.loads(figures.read_text())["servers"]}
    assert set(rows) == set(SERVERS)
    for name, row in rows.items():
        assert row["errors"] == 0, (name, row["socket_errors"], row["first_websocket_error"])
        assert row["unintended_non_2xx"] == 0, (name, row["first_unintended"])
        assert row["server_log_problems"] == [], name
        assert row["intended_404"] > 0, name  # the deliberate share was sent and answered
        assert row["http_2xx"] + row["intended_404"] == row["http_requests"], name
        sent = row["http_sent_by_kind"]
        assert set(sent) == KINDS, (name, sent)
        assert min(sent.values()) > 0, (name, sent)
        assert row["intended_404"] <= sent["missing"], name
        assert row["rss_start_mb"] > 0, name
        assert row["rss_end_mb"] > 0, name
        assert row["rss_growth_mb"] < 50, name
        assert all(row["targets"].values()), (name, row["targets"])
        if row["interface"] == "ASGI":
            assert row["websocket_connections"] == 8, name
            assert row["websocket_round_trips"] > 0, name
        else:
            assert row["websocket_connections"] == 0, name
        assert f"| {name} ({row['interface']}) |" in result.stdout
