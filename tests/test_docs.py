"""The documentation is tested: every ```python block in docs/*.md runs.

Each page is one test. Its blocks run in order in one fresh namespace, each
compiled with the page's file name and line numbers, so a failing assert
points at the line of the page. A page without a python block fails, and so
does a block that checks nothing unless the block right after it does (a
block may only define an app that the next one exercises): no example
escapes testing.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
EXPECTED_PAGES = {
    "index.md",
    "routing.md",
    "requests.md",
    "responses.md",
    "errors.md",
    "testing.md",
    "concurrency.md",
    "deployment.md",
    "uploads.md",
    "limits.md",
    "files.md",
    "streaming.md",
    "middleware.md",
    "sessions.md",
    "websockets.md",
    "lifespan.md",
    "background.md",
    "mounting.md",
    "benchmarks.md",
    "cli.md",
}
RUNNABLE = {"python", "py"}

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6}\s+(?P<title>.+?)\s*$")


def python_blocks(page: Path) -> list[tuple[int, str]]:
    """(line number of the first code line, source) of each runnable block."""
    blocks: list[tuple[int, str]] = []
    fence = ""
    indent = ""
    runnable = False
    start = 0
    body: list[str] = []
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1):
        match = _FENCE.match(line)
        if not fence:
            if match:
                fence, indent = match["fence"], match["indent"]
                language = match["info"].strip().split(" ")[0].lower()
                runnable, start, body = language in RUNNABLE, number + 1, []
            continue
        if match and match["fence"].startswith(fence) and not match["info"].strip():
            if runnable:
                blocks.append((start, "\n".join(body) + "\n"))
            fence = ""
            continue
        body.append(line.removeprefix(indent))
    assert not fence, f"{page.name}: the code block opened on line {start - 1} is never closed"
    return blocks


def parse_block(page: Path, start: int, source: str) -> ast.Module:
    # Pad with blank lines so line numbers in tracebacks are the page's own.
    return ast.parse("\n" * (start - 1) + source, filename=str(page))


def checks_something(tree: ast.AST) -> bool:
    """Whether a block asserts anything (an assert, or a ``pytest.raises`` block)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Assert):
            return True
        if isinstance(node, ast.Attribute) and node.attr == "raises":
            return True
    return False


def test_every_documented_module_has_a_page():
    missing = EXPECTED_PAGES - {page.name for page in PAGES}
    assert not missing, f"docs/ lacks {sorted(missing)}"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_page_examples_run(page: Path):
    blocks = python_blocks(page)
    assert blocks, f"{page.name} has no ```python block; every page's examples must run"
    trees = [parse_block(page, start, source) for start, source in blocks]
    checked = [checks_something(tree) for tree in trees]
    for index, (start, _) in enumerate(blocks):
        assert checked[index] or checked[index + 1 : index + 2] == [True], (
            f"{page.name}: the block on line {start} asserts nothing, nor does the next "
            "block; make it self-checking"
        )
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    for tree in trees:
        exec(compile(tree, str(page), "exec"), namespace)


def _without_docstring(tree: ast.Module) -> str:
    body = tree.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return ast.dump(ast.Module(body=body, type_ignores=[]))


def test_index_shows_examples_hello_as_it_is():
    index = DOCS / "index.md"
    example = ROOT / "examples" / "hello.py"
    shown = [ast.parse(source) for _, source in python_blocks(index)]
    expected = _without_docstring(ast.parse(example.read_text(encoding="utf-8")))
    assert expected in [_without_docstring(tree) for tree in shown], (
        "docs/index.md no longer shows examples/hello.py; update one or the other"
    )


def _slug(title: str) -> str:
    """The anchor GitHub gives a heading."""
    text = title.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    anchors = set()
    in_code = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if _FENCE.match(line):
            in_code = not in_code
        elif not in_code and (match := _HEADING.match(line)):
            anchors.add(_slug(match["title"]))
    return anchors


def test_links_between_pages_resolve():
    broken = []
    for page in PAGES:
        for match in _LINK.finditer(page.read_text(encoding="utf-8")):
            target = match["target"]
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):
                continue  # an external URL
            file_part, _, anchor = target.partition("#")
            linked = (page.parent / file_part).resolve() if file_part else page
            if not linked.exists():
                broken.append(f"{page.name}: {target} (no such file)")
            elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
                broken.append(f"{page.name}: {target} (no such heading)")
    assert not broken, "\n".join(broken)


def _load_example(name: str) -> ModuleType:
    path = ROOT / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"examples_{name}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_hello_example(make_client):
    # make_client (tests/conftest.py) runs this under WSGI, inside the PEP 3333
    # validator, and under ASGI.
    client = make_client(_load_example("hello").app)
    response = client.get("/")
    assert response.status_code == 200
    assert response.text == "Hello, World!"
    assert client.get("/users/3").json() == {"id": 3}
    assert client.post("/echo", json={"a": 1}).json() == {"a": 1}
    assert client.post("/aecho", json={"a": 1}).json() == {"a": 1}
