"""Plot the function of one variable with plotly: the curve, the current point and its tangent.

The curve and the derivative come from PyTorch on many points at once (one vectorised backward);
the tangent's slope is the gradient the single exploration computed, never a separate estimate.
The same backward feeds the scrubber: plotly frames at every third curve point, played by a slider
inside the figure, so dragging it moves the point, the tangent and the slope readout in the browser
at frame rate, with no round trip to the server.

A page can also keep one chart while the variable moves: ``staged`` draws the figure without a
current point (the same for every value), and ``placement`` says how to show a value on it (the
step to select and, between frames, the exact point). A changed figure is a new chart that plotly.js
draws from scratch, slider included: most of the browser's work after a slider move.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import plotly.io

from explorer.evaluate import evaluate_many
from explorer.formula import Formula
from explorer.higher import second_many

__all__ = [
    "FRAME_STRIDE",
    "POINTS",
    "Curve",
    "curve",
    "figure",
    "grid",
    "house_layout",
    "place",
    "placement",
    "readout",
    "staged",
    "to_html",
    "with_point",
]

# Odd, so a symmetric range has its middle as a point; also caps integer points. 300 intervals: the
# default slider (-5 to 5 by 0.1) lands on every third point, and [-0.1, 0.2] has 0 on the grid.
POINTS = 301
# Every third point is a frame: 101, the minimum, ~5 px apart on a 500 px slider. Each step
# of plotly's slider is drawn and measured in the browser whenever the chart is (every rerun).
FRAME_STRIDE = 3
CURVE_COLOR, TANGENT_COLOR, SLOPE_COLOR, POINT_COLOR = "#0072B2", "#D55E00", "#009E73", "#000000"
SECOND_COLOR = "#CC79A7"  # reddish purple, the next Okabe-Ito colour: f'' beside f'
GRID_COLOR, LINE_COLOR, TEXT_COLOR = "#E5E5E5", "#BDBDBD", "#262730"


@dataclass(frozen=True, slots=True)
class Curve:
    """Values of the output along one variable; None marks inf/nan, which plotly leaves as a gap."""

    variable: str
    output: str
    xs: tuple[float, ...]
    ys: tuple[float | None, ...]
    slopes: tuple[float | None, ...] | None  # f'(x) by autograd; None when there is no gradient
    discrete: bool  # an integer variable: only whole numbers
    here: int | None = None  # index of the variable's current value in xs, when it is in range
    y_holes: tuple[tuple[int, str], ...] = ()  # (index, "inf", "-inf" or "nan") where ys is None
    slope_holes: tuple[tuple[int, str], ...] = ()  # the same for slopes
    # (x, f''(x)) on the grid, by autograd with create_graph=True; kept apart from xs, which
    # with_point extends by the exploration's own point (whose f'' the page does not compute)
    curvature: tuple[tuple[float, float | None], ...] | None = None

    def hole(self, i: int, *, slope: bool = False) -> str:
        """Say what the value (or slope) at point i is when it is not finite: inf, -inf or nan."""
        return dict(self.slope_holes if slope else self.y_holes).get(i, "nan")


def _finite(values: Sequence[float | None]) -> tuple[float | None, ...]:
    return tuple(v if v is not None and math.isfinite(v) else None for v in values)


def _holes(values: Sequence[float]) -> tuple[tuple[int, str], ...]:
    return tuple((i, str(v)) for i, v in enumerate(values) if not math.isfinite(v))


def _grid(low: float, high: float) -> list[float]:
    """Return POINTS evenly spaced values from low to high."""
    xs = [low + (high - low) * i / (POINTS - 1) for i in range(POINTS)]
    # Rounding leaves 1.4e-17 where 0 was meant (on [-0.1, 0.2]): a student expects x = 0 there.
    return [0.0 if abs(x) <= 1e-9 * (high - low) else x for x in xs]


def curve(
    formula: Formula,
    values: Mapping[str, int | float],
    variable: str,
    low: float,
    high: float,
    *,
    differentiate: bool = True,
) -> Curve:
    """Compute the output over [low, high] for ``variable``, the others held at their values.

    The variable's own value is one of the points, so the scrubber can start exactly on it. The
    grid itself does not depend on that value (see ``grid`` and ``with_point``), which lets a
    front end cache it while that one input moves.
    """
    here = values[variable]
    base = grid(formula, values, variable, low, high, differentiate=differentiate)
    if not _needs_point(base, here):
        return with_point(base, here, math.nan, None)
    ys, slopes = evaluate_many(formula, values, variable, [here], differentiate=differentiate)
    return with_point(base, here, ys[0], None if slopes is None else slopes[0])


def _needs_point(base: Curve, x: float) -> bool:
    """Tell whether ``x`` must be added to ``base``: a float inside the range, not yet a point."""
    return not base.discrete and base.xs[0] <= x <= base.xs[-1] and x not in base.xs


def grid(
    formula: Formula,
    values: Mapping[str, int | float],
    variable: str,
    low: float,
    high: float,
    *,
    differentiate: bool = True,
    second: bool = False,
) -> Curve:
    """Compute the output on evenly spaced points of [low, high] (whole numbers for an int).

    With ``second`` (a float variable with a gradient), f'' comes from the same vectorised pass,
    differentiated twice (``higher.second_many``).
    """
    discrete = isinstance(values[variable], int)
    if discrete:
        start, stop = math.ceil(low), math.floor(high)
        step = max(1, (stop - start) // (POINTS - 1))
        xs: list[float] = list(range(start, stop + 1, step))
    else:
        xs = _grid(low, high)
    curvature = None
    if second and differentiate and not discrete:
        ys, slopes, seconds = second_many(formula, values, variable, xs)
        if seconds is not None:
            curvature = tuple(zip(map(float, xs), _finite(seconds), strict=True))
    else:
        ys, slopes = evaluate_many(formula, values, variable, xs, differentiate=differentiate)
    return Curve(
        variable,
        formula.output,
        tuple(float(x) for x in xs),
        _finite(ys),
        None if slopes is None else _finite(slopes),
        discrete,
        None,
        _holes(ys),
        _holes(slopes or []),
        curvature,
    )


def with_point(base: Curve, x: float, y: float, slope: float | None) -> Curve:
    """Return ``base`` with the point (x, y) and its slope added in order, marked as ``here``.

    Where x is already a point (or the grid holds whole numbers only, or x is outside it), only
    ``here`` is set. A front end passes the value and gradient of the exploration itself, so the
    scrubber starts on exactly the numbers the transcript prints.
    """
    if not _needs_point(base, x):  # already a point, an int grid, or outside the range
        return replace(base, here=base.xs.index(x) if x in base.xs else None)
    at = bisect.bisect(base.xs, x)

    def insert(items: tuple, item: object) -> tuple:
        return (*items[:at], item, *items[at:])

    def shift(holes: tuple[tuple[int, str], ...], value: float | None) -> tuple:
        moved = tuple((i + (i >= at), kind) for i, kind in holes)
        if value is not None and not math.isfinite(value):
            moved = tuple(sorted((*moved, (at, str(value)))))
        return moved

    return replace(
        base,
        xs=insert(base.xs, float(x)),
        ys=insert(base.ys, _finite([y])[0]),
        slopes=None if base.slopes is None else insert(base.slopes, _finite([slope])[0]),
        here=at,
        y_holes=shift(base.y_holes, y),
        slope_holes=shift(base.slope_holes, slope) if base.slopes is not None else (),
    )


def _y_range(curve: Curve, y0: float | None) -> list[float]:
    """Fit the y axis to the curve, so a steep tangent cannot squash it."""
    finite = [y for y in curve.ys if y is not None]
    if y0 is not None and math.isfinite(y0):
        finite.append(y0)
    if not finite:
        return [-1.0, 1.0]
    low, high = min(finite), max(finite)
    pad = (high - low) * 0.08 or max(abs(high), 1.0) * 0.5
    return [low - pad, high + pad]


def _x_range(curve: Curve, x0: float) -> list[float]:
    """Span the curve; fixed, so the frames never rescale the axes."""
    low, high = curve.xs[0], curve.xs[-1]
    return [low, high] if low < high else [x0 - 1.0, x0 + 1.0]


def figure(
    curve: Curve,
    x0: float,
    y0: float,
    slope: float | None,
    *,
    derivative: bool = False,
    second: bool = False,
    font_size: int = 14,
    height: int = 440,
    scrub: bool = True,
) -> dict[str, Any]:
    """Draw the curve, the point (x0, y0), its tangent when ``slope`` is finite, and a scrubber.

    The scrubber needs autograd slopes along a float variable. Returns a plain plotly figure dict:
    building ``go.Figure`` costs more than the rest of a rerun, and a dict is plain data that
    caches and compares.
    """
    stops = _stops(curve) if scrub else []
    x_range, y_range = _x_range(curve, x0), _y_range(curve, y0)
    roles = _roles(curve, y0, slope, stops)
    traces = [_line(curve.xs, curve.ys, f"{curve.output}({curve.variable})", CURVE_COLOR, 5)]
    if derivative and curve.slopes is not None:
        name = f"d{curve.output}/d{curve.variable}"
        traces.append(_line(curve.xs, curve.slopes, name, SLOPE_COLOR, 2, dash="dot"))
    if second and curve.curvature is not None:
        xs, seconds = zip(*curve.curvature, strict=True)
        name = f"d2{curve.output}/d{curve.variable}2"
        traces.append(_line(xs, seconds, name, SECOND_COLOR, 2, dash="dashdot"))
    if curve.discrete:
        traces[0]["mode"] = "lines+markers"
    stage = _Stage(curve, x_range, y_range[0])
    now = stage.moving(x0, _finite([y0])[0], slope, str(y0))
    first = len(traces)
    traces += [{**_style(role, curve), "meta": role, **now[role]} for role in roles]
    layout = _layout(curve, font_size, height, x_range, y_range)
    fig: dict[str, Any] = {"data": traces, "layout": layout}
    if stops:
        indices = list(range(first, len(traces)))
        fig["frames"] = [stage.frame(i, roles, indices) for i in stops]
        layout["sliders"] = [_slider(curve, stops, x0, font_size)]
    return fig


def staged(
    curve: Curve,
    *,
    derivative: bool = False,
    second: bool = False,
    font_size: int = 14,
    height: int = 440,
) -> dict[str, Any] | None:
    """Draw the curve and its scrubber with no current point: one figure for every value on it.

    ``curve`` is the grid alone (see ``grid``). A page sends this same figure while the variable
    moves and moves the point with ``placement``: the browser then keeps its chart, where a changed
    figure is a new chart that plotly.js draws from scratch, its 101-step slider included. Returns
    None when there is no scrubber. ``layout.meta`` names the figure, so a placement finds it.
    """
    base = replace(curve, here=None)
    if not _stops(base):
        return None
    y0 = base.ys[0] if base.ys[0] is not None else math.nan
    fig = figure(
        base,
        base.xs[0],
        y0,
        base.slopes[0],
        derivative=derivative,
        second=second,
        font_size=font_size,
        height=height,
    )
    for trace in fig["data"]:
        if "meta" in trace:  # the moving traces wait for a placement
            trace.update(
                {key: [None] * len(trace[key]) for key in ("x", "y", "text") if key in trace}
            )
    text = json.dumps(fig, sort_keys=True).encode()
    fig["layout"]["meta"] = hashlib.blake2b(text, digest_size=8).hexdigest()
    return fig


def placement(
    fig: dict[str, Any], curve: Curve, x0: float, y0: float, slope: float | None
) -> dict[str, Any] | None:
    """Say how to show (x0, y0) and its tangent on a ``staged`` figure: the step, the data, x0.

    ``curve`` is the grid with the point added (``with_point``): its readout is the label the
    slider shows. None when the figure cannot show the point: an inf/nan value needs its mark, a
    value outside the figure's y range needs a wider axis.
    """
    layout = fig["layout"]
    moving = fig["frames"][0]["traces"]
    roles = [fig["data"][i]["meta"] for i in moving]
    if not math.isfinite(y0) and "undefined" not in roles:
        return None
    low, high = layout["yaxis"]["range"]
    if math.isfinite(y0) and not low <= y0 <= high:
        # Between grid points the value can pass the curve's own span (near a pole or a spike):
        # the whole figure, whose axis is fitted to the point too, is needed.
        return None
    stage = _Stage(curve, layout["xaxis"]["range"], layout["yaxis"]["range"][0])
    now = stage.moving(x0, _finite([y0])[0], slope, str(y0))
    point = roles.index("point")
    xs = [frame["data"][point]["x"][0] for frame in fig["frames"]]
    step = min(range(len(xs)), key=lambda k: abs(xs[k] - x0))
    steps = layout["sliders"][0]["steps"]
    label = readout(curve, curve.here) if curve.here is not None else steps[step]["label"]
    data = [now[role] for role in roles]
    return {
        "meta": layout.get("meta"),
        "x": x0,  # where the point must end up, so the page can check what the chart shows
        "frame": steps[step]["args"][0][0],
        "step": step,
        "label": None if label == steps[step]["label"] else label,
        "traces": moving,
        # None: the step's own frame already shows this point (the usual case on the default grid).
        "data": None if _same(data, fig["frames"][step]["data"]) else data,
    }


def _same(data: list[dict[str, Any]], frame: list[dict[str, Any]]) -> bool:
    """Tell whether two sets of moving-trace data are equal but for float rounding."""

    def close(a: object, b: object) -> bool:
        if isinstance(a, float) and isinstance(b, float):
            return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
        return a == b

    return all(
        part.keys() == other.keys()
        and all(
            len(part[key]) == len(other[key])
            and all(close(a, b) for a, b in zip(part[key], other[key], strict=True))
            for key in part
        )
        for part, other in zip(data, frame, strict=True)
    )


def place(fig: dict[str, Any], move: dict[str, Any]) -> dict[str, Any]:
    """Return the figure as the browser shows it after ``move``: the page's own point and step."""
    data = list(fig["data"])
    step = fig["frames"][move["step"]]["data"]
    for i, part in zip(move["traces"], move["data"] or step, strict=True):
        data[i] = {**data[i], **part}
    slider = dict(fig["layout"]["sliders"][0], active=move["step"])
    if move["label"] is not None:
        slider["steps"] = list(slider["steps"])
        slider["steps"][move["step"]] = {**slider["steps"][move["step"]], "label": move["label"]}
    return {**fig, "data": data, "layout": {**fig["layout"], "sliders": [slider]}}


