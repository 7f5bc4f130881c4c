"""Two inputs: the grid against float64 oracles, the tangent plane and the gradient arrow.

The plane's slopes must be the exploration's own grads, and the arrow must point along the
normalised gradient, at a right angle to the level line that the grid's values themselves show.
"""

from __future__ import annotations

import json
import math

import plotly.graph_objects as go
import pytest
from oracle import central_difference, value64

import explorer.surface
from explorer import InputError, explore, parse
from explorer.surface import (
    POINTS,
    Grid,
    Point,
    contour_caption,
    contour_figure,
    grid,
    point,
    surface_caption,
    surface_figure,
)

# (formula, values, x input, y input, ranges): the seed's example 3, the neuron, and smooth shapes.
CASES = {
    "example 3": ("z = x**y", {"x": 3.0, "y": 4.0}, "x", "y", (0.5, 5.0), (-2.0, 5.0)),
    "neuron": (
        "loss = (sigmoid(w*x + b) - t)**2",
        {"w": 0.5, "x": 1.5, "b": 0.1, "t": 1.0},
        "w",
        "b",
        (-5.0, 5.0),
        (-5.0, 5.0),
    ),
    "saddle": ("z = x**2 - y**2", {"x": 1.0, "y": 0.5}, "x", "y", (-2.0, 2.0), (-2.0, 2.0)),
    "bowl": ("z = x**2 + y**2", {"x": -1.2, "y": 0.7}, "x", "y", (-2.0, 2.0), (-2.0, 2.0)),
    "waves": ("f = sin(x)*cos(y) + x/3", {"x": 0.4, "y": -1.1}, "x", "y", (-3.0, 3.0), (-3.0, 3.0)),
    "y across": ("z = x*exp(-y**2/2)", {"x": 1.5, "y": 0.6}, "y", "x", (-2.0, 2.0), (-3.0, 3.0)),
}


def build(case: str, **values: float) -> tuple[Grid, Point, dict]:
    """Return the grid over the case's ranges, the exploration's point and its grads."""
    text, base, x_var, y_var, x_range, y_range = CASES[case]
    values = {**base, **values}
    ex = explore(text, values)
    surface = grid(parse(text), values, x_var, y_var, x_range=x_range, y_range=y_range)
    return surface, point(ex, x_var, y_var), ex.grads


def trace(fig: dict, name: str) -> dict:
    """Return the figure's trace with this name."""
    return next(item for item in fig["data"] if item["name"] == name)


@pytest.mark.parametrize("case", CASES)
def test_the_tangent_planes_slopes_are_the_transcripts_grads(case: str) -> None:
    """Read back from the drawn plane: it passes through the point, sloped by x.grad and y.grad."""
    surface, here, grads = build(case)
    plane = trace(surface_figure(surface, here), "tangent plane")
    (x0, x1), (y0, y1), z = plane["x"], plane["y"], plane["z"]
    slope_x = (z[0][1] - z[0][0]) / (x1 - x0)
    slope_y = (z[1][0] - z[0][0]) / (y1 - y0)
    assert slope_x == pytest.approx(grads[surface.x_var], rel=1e-9, abs=1e-12)
    assert slope_y == pytest.approx(grads[surface.y_var], rel=1e-9, abs=1e-12)
    centre = sum(sum(row) for row in z) / 4  # the patch is centred on the point
    assert centre == pytest.approx(here.z, rel=1e-9, abs=1e-9)
    assert (here.x, here.y) == pytest.approx(((x0 + x1) / 2, (y0 + y1) / 2))
    # And those grads are right: a float64 central difference agrees.
    text, values = CASES[case][0], {k: float(v) for k, v in CASES[case][1].items()}
    for name in (surface.x_var, surface.y_var):
        expected = central_difference(text, values, name)
        assert grads[name] == pytest.approx(expected, rel=1e-4, abs=1e-5)


def test_point_takes_the_explorations_numbers() -> None:
    """The point is the exploration's values, output and grads, unchanged."""
    ex = explore("z = x**y", {"x": 3.0, "y": 4.0})
    here = point(ex, "y", "x")
    assert here == Point(4.0, 3.0, ex.value, ex.grads["y"], ex.grads["x"])


