"""The documentation is tested: every ```python block in docs/*.md and README.md runs.

Each page is one test. Its blocks run in order in one fresh namespace, each
compiled with the page's file name and line numbers, so a failing assert
points at the line of the page. A page without a python block fails, and so
does a block that checks nothing unless the block right after it does (a
block may only define an app that the next one exercises): no example
escapes testing.

The one way out is explicit: an HTML comment on the line right before the
fence, ``<!-- not runnable: <why> -->``, skips a ```python block (a config
file, a fragment of a larger program); the reason is required. Other Python
fences (```py, ```python3, ```pycon) are refused, since they would not run.

The API reference (docs/reference/*.md) is generated from docstrings: its
pages hold mkdocstrings directives and prose, never examples, and every
public name has an entry. mkdocs.yml's nav lists every page; the site itself
is built by tests/test_mkdocs.py.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
README = ROOT / "README.md"
REFERENCE = DOCS / "reference"
REFERENCE_PAGES = sorted(REFERENCE.glob("*.md"))
# The modules whose __all__ the API reference must cover, name by name.
PUBLIC_MODULES = ("dualweb", "dualweb.middleware", "dualweb.testing")
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
    "fuzzing.md",
    "security.md",
    "why.md",
    "quickstart.md",
    "tutorial.md",
    "wsgi-or-asgi.md",
    "showcase.md",
}
# The one language that runs; other spellings of Python would silently not.
RUNNABLE = "python"
_PYTHON_LIKE = re.compile(r"^(?:py|python|pycon|ipython|python-?console)[0-9.]*$")

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_NOT_RUNNABLE = re.compile(r"^\s*<!--\s*not runnable:(?P<reason>.*?)-->\s*$")
# Anything that looks like an attempt at the marker, to catch misspelt ones.
_MARKER_LIKE = re.compile(r"<!--\s*not[\s_-]*runnable", re.IGNORECASE)
_DIRECTIVE = re.compile(r"^::: (?P<path>[\w.]+)\s*$")
_LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6}\s+(?P<title>.+?)\s*$")


@dataclass
class CodeBlock:
    language: str  # the info string's first word, lower-case ("" for none)
    start: int  # the line number of its first code line
    source: str
    marker: str | None  # the line before the fence, when it is a marker comment


@dataclass
class Scan:
    blocks: list[CodeBlock]
    stray_markers: list[int]  # markers not right before a fence: lines they are on


def scan(page: Path) -> Scan:
    """Every fenced code block of the page, in order, and the markers that apply to none."""
    blocks: list[CodeBlock] = []
    strays: list[int] = []
    fence = ""
    indent = ""
    language = ""
    start = 0
    body: list[str] = []
    marker: str | None = None  # a marker-like line just read, outside code
    number = 0
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1):
        match = _FENCE.match(line)
        if not fence:
            if match:
                fence, indent = match["fence"], match["indent"]
                language = match["info"].strip().split(" ")[0].lower()
                start, body = number + 1, []
                continue
            if marker is not None:
                strays.append(number - 1)
            marker = line if _MARKER_LIKE.search(line) else None
            continue
        if match and match["fence"].startswith(fence) and not match["info"].strip():
            blocks.append(CodeBlock(language, start, "\n".join(body) + "\n", marker))
            fence, marker = "", None
            continue
        body.append(line.removeprefix(indent))
    assert not fence, f"{page.name}: the code block opened on line {start - 1} is never closed"
    if marker is not None:
        strays.append(number)
    return Scan(blocks, strays)


def python_blocks(page: Path) -> list[tuple[int, str]]:
    """(line number of the first code line, source) of each block that runs."""
    return [
        (block.start, block.source)
        for block in scan(page).blocks
        if block.language == RUNNABLE and block.marker is None
    ]


def unrun_python_problems(page: Path) -> list[str]:
    """Python that would not run without saying why, and markers that do not apply."""
    found = scan(page)
    problems = [
        f"{page.name}, line {number}: a not-runnable marker must be on the line right "
        "before the fence of a ```python block"
        for number in found.stray_markers
    ]
    for block in found.blocks:
        where = f"{page.name}, line {block.start - 1}"
        if block.marker is not None:
            marker = _NOT_RUNNABLE.match(block.marker)
            if block.language != RUNNABLE:
                problems.append(f"{where}: a not-runnable marker before a non-python block")
            elif marker is None or not marker["reason"].strip():
                problems.append(
                    f"{where}: write the marker as <!-- not runnable: <reason> -->, "
                    f"with a reason, not {block.marker.strip()!r}"
                )
        elif block.language != RUNNABLE and _PYTHON_LIKE.match(block.language):
            problems.append(
                f"{where}: ```{block.language} is never run; write ```python, which runs "
                "unless <!-- not runnable: <reason> --> is on the line before"
            )
    return problems


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


@pytest.mark.parametrize("page", [*PAGES, README], ids=lambda page: page.name)
def test_python_blocks_run_or_say_why_not(page: Path):
    problems = unrun_python_problems(page)
    assert not problems, "\n".join(problems)


def test_not_runnable_marker(tmp_path: Path):
    page = tmp_path / "page.md"
    page.write_text(
        "Runs:\n\n```python\nassert True\n```\n\n"
        "<!-- not runnable: a gunicorn config file -->\n```python\nbind = ':80'\n```\n\n"
        "<!-- not runnable:  -->\n```python\nx = 1\n```\n\n"
        "<!-- not runnable: wrong language -->\n```bash\nls\n```\n\n"
        "<!-- not-runnable because -->\n```python\ny = 2\n```\n\n"
        "<!-- not runnable: a blank line follows -->\n\n```python\nassert 3\n```\n\n"
        "```pycon\n>>> 1\n```\n\n```\n<!-- not runnable: in code, just text -->\n```\n",
        encoding="utf-8",
    )
    assert [start for start, _ in python_blocks(page)] == [4, 30]
    problems = unrun_python_problems(page)
    assert len(problems) == 5, problems
    assert "line 27: a not-runnable marker must be on the line right before" in problems[0]
    assert "line 13: write the marker as <!-- not runnable: <reason> -->" in problems[1]
    assert "line 18: a not-runnable marker before a non-python block" in problems[2]
    assert "line 23: write the marker" in problems[3]
    assert "line 33: ```pycon is never run" in problems[4]


@pytest.mark.parametrize("page", [*PAGES, README], ids=lambda page: page.name)
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
    # GitHub's anchors; mkdocs.yml has MkDocs make the same ones (toc's slugify),
    # and its strict build checks every link and anchor again in the built site.
    broken = []
    for page in [*PAGES, *REFERENCE_PAGES]:
        name = page.relative_to(DOCS).as_posix()
        for match in _LINK.finditer(page.read_text(encoding="utf-8")):
            target = match["target"]
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):
                continue  # an external URL
            file_part, _, anchor = target.partition("#")
            linked = (page.parent / file_part).resolve() if file_part else page
            if not linked.exists():
                broken.append(f"{name}: {target} (no such file)")
            elif not linked.is_relative_to(DOCS):
                # MkDocs cannot link outside docs/: name such files in `code` instead.
                broken.append(f"{name}: {target} (outside docs/, not part of the site)")
            elif linked.parent == REFERENCE and anchor.startswith("dualweb."):
                continue  # an API entry's anchor, made by mkdocstrings
            elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
                broken.append(f"{name}: {target} (no such heading)")
    assert not broken, "\n".join(broken)


# -- the API reference ------------------------------------------------------------------


def reference_directives(page: Path) -> list[str]:
    """The object paths of the page's ``::: path`` directives.

    A page holds a title, prose and directives, each directive optionally
    followed by its indented (YAML) options; no code blocks, since examples
    belong in the guides, where they run.
    """
    paths: list[str] = []
    in_directive = False
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1):
        where = f"reference/{page.name}, line {number}"
        assert not _FENCE.match(line), f"{where}: a code block; examples go in the guides"
        if match := _DIRECTIVE.match(line):
            paths.append(match["path"])
            in_directive = True
        elif line.startswith((" ", "\t")):
            assert in_directive, f"{where}: an indented line that is no directive's options"
        else:
            assert not line.startswith(":::"), f"{where}: not a directive: {line!r}"
            in_directive = False
    return paths


def resolve(path: str) -> Any:
    """The object a directive documents: the longest importable prefix, then attributes."""
    parts = path.split(".")
    for split in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:split]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[split:]:
            obj = getattr(obj, attribute)
        return obj
    raise ModuleNotFoundError(path)


@pytest.mark.parametrize("page", REFERENCE_PAGES, ids=lambda page: page.name)
def test_reference_page_is_generated(page: Path):
    text = page.read_text(encoding="utf-8")
    assert text.startswith("# "), f"reference/{page.name} starts with its title"
    paths = reference_directives(page)
    assert paths, f"reference/{page.name} has no ::: directive"
    for path in paths:
        assert path.startswith("dualweb."), path
        resolve(path)  # raises when the object is gone


def test_every_public_name_is_in_the_reference():
    assert REFERENCE_PAGES, "docs/reference/ has no page"
    documented = [resolve(path) for page in REFERENCE_PAGES for path in reference_directives(page)]
    missing = []
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            if not any(getattr(module, name) is obj for obj in documented):
                missing.append(f"{module_name}.{name}")
    assert not missing, f"no docs/reference/ page has a ::: directive for {missing}"


# -- the site's navigation --------------------------------------------------------------


class _ConfigLoader(yaml.SafeLoader):
    """Reads mkdocs.yml, ignoring its Python tags (toc's slugify) and MkDocs' own (!ENV)."""


_ConfigLoader.add_multi_constructor("tag:yaml.org,2002:python/", lambda *_: None)
_ConfigLoader.add_multi_constructor("!", lambda *_: None)


def nav_pages(entry: Any) -> list[str]:
    """The page paths in a (part of a) MkDocs nav, in order."""
    if isinstance(entry, str):
        return [entry] if entry.endswith(".md") else []  # not an external link
    if isinstance(entry, dict):
        return [page for value in entry.values() for page in nav_pages(value)]
    return [page for item in entry for page in nav_pages(item)]


def test_nav_lists_every_page_once():
    config = yaml.load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"), Loader=_ConfigLoader)
    listed = nav_pages(config["nav"])
    twice = sorted({page for page in listed if listed.count(page) > 1})
    assert not twice, f"mkdocs.yml's nav lists {twice} more than once"
    on_disk = {page.relative_to(DOCS).as_posix() for page in [*PAGES, *REFERENCE_PAGES]}
    assert not on_disk - set(listed), f"mkdocs.yml's nav lacks {sorted(on_disk - set(listed))}"
    absent = sorted(set(listed) - on_disk)
    assert not absent, f"mkdocs.yml's nav lists {absent}, which docs/ lacks"


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
