"""Concurrency of sync handlers under ASGI: N concurrent requests to a sync handler
that sleeps 0.2 s, served by a real uvicorn process on 127.0.0.1.

    python benchmarks/bench_sync_concurrency.py [--requests 50] [--runs 5]

Serialized (asgiref's default thread_sensitive=True) this would take N * 0.2 s;
with dualweb's 40-thread pool, 50 requests take two rounds of 0.2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def concurrent_gets(url: str, count: int) -> tuple[float, list[int]]:
    limits = httpx.Limits(max_connections=count)
    async with httpx.AsyncClient(timeout=10, trust_env=False, limits=limits) as client:
        started = time.perf_counter()
        responses = await asyncio.gather(*(client.get(url) for _ in range(count)))
        return time.perf_counter() - started, [r.status_code for r in responses]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}/sleep"
    server = subprocess.Popen(
        [
            sys.executable,
            *("-m", "uvicorn", "tests.server_apps.slow:app", "--log-level", "warning"),
            *("--host", "127.0.0.1", "--port", str(port)),
        ],
        cwd=ROOT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(url, timeout=2, trust_env=False)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise SystemExit("uvicorn did not answer within 20 s") from None
                time.sleep(0.1)
        print(f"| run | {args.requests} concurrent 0.2 s sync requests, s | all 200 |")
        print("|---:|---:|---|")
        for run in range(1, args.runs + 1):
            elapsed, statuses = asyncio.run(concurrent_gets(url, args.requests))
            print(f"| {run} | {elapsed:.3f} | {set(statuses) == {200}} |")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(10)


if __name__ == "__main__":
    main()
