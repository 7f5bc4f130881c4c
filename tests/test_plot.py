"""The plot: the scrubber's frames against closed-form derivatives, and the figure's look.

The browser test at the end drags the in-figure slider of a saved figure in Debian's Chromium;
under CI=true a missing Chromium or Playwright fails it instead of skipping it.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import SEEDS
from live import chromium, require_browser

from explorer.core import explore
from explorer.formula import parse
from explorer.plot import (
    POINTS,
    Curve,
    curve,
    figure,
    grid,
    place,
    placement,
    readout,
    staged,
    to_html,
    with_point,
)

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
LOW, HIGH = -5.0, 5.0

# (seed, variable plotted along, f, df/dvariable) with the other inputs at the seed's values.
CLOSED_FORMS: dict[str, tuple[str, str, Callable[[float], float], Callable[[float], float]]] = {
    "example1": ("example1", "x", lambda x: x**2 + 1, lambda x: 2 * x),
    "example2 along w": ("example2", "w", lambda w: w * 3 + 5, lambda w: 3.0),
    "example3 along x": ("example3", "x", lambda x: x**4, lambda x: 4 * x**3),
    "example3 along y": ("example3", "y", lambda y: 3**y, lambda y: 3**y * math.log(3)),
}


def build(
    text: str, values: dict[str, int | float], variable: str, **options: object
) -> tuple[Curve, dict]:
    """Return the curve over [-5, 5] and the figure at the values, as the page draws them."""
    ex = explore(text, values)
    line = curve(parse(text, values), values, variable, LOW, HIGH)
    fig = figure(line, values[variable], ex.value, ex.grads[variable], **options)
    return line, fig


def seed(name: str, **options: object) -> tuple[Curve, dict]:
    seed_name, variable, *_ = CLOSED_FORMS[name]
    text, values = SEEDS[seed_name]
    return build(text, values, variable, **options)


def traces(fig: dict) -> dict[str, int]:
    """Map each trace's name to its index."""
    return {trace["name"]: i for i, trace in enumerate(fig["data"])}


def frame_parts(fig: dict, frame: dict) -> dict[str, dict]:
    """Name each trace a frame updates: the frame lists data and trace indices in one order."""
    names = [fig["data"][i]["name"] for i in frame["traces"]]
    return dict(zip(names, frame["data"], strict=True))


def slope_of(line: dict) -> float:
    (x0, x1), (y0, y1) = line["x"], line["y"]
    return (y1 - y0) / (x1 - x0)


@pytest.mark.parametrize("name", CLOSED_FORMS)
def test_seed_examples_carry_at_least_101_frames_played_by_the_slider(name: str) -> None:
    """One slider step per frame, each animating at once (duration 0, no redraw)."""
    _, fig = seed(name)
    frames, steps = fig["frames"], fig["layout"]["sliders"][0]["steps"]
    assert len(frames) >= 101
    assert [step["args"][0] for step in steps] == [[frame["name"]] for frame in frames]
    for step in steps:
        assert step["method"] == "animate"
        options = step["args"][1]
        assert options["mode"] == "immediate"
        assert options["frame"] == {"duration": 0, "redraw": False}
        assert options["transition"]["duration"] == 0


@pytest.mark.parametrize("name", CLOSED_FORMS)
def test_every_frame_slope_is_the_closed_form_derivative_and_autograds(name: str) -> None:
    """Each frame's tangent has slope f'(x) (float32 tolerance), exactly Curve.slopes' value."""
    *_, f, df = CLOSED_FORMS[name]
    line, fig = seed(name)
    xs = list(line.xs)
    for frame in fig["frames"]:
        parts = frame_parts(fig, frame)
        point = parts[f"({line.variable}, {line.output})"]
        (x,), (y,) = point["x"], point["y"]
        i = xs.index(x)
        slope = slope_of(parts["tangent"])
        assert slope == pytest.approx(df(x), rel=1e-5, abs=1e-4)
        assert slope == pytest.approx(line.slopes[i], rel=1e-9, abs=1e-9)
        assert y == pytest.approx(f(x), rel=1e-5, abs=1e-5)
        assert parts["tangent"]["y"][0] == pytest.approx(y + slope * (LOW - x))


