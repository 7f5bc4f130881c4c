"""The pure pipeline, cached per server with bounded caches (never any tensors inside)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import streamlit as st

from explorer.chart import PAGE_NODES, chart_plan
from explorer.core import Exploration, explore
from explorer.dot import rankdir, to_dot
from explorer.formula import Formula, parse
from explorer.plot import Curve, grid, with_point

__all__ = [
    "Chart",
    "Inputs",
    "cached_chart",
    "cached_explore",
    "cached_grid",
    "cached_parse",
    "plot_curve",
]

_COLUMN = (420.0, 420.0)  # the graph column at 1280x720 (560 px), in points


@dataclass(frozen=True, slots=True)
class Chart:
    """The page's graph: its DOT, why it is not drawn (or ""), and a note on split inputs."""

    dot: str
    message: str
    note: str


# (name, dtype, value, requires_grad) in input order. The dtype is spelled out because 3 and 3.0
# hash alike in Python, yet they are different tensors.
Inputs = tuple[tuple[str, str, int | float, bool], ...]


# An exploration of a 200-operation formula pickles to about 110 kB: 256 entries stay near 30 MB.
@st.cache_data(max_entries=256, show_spinner=False)
def cached_explore(formula: str, inputs: Inputs) -> Exploration:
    """Run explore() on the inputs."""
    return explore(formula, {n: v for n, _, v, _ in inputs}, {n: g for n, _, _, g in inputs})


def plot_curve(ex: Exploration, inputs: Inputs, variable: str, low: float, high: float) -> Curve:
    """Return the plot's curve: the cached grid, plus the exploration's own point on it.

    The grid is cached without the plotted input's value, so moving that slider reuses it; the
    point added is the value and gradient the transcript prints.
    """
    value = next(v for n, _, v, _ in inputs if n == variable)
    # Any value of the right dtype stands in: the grid does not depend on it.
    key = tuple(
        (n, d, (0 if d == "int" else 0.0) if n == variable else v, g) for n, d, v, g in inputs
    )
    grad = ex.grads[variable]
    base = cached_grid(ex.formula.text, key, variable, low, high, differentiate=grad is not None)
    return with_point(base, value, ex.value, grad)


@st.cache_data(max_entries=256, show_spinner=False)
def cached_grid(
    formula: str, inputs: Inputs, variable: str, low: float, high: float, *, differentiate: bool
) -> Curve:
    """Compute the plot's grid over the slider range of ``variable``."""
    values = {n: v for n, _, v, _ in inputs}
    return grid(parse(formula, values), values, variable, low, high, differentiate=differentiate)


# A Formula is immutable, so one shared object per text is safe: no copy per rerun is needed.
@functools.lru_cache(maxsize=256)
def cached_parse(formula: str) -> Formula:
    """Parse the formula text (errors are raised, not cached)."""
    return parse(formula)


@st.cache_data(max_entries=256, show_spinner=False)
def cached_chart(formula: str, inputs: Inputs, *, font: int) -> Chart:
    """Return the page's DOT (no legend: the page draws one) and what the page should say of it.

    The direction is chosen for the graph's column, which is about as tall as it is wide; past
    PAGE_NODES boxes the browser would freeze, so the DOT is a message instead.
    """
    graph = cached_explore(formula, inputs).graph
    direction = rankdir(graph, page=_COLUMN)
    dot = to_dot(graph, legend=False, font_size=font, direction=direction, max_nodes=PAGE_NODES)
    plan = chart_plan(graph, PAGE_NODES)
    return Chart(dot, plan.message, plan.note)
