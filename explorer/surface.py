"""Plot the output over two inputs: a surface with its tangent plane, level lines with the gradient.

One vectorised forward and backward over a grid of the pair gives the output and both partial
derivatives at every grid point at once (the formula is elementwise, so the gradient of the sum at
a grid point is that point's own gradient). The grid depends only on the formula, the pair, their
ranges and the other inputs' values, so a front end caches it while the pair's sliders move; the
figures are cheap plain dicts built from the grid and the current point. The tangent plane and the
arrow use the exploration's own gradient, the numbers the transcript prints:

    >>> from explorer.core import explore
    >>> point(explore("z = x**2 - y**2", {"x": 1.0, "y": 2.0}), "x", "y")
    Point(x=1.0, y=2.0, z=-3.0, dx=2.0, dy=-4.0)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from explorer.errors import ComputeError, InputError
from explorer.evaluate import ANOMALY_GATE, forward
from explorer.formula import Formula
from explorer.plot import (
    GRID_COLOR,
    LINE_COLOR,
    POINT_COLOR,
    SLOPE_COLOR,
    TANGENT_COLOR,
    TEXT_COLOR,
    house_layout,
)
from explorer.values import check_value

if TYPE_CHECKING:
    from explorer.core import Exploration

__all__ = [
    "ARROW",
    "POINTS",
    "Grid",
    "Point",
    "contour_caption",
    "contour_figure",
    "grid",
    "point",
    "surface_caption",
    "surface_figure",
]

POINTS = 41  # per axis, odd so a symmetric range has 0 as a point: 1681 points, ~1 ms of torch
ARROW = 0.2  # the arrow's length, a fraction of the shorter axis: it shows a direction, not a size
PLANE = 0.15  # the tangent plane's half-width, as a fraction of each range: local, as a tangent is
# The plot's palette (Okabe-Ito): vermillion tangent, green gradient (f' there), black point.
ARROW_COLOR = SLOPE_COLOR
# Light to dark blue: the arrow points towards the darker, higher ground.
LEVELS = [[0.0, "#F4F8FC"], [0.5, "#9CC3E4"], [1.0, "#2F6FAE"]]
SURFACE = [[0.0, "#D9E8F5"], [0.5, "#6AA7D8"], [1.0, "#0B4F8A"]]
EQUAL_SCALE = 4.0  # ranges within this ratio share one scale, so right angles look right

Rows = tuple[tuple[float | None, ...], ...]


@dataclass(frozen=True, slots=True)
class Grid:
    """The output and its two partial derivatives over a grid of two inputs; None marks inf/nan.

    Rows follow y and columns x, as plotly reads ``z``: ``z[j][i]`` is the output at (xs[i], ys[j]).
    """

    x_var: str
    y_var: str
    output: str
    xs: tuple[float, ...]
    ys: tuple[float, ...]
    z: Rows
    dx: Rows | None  # d output / d x_var by autograd; None when no gradient reaches the pair
    dy: Rows | None
    masked: int  # grid points where the output is inf or nan
    masked_grad: int  # grid points where a partial derivative is inf or nan

    @property
    def size(self) -> int:
        """Return the number of grid points."""
        return len(self.xs) * len(self.ys)


@dataclass(frozen=True, slots=True)
class Point:
    """The current point and the gradient there, as the exploration computed them."""

    x: float
    y: float
    z: float
    dx: float | None  # x.grad, None when it has none (requires_grad off, or detached)
    dy: float | None

    @property
    def has_plane(self) -> bool:
        """Tell whether the tangent plane can be drawn: a finite value and finite gradient."""
        return all(v is not None and math.isfinite(v) for v in (self.z, self.dx, self.dy))

    @property
    def direction(self) -> tuple[float, float] | None:
        """Return the unit gradient (steepest ascent), or None where it is 0 or not finite."""
        if not self.has_plane:
            return None
        length = math.hypot(self.dx, self.dy)
        if length == 0 or not math.isfinite(length):
            return None
        return self.dx / length, self.dy / length


def point(ex: Exploration, x_var: str, y_var: str) -> Point:
    """Return the exploration's point in the pair: the values, the output and both grads."""
    values = {item.name: item.value for item in ex.inputs}
    return Point(
        float(values[x_var]),
        float(values[y_var]),
        float(ex.value),
        ex.grads[x_var],
        ex.grads[y_var],
    )


