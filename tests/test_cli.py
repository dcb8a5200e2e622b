"""The ``dualweb`` command (dualweb/cli.py): ``routes``, ``run`` and their errors.

``main(argv)`` runs in this process for the route table, the errors and the
hand-off to each server (with the server's entry point replaced); the
real-server tests start ``python -m dualweb run`` on 127.0.0.1 and talk to it.
"""

from __future__ import annotations

import importlib
import runpy
import sys
from pathlib import Path
from typing import Any

import pytest
import serverkit
from serverkit import HOST, ROOT, Server, start_server, stop_server

import dualweb
from dualweb.cli import main

ROUTES_APP = "tests.cli_apps.table:app"
INTERFACE_APP = "tests.cli_apps.interface_app:app"


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


# -- dualweb routes ----------------------------------------------------------------------

EXPECTED_TABLE = """\
METHODS   PATH                        NAME      HANDLER                        KIND
GET       /                           index     tests.cli_apps.table.index     sync
*         /api                        api       dualweb.app.App                mount (dualweb App)
WS          /api/feed                 feed      tests.cli_apps.table.feed      websocket
GET         /api/items/{item_id:int}  get_item  tests.cli_apps.table.get_item  async
*         /legacy                     legacy    flask.app.Flask                mount (WSGI)
*         /raw                        raw       tests.cli_apps.table.raw_asgi  mount (ASGI)
GET,POST  /users/{user_id:int}        user      tests.cli_apps.table.user      async
WS        /ws                         chat      tests.cli_apps.table.chat      websocket
"""


def test_routes_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run_main(capsys, "routes", ROUTES_APP)
    assert (status, err) == (0, "")
    assert out == EXPECTED_TABLE


def test_docs_show_the_real_output(capsys: pytest.CaptureFixture[str]) -> None:
    # docs/cli.md shows this command's output in a console block, which no test runs.
    page = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    command = "$ dualweb routes examples.hybrid:app\n"
    shown = page[page.index(command) + len(command) :].split("```")[0]
    status, out, _ = run_main(capsys, "routes", "examples.hybrid:app")
    assert (status, out) == (0, shown)


def test_routes_of_an_empty_app_is_the_header() -> None:
    assert dualweb.cli.route_table(dualweb.App()).split() == [
        "METHODS",
        "PATH",
        "NAME",
        "HANDLER",
        "KIND",
    ]


def test_routes_names_an_instance_endpoint_by_its_class(tmp_path: Path) -> None:
    app = dualweb.App()
    app.static("/static", tmp_path)
    app.mount("/", dualweb.App())
    rows = list(dualweb.cli.route_rows(app))
    assert [(row.path, row.handler, row.kind) for row in rows] == [
        ("/", "dualweb.app.App", "mount (dualweb App)"),
        ("/static/{path:path}", "dualweb.staticfiles.StaticFiles", "sync"),
    ]


def test_mounts_nest_with_their_full_path() -> None:
    inner = dualweb.App()
    inner.add_route("/leaf", lambda request: "leaf", ["PUT", "GET", "DELETE"], name="leaf")
    middle = dualweb.App()
    middle.mount("/inner", inner)
    outer = dualweb.App()
    outer.mount("/outer", middle)
    rows = list(dualweb.cli.route_rows(outer))
    assert [(row.methods, row.path, row.depth) for row in rows] == [
        ("*", "/outer", 0),
        ("*", "/outer/inner", 1),
        ("GET,DELETE,PUT", "/outer/inner/leaf", 2),
    ]
    assert "    /outer/inner/leaf" in dualweb.cli.route_table(outer)


def test_qualified_name_without_a_module() -> None:
    class Nameless:
        __qualname__ = "Nameless"
        __module__ = ""

    assert dualweb.cli.qualified_name(Nameless) == "Nameless"


# -- bad MODULE:APP ----------------------------------------------------------------------

EXPECTED = "expected MODULE:APP (like examples.hello:app),"