def test_frames_update_only_the_moving_traces_not_the_curve() -> None:
    """A frame resends the tangent and the point, never the 301-point curve."""
    line, fig = seed("example1")
    moving = [traces(fig)["tangent"], traces(fig)["(x, y)"]]
    assert len(line.xs) == POINTS
    for frame in fig["frames"]:
        assert frame["traces"] == moving
        assert all(len(part["x"]) <= 2 for part in frame["data"])


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("example1", "x = 2   slope dy/dx = 4.0000"),
        ("example2 along w", "w = 2   slope dy/dw = 3.0000"),
        ("example3 along x", "x = 3   slope dz/dx = 108.0000"),
        ("example3 along y", "y = 4   slope dz/dy = 88.9876"),
    ],
)
def test_the_scrubber_starts_on_the_current_value_with_pytorchs_gradient(
    name: str, expected: str
) -> None:
    """The active step is the current point, and its readout prints the seed's .grad."""
    _, fig = seed(name)
    slider = fig["layout"]["sliders"][0]
    assert slider["steps"][slider["active"]]["label"] == expected
    assert slider["currentvalue"]["visible"]


def test_a_value_between_curve_points_gets_its_own_frame() -> None:
    """x = 2.05 is not on the 301-point grid: it is added, so the readout matches x.grad."""
    line, fig = build("y = x**2 + 1", {"x": 2.05}, "x")
    assert len(line.xs) == POINTS + 1
    assert line.xs[line.here] == 2.05
    slider = fig["layout"]["sliders"][0]
    assert slider["steps"][slider["active"]]["label"] == "x = 2.05   slope dy/dx = 4.1000"


def test_zero_on_the_grid_is_exactly_zero() -> None:
    """On [-0.1, 0.2] plain arithmetic puts 1.4e-17 where 0 is meant; the grid says 0."""
    values = {"x": 0.15}
    line = curve(parse("y = x**2", values), values, "x", -0.1, 0.2)
    assert 0.0 in line.xs
    assert readout(line, line.xs.index(0.0)) == "x = 0   slope dy/dx = 0.0000"


def test_the_point_and_tangent_are_the_explorations_own() -> None:
    """Before any drag the figure shows (x0, y0) and the tangent with slope x.grad."""
    _, fig = seed("example3 along y")
    ids = traces(fig)
    assert fig["data"][ids["(y, z)"]]["x"] == [4.0]
    assert fig["data"][ids["(y, z)"]]["y"] == [81.0]
    assert slope_of(fig["data"][ids["tangent"]]) == pytest.approx(88.98759460449219)


def test_no_scrubber_without_a_gradient() -> None:
    """An int variable, requires_grad off, or scrub=False: no frames, no slider."""
    text, values = SEEDS["example2"]
    _, along_int = build(text, values, "x")
    assert "frames" not in along_int
    assert "sliders" not in along_int["layout"]
    assert "tangent" not in traces(along_int)

    ex = explore(text, values, {"w": False})
    no_grad = curve(parse(text, values), values, "w", LOW, HIGH, differentiate=False)
    fig = figure(no_grad, 2.0, ex.value, ex.grads["w"])
    assert "frames" not in fig
    assert "tangent" not in traces(fig)

    _, off = seed("example1", scrub=False)
    assert "frames" not in off
    assert "sliders" not in off["layout"]
    assert "tangent" in traces(off)


@pytest.mark.parametrize("font_size", [14, 22])
def test_axes_never_use_si_prefixes(font_size: int) -> None:
    """Ticks read 0.0003 or 3x10^-4, never 300µ: exponent format 'power' on both axes."""
    _, fig = build("y = 0.0001*x**2", {"x": 2.0}, "x", font_size=font_size)
    for axis in ("xaxis", "yaxis"):
        assert fig["layout"][axis]["exponentformat"] == "power"
        assert fig["layout"][axis]["showexponent"] == "all"


@pytest.mark.parametrize("font_size", [14, 22])
def test_legend_sits_above_the_plot_area_and_the_slider_below(font_size: int) -> None:
    """The legend's bottom edge is at the top of the plot area, the slider hangs below it."""
    _, fig = seed("example1", font_size=font_size, derivative=True)
    layout = fig["layout"]
    assert layout["legend"]["yanchor"] == "bottom"
    assert layout["legend"]["y"] >= 1.0
    assert layout["legend"]["orientation"] == "h"
    slider = layout["sliders"][0]
    assert slider["yanchor"] == "top"
    assert slider["y"] <= 0
    assert slider["pad"]["t"] >= 2 * font_size
    assert layout["font"]["size"] == font_size


