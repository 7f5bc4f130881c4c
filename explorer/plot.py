"""Plot the function of one variable with plotly: the curve, the current point and its tangent.

The curve and the derivative come from PyTorch on many points at once (one vectorised backward);
the tangent's slope is the gradient the single exploration computed, never a separate estimate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import plotly.io

from explorer.evaluate import evaluate_many
from explorer.formula import Formula

__all__ = ["POINTS", "Curve", "curve", "figure", "to_html"]

POINTS = 241  # odd, so a symmetric range has its middle as a point; also caps integer points
CURVE_COLOR, TANGENT_COLOR, SLOPE_COLOR, POINT_COLOR = "#0072B2", "#D55E00", "#009E73", "#000000"


@dataclass(frozen=True, slots=True)
class Curve:
    """Values of the output along one variable; None marks inf/nan, which plotly leaves as a gap."""

    variable: str
    output: str
    xs: tuple[float, ...]
    ys: tuple[float | None, ...]
    slopes: tuple[float | None, ...] | None  # f'(x) by autograd; None when there is no gradient
    discrete: bool  # an integer variable: only whole numbers


def _finite(values: list[float]) -> tuple[float | None, ...]:
    return tuple(v if math.isfinite(v) else None for v in values)


def curve(
    formula: Formula,
    values: Mapping[str, int | float],
    variable: str,
    low: float,
    high: float,
    *,
    differentiate: bool = True,
) -> Curve:
    """Compute the output over [low, high] for ``variable``, the others held at their values."""
    discrete = isinstance(values[variable], int)
    if discrete:
        start, stop = math.ceil(low), math.floor(high)
        step = max(1, (stop - start) // (POINTS - 1))
        xs: list[float] = list(range(start, stop + 1, step))
    else:
        xs = [low + (high - low) * i / (POINTS - 1) for i in range(POINTS)]
    ys, slopes = evaluate_many(formula, values, variable, xs, differentiate=differentiate)
    return Curve(
        variable,
        formula.output,
        tuple(float(x) for x in xs),
        _finite(ys),
        None if slopes is None else _finite(slopes),
        discrete,
    )


def _y_range(curve: Curve, y0: float | None) -> list[float] | None:
    """Fit the y axis to the curve, so a steep tangent cannot squash it."""
    finite = [y for y in curve.ys if y is not None]
    if y0 is not None and math.isfinite(y0):
        finite.append(y0)
    if not finite:
        return None
    low, high = min(finite), max(finite)
    pad = (high - low) * 0.08 or max(abs(high), 1.0) * 0.5
    return [low - pad, high + pad]


def figure(
    curve: Curve,
    x0: float,
    y0: float,
    slope: float | None,
    *,
    derivative: bool = False,
    font_size: int = 14,
) -> dict[str, Any]:
    """Draw the curve, the point (x0, y0) and, when ``slope`` is finite, the tangent line.

    Returns a plain plotly figure dict: building ``go.Figure`` with a named template costs more
    than the rest of a rerun, and a dict is also plain data that caches and compares.
    """
    var, out = curve.variable, curve.output
    traces: list[dict[str, Any]] = [
        _scatter(curve.xs, curve.ys, f"{out}({var})", CURVE_COLOR, width=3, discrete=curve.discrete)
    ]
    if derivative and curve.slopes is not None:
        traces.append(
            _scatter(
                curve.xs,
                curve.slopes,
                f"d{out}/d{var} (autograd)",
                SLOPE_COLOR,
                width=2,
                dash="dash",
            )
        )
    if slope is not None and math.isfinite(slope) and math.isfinite(y0):
        ends = (curve.xs[0], curve.xs[-1])
        line = [y0 + slope * (x - x0) for x in ends]
        traces.append(
            _scatter(ends, line, f"tangent, slope {var}.grad = {slope:.4g}", TANGENT_COLOR, width=2)
        )
    if math.isfinite(y0):
        traces.append(
            {
                "type": "scatter",
                "x": [x0],
                "y": [y0],
                "mode": "markers",
                "name": f"{var} = {x0:g}, {out} = {y0:.4g}",
                "marker": {"color": POINT_COLOR, "size": 11},
            }
        )
    axis = {
        "gridcolor": "#E5E5E5",
        "zerolinecolor": "#BDBDBD",
        "linecolor": "#BDBDBD",
        "automargin": True,
    }
    layout = {
        "font": {"size": font_size, "family": "Helvetica, Arial, sans-serif"},
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "height": 440,
        "margin": {"l": 60, "r": 20, "t": 40, "b": 50},
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0},
        "xaxis": {**axis, "title": {"text": var}},
        "yaxis": {**axis, "title": {"text": out}, "range": _y_range(curve, y0)},
    }
    return {"data": traces, "layout": layout}


def _scatter(
    xs: Sequence[float],
    ys: Sequence[float | None],
    name: str,
    color: str,
    *,
    width: int,
    dash: str = "solid",
    discrete: bool = False,
) -> dict[str, Any]:
    return {
        "type": "scatter",
        "x": list(xs),
        "y": list(ys),
        "mode": "lines+markers" if discrete else "lines",
        "name": name,
        "line": {"color": color, "width": width, "dash": dash},
    }


def to_html(fig: dict[str, Any]) -> str:
    """Return a self-contained HTML page of the figure (plotly.js inlined, works offline)."""
    return plotly.io.to_html(fig, include_plotlyjs=True, full_html=True, div_id="autograd-plot")