def _stops(curve: Curve) -> list[int]:
    """Pick the curve points the scrubber stops at: every third one, both ends and the current."""
    if curve.slopes is None or curve.discrete or len(curve.xs) < 2:
        return []  # no gradient, so no tangent to move; an integer tensor cannot have one
    last = len(curve.xs) - 1
    picked = {*range(0, last, FRAME_STRIDE), last}
    if curve.here is not None:
        picked.add(curve.here)
    return sorted(picked)


def _roles(curve: Curve, y0: float, slope: float | None, stops: list[int]) -> list[str]:
    """Return which moving traces the figure needs: a tangent and an inf/nan mark only if used."""
    roles = ["point"]
    if stops or (math.isfinite(y0) and slope is not None and math.isfinite(slope)):
        roles.insert(0, "tangent")
    if not math.isfinite(y0) or any(curve.ys[i] is None for i in stops):
        roles.append("undefined")
    return roles


@dataclass(frozen=True, slots=True)
class _Stage:
    """What the moving traces are drawn against: the curve and the fixed axis ranges."""

    curve: Curve
    x_range: list[float]
    floor: float  # the bottom of the y axis, where an inf/nan value is marked

    def moving(
        self, x: float, y: float | None, slope: float | None, word: str
    ) -> dict[str, dict[str, Any]]:
        """Return the data of each moving trace at x; arrays keep their length, None hides a point.

        A value that is inf/nan gets an x on the bottom of the plot, labelled with what it is.
        """
        tangent: list[float | None] = [None, None]
        if y is not None and slope is not None and math.isfinite(slope):
            tangent = [y + slope * (end - x) for end in self.x_range]
        undefined = y is None
        return {
            "tangent": {"x": list(self.x_range), "y": tangent},
            "point": {"x": [x], "y": [y]},
            "undefined": {
                "x": [x],
                "y": [self.floor if undefined else None],
                "text": [f"{self.curve.output} is {word} here" if undefined else ""],
            },
        }

    def frame(self, i: int, roles: list[str], traces: list[int]) -> dict[str, Any]:
        """Return the frame at curve point i: new data for the moving traces only, not the curve."""
        c = self.curve
        slope = c.slopes[i] if c.slopes is not None else None
        now = self.moving(c.xs[i], c.ys[i], slope, c.hole(i))
        return {"name": str(i), "data": [now[role] for role in roles], "traces": traces}