@pytest.mark.parametrize("command", ["routes", "run"])
@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("examples.hello", "expected MODULE:APP (like examples.hello:app), got 'examples.hello'"),
        (":app", "expected MODULE:APP (like examples.hello:app), got ':app'"),
        (
            "examples.hello:",
            "expected MODULE:APP (like examples.hello:app), got 'examples.hello:'",
        ),
        (
            "tests.cli_apps.nosuch:app",
            "cannot import module 'tests.cli_apps.nosuch': "
            "No module named 'tests.cli_apps.nosuch'",
        ),
        (
            "tests.cli_apps.broken_import:app",
            "cannot import module 'tests.cli_apps.broken_import': "
            "No module named 'dualweb_test_missing_dependency'",
        ),
        (
            "tests.cli_apps.table:nosuch",
            "module 'tests.cli_apps.table' has no attribute 'nosuch'",
        ),
        (
            "tests.cli_apps.table:app.nosuch",
            "module 'tests.cli_apps.table' has no attribute 'app.nosuch'",
        ),
        (
            "tests.cli_apps.table:not_an_app",
            "tests.cli_apps.table:not_an_app is not a dualweb App but a 'function' object",
        ),
        (
            "tests.cli_apps.table:legacy",
            "tests.cli_apps.table:legacy is not a dualweb App but a 'Flask' object",
        ),
    ],
)
def test_bad_target_is_one_line_and_status_2(
    capsys: pytest.CaptureFixture[str], command: str, target: str, message: str
) -> None:
    status, out, err = run_main(capsys, command, target)
    assert (status, out) == (2, "")
    assert err == f"dualweb: error: {message}\n"


def test_dotted_attribute() -> None:
    from tests.cli_apps import table

    assert dualweb.cli.load_app("tests.cli_apps.table:apps.api") is table.api


def test_current_directory_is_importable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # As from the ``dualweb`` script: the current directory is not on sys.path.
    (tmp_path / "cli_here.py").write_text("import dualweb\napp = dualweb.App()\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    monkeypatch.delitem(sys.modules, "cli_here", raising=False)
    status, out, _ = run_main(capsys, "routes", "cli_here:app")
    assert status == 0
    assert out.startswith("METHODS")
    assert sys.path[0] == str(tmp_path)


def test_an_error_inside_the_module_keeps_its_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "cli_failing.py").write_text("raise RuntimeError('boom at import')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "cli_failing", raising=False)
    with pytest.raises(RuntimeError, match="boom at import"):
        main(["routes", "cli_failing:app"])


# -- argparse: usage, --version, bad options ---------------------------------------------


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"dualweb {dualweb.__version__}\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "the following arguments are required: COMMAND"),
        (["run"], "the following arguments are required: MODULE:APP"),
        (["run", INTERFACE_APP, "--port", "http"], "not a whole number: 'http'"),
        (["run", INTERFACE_APP, "--port", "70000"], "not a port number (0-65535): '70000'"),
        (["run", INTERFACE_APP, "--workers", "0"], "must be 1 or more: '0'"),
        (["run", INTERFACE_APP, "--server", "waitress"], "invalid choice: 'waitress'"),
    ],
)
def test_usage_errors_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_help_lists_the_servers(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["run", "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for name in dualweb.cli.SERVERS:
        assert f"  {name} " in out


def test_python_m_dualweb(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # In this process, as ``python -m dualweb`` runs it (the real-server tests
    # below start it for real).
    monkeypatch.setattr(sys, "argv", ["dualweb", "routes", "examples.hello:app"])
    with pytest.raises(SystemExit) as exited:
        runpy.run_module("dualweb", run_name="__main__")
    assert exited.value.code == 0
    line = capsys.readouterr().out.splitlines()[1]
    assert line.split() == ["GET", "/", "index", "examples.hello.index", "sync"]


def test_importing_dualweb_main_runs_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    # uvicorn's reloader imports it again in its server process, under another name.
    importlib.import_module("dualweb.__main__")
    assert capsys.readouterr() == ("", "")


# -- dualweb run: the hand-off to each server --------------------------------------------


def test_run_hands_over_to_uvicorn(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import uvicorn

    calls: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: calls.append((app, options)))
    argv = ["run", INTERFACE_APP, "--host", "::1", "--port", "0", "--workers", "3", "--reload"]
    assert run_main(capsys, *argv) == (0, "", "")
    assert calls == [
        (
            INTERFACE_APP,
            {"host": "::1", "port": 0, "workers": 3, "reload": True, "interface": "asgi3"},
        )
    ]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ([], ["--bind", "127.0.0.1:8000", "--workers", "1"]),
        (
            ["--server", "gunicorn-asgi", "--host", "::1", "--port", "9000", "--reload"],
            ["--bind", "[::1]:9000", "--workers", "1", "--worker-class", "asgi", "--reload"],
        ),
        (["--workers", "4"], ["--bind", "127.0.0.1:8000", "--workers", "4"]),
    ],
)
def test_run_execs_gunicorn(
    monkeypatch: pytest.MonkeyPatch, options: list[str], expected: list[str]
) -> None:
    calls: list[tuple[str, list[str]]] = []
    monkeypatch.setattr(dualweb.cli.os, "execv", lambda path, argv: calls.append((path, argv)))
    server = [] if "--server" in options else ["--server", "gunicorn"]
    assert main(["run", INTERFACE_APP, *server, *options]) == 0
    command = [sys.executable, "-m", "gunicorn", *expected, INTERFACE_APP]
    assert calls == [(sys.executable, command)]


@pytest.mark.parametrize("server", ["uvicorn", "gunicorn", "gunicorn-asgi"])
def test_missing_server_package(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], server: str
) -> None:
    package = server.split("-")[0]
    # None in sys.modules makes ``import package`` raise ImportError.
    monkeypatch.setitem(sys.modules, package, None)
    status, out, err = run_main(capsys, "run", INTERFACE_APP, "--server", server)
    assert (status, out) == (2, "")
    assert err == f"dualweb: error: {package} is not installed: pip install {package}\n"