def test_the_tangent_stays_visible_on_a_straight_line() -> None:
    """Example 2 is linear: the tangent is dashed and drawn over the wider curve."""
    _, fig = seed("example2 along w")
    ids = traces(fig)
    curve_trace, tangent = fig["data"][ids["y(w)"]], fig["data"][ids["tangent"]]
    assert ids["tangent"] > ids["y(w)"]
    assert tangent["line"]["dash"] == "dash"
    assert curve_trace["line"]["width"] > tangent["line"]["width"]
    assert tangent["line"]["color"] != curve_trace["line"]["color"]


def test_an_infinite_value_is_marked_and_the_curve_has_gaps() -> None:
    """log(x) at 0 is -inf: an x on the axis says so; points x < 0 (nan) are gaps."""
    line, fig = build("y = log(x)", {"x": 0.0}, "x")
    ids = traces(fig)
    mark = fig["data"][ids["y is inf or nan"]]
    assert mark["text"] == ["y is -inf here"]
    assert mark["x"] == [0.0]
    assert mark["y"] == [fig["layout"]["yaxis"]["range"][0]]
    assert mark["marker"]["symbol"] == "x-thin"
    assert fig["data"][ids["(x, y)"]]["y"] == [None]
    assert fig["data"][ids["tangent"]]["y"] == [None, None]
    assert None in fig["data"][ids["y(x)"]]["y"]
    slider = fig["layout"]["sliders"][0]
    assert slider["steps"][slider["active"]]["label"] == "x = 0:  y is -inf here, no tangent"
    first = frame_parts(fig, fig["frames"][0])
    assert first["y is inf or nan"]["text"] == ["y is nan here"]
    assert first["(x, y)"]["y"] == [None]
    assert readout(line, 0) == "x = -5:  y is nan here, no tangent"


def test_an_infinite_slope_has_no_tangent_and_says_why() -> None:
    """sqrt at 0 is 0 but its slope is inf: the point stays, the tangent goes."""
    line, fig = build("y = sqrt(x)", {"x": 0.0}, "x")
    assert readout(line, line.here) == "x = 0:  the slope is inf here"
    ids = traces(fig)
    assert fig["data"][ids["tangent"]]["y"] == [None, None]
    assert fig["data"][ids["(x, y)"]]["y"] == [0.0]
    assert "y is inf or nan" in ids  # x < 0 gives nan, marked while scrubbing


@pytest.mark.parametrize(
    ("formula", "expected"),
    [
        ("y = 0.00003*x", "x = 2   slope dy/dx = 3.0000e-05"),
        ("y = 1e9*x", "x = 2   slope dy/dx = 1.0000e+09"),
        ("y = 0*x", "x = 2   slope dy/dx = 0.0000"),
    ],
)
def test_the_readout_prints_slopes_as_pytorch_does(formula: str, expected: str) -> None:
    """4 decimals, scientific for tiny and huge values: tensor(3.0000e-05)."""
    line, _ = build(formula, {"x": 2.0}, "x")
    assert readout(line, line.here) == expected


@pytest.mark.parametrize("name", CLOSED_FORMS)
def test_the_figure_is_plain_json_and_deterministic(name: str) -> None:
    """No NaN or Infinity in the JSON, and the same inputs give the same figure."""
    _, first = seed(name, derivative=True)
    _, again = seed(name, derivative=True)
    text = json.dumps(first, allow_nan=False)
    assert text == json.dumps(again, allow_nan=False)
    assert len(text) < 80_000


def test_height_and_font_are_parameters() -> None:
    """The page sizes the plot to its column; projector mode passes a larger font."""
    _, fig = seed("example1", height=320, font_size=22)
    assert fig["layout"]["height"] == 320
    assert fig["layout"]["sliders"][0]["currentvalue"]["font"]["size"] == 22


def test_html_export_does_not_play_the_animation_on_load() -> None:
    """The saved page starts on the current point instead of running through every frame."""
    _, fig = seed("example1")
    page = to_html(fig)
    assert "Plotly.addFrames" in page
    assert "Plotly.animate" not in page


