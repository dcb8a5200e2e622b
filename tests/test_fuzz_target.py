"""The fuzz target in tools/fuzz_requests.py runs, and its seeds pass (no atheris needed)."""

from __future__ import annotations

import pytest
from examplekit import load_tool

from dualweb import App, Request

fuzz = load_tool("fuzz_requests")
SEEDS = fuzz.seed_requests()


def test_there_are_about_fifty_seeds_through_both_interfaces():
    assert len(SEEDS) >= 50
    assert {seed.interface for seed in SEEDS} == {"wsgi", "asgi"}
    assert {seed.reader for seed in SEEDS} == set(fuzz.READERS)
    assert {seed.disconnect for seed in SEEDS} == {True, False}
    assert any(seed.path.startswith(b"/a/") for seed in SEEDS)


@pytest.mark.parametrize("seed", SEEDS, ids=lambda seed: f"{seed.interface}-{seed.path[:24]!r}")
def test_seed_is_answered_without_a_crash(seed):
    # Its bytes decode to the request itself, which the App answers cleanly.
    data = fuzz.encode(seed)
    assert fuzz.decode(data) == seed
    fuzz.test_one_input(data)


def test_seeds_reach_the_parsers():
    # The seeds are worth starting from: each parser answers some with data
    # and some with an error, and the router matches every converter.
    statuses: dict[str, set[int]] = {}
    for seed in SEEDS:
        answer = fuzz.check(seed)
        statuses.setdefault(seed.reader, set()).add(answer.status // 100)
    for reader in ("json", "form", "parts", "text"):
        assert statuses[reader] >= {2, 4}, (reader, statuses[reader])
    answer = fuzz.check(fuzz.RawRequest(path=b"/s/u/12345678-1234-5678-1234-567812345678"))
    assert b'"key":["UUID"' in answer.body


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00", b"\xff" * 3, fuzz.SEPARATOR * 5, b"\x01\x00no-slash", b"\x00\x00/\xfe\xff\x00"],
)
def test_any_bytes_decode_to_a_request(data):
    request = fuzz.decode(data)
    assert request.path.startswith(b"/")
    fuzz.test_one_input(data)


@pytest.mark.parametrize("interface", ["wsgi", "asgi"])
def test_the_target_reports_a_500_as_a_crash(interface):
    app = fuzz.build_app()

    @app.get("/boom")
    def boom(request: Request) -> str:
        raise RuntimeError("a bug")

    with pytest.raises(fuzz.FuzzFailure) as failure:
        fuzz.check(fuzz.RawRequest(interface=interface, path=b"/boom"), app)
    assert isinstance(failure.value.__cause__, RuntimeError)


@pytest.mark.parametrize("interface", ["wsgi", "asgi"])
def test_the_target_reports_a_control_character_in_a_header(interface):
    app = App()
    app.add_route("/h", lambda request: ("", 200, {"x-echo": "a\x01b"}))
    app.state.crashes = fuzz._Crashes()
    # Under WSGI, the validator finds it first.
    with pytest.raises(fuzz.FuzzFailure, match=r"control character|Bad header value"):
        fuzz.check(fuzz.RawRequest(interface=interface, path=b"/h"), app)


def test_the_plain_random_loop_runs_the_target():
    lines: list[str] = []
    assert fuzz.random_fuzz(runs=150, max_time=None, seed=1, log=lines.append) == 150
    assert lines[-1].startswith("Done 150 runs")