def arrow(fig: dict) -> tuple[float, float]:
    """Return the unit direction of the drawn arrow, from its tail (ax, ay) to its head (x, y)."""
    (head,) = fig["layout"]["annotations"]
    dx, dy = head["x"] - head["ax"], head["y"] - head["ay"]
    length = math.hypot(dx, dy)
    return dx / length, dy / length


@pytest.mark.parametrize("case", CASES)
def test_the_arrow_points_along_the_normalised_gradient(case: str) -> None:
    """The arrowhead and the green shaft both go from the point along (gx, gy) / |(gx, gy)|."""
    surface, here, grads = build(case)
    fig = contour_figure(surface, here)
    gx, gy = grads[surface.x_var], grads[surface.y_var]
    norm = math.hypot(gx, gy)
    assert arrow(fig) == pytest.approx((gx / norm, gy / norm), abs=1e-12)
    (head,) = fig["layout"]["annotations"]
    assert (head["ax"], head["ay"]) == (here.x, here.y)
    shaft = trace(fig, "gradient: steepest uphill")
    assert (shaft["x"][0], shaft["y"][0]) == (here.x, here.y)
    assert (shaft["x"][1], shaft["y"][1]) == pytest.approx((head["x"], head["y"]))


@pytest.mark.parametrize("case", CASES)
def test_the_arrow_crosses_the_level_line_of_the_grid_at_a_right_angle(case: str) -> None:
    """At a grid point, the level line's direction from the grid's own values is perpendicular.

    Along the level line z does not change, so its direction is (-dz/dy, dz/dx), here with both
    partials taken as central differences of neighbouring grid values: no autograd involved.
    """
    _, _, x_var, y_var, *_ = CASES[case]
    probe, _, _ = build(case)
    i, j = 3 * len(probe.xs) // 5, 2 * len(probe.ys) // 5  # an inner grid point, off the axes
    surface, here, _ = build(case, **{x_var: probe.xs[i], y_var: probe.ys[j]})
    z, xs, ys = surface.z, surface.xs, surface.ys
    dz_dx = (z[j][i + 1] - z[j][i - 1]) / (xs[i + 1] - xs[i - 1])
    dz_dy = (z[j + 1][i] - z[j - 1][i]) / (ys[j + 1] - ys[j - 1])
    level = (-dz_dy, dz_dx)
    fig = contour_figure(surface, here)
    ux, uy = arrow(fig)
    assert abs(ux * level[0] + uy * level[1]) / math.hypot(*level) < 0.01
    # The dashed level-line segment drawn through the point is exactly perpendicular.
    dashed = trace(fig, "level line here (no change)")
    tx, ty = dashed["x"][1] - dashed["x"][0], dashed["y"][1] - dashed["y"][0]
    assert ux * tx + uy * ty == pytest.approx(0.0, abs=1e-12)
    assert (sum(dashed["x"]) / 2, sum(dashed["y"]) / 2) == pytest.approx((here.x, here.y))


@pytest.mark.parametrize("case", CASES)
def test_the_grid_holds_values_and_partials_of_every_point(case: str) -> None:
    """At least 41x41 points over the ranges; values and partials agree with float64 oracles."""
    text, values, x_var, y_var, x_range, y_range = CASES[case]
    surface, _, _ = build(case)
    assert POINTS >= 41
    assert (len(surface.xs), len(surface.ys)) == (POINTS, POINTS)
    assert (surface.xs[0], surface.xs[-1], surface.ys[0], surface.ys[-1]) == (*x_range, *y_range)
    assert len(surface.z) == len(surface.dx) == len(surface.dy) == POINTS
    assert all(len(row) == POINTS for rows in (surface.z, surface.dx, surface.dy) for row in rows)
    expr = parse(text).expr
    for i, j in [(0, 0), (7, 33), (20, 20), (40, 1), (29, 40)]:
        env = {
            **{k: float(v) for k, v in values.items()},
            x_var: surface.xs[i],
            y_var: surface.ys[j],
        }
        assert surface.z[j][i] == pytest.approx(value64(expr, env), rel=1e-5, abs=1e-6)
        for partial, name in ((surface.dx, x_var), (surface.dy, y_var)):
            expected = central_difference(text, env, name)
            assert partial[j][i] == pytest.approx(expected, rel=1e-3, abs=1e-4)