def readout(curve: Curve, i: int) -> str:
    """Say the value at curve point i and the autograd slope there, or why there is none."""
    var, out = curve.variable, curve.output
    where = f"{var} = {curve.xs[i]:.4g}"
    if curve.ys[i] is None:
        return f"{where}:  {out} is {curve.hole(i)} here, no tangent"
    slope = curve.slopes[i] if curve.slopes is not None else None
    if slope is None:
        return f"{where}:  the slope is {curve.hole(i, slope=True)} here"
    return f"{where}   slope d{out}/d{var} = {_number(slope)}"


def _number(value: float) -> str:
    """Write a value as PyTorch prints a float32 scalar: 4 decimals, scientific when far from 1."""
    if value == 0 or 1e-4 <= abs(value) < 1e8:
        return f"{value:.4f}"
    return f"{value:.4e}"


def _slider(curve: Curve, stops: list[int], x0: float, font_size: int) -> dict[str, Any]:
    """Build the in-figure slider: one step per frame, starting at the current value."""
    if curve.here in stops:
        active = stops.index(curve.here)
    else:
        active = min(range(len(stops)), key=lambda k: abs(curve.xs[stops[k]] - x0))
    # Duration 0 and no redraw: plotly just moves the three small traces, so a drag keeps up.
    animate = {"mode": "immediate", "frame": {"duration": 0, "redraw": False}}
    steps = [
        {
            "method": "animate",
            "label": readout(curve, i),
            "args": [[str(i)], {**animate, "transition": {"duration": 0}}],
        }
        for i in stops
    ]
    return {
        "active": active,
        "steps": steps,
        "x": 0,
        "len": 1,
        "xanchor": "left",
        "y": 0,
        "yanchor": "top",
        # Clear of the x axis tick labels and title below the plot: about 2.9 font sizes tall.
        "pad": {"t": round(font_size * 2.9), "b": 0, "l": 0, "r": 0},
        # The step labels are the readout: shown once above the rail, not under every tick.
        "currentvalue": {
            "visible": True,
            "xanchor": "left",
            "font": {"size": font_size, "color": TEXT_COLOR},
        },
        "font": {"size": 1, "color": "rgba(0,0,0,0)"},
        "ticklen": 0,
        "minorticklen": 0,
        "transition": {"duration": 0},
    }