def grid(
    formula: Formula,
    values: Mapping[str, int | float],
    x_var: str,
    y_var: str,
    *,
    x_range: tuple[float, float],
    y_range: tuple[float, float],
    points: int = POINTS,
) -> Grid:
    """Compute the output and both partials on a points x points grid of the pair's ranges.

    The other inputs stay at ``values``; the pair's own values there are not used, so a front end
    may cache the grid without them. One forward and one backward cover the whole grid.
    """
    _check_pair(formula, values, x_var, y_var)
    xs, ys = _axis(x_range, x_var, points), _axis(y_range, y_var, points)
    tensors = {
        name: torch.tensor(check_value(name, value))
        for name, value in values.items()
        if name not in (x_var, y_var)
    }
    rows, columns = torch.meshgrid(torch.tensor(ys), torch.tensor(xs), indexing="ij")
    x, y = columns.clone().requires_grad_(), rows.clone().requires_grad_()
    out = torch.broadcast_to(forward(formula, {**tensors, x_var: x, y_var: y}), x.shape)
    dx, dy = _partials(out, x, y)
    z = out.detach()
    grads = None if dx is None or dy is None else (_rows(dx), _rows(dy))
    return Grid(
        x_var,
        y_var,
        formula.output,
        tuple(xs),
        tuple(ys),
        _rows(z),
        *(grads or (None, None)),
        masked=_bad(z),
        masked_grad=0 if grads is None else _bad(dx, dy),
    )


def _check_pair(
    formula: Formula, values: Mapping[str, int | float], x_var: str, y_var: str
) -> None:
    """Refuse a pair that cannot make a surface: the same input twice, an int, or not an input."""
    if x_var == y_var:
        raise InputError(f"A surface needs two different inputs, not {x_var} twice.")
    for name in (x_var, y_var):
        if name not in formula.variables:
            raise InputError(f"{formula.output} does not depend on {name}; pick two of its inputs.")
        if isinstance(values.get(name), int):
            raise InputError(
                f"{name} is an integer tensor, so it has no surface: pick two float inputs.",
                hint=f"Write {name} = {values[name]}.0 to make it a float tensor.",
            )
    if missing := [
        name for name in formula.variables if name not in values and name not in (x_var, y_var)
    ]:
        raise InputError(f"No value for {', '.join(missing)}.")


def _axis(span: tuple[float, float], name: str, points: int) -> list[float]:
    """Return ``points`` evenly spaced values of the range, with 0 exactly where it is meant."""
    low, high = span
    if points < 2:
        raise InputError(f"A grid needs at least 2 points along {name}, not {points}.")
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise InputError(f"The range of {name} must go from a smaller to a larger number.")
    values = [low + (high - low) * i / (points - 1) for i in range(points)]
    return [0.0 if abs(v) <= 1e-9 * (high - low) else v for v in values]


