"""The real app in real Chromium: open a link, read the graph and plot, move a slider by keyboard.

Under CI=true a missing Chromium or Playwright fails these tests instead of skipping them.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest
from live import CHROMIUM, chromium, serve, wait_for_page, wait_for_rerun

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
LINK = "/?formula=z+%3D+x**y&value_x=3.0&value_y=4.0"

pytestmark = pytest.mark.browser


def _require_browser() -> None:
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"Chromium at {CHROMIUM} (apt-get install chromium)")
    if importlib.util.find_spec("playwright") is None:
        missing.append("the playwright package (pip install -e '.[dev]')")
    if not missing:
        return
    message = "the browser test needs " + " and ".join(missing)
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def page():
    """A Chromium page on a freshly started app."""
    _require_browser()
    with serve() as url, chromium() as browser:
        tab = browser.new_page(viewport={"width": 1400, "height": 1800})
        tab.goto(url + LINK)
        wait_for_page(tab)
        yield tab


def _transcript(page) -> str:
    return page.locator("[data-testid=stCode]").first.inner_text()


def test_link_opens_example_3_with_its_graph_and_plot(page) -> None:
    """The link's formula shows PyTorch's transcript, the backward nodes and a drawn plot."""
    assert "z: tensor(81., grad_fn=<PowBackward1>)" in _transcript(page)
    names = page.locator("[data-testid=stGraphVizChart] svg g.node text").all_text_contents()
    assert "PowBackward1" in names
    assert names.count("AccumulateGrad") == 2
    assert page.locator("[data-testid=stPlotlyChart] .main-svg .scatterlayer .trace").count() >= 3
    assert page.locator("[data-testid=stException]").count() == 0


def test_keyboard_slider_move_updates_the_transcript(page) -> None:
    """Arrow keys on the x slider rerun the app and change PyTorch's printed x."""
    before = _transcript(page)
    page.locator(".st-key-value_x").get_by_role("slider").focus()
    page.keyboard.press("ArrowRight")
    wait_for_rerun(page)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=stCode]').innerText.includes('x: tensor(3., ')"
    )
    after = _transcript(page)
    assert after != before
    assert after.splitlines()[0] == "x: tensor(3.1000, requires_grad=True)"
    assert page.locator("[data-testid=stException]").count() == 0
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "browser.png"))
    assert (ARTIFACTS / "browser.png").stat().st_size > 10_000


def test_graphviz_is_on_the_path_for_exports() -> None:
    """The server-side SVG/PNG export needs dot; CI installs it with the browser."""
    if os.environ.get("CI", "").lower() not in ("1", "true", "yes"):
        pytest.skip("checked under CI only")
    assert shutil.which("dot"), "apt-get install graphviz"
