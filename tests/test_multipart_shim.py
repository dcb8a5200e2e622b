"""dualweb finds the real ``multipart`` module even when a shim takes its name.

python-multipart installs a ``multipart/`` package of the same import name.
Since python-multipart 0.0.15 that package hands out the real
``multipart.py`` when it finds one on ``sys.path``, and falls back to
python-multipart's own API (no ``PushMultipartParser``) when it does not; a
package always shadows a module of the same name. The loader in
``dualweb._multipart_import`` must work in every case.

The last test needs the network: it installs python-multipart from PyPI
into a temporary directory (``pip install --target``) and runs dualweb in a
subprocess with that directory first on ``PYTHONPATH``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dualweb._multipart_import import load_multipart

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def isolated_imports(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A directory first on sys.path; modules imported during the test are forgotten."""
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "modules", dict(sys.modules))
    return tmp_path


def make_distribution(directory: Path, name: str, files: dict[str, str]) -> None:
    """An installed distribution: its files plus a dist-info with METADATA and RECORD."""
    info = directory / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    record = [f"{path},," for path in files] + [f"{info.name}/METADATA,,"]
    (info / "RECORD").write_text("\n".join(record) + "\n")
    for path, text in files.items():
        (directory / path).parent.mkdir(parents=True, exist_ok=True)
        (directory / path).write_text(text)


def test_the_real_module_is_used_when_importable():
    module = load_multipart()
    assert hasattr(module, "PushMultipartParser")
    assert module is sys.modules["multipart"]


def test_a_shadowing_package_is_skipped(isolated_imports: Path):
    # What python-multipart's shim gives when it cannot find multipart.py.
    shim = isolated_imports / "multipart"
    shim.mkdir()
    (shim / "__init__.py").write_text("raise AssertionError('the shim was imported')\n")
    sys.modules.pop("multipart", None)
    sys.modules.pop("_dualweb_multipart", None)
    module = load_multipart()
    assert module.__name__ == "_dualweb_multipart"
    assert hasattr(module, "PushMultipartParser")
    assert load_multipart() is module  # loaded once
    assert "multipart" not in sys.modules  # the name is left to its owner


def test_missing_package_is_a_clear_import_error():
    with pytest.raises(ImportError, match=r"needs the 'multipart' package .* is not installed"):
        load_multipart("dualweb_no_such_module")


def test_too_old_package(isolated_imports: Path):
    make_distribution(isolated_imports, "oldparts", {"oldparts.py": "VERSION = '0.2'\n"})
    with pytest.raises(
        ImportError, match=r"is too old at .*oldparts\.py \(1\.2 or later needed\)"
    ):
        load_multipart("oldparts")
    assert "_dualweb_oldparts" not in sys.modules


def test_distribution_without_its_module(isolated_imports: Path):
    make_distribution(isolated_imports, "noparts", {"noparts/__init__.py": ""})
    with pytest.raises(ImportError, match=r"lacks its noparts\.py file"):
        load_multipart("noparts")


def test_module_that_fails_to_load(isolated_imports: Path):
    files = {"brokenparts.py": "1 / 0\n", "brokenparts/__init__.py": ""}
    make_distribution(isolated_imports, "brokenparts", files)  # the package shadows the module
    with pytest.raises(ZeroDivisionError):
        load_multipart("brokenparts")
    assert "_dualweb_brokenparts" not in sys.modules


_SCRIPT = textwrap.dedent(
    """
    import sys
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import multipart
    if sys.argv[1] == "shadowed":
        assert not hasattr(multipart, "PushMultipartParser"), multipart.__file__
        assert hasattr(multipart, "MultipartParser"), "not python-multipart's API"

    from dualweb import App
    from dualweb._multipart import multipart as used
    from dualweb.testing import TestClient

    assert hasattr(used, "PushMultipartParser"), used

    app = App()


    @app.post("/upload")
    def upload(request):
        form = request.form()
        upload = form.files["file"]
        return {"title": form["title"], "name": upload.filename, "data": upload.read().decode()}


    for interface in ("wsgi", "asgi"):
        with TestClient(app, interface) as client:
            response = client.post(
                "/upload", data={"title": "t"}, files={"file": ("a.txt", b"hello")}
            )
            expected = {"title": "t", "name": "a.txt", "data": "hello"}
            assert response.json() == expected, response.text
    print("multipart:", multipart.__file__, "dualweb uses:", used.__file__)
    """
)


@pytest.mark.network
@pytest.mark.timeout(300)
def test_with_python_multipart_installed(tmp_path: Path):
    """Needs network access to PyPI (pip install python-multipart)."""
    target = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet"]
    install = subprocess.run(
        [*pip, "--target", str(target), "python-multipart"],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    assert (target / "multipart" / "__init__.py").exists()
    # The shim's fallback: python-multipart's API under the name multipart,
    # as when the shim cannot find multipart.py.
    shadow = tmp_path / "shadow" / "multipart"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("from python_multipart import *\n")

    script = tmp_path / "check.py"
    script.write_text(_SCRIPT)
    for case, path in [("installed", [target]), ("shadowed", [shadow.parent, target])]:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([*map(str, path), str(ROOT)]))
        result = subprocess.run(
            [sys.executable, str(script), case],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, f"{case}:\n{result.stdout}{result.stderr}"
        assert "dualweb uses:" in result.stdout