def _style(role: str, curve: Curve) -> dict[str, Any]:
    """Return how a moving trace looks; the tangent is dashed and on top, so a line shows both."""
    var, out = curve.variable, curve.output
    if role == "tangent":
        return {
            "type": "scatter",
            "mode": "lines",
            "name": "tangent",
            "line": {"color": TANGENT_COLOR, "width": 2.5, "dash": "dash"},
            "hoverinfo": "skip",
        }
    if role == "point":
        return {
            "type": "scatter",
            "mode": "markers",
            "name": f"({var}, {out})",
            "marker": {"color": POINT_COLOR, "size": 11},
            "cliponaxis": False,
            "showlegend": False,  # the readout names the point; a short legend stays on one row
        }
    return {
        "type": "scatter",
        "mode": "markers+text",
        "name": f"{out} is inf or nan",
        "textposition": "top center",
        "marker": {"color": POINT_COLOR, "size": 14, "symbol": "x-thin", "line": {"width": 3}},
        "cliponaxis": False,
        "showlegend": False,
        "hoverinfo": "skip",
    }


def _layout(
    curve: Curve, font_size: int, height: int, x_range: list[float], y_range: list[float]
) -> dict[str, Any]:
    """Return the layout: the legend above the plot area, plain numbers on the axes."""
    axis = {
        "gridcolor": GRID_COLOR,
        "zerolinecolor": LINE_COLOR,
        "linecolor": LINE_COLOR,
        "automargin": True,
        # Never SI prefixes: 300µ reads as a unit to a student; 3x10^-4 and 0.003 do not.
        "exponentformat": "power",
        "showexponent": "all",
    }
    return {
        **house_layout(font_size, height),
        "xaxis": {**axis, "title": {"text": curve.variable, "standoff": 2}, "range": x_range},
        "yaxis": {**axis, "title": {"text": curve.output, "standoff": 6}, "range": y_range},
    }


