"""The documentation site builds: ``mkdocs build --strict`` (mkdocs.yml) succeeds.

Strict mode turns every warning into a failure: a page missing from the nav,
a link to a missing page or heading, a docstring mkdocstrings cannot render.
The build runs once per test session, into a temporary directory; the tests
then look at what it made: the API reference shows the docstrings, and no
page loads anything from another host (fonts, scripts, styles).
"""

from __future__ import annotations

import html
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dualweb import App

ROOT = Path(__file__).resolve().parent.parent
# The build takes a few seconds; the margin is for a loaded CI machine.
BUILD_TIMEOUT = 240
# The first test also waits for the build (the module's fixture).
pytestmark = pytest.mark.timeout(BUILD_TIMEOUT + 30)

# A tag that makes the browser fetch something: a stylesheet, script, image...
_FETCHING_TAG = re.compile(
    r"<(?:link|script|img|iframe|source|audio|video|embed)\b[^>]*>", re.IGNORECASE
)
_URL_ATTRIBUTE = re.compile(r"""\b(?:href|src|srcset)\s*=\s*["']?([^"'\s>]+)""", re.IGNORECASE)
_CSS_URL = re.compile(r"""(?:url\(|@import\s+)["']?([^"')\s;]+)""", re.IGNORECASE)


def _external(url: str) -> bool:
    return url.startswith("//") or re.match(r"^https?:", url, re.IGNORECASE) is not None


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site_dir = tmp_path_factory.mktemp("site")
    # Material prints a notice about MkDocs 2 on every build; it is not a warning.
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site_dir)]
    done = subprocess.run(
        command,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stdout}{done.stderr}"
    return site_dir


def test_every_page_is_built(site: Path):
    for page in [*ROOT.glob("docs/*.md"), *ROOT.glob("docs/reference/*.md")]:
        relative = page.relative_to(ROOT / "docs").with_suffix("")
        built = site / "index.html" if relative.name == "index" else site / relative / "index.html"
        assert built.is_file(), f"{page.name} was not built"


def test_reference_shows_the_docstrings(site: Path):
    page = html.unescape((site / "reference" / "app" / "index.html").read_text(encoding="utf-8"))
    text = re.sub(r"<[^>]+>", "", page)
    # The App's docstring, its constructor's signature and a method's docstring.
    assert (inspect.getdoc(App) or "?").splitlines()[0] in text
    assert "max_body_size" in text
    mount = (inspect.getdoc(App.mount) or "?").splitlines()[0]
    assert mount.replace("``", "") in text  # ``code`` is rendered as code
    # Sphinx roles in the docstrings became links to the entries they name.
    assert ":meth:" not in text
    assert ":class:" not in text
    assert 'href="#dualweb.App.url_path_for"' in page
    # Attributes documented by #: comments are listed.
    assert 'id="dualweb.App.max_body_size"' in page


def test_code_blocks_are_highlighted(site: Path):
    page = (site / "cli" / "index.html").read_text(encoding="utf-8")
    assert 'class="language-sh highlight"' in page
    assert 'class="language-console highlight"' in page
    # A fence Markdown did not take for one (say, indented wrongly in a list) is
    # left as text: three backticks outside code.
    for built in site.rglob("*.html"):
        page = built.read_text(encoding="utf-8")
        prose = re.sub(r"(?s)<pre\b.*?</pre>|<code\b.*?</code>", "", page)
        assert "```" not in prose, f"an unrendered code fence in {built.relative_to(site)}"


def test_nothing_is_loaded_from_another_host(site: Path):
    external = []
    for built in site.rglob("*.html"):
        page = built.read_text(encoding="utf-8")
        for tag in _FETCHING_TAG.findall(page):
            external += [
                f"{built.relative_to(site)}: {tag}"
                for url in _URL_ATTRIBUTE.findall(tag)
                if _external(url)
            ]
    for stylesheet in site.rglob("*.css"):
        css = stylesheet.read_text(encoding="utf-8")
        external += [
            f"{stylesheet.relative_to(site)}: {url}"
            for url in _CSS_URL.findall(css)
            if _external(url)
        ]
    everything = "".join(path.read_text(encoding="utf-8") for path in site.rglob("*.html"))
    assert "fonts.googleapis.com" not in everything
    assert "fonts.gstatic.com" not in everything
    assert not external, "\n".join(external)
