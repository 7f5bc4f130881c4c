"""The new views in real Chromium: a surface from a link, backward step by step, a typed program.

Under CI=true a missing Chromium or Playwright fails these tests instead of skipping them.
"""

from __future__ import annotations

import json

import pytest
from live import chromium, require_browser, serve, wait_for_rerun

from explorer.dot import MARKS
from explorer.tutorial.browser import PLACED_JS

pytestmark = pytest.mark.browser

SURFACE = (
    "/?formula=z+%3D+x**2+-+y**2&value_x=1.0&grad_x=true&dtype_x=float"
    "&value_y=0.5&grad_y=true&dtype_y=float&plot_var=x&plot_var2=y&plot_mode=surface"
)
STEPS = "/?formula=z+%3D+x**y&value_x=3.0&value_y=4.0&panel=steps&step=1"
RUNNING = MARKS["running"][0].lower()


@pytest.fixture(scope="module")
def app():
    """A freshly started app and a Chromium, shared by this module's tests."""
    require_browser()
    with serve() as url, chromium() as browser:
        yield browser, url


@pytest.fixture
def page(app):
    """A new Chromium page on the app; the test opens its own link."""
    browser, url = app
    tab = browser.new_page(viewport={"width": 1400, "height": 1800})
    yield tab, url
    tab.close()


def _transcript(page) -> str:
    return page.locator(".st-key-transcript [data-testid=stCode]").inner_text()


def _no_exception(page) -> None:
    assert page.locator("[data-testid=stException]").count() == 0


_PLOTLY_JS = """
() => {
  const plot = document.querySelector('[data-testid=stPlotlyChart] .js-plotly-plot');
  return JSON.stringify({
    traces: plot.data.map((t) => [t.type, t.name]),
    canvases: plot.querySelectorAll('.gl-container canvas').length,
    scene: Boolean(plot._fullLayout && plot._fullLayout.scene && plot._fullLayout.scene._scene),
    noWebgl: plot.innerText.includes('WebGL is not supported'),
  });
}
"""


def test_a_link_opens_the_surface_with_its_tangent_plane(page) -> None:
    """plot_mode=surface in a link: plotly draws a 3D scene with the surface and the plane."""
    tab, url = page
    tab.goto(url + SURFACE)
    wait_for_rerun(tab, 60_000)
    tab.wait_for_selector("[data-testid=stPlotlyChart] .gl-container canvas", timeout=60_000)
    drawn = json.loads(tab.evaluate(_PLOTLY_JS))
    assert ["surface", "z(x, y)"] in drawn["traces"]
    assert ["surface", "tangent plane"] in drawn["traces"]
    assert drawn["canvases"] >= 1
    assert drawn["scene"]
    assert not drawn["noWebgl"]
    assert "x.grad : tensor(2.)" in _transcript(tab)
    _no_exception(tab)


_RUNNING_JS = """
(colour) => Array.from(document.querySelectorAll('[data-testid=stGraphVizChart] svg g.node'))
  .filter((node) => Array.from(node.querySelectorAll('polygon, path, ellipse'))
    .some((shape) => (shape.getAttribute('fill') || '').toLowerCase() === colour))
  .map((node) => Array.from(node.querySelectorAll('text'), (t) => t.textContent).join(' '))
"""


def test_next_moves_the_highlight_to_the_node_the_engine_runs_next(page) -> None:
    """Example 3 at step 1 highlights PowBackward1; Next highlights x's AccumulateGrad."""
    tab, url = page
    tab.goto(url + STEPS)
    wait_for_rerun(tab, 60_000)
    tab.wait_for_selector("[data-testid=stGraphVizChart] svg g.node", timeout=60_000)
    tab.wait_for_function(f"() => ({_RUNNING_JS})('{RUNNING}').length === 1")
    (before,) = tab.evaluate(_RUNNING_JS, RUNNING)
    assert "PowBackward1" in before
    tab.locator("button", has_text="Next").click()
    wait_for_rerun(tab)
    tab.wait_for_function(
        f"() => {{ const found = ({_RUNNING_JS})('{RUNNING}');"
        " return found.length === 1 && found[0].includes('AccumulateGrad'); }"
    )
    tab.wait_for_function("() => location.search.includes('step=2')")
    card = tab.locator("[data-testid=stMarkdown]", has_text="Step 2: AccumulateGrad")
    assert "x.grad = 0 + 108" in card.inner_text()
    _no_exception(tab)


def test_typing_a_program_shows_its_intermediate(page) -> None:
    """Two lines typed into the formula box apply after a pause; h is printed; focus stays."""
    tab, url = page
    tab.goto(url + "/?formula=y+%3D+x**2+%2B+1&value_x=2.0")
    wait_for_rerun(tab, 60_000)
    tab.wait_for_selector(".st-key-transcript [data-testid=stCode]", timeout=60_000)
    box = tab.locator(".st-key-formula textarea")
    box.click()
    box.press("Control+a")
    box.press_sequentially("h = 3*x\ny = h**2", delay=40)
    tab.wait_for_function(
        "() => document.querySelector('.st-key-transcript [data-testid=stCode]')"
        ".innerText.includes('h: tensor(6., grad_fn=<MulBackward0>)')",
        timeout=30_000,
    )
    wait_for_rerun(tab)
    lines = _transcript(tab).splitlines()
    assert lines[:3] == [
        "x: tensor(2., requires_grad=True)",
        "h: tensor(6., grad_fn=<MulBackward0>)",
        "y: tensor(36., grad_fn=<PowBackward0>)",
    ]
    assert "x.grad : tensor(36.)" in lines
    assert box.input_value() == "h = 3*x\ny = h**2"
    assert tab.evaluate("() => document.activeElement.closest('.st-key-formula') !== null")
    assert tab.locator(".st-key-retain_h").count() == 1
    _no_exception(tab)


_POINT_JS = """
() => {
  const chart = document.querySelector('.st-key-plot_chart .js-plotly-plot');
  const point = chart.data.find((t) => t.meta === 'point');
  return {
    x: point.x[0],
    readout: chart.querySelector('.slider-container text').textContent,
    height: chart.getBoundingClientRect().height,
  };
}
"""


def test_the_embedded_plot_shows_the_point_placed(page) -> None:
    """view=plot&embed=true: the chart alone fills the frame and shows the link's point, exactly."""
    tab, url = page
    tab.set_viewport_size({"width": 800, "height": 500})
    link = "/?formula=y+%3D+x**2+%2B+1&value_x=2.05&step_x=0.05&view=plot&embed=true"
    tab.goto(url + link)
    wait_for_rerun(tab, 60_000)
    tab.wait_for_selector("[data-testid=stPlotlyChart] .main-svg", timeout=60_000)
    tab.wait_for_function(PLACED_JS, timeout=30_000)
    shown = tab.evaluate(_POINT_JS)
    assert shown["x"] == pytest.approx(2.05)
    assert shown["readout"] == "x = 2.05   slope dy/dx = 4.1000"
    assert shown["height"] > 400  # the hidden placement takes no room from the chart
    _no_exception(tab)