def test_a_finer_grid_on_request() -> None:
    """81x81 points when asked for: the page could trade time for smoothness."""
    surface = grid(parse("z = x*y"), {}, "x", "y", x_range=(-1, 1), y_range=(0, 2), points=81)
    assert (len(surface.xs), len(surface.z), len(surface.z[0])) == (81, 81, 81)
    assert surface.xs[40] == 0.0  # the middle of a symmetric range is exactly 0


@pytest.mark.parametrize("points", [41, 81])
def test_one_forward_and_one_backward_fill_the_whole_grid(
    monkeypatch: pytest.MonkeyPatch, points: int
) -> None:
    """The grid is computed on tensors at once: the formula runs once, its gradient flows once."""
    calls = {"forward": 0, "backward": 0}
    real = explorer.surface.forward

    def counted(formula: object, tensors: object) -> object:
        calls["forward"] += 1
        out = real(formula, tensors)
        out.register_hook(lambda grad: calls.__setitem__("backward", calls["backward"] + 1))
        assert out.shape == (points, points)
        return out

    monkeypatch.setattr(explorer.surface, "forward", counted)
    text, values, *_ = CASES["neuron"]
    grid(parse(text), values, "w", "b", x_range=(-5, 5), y_range=(-5, 5), points=points)
    assert calls == {"forward": 1, "backward": 1}


def test_inf_and_nan_are_masked_and_counted() -> None:
    """log(x*y) is nan where x*y < 0 and -inf where it is 0: those points are None, and counted."""
    surface = grid(parse("z = log(x*y)"), {}, "x", "y", x_range=(-2, 2), y_range=(-1, 3))
    bad = {
        (i, j)
        for j, y in enumerate(surface.ys)
        for i, x in enumerate(surface.xs)
        if x * y <= 0  # in float32 no product of these grid values underflows to 0
    }
    holes = {(i, j) for j, row in enumerate(surface.z) for i, v in enumerate(row) if v is None}
    assert holes == bad
    assert surface.masked == len(bad) > 0
    # d/dx log(x*y) = 1/x: inf on the x = 0 column, and nan where x = y = 0 (0/0); finite elsewhere.
    grad_holes = {
        (i, j)
        for j in range(len(surface.ys))
        for i in range(len(surface.xs))
        if surface.dx[j][i] is None or surface.dy[j][i] is None
    }
    assert grad_holes == {(i, j) for i, j in bad if surface.xs[i] == 0 or surface.ys[j] == 0}
    assert surface.masked_grad == len(grad_holes)
    fig = surface_figure(surface, Point(1.0, 1.0, 0.0, 1.0, 1.0))
    assert sum(v is None for row in fig["data"][0]["z"] for v in row) == len(bad)
    said = f"z is inf or nan at {len(bad)} of {surface.size} grid points, left blank."
    assert said in surface_caption(surface, Point(1.0, 1.0, 0.0, 1.0, 1.0))
    assert said in contour_caption(surface, Point(1.0, 1.0, 0.0, 1.0, 1.0))


def test_the_figures_are_deterministic_plain_and_valid_plotly() -> None:
    """The same input gives equal JSON, from a grid computed afresh; plotly accepts both dicts."""
    figures = []
    for _ in range(2):
        surface, here, _ = build("neuron")
        figures.append(
            [surface_figure(surface, here, font_size=16), contour_figure(surface, here, height=500)]
        )
    assert json.dumps(figures[0]) == json.dumps(figures[1])
    for fig in figures[0]:
        assert go.Figure(fig).to_dict()["data"]  # raises on any key plotly does not know
        assert fig["layout"]["font"]["size"] in (14, 16)
    assert figures[0][1]["layout"]["height"] == 500


def test_without_gradients_there_is_no_plane_and_no_arrow_and_the_caption_says_why() -> None:
    """With requires_grad off for w, w.grad is None: nothing is drawn from it."""
    text, values, *_ = CASES["neuron"]
    ex = explore(text, values, {"w": False, "x": False, "t": False})
    surface = grid(parse(text), values, "w", "b", x_range=(-5, 5), y_range=(-5, 5))
    here = point(ex, "w", "b")
    names = [item["name"] for item in surface_figure(surface, here)["data"]]
    assert "tangent plane" not in names
    assert "the point" in names
    assert contour_figure(surface, here)["layout"]["annotations"] == []
    assert "No tangent plane: w.grad is None" in surface_caption(surface, here)
    assert contour_caption(surface, here).startswith("No arrow: w.grad is None")