def house_layout(font_size: int, height: int) -> dict[str, Any]:
    """Return the look every figure of the page shares: font, white paper, legend above."""
    return {
        # No template: plotly's default one costs a few ms per rerun and the figure sets its look.
        "template": {},
        "font": {"size": font_size, "family": "Helvetica, Arial, sans-serif", "color": TEXT_COLOR},
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "height": height,
        # Small fixed margins: plotly grows them to fit the legend, the tick labels and the slider.
        "margin": {"l": 8, "r": 16, "t": 8, "b": 8},
        "legend": {"orientation": "h", "x": 0, "xanchor": "left", "y": 1.02, "yanchor": "bottom"},
        "hoverlabel": {"font": {"size": font_size}},
    }


def _line(
    xs: Sequence[float],
    ys: Sequence[float | None],
    name: str,
    color: str,
    width: float,
    *,
    dash: str = "solid",
) -> dict[str, Any]:
    return {
        "type": "scatter",
        "x": list(xs),
        "y": list(ys),
        "mode": "lines",
        "name": name,
        "line": {"color": color, "width": width, "dash": dash},
    }


def to_html(fig: dict[str, Any]) -> str:
    """Return a self-contained HTML page of the figure (plotly.js inlined, works offline)."""
    return plotly.io.to_html(
        fig, include_plotlyjs=True, full_html=True, div_id="autograd-plot", auto_play=False
    )