def _partials(
    out: torch.Tensor, x: torch.Tensor, y: torch.Tensor
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Return d out/dx and d out/dy at every grid point from one backward of the sum."""
    if not out.requires_grad:  # detached from both inputs: no gradient, as in the transcript
        return None, None
    try:
        with ANOMALY_GATE.backward():  # not while another session's anomaly run is on
            dx, dy = torch.autograd.grad(out.sum(), (x, y), allow_unused=True)
    except RuntimeError as error:
        raise ComputeError(f"PyTorch's backward() failed on the grid: {error}") from None
    # A path to one input only: the other's gradient is 0 everywhere, which PyTorch leaves unsaid.
    if dx is None and dy is None:
        return None, None
    return (torch.zeros_like(x) if dx is None else dx), (torch.zeros_like(y) if dy is None else dy)


def _bad(*tensors: torch.Tensor) -> int:
    """Count the points where any of the tensors is inf or nan."""
    finite = torch.stack([torch.isfinite(t) for t in tensors]).all(dim=0)
    return int((~finite).sum().item())


def _rows(values: torch.Tensor) -> Rows:
    """Return a 2-D tensor as rows of floats, with None for inf and nan (plotly leaves a gap)."""
    rows = values.double().tolist()
    return tuple(tuple(v if math.isfinite(v) else None for v in row) for row in rows)


def surface_figure(
    grid: Grid, here: Point, *, font_size: int = 14, height: int = 440
) -> dict[str, Any]:
    """Draw the surface, the tangent plane at the point and the point, as a plain plotly dict.

    The plane is z0 + dx*(x - x0) + dy*(y - y0) over a patch around the point, with the gradient
    the exploration computed; without a finite value and gradient there it is left out.
    """
    traces: list[dict[str, Any]] = [
        {
            "type": "surface",
            "x": list(grid.xs),
            "y": list(grid.ys),
            "z": [list(row) for row in grid.z],
            "name": f"{grid.output}({grid.x_var}, {grid.y_var})",
            "colorscale": SURFACE,
            # See-through: under a bowl the tangent plane lies below the surface everywhere.
            "opacity": 0.8,
            "showscale": False,
            "showlegend": True,
            "hovertemplate": _hover(grid),
        }
    ]
    if here.has_plane:
        traces += _plane(grid, here)
    if math.isfinite(here.z):
        traces.append(
            {
                "type": "scatter3d",
                "mode": "markers",
                "x": [here.x],
                "y": [here.y],
                "z": [here.z],
                "name": "the point",
                "marker": {"color": POINT_COLOR, "size": 6, "line": {"color": "white", "width": 2}},
                "showlegend": False,
            }
        )
    return {"data": traces, "layout": _scene_layout(grid, here, font_size, height)}


def _hover(grid: Grid) -> str:
    return (
        f"{grid.x_var} = %{{x:.4g}}<br>{grid.y_var} = %{{y:.4g}}<br>"
        f"{grid.output} = %{{z:.4g}}<extra></extra>"
    )


def _plane(grid: Grid, here: Point) -> list[dict[str, Any]]:
    """Return the tangent plane over a patch around the point, and its edge.

    The edge keeps the plane visible where it lies on a flat surface (both are drawn at one depth).
    """
    xs, ys = _patch(grid.xs, here.x), _patch(grid.ys, here.y)
    z = [[_on_plane(here, x, y) for x in xs] for y in ys]
    corners = [(xs[0], ys[0]), (xs[1], ys[0]), (xs[1], ys[1]), (xs[0], ys[1]), (xs[0], ys[0])]
    plane = {
        "type": "surface",
        "x": xs,
        "y": ys,
        "z": z,
        "name": "tangent plane",
        "colorscale": [[0.0, TANGENT_COLOR], [1.0, TANGENT_COLOR]],
        "opacity": 1.0,
        "showscale": False,
        "showlegend": True,
        "hoverinfo": "skip",
    }
    edge = {
        "type": "scatter3d",
        "mode": "lines",
        "x": [x for x, _ in corners],
        "y": [y for _, y in corners],
        "z": [_on_plane(here, x, y) for x, y in corners],
        "name": "tangent plane's edge",
        "line": {"color": TANGENT_COLOR, "width": 4},
        "showlegend": False,
        "hoverinfo": "skip",
    }
    return [plane, edge]


def _on_plane(here: Point, x: float, y: float) -> float:
    """Return the tangent plane's height z0 + dx*(x - x0) + dy*(y - y0) at (x, y)."""
    return here.z + here.dx * (x - here.x) + here.dy * (y - here.y)


def _patch(axis: Sequence[float], centre: float) -> list[float]:
    """Return the two ends of a patch around ``centre``: PLANE of the range either side."""
    half = (axis[-1] - axis[0]) * PLANE
    return [centre - half, centre + half]


def _z_range(grid: Grid, z0: float) -> list[float]:
    """Fit the z axis to the surface, so a steep plane is cut off rather than squash it."""
    finite = [v for row in grid.z for v in row if v is not None]
    if math.isfinite(z0):
        finite.append(z0)
    if not finite:
        return [-1.0, 1.0]
    low, high = min(finite), max(finite)
    pad = (high - low) * 0.05 or max(abs(high), 1.0) * 0.5
    return [low - pad, high + pad]


def _axis_style(title: str, span: list[float]) -> dict[str, Any]:
    return {
        "title": {"text": title},
        "range": span,
        "nticks": 6,  # fewer ticks: in 3-D the labels of a foreshortened axis run together
        "gridcolor": GRID_COLOR,
        "zerolinecolor": LINE_COLOR,
        "linecolor": LINE_COLOR,
        # Never SI prefixes: 300µ reads as a unit to a student; 3x10^-4 and 0.003 do not.
        "exponentformat": "power",
        "showexponent": "all",
    }


def _base_layout(grid: Grid, font_size: int, height: int) -> dict[str, Any]:
    """Return what both figures share: the house font, white paper, the legend above the plot."""
    return {
        **house_layout(font_size, height),
        # The camera (or zoom) a student chose stays while sliders move, until the pair changes.
        "uirevision": f"{grid.x_var} {grid.y_var}",
    }


def _scene_layout(grid: Grid, here: Point, font_size: int, height: int) -> dict[str, Any]:
    layout = _base_layout(grid, font_size, height)
    layout["margin"] = {"l": 0, "r": 0, "t": 8, "b": 0}
    layout["scene"] = {
        "xaxis": _axis_style(grid.x_var, [grid.xs[0], grid.xs[-1]]),
        "yaxis": _axis_style(grid.y_var, [grid.ys[0], grid.ys[-1]]),
        "zaxis": _axis_style(grid.output, _z_range(grid, here.z)),
        "aspectmode": "manual",
        "aspectratio": {"x": 1, "y": 1, "z": 0.7},
        "camera": {"eye": {"x": -1.5, "y": -1.5, "z": 1.3}},
    }
    return layout


def contour_figure(
    grid: Grid, here: Point, *, font_size: int = 14, height: int = 440
) -> dict[str, Any]:
    """Draw the level lines, the point, the gradient arrow and the level line's direction there.

    The arrow has a fixed length (it shows a direction): it points along the gradient, uphill the
    fastest, and crosses the level line through the point at a right angle. The two axes share
    one scale unless their ranges differ a lot, so that right angle looks like one.
    """
    traces: list[dict[str, Any]] = [
        {
            "type": "contour",
            "x": list(grid.xs),
            "y": list(grid.ys),
            "z": [list(row) for row in grid.z],
            "name": f"level lines of {grid.output} (darker is higher)",
            "colorscale": LEVELS,
            "showscale": False,
            "showlegend": True,
            "ncontours": 16,
            "contours": {"showlabels": True, "labelfont": {"size": max(font_size - 3, 9)}},
            "line": {"width": 1, "color": "rgba(38,39,48,0.35)"},
            "hovertemplate": _hover(grid),
        }
    ]
    layout = _base_layout(grid, font_size, height)
    x_range, y_range = [grid.xs[0], grid.xs[-1]], [grid.ys[0], grid.ys[-1]]
    layout["xaxis"] = {**_axis_style(grid.x_var, x_range), "automargin": True}
    layout["yaxis"] = {**_axis_style(grid.y_var, y_range), "automargin": True}
    spans = (x_range[1] - x_range[0], y_range[1] - y_range[0])
    if max(spans) <= EQUAL_SCALE * min(spans):
        layout["yaxis"] |= {"scaleanchor": "x", "scaleratio": 1}
        layout["xaxis"]["constrain"] = layout["yaxis"]["constrain"] = "domain"
    layout["annotations"] = []
    if (unit := here.direction) is not None:
        length = ARROW * min(spans)
        traces += _arrow(here, unit, length)
        layout["annotations"].append(_arrowhead(here, unit, length))
    if math.isfinite(here.z):
        traces.append(
            {
                "type": "scatter",
                "mode": "markers",
                "x": [here.x],
                "y": [here.y],
                "name": "the point",
                "marker": {"color": POINT_COLOR, "size": 9},
                "cliponaxis": False,
                "showlegend": False,
            }
        )
    return {"data": traces, "layout": layout}


def _arrow(here: Point, unit: tuple[float, float], length: float) -> list[dict[str, Any]]:
    """Return the arrow's shaft and the level line's direction through the point, as traces."""
    ux, uy = unit
    return [
        {
            "type": "scatter",
            "mode": "lines",
            "x": [here.x - uy * length, here.x + uy * length],
            "y": [here.y + ux * length, here.y - ux * length],
            "name": "level line here (no change)",
            "line": {"color": TEXT_COLOR, "width": 2, "dash": "dash"},
            "hoverinfo": "skip",
        },
        {
            "type": "scatter",
            "mode": "lines",
            "x": [here.x, here.x + ux * length],
            "y": [here.y, here.y + uy * length],
            "name": "gradient: steepest uphill",
            "line": {"color": ARROW_COLOR, "width": 3},
            "hoverinfo": "skip",
        },
    ]


def _arrowhead(here: Point, unit: tuple[float, float], length: float) -> dict[str, Any]:
    """Return the arrow as an annotation from the point to the tip, in data coordinates."""
    return {
        "x": here.x + unit[0] * length,
        "y": here.y + unit[1] * length,
        "ax": here.x,
        "ay": here.y,
        "xref": "x",
        "yref": "y",
        "axref": "x",
        "ayref": "y",
        "text": "",
        "showarrow": True,
        "arrowhead": 2,
        "arrowsize": 1.2,
        "arrowwidth": 3,
        "arrowcolor": ARROW_COLOR,
    }


def surface_caption(grid: Grid, here: Point) -> str:
    """Say in words what the surface shows: the plane's equation with its slopes, or why none."""
    if here.has_plane:
        said = (
            f"The orange plane touches the surface at ({_n(here.x)}, {_n(here.y)}): "
            f"{grid.output} ≈ {_n(here.z)} {_term(here.dx, grid.x_var, here.x)} "
            f"{_term(here.dy, grid.y_var, here.y)}, its slopes {grid.x_var}.grad and "
            f"{grid.y_var}.grad from backward()."
        )
    else:
        said = f"No tangent plane: {_why_not(grid, here)}."
    return _with_masked(said, grid)


def contour_caption(grid: Grid, here: Point) -> str:
    """Say in words what the arrow shows, or why there is none."""
    if here.direction is not None:
        said = (
            f"The green arrow is the gradient ({grid.x_var}.grad, {grid.y_var}.grad) = "
            f"({_n(here.dx)}, {_n(here.dy)}): the way {grid.output} rises fastest, at a right "
            "angle to the level line through the point, where it does not change at all."
        )
    elif here.has_plane:
        said = (
            f"No arrow: the gradient is 0 here, so no way is uphill: a bottom, a top or a saddle "
            f"of {grid.output}."
        )
    else:
        said = f"No arrow: {_why_not(grid, here)}."
    return _with_masked(said, grid)


def _why_not(grid: Grid, here: Point) -> str:
    if not math.isfinite(here.z):
        return f"{grid.output} is {here.z} here"
    for name, grad in ((grid.x_var, here.dx), (grid.y_var, here.dy)):
        if grad is None:
            return f"{name}.grad is None (it does not require grad, or no gradient reached it)"
        if not math.isfinite(grad):
            return f"{name}.grad is {grad} here"
    return "there is no gradient here"


def _with_masked(said: str, grid: Grid) -> str:
    """Add how many grid points are left blank because the output is inf or nan there."""
    if not grid.masked:
        return said
    return (
        f"{said} {grid.output} is inf or nan at {grid.masked} of {grid.size} grid points, "
        "left blank."
    )


def _term(slope: float, name: str, at: float) -> str:
    """Write one term of the plane with its sign, a minus sign as a student writes it (U+2212)."""
    sign = "−" if slope < 0 else "+"
    shift = name if at == 0 else f"({name} {'−' if at > 0 else '+'} {_n(abs(at))})"
    return f"{sign} {_n(abs(slope))}·{shift}"


def _n(value: float) -> str:
    """Write a number short: four significant digits, as a plot label."""
    return f"{value:.4g}"