def staged_at(text: str, values: dict[str, float], variable: str) -> tuple[dict, dict | None]:
    """Return the staged figure over [-5, 5] and the move that shows ``values`` on it."""
    ex = explore(text, values)
    formula = parse(text, values)
    base = grid(formula, values, variable, LOW, HIGH)
    fig = staged(base, font_size=13, height=310)
    line = with_point(base, values[variable], ex.value, ex.grads[variable])
    return fig, placement(fig, line, values[variable], ex.value, ex.grads[variable])


def test_the_staged_figure_is_the_same_wherever_the_variable_is() -> None:
    """The chart's figure does not change while x moves, so the browser keeps its chart."""
    first, _ = staged_at("y = x**2 + 1", {"x": 2.0}, "x")
    again, _ = staged_at("y = x**2 + 1", {"x": -3.37}, "x")
    assert first == again
    assert len(first["frames"]) >= 101
    assert first["layout"]["meta"]
    moving = [first["data"][i] for i in first["frames"][0]["traces"]]
    assert all(v is None for trace in moving for v in trace["x"] + trace["y"])


def close(got: list | None, want: list | None) -> bool:
    """Tell whether two trace arrays are equal, numbers to 1e-9 (None hides a point)."""
    if got is None or want is None:
        return got is want
    return len(got) == len(want) and all(
        a == b if None in (a, b) or isinstance(a, str) else math.isclose(a, b, rel_tol=1e-9)
        for a, b in zip(got, want, strict=True)
    )


@pytest.mark.parametrize(
    ("text", "x"),
    [
        ("y = x**2 + 1", 2.0),
        ("y = x**2 + 1", 2.05),
        ("y = x**2 + 1", -4.9),
        ("y = x**2 + 1", 5.0),
        ("y = log(x)", 0.0),  # -inf: the mark on the axis, no tangent
        ("y = log(x)", -1.05),  # nan between frames
        ("y = sqrt(x)", 0.0),  # a finite value whose slope is inf
    ],
)
def test_a_placed_figure_shows_what_the_whole_figure_shows(text: str, x: float) -> None:
    """The moving traces and readout after the move are the exploration's own, as figure() has."""
    fig, move = staged_at(text, {"x": x}, "x")
    assert move is not None
    shown = place(fig, move)
    _, whole = build(text, {"x": x}, "x", font_size=13, height=310)
    ids, whole_ids = traces(shown), traces(whole)
    moving = [whole["data"][i]["name"] for i in whole["frames"][0]["traces"]]
    assert moving == [shown["data"][i]["name"] for i in fig["frames"][0]["traces"]]
    for name in moving:
        got, want = shown["data"][ids[name]], whole["data"][whole_ids[name]]
        for key in ("x", "y", "text"):
            assert close(got.get(key), want.get(key)), (name, key, got.get(key), want.get(key))
    slider, whole_slider = shown["layout"]["sliders"][0], whole["layout"]["sliders"][0]
    label = slider["steps"][slider["active"]]["label"]
    assert label == whole_slider["steps"][whole_slider["active"]]["label"]
    assert move["meta"] == fig["layout"]["meta"]
    low, high = shown["layout"]["yaxis"]["range"]
    assert not math.isfinite(ex_value(text, x)) or low <= ex_value(text, x) <= high


def ex_value(text: str, x: float) -> float:
    """Return the formula's value at x, as the page's point has it."""
    return explore(text, {"x": x}).value


@pytest.mark.parametrize(
    ("text", "x"),
    [
        ("y = 1/x", 0.01),  # a pole between grid points: 100, beyond the grid's 30
        ("y = tan(x)", 1.57),  # 1255.8
        ("y = exp(-((x - 0.123)*100)**2)", 0.123),  # a spike the grid steps over
    ],
)
def test_a_point_outside_the_staged_axis_gets_the_whole_figure(text: str, x: float) -> None:
    """The staged figure's y axis fits the grid; a value beyond it needs the fitted whole figure."""
    fig, move = staged_at(text, {"x": x}, "x")
    low, high = fig["layout"]["yaxis"]["range"]
    assert not low <= ex_value(text, x) <= high
    assert move is None
    _, whole = build(text, {"x": x}, "x", font_size=13, height=310)
    low, high = whole["layout"]["yaxis"]["range"]
    assert low <= ex_value(text, x) <= high


def test_placing_never_changes_the_shared_staged_figure() -> None:
    """The page caches one staged figure for every session: place() must copy what it changes."""
    fig, move = staged_at("y = x**2 + 1", {"x": 2.05}, "x")
    kept = copy.deepcopy(fig)
    shown = place(fig, move)
    assert fig == kept
    assert shown != fig


