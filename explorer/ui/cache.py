"""The pure pipeline, cached per server with bounded caches (never any tensors inside)."""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from explorer import surface
from explorer.chart import PAGE_NODES, chart_plan
from explorer.check import CheckRow, check_explored
from explorer.core import Exploration, explore
from explorer.dot import rankdir, to_dot
from explorer.formula import Formula, parse
from explorer.higher import Hessian, Second, hessian_explored, second_explored, second_many
from explorer.plot import Curve, grid, staged
from explorer.steps import step_view
from explorer.trace import Trace, trace

__all__ = [
    "ONCE",
    "Backward",
    "Chart",
    "Inputs",
    "cached_chart",
    "cached_check",
    "cached_curvature",
    "cached_explore",
    "cached_grid",
    "cached_hessian",
    "cached_parse",
    "cached_second",
    "cached_staged",
    "cached_trace",
    "surface_grid",
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


# How backward runs: the intermediates to retain_grad(), backward() calls, retain_graph.
Backward = tuple[tuple[str, ...], int, bool]
ONCE: Backward = ((), 1, False)

_F = TypeVar("_F", bound=Callable[..., Any])


def _shared(maxsize: int) -> Callable[[_F], _F]:
    """Cache a function's frozen result per process, least recently used first out, no copies.

    st.cache_data pickles each result on a miss, unpickles a copy on every hit and hashes the
    arguments through inspect.signature: ~7 ms of a slider move's ~28 ms, for results that are
    frozen dataclasses of plain values nobody mutates. One shared object serves every session.
    The key is the arguments' repr, which tells 0.0 from -0.0 and 3 from 3.0 (Python's hash and
    == do not). Exceptions are not cached: a bad input is checked again on every run.
    """

    def wrap(func: _F) -> _F:
        entries: OrderedDict[str, Any] = OrderedDict()
        lock = threading.Lock()

        @functools.wraps(func)
        def cached(*args: Any, **kwargs: Any) -> Any:
            key = repr((args, sorted(kwargs.items())))
            with lock:
                if key in entries:
                    entries.move_to_end(key)
                    return entries[key]
            # Outside the lock: two sessions may compute the same result once each, never wait.
            value = func(*args, **kwargs)
            with lock:
                entries[key] = value
                if len(entries) > maxsize:
                    entries.popitem(last=False)
            return value

        return cached  # type: ignore[return-value]

    return wrap


# An exploration of a 200-operation formula, steps included, holds ~0.56 MB of Python objects
# (200 kB pickled): 128 entries stay under ~75 MB even if every one is that large; a seed
# example's is a few kB.
@_shared(128)
def cached_explore(formula: str, inputs: Inputs, backward: Backward = ONCE) -> Exploration:
    """Run explore() on the inputs, with backward run as asked."""
    retain, calls, retain_graph = backward
    return explore(
        formula,
        {n: v for n, _, v, _ in inputs},
        {n: g for n, _, _, g in inputs},
        retain=retain,
        backward_calls=calls,
        retain_graph=retain_graph,
    )


@_shared(256)
def cached_grid(
    formula: str,
    inputs: Inputs,
    variable: str,
    low: float,
    high: float,
    *,
    differentiate: bool,
    second: bool = False,
) -> Curve:
    """Compute the plot's grid over the slider range of ``variable`` (with f'' if ``second``)."""
    values = {n: v for n, _, v, _ in inputs}
    formula_ = parse(formula, values)
    return grid(formula_, values, variable, low, high, differentiate=differentiate, second=second)


# One figure per grid and look: ~200 kB of Python objects (46 kB as JSON), 64 stay near 13 MB.
# Shared by every session: the page copies it to change it (plot_panel.plot_chart, plot.place).
@_shared(64)
def cached_staged(
    formula: str,
    inputs: Inputs,
    variable: str,
    low: float,
    high: float,
    *,
    differentiate: bool,
    second: bool,
    derivative: bool,
    font_size: int,
    height: int,
) -> dict[str, Any] | None:
    """Return the plot's figure without its point, the same for every value of ``variable``."""
    base = cached_grid(
        formula, inputs, variable, low, high, differentiate=differentiate, second=second
    )
    return staged(base, derivative=derivative, second=second, font_size=font_size, height=height)


# A Formula is immutable, so one shared object per text is safe: no copy per rerun is needed.
@functools.lru_cache(maxsize=256)
def cached_parse(formula: str) -> Formula:
    """Parse the formula text (errors are raised, not cached)."""
    return parse(formula)


@_shared(256)
def cached_chart(
    formula: str,
    inputs: Inputs,
    backward: Backward = ONCE,
    *,
    font: int,
    shown: int | None = None,
) -> Chart:
    """Return the page's DOT (no legend: the page draws one) and what the page should say of it.

    The direction is chosen for the graph's column, which is about as tall as it is wide; past
    PAGE_NODES boxes the browser would freeze, so the DOT is a message instead. ``shown`` draws
    the graph after that many backward steps (None: all of them); the node where inf or nan
    first appeared is painted as a warning.
    """
    ex = cached_explore(formula, inputs, backward)
    graph = ex.graph
    marks: dict[str, str] = {}
    carried = None
    if shown is not None:
        marks, carried = step_view(graph, ex.steps, shown)
    if ex.warnings and (origin := cached_trace(formula, inputs).first) is not None:
        marks[origin.node] = "warning"
    direction = rankdir(graph, page=_COLUMN)
    dot = to_dot(
        graph,
        legend=False,
        font_size=font,
        direction=direction,
        max_nodes=PAGE_NODES,
        marks=marks or None,
        carried=carried,
    )
    plan = chart_plan(graph, PAGE_NODES)
    return Chart(dot, plan.message, plan.note)


@_shared(64)
def cached_surface(
    formula: str, inputs: Inputs, pair: tuple[str, str], ranges: tuple[tuple[float, float], ...]
) -> surface.Grid:
    """Compute the two-input grid: one vectorised forward and backward over the pair's ranges."""
    values = {n: v for n, _, v, _ in inputs}
    x_range, y_range = ranges
    return surface.grid(parse(formula, values), values, *pair, x_range=x_range, y_range=y_range)


def surface_grid(
    ex: Exploration, inputs: Inputs, pair: tuple[str, str], ranges: tuple[tuple[float, float], ...]
) -> surface.Grid:
    """Return the cached grid of the pair; like the curve, it does not depend on their values."""
    key = tuple((n, d, 0.0 if n in pair else v, g) for n, d, v, g in inputs)
    return cached_surface(ex.formula.text, key, pair, ranges)


# The views below start from fresh leaves and the first backward's graph, so how backward runs
# (retain_grad, more calls) does not change them: they are cached without it.


@_shared(128)
def cached_second(formula: str, inputs: Inputs, variable: str) -> Second:
    """Differentiate twice by ``variable`` (create_graph=True) at the exploration's point."""
    return second_explored(cached_explore(formula, inputs, ONCE), variable)


@_shared(128)
def cached_hessian(formula: str, inputs: Inputs) -> Hessian:
    """Return the Hessian over the inputs that require grad."""
    return hessian_explored(cached_explore(formula, inputs, ONCE))


@_shared(128)
def cached_check(formula: str, inputs: Inputs) -> tuple[CheckRow, ...]:
    """Check every gradient against the central difference.

    Always after one backward() call: after several, .grad holds their sum, not the slope.
    """
    return check_explored(cached_explore(formula, inputs, ONCE))


@_shared(128)
def cached_trace(formula: str, inputs: Inputs) -> Trace:
    """Find where inf or nan first appeared, and what detect_anomaly says."""
    return trace(cached_explore(formula, inputs, ONCE))


@_shared(256)
def cached_curvature(formula: str, inputs: Inputs, variable: str) -> float | None:
    """Return f'' at the point along ``variable`` (autograd twice), or None where there is none."""
    values = {n: v for n, _, v, _ in inputs}
    _, _, seconds = second_many(parse(formula, values), values, variable, [values[variable]])
    return None if seconds is None else seconds[0]
