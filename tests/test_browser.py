"""The real app in real Chromium: open a link, read the graph and plot, move a slider by keyboard.

Under CI=true a missing Chromium or Playwright fails these tests instead of skipping them.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from live import chromium, require_browser, serve, wait_for_page, wait_for_rerun

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
LINK = "/?formula=z+%3D+x**y&value_x=3.0&value_y=4.0"

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def app():
    """A freshly started app and a Chromium, shared by this module's tests."""
    require_browser()
    with serve() as url, chromium() as browser:
        yield browser, url


@pytest.fixture(scope="module")
def page(app):
    """A Chromium page on the app, opened on example 3's link."""
    browser, url = app
    tab = browser.new_page(viewport={"width": 1400, "height": 1800})
    tab.goto(url + LINK)
    wait_for_page(tab)
    yield tab
    tab.close()


def _transcript(page) -> str:
    return page.locator(".st-key-transcript [data-testid=stCode]").inner_text()


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
        "() => !document.querySelector('.st-key-transcript [data-testid=stCode]')"
        ".innerText.includes('x: tensor(3., ')"
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


_PLOT_DATA_JS = """
() => JSON.stringify(Array.from(
  document.querySelector('[data-testid=stPlotlyChart] .js-plotly-plot').data,
  (t) => [t.name, Array.from(t.x || []), Array.from(t.y || [])]))
"""


def _view(page) -> tuple[str, list[str], str]:
    """Return what a person sees: the transcript, the graph's texts, and the plot's data."""
    graph = page.locator("[data-testid=stGraphVizChart] svg g text").all_text_contents()
    return _transcript(page), graph, page.evaluate(_PLOT_DATA_JS)


def test_the_url_restores_the_view_in_a_fresh_browser_and_back_leaves_the_app(app) -> None:
    """Moves write the URL without Back steps; the URL opened elsewhere shows the same page."""
    browser, url = app
    first = browser.new_context(viewport={"width": 1280, "height": 720}).new_page()
    first.goto("about:blank")
    first.goto(url + "/?formula=y+%3D+w*x+%2B+b&value_w=2.0&value_x=3&value_b=5.0")
    wait_for_page(first)
    start_length = first.evaluate("history.length")
    first.locator(".st-key-value_w").get_by_role("slider").focus()
    for _ in range(3):
        first.keyboard.press("ArrowRight")
        wait_for_rerun(first)
    first.locator(".st-key-derivative label").click()
    wait_for_rerun(first)
    first.wait_for_function("() => location.search.includes('derivative=true')")
    assert "value_w=2.3" in first.url
    assert first.evaluate("history.length") == start_length
    view = _view(first)
    second = browser.new_context(viewport={"width": 1280, "height": 720}).new_page()
    second.goto(first.url)
    wait_for_page(second)
    second.wait_for_timeout(500)
    assert _view(second) == view
    first.go_back()
    first.wait_for_url("about:blank")
