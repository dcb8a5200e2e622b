"""Run every benchmark, one after the other, and write the report: docs/benchmarks.md,
its charts and the raw results it is made from (docs/benchmarks/).

Run from the project root, with the ``bench`` extra installed and ``wrk``
(``apt-get install wrk``), on a machine doing nothing else::

    python benchmarks/run_all.py                               # about 25 min
    python benchmarks/run_all.py --quick                       # a minute: checks that it runs
    python benchmarks/run_all.py --from-json docs/benchmarks   # the report again, no running

It runs ``bench_peers.py --json`` (in-process, about 4 min) and then
``bench_servers.py --json`` (real servers and wrk, about 18 min), never both
at once: two benchmarks at once measure each other. Their progress goes to
stderr. The JSON is kept only once both succeeded, so a report never mixes
two runs. ``--out DIR`` writes ``DIR/benchmarks.md`` and ``DIR/benchmarks/``
instead of docs/.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import charts
import report

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks"
#: Result name (its JSON file's stem) -> the script writing it, in the order they run.
SCRIPTS = {"peers": "bench_peers.py", "servers": "bench_servers.py"}
PAGE = "benchmarks.md"
FIGURES = "benchmarks"  # the directory next to the page: charts and JSON


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--out",
        type=Path,
        default=ROOT / "docs",
        metavar="DIR",
        help="where to write benchmarks.md and benchmarks/ (default: docs/)",
    )
    parser.add_argument(
        "--from-json",
        type=Path,
        metavar="DIR",
        help="run nothing: rebuild the report from DIR/peers.json and DIR/servers.json",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny runs: checks that the harness works, rough numbers (passed to both scripts)",
    )
    parser.add_argument(
        "--rounds", type=int, metavar="N", help="rounds of each script (passed to both)"
    )
    parser.add_argument(
        "--endpoints",
        metavar="LIST",
        help="bench_servers.py's throughput endpoints, comma-separated, or 'all'",
    )
    args = parser.parse_args(argv)
    running = (args.quick, args.rounds is not None, args.endpoints is not None)
    if args.from_json is not None and any(running):
        parser.error("--from-json runs nothing: --quick, --rounds and --endpoints do not apply")
    if args.rounds is not None and args.rounds < 1:
        parser.error("--rounds must be at least 1")
    return args


def progress(text: str) -> None:
    print(f"run_all: {text}", file=sys.stderr, flush=True)


def script_arguments(name: str, args: argparse.Namespace) -> list[str]:
    found = ["--quick"] if args.quick else []
    if args.rounds is not None:
        found += ["--rounds", str(args.rounds)]
    if name == "servers" and args.endpoints is not None:
        found += ["--endpoints", args.endpoints]
    return found


def check_prerequisites() -> None:
    """Fail before the first run rather than after it."""
    if shutil.which("wrk") is None:
        raise SystemExit("run_all: wrk is not installed (apt-get install wrk)")


def run_scripts(args: argparse.Namespace, directory: Path) -> None:
    """Run the scripts one after the other, each writing ``directory/<name>.json``."""
    for name, script in SCRIPTS.items():
        command = [
            sys.executable,
            str(BENCHMARKS / script),
            *script_arguments(name, args),
            *("--json", str(directory / f"{name}.json")),
        ]
        progress(f"running {script} {' '.join(command[2:-2])}".rstrip())
        # The script's Markdown report (stdout) is dropped: its JSON holds every figure.
        done = subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL, check=False)
        if done.returncode != 0:
            raise SystemExit(f"run_all: {script} failed (exit status {done.returncode})")


def load(directory: Path) -> dict[str, Any]:
    """The results saved in ``directory``: name -> its JSON, or None if absent."""
    found = {}
    for name in SCRIPTS:
        path = directory / f"{name}.json"
        found[name] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
    if all(value is None for value in found.values()):
        names = ", ".join(f"{name}.json" for name in SCRIPTS)
        raise SystemExit(f"run_all: no results in {directory} (expected {names})")
    return found


def display_path(path: Path) -> str:
    """``path`` from the project root when it is inside it (as the docs are run from
    there), else absolute."""
    resolved = path.resolve()
    try:
        return resolved.relative_to(ROOT).as_posix()
    except ValueError:
        return resolved.as_posix()


def save_results(source: Path, figures: Path) -> None:
    """Put the JSON files the report is made from next to the charts, and only them."""
    if source.resolve() == figures.resolve():
        return
    for name in SCRIPTS:
        path, saved = source / f"{name}.json", figures / f"{name}.json"
        if path.exists():
            shutil.copyfile(path, saved)
        else:
            saved.unlink(missing_ok=True)


def write_report(source: Path, out: Path) -> Path:
    """Save the JSON of ``source`` under ``out``, draw the charts, write the page."""
    results = load(source)
    figures = out / FIGURES
    figures.mkdir(parents=True, exist_ok=True)
    save_results(source, figures)
    for stale in figures.glob("*.png"):  # a chart not drawn this time must not linger
        stale.unlink()
    progress(f"drawing the charts in {figures}")
    drawn = charts.draw_all(results, figures)
    links = {name: f"{FIGURES}/{path.name}" for name, path in drawn.items()}
    page = out / PAGE
    text = report.render(results["peers"], results["servers"], links, display_path(figures))
    page.write_text(text, encoding="utf-8")
    progress(f"wrote {page}")
    return page


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.from_json is not None:
        write_report(args.from_json, args.out)
        return
    check_prerequisites()
    with tempfile.TemporaryDirectory(prefix="dualweb-bench-") as temporary:
        run_scripts(args, Path(temporary))
        write_report(Path(temporary), args.out)


if __name__ == "__main__":
    main()
