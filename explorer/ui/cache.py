"""The pure pipeline, cached per server with bounded caches (never any tensors inside)."""

from __future__ import annotations

import functools

import streamlit as st

from explorer.core import Exploration, explore
from explorer.dot import rankdir, to_dot
from explorer.formula import Formula, parse
from explorer.plot import Curve, curve

__all__ = ["GRAPH_FONT", "Inputs", "cached_chart", "cached_curve", "cached_explore", "cached_parse"]

GRAPH_FONT = {False: 13, True: 18}  # points, normal and projector

# (name, dtype, value, requires_grad) in input order. The dtype is spelled out because 3 and 3.0
# hash alike in Python, yet they are different tensors.
Inputs = tuple[tuple[str, str, int | float, bool], ...]


# An exploration of a 200-operation formula pickles to about 110 kB: 256 entries stay near 30 MB.
@st.cache_data(max_entries=256, show_spinner=False)
def cached_explore(formula: str, inputs: Inputs) -> Exploration:
    """Run explore() on the inputs."""
    return explore(formula, {n: v for n, _, v, _ in inputs}, {n: g for n, _, _, g in inputs})


@st.cache_data(max_entries=256, show_spinner=False)
def cached_curve(
    formula: str, inputs: Inputs, variable: str, low: float, high: float, *, differentiate: bool
) -> Curve:
    """Compute the plot's curve over the slider range of ``variable``."""
    values = {n: v for n, _, v, _ in inputs}
    return curve(parse(formula, values), values, variable, low, high, differentiate=differentiate)


# A Formula is immutable, so one shared object per text is safe: no copy per rerun is needed.
@functools.lru_cache(maxsize=256)
def cached_parse(formula: str) -> Formula:
    """Parse the formula text (errors are raised, not cached)."""
    return parse(formula)


@st.cache_data(max_entries=256, show_spinner=False)
def cached_chart(formula: str, inputs: Inputs, *, projector: bool) -> tuple[str, str]:
    """Return the page's DOT (no legend: the page draws one) and its direction, LR or TB."""
    graph = cached_explore(formula, inputs).graph
    direction = rankdir(graph)
    dot = to_dot(graph, legend=False, font_size=GRAPH_FONT[projector], direction=direction)
    return dot, direction