def test_gunicorn_without_asgi_worker(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import gunicorn
    from gunicorn.workers import SUPPORTED_WORKERS

    monkeypatch.delitem(SUPPORTED_WORKERS, "asgi")
    status, _, err = run_main(capsys, "run", INTERFACE_APP, "--server", "gunicorn-asgi")
    assert status == 2
    assert err == (
        f"dualweb: error: gunicorn {gunicorn.__version__} has no ASGI worker (-k asgi): "
        "pip install -U gunicorn\n"
    )


def test_bad_target_stops_before_the_server(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: pytest.fail("server started"))
    status, _, _ = run_main(capsys, "run", "tests.cli_apps.table:nosuch")
    assert status == 2


# -- dualweb run: real servers -----------------------------------------------------------


def serve(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *options: str, app: str = INTERFACE_APP
) -> Server:
    """Start ``python -m dualweb run app --host 127.0.0.1 --port <free> *options``."""
    # serverkit starts what SERVERS names: "dualweb" is this command, for this test only.
    command = ["dualweb", "run", "--host", HOST, "--port", "{port}", "{app}"]
    monkeypatch.setitem(serverkit.SERVERS, "dualweb", command)
    # gunicorn's control socket goes to $XDG_RUNTIME_DIR: one per test, not one
    # shared with every other gunicorn of the user.
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    return start_server("dualweb", app, tmp_path, *options)


@pytest.mark.servers
@pytest.mark.parametrize(
    ("options", "interface", "mark", "count"),
    [
        ([], "asgi", "Uvicorn running on", 1),
        (["--server", "uvicorn", "--reload"], "asgi", "Started reloader process", 1),
        (["--server", "gunicorn"], "wsgi", "Booting worker with pid", 1),
        (["--server", "gunicorn", "--workers", "2"], "wsgi", "Booting worker with pid", 2),
        (["--server", "gunicorn-asgi"], "asgi", "Using worker: asgi", 1),
    ],
    ids=["uvicorn", "uvicorn-reload", "gunicorn", "gunicorn-2-workers", "gunicorn-asgi"],
)
def test_run_serves_with_each_server(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    options: list[str],
    interface: str,
    mark: str,
    count: int,
) -> None:
    server = serve(monkeypatch, tmp_path, *options)
    try:
        with server.client() as client:
            response = client.get("/")
        assert response.status_code == 200, server.describe()
        assert response.json() == {"interface": interface}
    finally:
        stop_server(server)
    # The log says which server (and how many workers) answered.
    assert server.log().count(mark) == count, server.describe()
