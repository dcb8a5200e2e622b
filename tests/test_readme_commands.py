"""The README's two commands: what they install covers what they run, and the
first one's server command, run as written, serves the showcase.

A fresh machine has only Python and pip, so each command's extra must pull in
every third-party package its code imports; a package present here only
because of an earlier ``pip install`` would otherwise hide a broken command.
"""

from __future__ import annotations

import ast
import re
import shlex
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from serverkit import HOST, free_port, spawn_command, stop_server, wait_until_answering

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

# Folders whose modules are imported by name from the checkout, not installed.
LOCAL = (
    {"dualweb", "examples", "benchmarks", "tests", "conftest"}
    | {path.stem for path in (ROOT / "tests").rglob("*.py")}
    | {path.name for path in (ROOT / "tests").iterdir() if path.is_dir()}
    | {path.stem for path in (ROOT / "benchmarks").glob("*.py")}
)

# tests/cli_apps/broken_import.py imports it to show the CLI's error for a
# module that fails to import: it must stay uninstallable.
NEVER_INSTALLED = {"dualweb_test_missing_dependency"}


def readme_commands() -> list[list[str]]:
    """The README's first two ```bash blocks, each split at ``&&`` into commands."""
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 2, "the README must start with two ```bash commands"
    return [[part.strip() for part in block.strip().split("&&")] for block in blocks[:2]]


def installed_extra(commands: list[str]) -> str:
    for command in commands:
        if match := re.fullmatch(r'pip install -e "\.\[(\w+)\]"', command):
            return match[1]
    pytest.fail(f'no `pip install -e ".[extra]"` in {commands}')


def requirement_closure(extra: str) -> set[str]:
    """The distributions that ``pip install -e ".[extra]"`` installs (names canonicalized)."""
    seen: set[str] = set()
    pending: list[tuple[str, set[str]]] = [("dualweb", {extra})]
    while pending:
        name, extras = pending.pop()
        seen.add(canonicalize_name(name))
        for line in metadata.requires(name) or []:
            requirement = Requirement(line)
            marker = requirement.marker
            if marker is not None and not any(
                marker.evaluate({"extra": wanted}) for wanted in extras or {""}
            ):
                continue
            key = canonicalize_name(requirement.name)
            if key == "dualweb":
                pending.append(("dualweb", set(requirement.extras)))
            elif key not in seen:
                pending.append((requirement.name, set(requirement.extras)))
    return seen


def third_party_imports(paths: list[Path]) -> dict[str, Path]:
    """Top-level names of the non-stdlib, non-local modules the files import."""
    found: dict[str, Path] = {}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names | LOCAL | NEVER_INSTALLED:
                    found.setdefault(top, path)
    return found


def assert_installed_by(extra: str, paths: list[Path]) -> None:
    closure = requirement_closure(extra)
    providers = metadata.packages_distributions()
    missing = []
    for module, path in sorted(third_party_imports(paths).items()):
        dists = {canonicalize_name(dist) for dist in providers.get(module, [])}
        if not dists & closure:
            missing.append(f"{module} (imported by {path.relative_to(ROOT)})")
    assert not missing, f'pip install -e ".[{extra}]" does not install: {", ".join(missing)}'


def test_the_first_command_installs_what_the_showcase_imports() -> None:
    first, _ = readme_commands()
    assert first[-1].startswith("uvicorn examples.showcase:app "), first
    assert_installed_by(installed_extra(first), [ROOT / "examples" / "showcase.py"])
    assert "uvicorn" in requirement_closure(installed_extra(first))


def test_the_second_command_installs_what_the_test_suite_imports() -> None:
    _, second = readme_commands()
    assert second[-1] == "python -m pytest", second
    sources = [*(ROOT / "tests").rglob("*.py"), *(ROOT / "benchmarks").glob("*.py")]
    sources += (ROOT / "examples").glob("*.py")
    assert_installed_by(installed_extra(second), sources)


@pytest.mark.servers
def test_the_first_command_serves_the_showcase_on_loopback(tmp_path: Path) -> None:
    first, _ = readme_commands()
    argv = shlex.split(first[-1])
    assert argv[argv.index("--host") + 1] == HOST
    assert argv[argv.index("--port") + 1] == "8000"
    # The command as written, but on a free port: 8000 may be taken here.
    port = free_port()
    argv[argv.index("--port") + 1] = str(port)
    server = spawn_command("uvicorn", "examples.showcase:app", argv, port, tmp_path)
    try:
        wait_until_answering(server)
        with server.client() as client:
            home = client.get("/")
            assert home.status_code == 200, server.describe()
            assert home.headers["content-type"].startswith("text/html")
            assert "ASGI" in home.text, "the home page should say that ASGI serves it"
            assert client.get("/legacy/").status_code == 200, server.describe()
    finally:
        stop_server(server)
    assert "Traceback" not in server.log(), server.describe()