def test_without_a_scrubber_there_is_no_staged_figure() -> None:
    """An integer input or one without a gradient has no frames: the page sends the whole figure."""
    values = {"x": 2}
    assert staged(grid(parse("y = x**2", values), values, "x", LOW, HIGH)) is None
    floats = {"x": 2.0}
    base = grid(parse("y = x**2", floats), floats, "x", LOW, HIGH, differentiate=False)
    assert staged(base) is None


def test_a_value_on_a_frame_moves_by_the_frame_alone() -> None:
    """On the default grid x = 2.1 is a frame: the browser shows that frame, no extra data."""
    fig, move = staged_at("y = x**2 + 1", {"x": 2.1}, "x")
    assert move["data"] is None
    assert move["label"] is None
    assert fig["frames"][move["step"]]["name"] == move["frame"]


def test_an_infinite_value_the_stage_cannot_mark_is_drawn_whole() -> None:
    """1/x over [0.5, 2] has no inf on its grid, so its stage has no inf mark: no move for inf."""
    values = {"x": 0.0}
    formula = parse("y = 1/x", values)
    base = grid(formula, values, "x", 0.5, 2.0)
    fig = staged(base)
    line = with_point(base, 0.0, math.inf, -math.inf)
    assert placement(fig, line, 0.0, math.inf, -math.inf) is None


def _box(page, selector: str) -> dict[str, float]:
    return page.locator(selector).first.bounding_box()


@pytest.mark.browser
@pytest.mark.parametrize(("width", "font_size"), [(600, 14), (600, 22), (500, 22), (900, 14)])
def test_dragging_the_slider_moves_the_tangent_in_chromium(
    tmp_path: Path, width: int, font_size: int
) -> None:
    """Drag the in-figure slider: the point, tangent and readout move; the legend stays clear."""
    require_browser()
    _, fig = seed("example1", font_size=font_size, height=420, derivative=True)
    page_file = tmp_path / "plot.html"
    page_file.write_text(to_html(fig))
    ARTIFACTS.mkdir(exist_ok=True)
    with chromium() as browser:
        page = browser.new_page(viewport={"width": width + 16, "height": 440})
        page.goto(page_file.as_uri())
        page.wait_for_selector(".slider-rail-rect")
        tangent = ".scatterlayer .trace:nth-child(3) path.js-line"
        before = page.locator(tangent).get_attribute("d")
        readout_text = page.locator(".slider-container text").first.text_content()
        assert readout_text == "x = 2   slope dy/dx = 4.0000"
        plot_area, legend = _box(page, ".draglayer .nsewdrag"), _box(page, ".legend")
        assert legend["y"] + legend["height"] <= plot_area["y"] + 1

        rail, grip = _box(page, ".slider-rail-rect"), _box(page, ".slider-grip-rect")
        page.mouse.move(grip["x"] + grip["width"] / 2, grip["y"] + grip["height"] / 2)
        page.mouse.down()
        page.mouse.move(rail["x"] + rail["width"] * 0.25, grip["y"] + grip["height"] / 2, steps=8)
        page.locator("#autograd-plot").screenshot(
            path=ARTIFACTS / f"plot_{width}_{font_size}_drag.png"
        )
        page.mouse.up()
        after = page.locator(".slider-container text").first.text_content()
        x, slope = float(after.split()[2]), float(after.split()[-1])
        assert x < 0
        assert slope == pytest.approx(2 * x, abs=0.01)  # the readout rounds x to 4 digits
        assert page.locator(tangent).get_attribute("d") != before


def test_the_cached_grid_plus_the_explorations_point_is_the_full_curve() -> None:
    """grid() + with_point() with the transcript's numbers equals curve() at that point."""
    formula = parse("z = x**y")
    values = {"x": 2.05, "y": 4.0}
    full = curve(formula, values, "x", -5.0, 5.0)
    ex = explore("z = x**y", values)
    cached = with_point(grid(formula, values, "x", -5.0, 5.0), 2.05, ex.value, ex.grads["x"])
    assert cached.xs == full.xs
    assert cached.here == full.here
    assert cached.ys == pytest.approx(full.ys, rel=1e-6)
    assert cached.slopes == pytest.approx(full.slopes, rel=1e-6)