def test_at_a_flat_point_the_plane_is_level_and_there_is_no_arrow() -> None:
    """At the saddle's centre the gradient is 0: a level plane, no uphill way to point to."""
    surface, here, _ = build("saddle", x=0.0, y=0.0)
    plane = trace(surface_figure(surface, here), "tangent plane")
    assert plane["z"] == [[0.0, 0.0], [0.0, 0.0]]
    assert contour_figure(surface, here)["layout"]["annotations"] == []
    assert "the gradient is 0 here" in contour_caption(surface, here)


def test_captions_say_the_plane_and_the_gradient_with_the_explorations_numbers() -> None:
    """The words carry the same grads as the transcript, signs written as a student would."""
    surface, here, _ = build("saddle", x=-1.0, y=2.0)
    assert surface_caption(surface, here) == (
        "The orange plane touches the surface at (-1, 2): z ≈ -3 − 2·(x + 1) − 4·(y − 2), "
        "its slopes x.grad and y.grad from backward()."
    )
    assert contour_caption(surface, here).startswith(
        "The green arrow is the gradient (x.grad, y.grad) = (-2, -4): the way z rises fastest"
    )


def test_ranges_of_similar_size_share_one_scale_so_right_angles_look_right() -> None:
    """Equal units on both axes unless one range is much longer than the other."""
    square, here, _ = build("saddle")
    assert contour_figure(square, here)["layout"]["yaxis"]["scaleanchor"] == "x"
    long = grid(parse("z = x**2 - y**2"), {}, "x", "y", x_range=(-2, 2), y_range=(-50, 50))
    assert "scaleanchor" not in contour_figure(long, here)["layout"]["yaxis"]


@pytest.mark.parametrize(
    ("text", "values", "pair", "message"),
    [
        ("z = x*y", {"x": 1.0, "y": 2.0}, ("x", "x"), "two different inputs"),
        ("z = x*y", {"x": 1, "y": 2.0}, ("x", "y"), "x is an integer tensor"),
        ("z = x*y", {"x": 1.0, "y": 2.0, "w": 1.0}, ("x", "w"), "z does not depend on w"),
        ("z = x*y*w", {"x": 1.0, "y": 2.0}, ("x", "y"), "No value for w"),
    ],
)
def test_a_pair_that_makes_no_surface_is_refused_in_words(
    text: str, values: dict, pair: tuple[str, str], message: str
) -> None:
    """Each impossible request is an InputError naming the problem, never a traceback."""
    with pytest.raises(InputError, match=message):
        grid(parse(text), values, *pair, x_range=(-1, 1), y_range=(-1, 1))


def test_an_empty_range_is_refused() -> None:
    """A range must go up: low < high, both finite."""
    with pytest.raises(InputError, match="range of y"):
        grid(parse("z = x*y"), {}, "x", "y", x_range=(-1, 1), y_range=(1, 1))


def test_a_program_is_computed_whole_as_its_inlined_formula() -> None:
    """Intermediate names run through evaluate.forward: the grid equals the one-line formula's."""
    program = grid(parse("h = x*y; z = h**2 + y"), {}, "x", "y", x_range=(-2, 2), y_range=(-1, 3))
    inline = grid(parse("z = (x*y)**2 + y"), {}, "x", "y", x_range=(-2, 2), y_range=(-1, 3))
    assert (program.z, program.dx, program.dy) == (inline.z, inline.dx, inline.dy)


def test_a_detached_intermediate_sends_no_gradient_on_the_grid_as_in_the_transcript() -> None:
    """detach(h) is a constant to backward, on the grid as at the point: dz/dx is y*h0 only."""
    text, values = "h = x*y; z = detach(h)*x + y", {"x": 1.0, "y": 2.0}
    surface = grid(parse(text), values, "x", "y", x_range=(-2, 2), y_range=(-2, 2))
    here = point(explore(text, values), "x", "y")
    i, j = surface.xs.index(1.0), surface.ys.index(2.0)
    assert (surface.dx[j][i], surface.dy[j][i]) == (here.dx, here.dy) == (2.0, 1.0)
