"""The load generator's smoke run: sessions speaking Streamlit's protocol get checked reruns.

Times are printed by bench/load.py, never asserted here: only errors fail.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import sys
from pathlib import Path
from urllib.parse import parse_qs, quote_plus

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from load import Report, Session, run_load, start_server  # noqa: E402


@pytest.fixture(scope="module")
def server() -> tuple[str, int]:
    """Serve the app with the launcher, as `make run` and the Dockerfile do."""
    with start_server(launcher=True) as (url, pid):
        yield url, pid


def test_torch_is_loaded_before_the_first_visitor(server: tuple[str, int]) -> None:
    """The launcher imports torch at start: its library is mapped before any session opens."""
    _, pid = server
    assert "libtorch" in Path(f"/proc/{pid}/maps").read_text()


def test_five_sessions_moving_a_slider_get_checked_reruns(server: tuple[str, int]) -> None:
    """Five sessions move x a few times each; every rerun shows the value sent, with no error."""
    url, pid = server
    report = asyncio.run(run_load(url, sessions=5, reruns=4, duration=120, think=0.2, pids=[pid]))
    print(report.summary())
    assert report.problems == []
    assert report.errors == 0
    assert report.reruns == 20
    assert len(report.health) > 0


EXAMPLE_2 = "/?formula=y+%3D+w*x+%2B+b&value_x=3&value_w=2.0&value_b=5.0"


def test_a_move_of_the_plotted_input_keeps_the_chart(server: tuple[str, int]) -> None:
    """Moving w (the plotted input) reruns the page's fragment alone: no chart is sent again.

    Moving b changes the curve along w: its slider is not in the fragment, and the full run it
    starts draws the new chart. Every answer shows the value sent, checked as in a load run.
    """
    url, _ = server

    async def move(key: str, value: float, link: str = EXAMPLE_2) -> tuple[bool, dict]:
        session = Session(url, link, key, None)
        report = Report(sessions=1)
        await session.open()
        try:
            await session.run(None, report)
            await session.run(value, report)
        finally:
            await session.close()
        assert report.problems == []
        return bool(session.slider["fragment"]), session.last

    alone, kept = asyncio.run(move("value_w", 2.5))
    assert alone  # the slider is drawn by the fragment
    assert "plotly_chart" not in kept["kinds"]
    assert not kept.get("early")
    assert "graphviz_chart" in kept["kinds"]  # the graph shows the new values
    assert parse_qs(str(kept["query"]))["value_w"] == ["2.5"]  # and the URL
    assert any('"x": 2.5' in body for body in kept["html"])  # the plot's point moves there
    alone, redrawn = asyncio.run(move("value_b", 5.5))
    assert not alone
    assert "plotly_chart" in redrawn["kinds"]
    # While a link's warning shows, a move must clear it, which only a full run can show.
    _, warned = asyncio.run(move("value_w", 2.5, EXAMPLE_2 + "&value_b=abc"))
    assert "plotly_chart" in warned["kinds"]  # a full run
    assert not any("In the link" in alert for alert in warned["alerts"])


def test_a_move_that_brings_the_first_note_shows_it(server: tuple[str, int]) -> None:
    """log(x) at 2 has no note; a move to -1 (nan) or 0 (-inf) brings one, in the fast path too."""
    url, _ = server

    async def moves() -> list[dict[str, object]]:
        session = Session(url, "/?formula=y+%3D+log(x)&value_x=2.0", "value_x", None)
        report = Report(sessions=1)
        await session.open()
        seen = []
        try:
            await session.run(None, report)
            for value in (-1.0, 0.0, 1.0):
                await session.run(value, report)
                seen.append(session.last)
        finally:
            await session.close()
        assert report.problems == []
        return seen

    nan, inf, finite = asyncio.run(moves())
    assert not nan.get("early")  # the staged chart marks nan and inf: no full run needed
    assert any("nan" in alert for alert in nan["alerts"])
    assert any("inf" in alert for alert in inf["alerts"])
    assert not any("nan" in alert or "inf" in alert for alert in finite["alerts"])


# Poles, domains that end, kinks, integer powers, a sqrt with nan below 0, two inputs.
_WALKS = ("y = 1/(x - 0.5)", "y = log(x**2 - 1)", "y = sqrt(x)", "y = relu(x)*x", "z = x**y")


@pytest.mark.parametrize("formula", _WALKS)
def test_random_moves_of_the_plotted_input_never_fail(
    server: tuple[str, int], formula: str
) -> None:
    """Random moves of x, answered by the fragment or a full run, each show the value sent."""
    url, _ = server
    positions = random.Random(formula).choices([i / 10 for i in range(-50, 51)], k=12)

    async def walk() -> Report:
        session = Session(url, "/?formula=" + quote_plus(formula), "value_x", None)
        report = Report(sessions=1)
        await session.open()
        try:
            await session.run(None, report)
            for value in positions:
                await session.run(value, report)
        finally:
            await session.close()
        return report

    report = asyncio.run(walk())
    assert report.problems == []
    assert report.errors == 0


def _seen(codes: list[str], query: str | None = None) -> dict[str, object]:
    return {"codes": codes, "faults": [], "alerts": [], "status": 0, "query": query}


def _slider_session() -> Session:
    session = Session("http://127.0.0.1:1", "/?formula=y", "value_x", None)
    session.slider = {"id": "$$ID-0-value_x", "fragment": "", "min": -5, "max": 5, "step": 0.1}
    return session


def test_a_transcript_with_another_value_is_an_error() -> None:
    """The check is real: a transcript that does not show the value sent counts as an error."""
    report = Report(sessions=1)
    session = _slider_session()
    session._check(_seen(["x: tensor(2.7000, requires_grad=True)"]), 2.7, report)
    assert report.errors == 0
    session._check(_seen(["x: tensor(2.6000, requires_grad=True)"]), 2.7, report)
    session._check(_seen(["y = x"]), 2.7, report)
    session._check(_seen(["x: tensor(2.7000)"], query="formula=y&value_x=1.0"), 2.7, report)
    assert report.errors == 3


def test_slider_positions_stay_on_the_grid_and_always_move() -> None:
    """Each position is in range, on a step, and differs from the one before."""
    positions = _slider_session().values(seed=3)
    values = [next(positions) for _ in range(200)]
    assert all(-5 <= value <= 5 for value in values)
    assert all(abs(value * 10 - round(value * 10)) < 1e-6 for value in values)
    assert all(a != b for a, b in itertools.pairwise(values))
