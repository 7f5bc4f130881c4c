"""The plot panel: the output along one input, its tangent from autograd, and the scrubber."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from explorer.core import Exploration
from explorer.errors import ExplorerError
from explorer.plot import figure, place, placement, to_html, with_point
from explorer.ui import state
from explorer.ui.cache import Inputs, cached_curvature, cached_grid, cached_staged
from explorer.ui.layout import Sizes
from explorer.ui.panels import error_panel, plain

__all__ = [
    "PLACE_SCRIPT",
    "Staged",
    "fill_staged",
    "plot_chart",
    "plot_download",
    "plot_panel",
    "plot_variable",
    "slope_caption",
    "staged_move",
]

# Zoom and selection tools are of no use here, and on a narrow plot they cover the legend.
_CONFIG = {
    "displaylogo": False,
    "modeBarButtonsToRemove": [
        "zoom2d",
        "pan2d",
        "select2d",
        "lasso2d",
        "zoomIn2d",
        "zoomOut2d",
        "autoScale2d",
    ],
}


class _Prebuilt(go.Figure):
    """A figure dict that plotly need not check again: st.plotly_chart only calls to_dict() on it.

    Given a dict, st.plotly_chart rebuilds it as a go.Figure to validate it, frames included:
    76 ms a rerun for the scrubber's 121 frames, against 2.5 ms this way (tests/test_app.py checks
    that the chart still receives exactly this dict).
    """

    def __init__(self, fig: dict[str, Any]) -> None:  # no super().__init__: no object tree
        self._plain = fig

    def to_dict(self) -> dict[str, Any]:
        """Return the figure as built by explorer.plot."""
        return self._plain


def plot_variable(ex: Exploration, names: list[str]) -> str:
    """Return the variable to plot along: the chosen one, else the first with a gradient."""
    if st.session_state.get("plot_var") not in names:
        with_grad = [name for name in names if ex.grads.get(name) is not None]
        st.session_state["plot_var"] = (with_grad or names)[0]
    return st.session_state["plot_var"]


@dataclass(frozen=True, slots=True)
class Staged:
    """A chart drawn for the plotted input's whole range, and where its point and slope go.

    The page's fragment (live.py) fills ``point_box`` and ``caption`` on every slider move of
    that input, so the chart itself is not sent again.
    """

    fig: dict[str, Any]
    move: dict[str, Any]  # the full run's point
    point_box: DeltaGenerator  # the hidden box whose script moves the point
    caption: DeltaGenerator  # the slope's caption


def plot_panel(
    ex: Exploration, inputs: Inputs, size: Sizes, *, stage: bool = False
) -> tuple[dict[str, Any] | None, Staged | None]:
    """Plot the output along one variable, with the tangent whose slope is that variable's grad.

    Returns the figure (for the download below the fold), or None when it cannot be drawn; and,
    with ``stage``, the staged chart whose point and caption the caller fills (None when the
    chart has its point drawn in).
    """
    names = [name for name, *_ in inputs]
    variable = plot_variable(ex, names)
    drawn = _figure(ex, inputs, variable, size)
    staged = point_box = placed = None
    if drawn is not None:
        fig, move = drawn
        _chart(fig)
        if move is not None and stage:
            point_box = st.container(key="plot_place")
        elif move is not None:
            _place(move)
        placed = fig if move is None else place(fig, move)
    # Drawn below the chart: they are seldom changed, and the chart gets the height.
    row = st.container(horizontal=True, vertical_alignment="center", key="plot_controls")
    row.selectbox("Plot along", names, key="plot_var", width=110, label_visibility="collapsed")
    row.toggle(plain(f"Show d{ex.output}/d{variable}"), key="derivative")
    if _can_curve(inputs, variable, ex):
        row.toggle(plain(f"d2{ex.output}/d{variable}2"), key="second")
    if point_box is not None:
        staged = Staged(*drawn, point_box, row.empty())
    else:
        row.caption(plain(slope_caption(ex, variable, ex.grads[variable])))
    if st.session_state.get("second") and _can_curve(inputs, variable, ex):
        st.caption(plain(_curvature_caption(ex, inputs, variable)))
    return placed, staged


def staged_move(
    ex: Exploration, inputs: Inputs, size: Sizes
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Return the staged figure and the move that shows this point on it, drawing nothing.

    None when the point needs a whole figure, or the curve cannot be computed.
    """
    variable = plot_variable(ex, [name for name, *_ in inputs])
    try:
        fig, move = _parts(ex, inputs, variable, size)
    except ExplorerError:
        return None
    return None if move is None else (fig, move)


def fill_staged(staged: Staged, ex: Exploration, move: dict[str, Any]) -> None:
    """Move the staged chart's point to ``move`` and say the new slope."""
    staged.point_box.html(_move_html(move), unsafe_allow_javascript=True)
    variable = st.session_state["plot_var"]
    staged.caption.caption(plain(slope_caption(ex, variable, ex.grads[variable])))


def _curvature_caption(ex: Exploration, inputs: Inputs, variable: str) -> str:
    """Say the point's curvature: f'' by autograd, and what its sign means for the curve."""
    name = f"d2{ex.output}/d{variable}2"
    try:
        value = cached_curvature(ex.formula.text, inputs, variable)
    except ExplorerError as error:
        return f"No {name} here: {error.message}"
    if value is None or not math.isfinite(value):
        return f"{name} is {value} here: the curvature is not defined at this point."
    bend = "bends up" if value > 0 else "bends down" if value < 0 else "is straight"
    return f"{name} = {value:.6g} here (autograd twice): the curve {bend} at this point."


def plot_chart(
    ex: Exploration, inputs: Inputs, size: Sizes, *, stretch: bool = False
) -> dict[str, Any] | None:
    """Draw the chart alone (``stretch``: as tall as its container); return its figure as shown.

    With a scrubber, the chart gets a figure that stays the same while the plotted input moves,
    and a small script moves the point in the browser (see ``_place``).
    """
    variable = plot_variable(ex, [name for name, *_ in inputs])
    drawn = _figure(ex, inputs, variable, size)
    if drawn is None:
        return None
    fig, move = drawn
    _chart(fig, stretch=stretch)
    if move is None:
        return fig
    _place(move)
    return place(fig, move)


def _chart(fig: dict[str, Any], *, stretch: bool = False) -> None:
    """Send the figure to the chart (``stretch``: as tall as its container)."""
    if stretch:  # a copy: the staged figure is shared by every session and never changed
        layout = {key: value for key, value in fig["layout"].items() if key != "height"}
        fig = {**fig, "layout": layout}
    st.plotly_chart(
        _Prebuilt(fig),
        theme=None,
        config=_CONFIG,
        key="plot_chart",
        height="stretch" if stretch else "content",
    )


def _figure(
    ex: Exploration, inputs: Inputs, variable: str, size: Sizes
) -> tuple[dict[str, Any], dict[str, Any] | None] | None:
    """Return the chart's figure and the move that shows the point on it (None: it is drawn in).

    Shows why the plot cannot be drawn and returns None when it cannot.
    """
    try:
        return _parts(ex, inputs, variable, size)
    except ExplorerError as error:
        error_panel(error, where="The plot cannot be drawn: ")
        return None


def _parts(
    ex: Exploration, inputs: Inputs, variable: str, size: Sizes
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Return the chart's figure and the move that shows the point on it (None: it is drawn in)."""
    settings = state.variable_settings(variable)
    grad = ex.grads[variable]
    second = bool(st.session_state.get("second")) and _can_curve(inputs, variable, ex)
    options = {
        "derivative": bool(st.session_state.get("derivative")),
        "second": second,
        "font_size": size.plot_font,
        "height": size.plot_height,
    }
    # The grid and the figure are cached without the plotted input's value: any value of its
    # dtype stands in.
    key = tuple(
        (n, d, (0 if d == "int" else 0.0) if n == variable else v, g) for n, d, v, g in inputs
    )
    along = (ex.formula.text, key, variable, settings["min"], settings["max"])
    base = cached_grid(*along, differentiate=grad is not None, second=second)
    curve = with_point(base, settings["value"], ex.value, grad)
    fig = cached_staged(*along, differentiate=grad is not None, **options)
    move = None if fig is None else placement(fig, curve, settings["value"], ex.value, grad)
    if move is None:  # no scrubber, or a point it cannot show: the whole figure, as before
        return figure(curve, settings["value"], ex.value, grad, **options), None
    return fig, move


# window.__explorerPlace(move, id) moves the chart's point to the page's own value without drawing
# the chart anew. It is sent once per full run with the page's frame (layout.apply); each move
# then sends only its numbers (_MOVE_HTML), ~0.5 kB instead of ~5. The chart is found by its key
# and checked by layout.meta (a new figure may still be drawing: wait for it); a newer move
# cancels an older one. Plotly's slider follows the named frame; the exact point and tangent
# follow when they differ from it, and the nearest step's label says the exact numbers until the
# next move. A chart still drawing its first plot, or drawn again by Streamlit, may undo a
# placement: after each of plotly's redraws the chart is checked and placed again if it shows
# anything else. Once it shows the move, its data-placed names the move, for screenshots
# (explorer/tutorial) and tests to wait on. The style hides a move's box, and its wrapper, which
# would otherwise still take a gap in the column.
PLACE_SCRIPT = """<style>
.st-key-plot_place, [data-testid="stLayoutWrapper"]:has(> .st-key-plot_place) { display: none; }
</style>
<script>
window.__explorerPlace = window.__explorerPlace || ((move, id) => {
  const x = move.x;
  const seq = (window.__explorerPlaceSeq = (window.__explorerPlaceSeq || 0) + 1);
  const current = () => seq === window.__explorerPlaceSeq;
  const now = {mode: "immediate", frame: {duration: 0, redraw: false}, transition: {duration: 0}};
  const label = (i) => `sliders[0].steps[${i}].label`;
  const chart = () => document.querySelector(".st-key-plot_chart .js-plotly-plot");
  let rounds = 20;  // after 5 quick tries fail, or an animation is cut short: 20 slower ones
  const ready = (gd) =>
    window.Plotly && gd && gd._fullLayout && gd.layout && gd.layout.meta === move.meta;
  const shows = (gd) => {
    const slider = gd.layout.sliders[0];
    const point = gd.data.find((trace) => trace.meta === "point");
    return slider.active === move.step && point && point.x[0] !== null
      && Math.abs(point.x[0] - x) <= 1e-9 * Math.max(1, Math.abs(x))
      && (move.label === null || slider.steps[move.step].label === move.label);
  };
  const retry = (gd) => {
    if (rounds-- > 0) setTimeout(() => current() && !shows(gd) && place(gd, 5), 500);
  };
  const place = (gd, tries) => {
    if (!current()) return;
    gd.__explorerBusy = true;
    delete gd.dataset.placed;
    // An animation cut short by a redraw may never settle its promise: after 3 s, try again.
    const mine = (gd.__explorerAttempt = (gd.__explorerAttempt || 0) + 1);
    setTimeout(() => {
      if (gd.__explorerAttempt !== mine || !gd.__explorerBusy) return;
      gd.__explorerBusy = false;
      retry(gd);
    }, 3000);
    const Plotly = window.Plotly;
    const steps = gd.layout.sliders[0].steps;
    const labels = gd.__explorerLabels || (gd.__explorerLabels = steps.map((s) => s.label));
    const update = {};
    const changed = gd.__explorerChanged;
    if (changed !== undefined) update[label(changed)] = labels[changed];
    if (move.label !== null) update[label(move.step)] = move.label;
    gd.__explorerChanged = move.label === null ? undefined : move.step;
    const relabel = Object.keys(update).length ? Plotly.relayout(gd, update) : Promise.resolve();
    relabel
      .then(() => Plotly.animate(gd, [move.frame], now))
      .then(() => move.data && Plotly.animate(gd, {data: move.data, traces: move.traces}, now))
      // Plotly's slider follows an animation by itself only once it has bound to the frames: a
      // move while the chart's first drawing is still going on (a busy machine) leaves it behind.
      .then(() => gd.layout.sliders[0].active === move.step
        || Plotly.relayout(gd, {"sliders[0].active": move.step}))
      .then(() => new Promise(requestAnimationFrame))
      .then(() => {
        gd.__explorerBusy = false;
        if (!current()) return;
        if (shows(gd)) gd.dataset.placed = id;
        else if (tries > 0) place(gd, tries - 1);
        else retry(gd);
      }, () => {
        gd.__explorerBusy = false;
        retry(gd);
      });
  };
  const attempt = (left) => {
    if (!current()) return;
    const gd = chart();
    if (!ready(gd)) {
      // Every 20 ms for 10 s, then every 250 ms up to 2 minutes: a loaded machine can take
      // longer than 10 s to load plotly and draw a first chart (seen in CI).
      if (left > 0) setTimeout(() => attempt(left - 1), left > 480 ? 20 : 250);
      return;
    }
    window.__explorerCheck = () => {
      const again = chart();
      if (current() && ready(again) && !again.__explorerBusy && !shows(again)) place(again, 5);
    };
    if (!gd.__explorerHooked) {
      gd.__explorerHooked = true;
      gd.on("plotly_afterplot", () => window.__explorerCheck());
    }
    place(gd, 5);
  };
  attempt(980);
});
</script>"""

# One move: a marker naming it, and a call of the function above once it has loaded. The call
# waits for the next frame: animating plotly's slider takes ~50 ms, and run at once it would hold
# back the transcript and the graph, which Streamlit draws in the same task.
_MOVE_HTML = """<i hidden data-move="%(id)s"></i>
<script>
requestAnimationFrame(() => setTimeout(function go(left) {
  if (window.__explorerPlace) window.__explorerPlace(%(move)s, "%(id)s");
  else if (left > 0) setTimeout(() => go(left - 1), 20);
}, 0, 500));
</script>"""


def _place(move: dict[str, Any]) -> None:
    """Send the move to the browser in a box that hides itself."""
    with st.container(key="plot_place"):
        st.html(_move_html(move), unsafe_allow_javascript=True)


def _move_html(move: dict[str, Any]) -> str:
    """Return the script that places ``move`` on the chart."""
    # JSON of numbers (inf is JavaScript's Infinity) and the formula's names; "<" is escaped anyway.
    payload = json.dumps(move, sort_keys=True).replace("<", "\\u003c")
    digest = hashlib.blake2b(payload.encode(), digest_size=8).hexdigest()
    return _MOVE_HTML % {"move": payload, "id": digest}


def _can_curve(inputs: Inputs, variable: str, ex: Exploration) -> bool:
    """Tell whether f'' can be drawn along ``variable``: a float input with a gradient."""
    dtype = next(d for n, d, *_ in inputs if n == variable)
    return dtype == "float" and ex.grads.get(variable) is not None


def slope_caption(ex: Exploration, variable: str, grad: float | None) -> str:
    """Say what the tangent shows, or why there is none."""
    if grad is not None and math.isfinite(grad):
        return f"The tangent's slope is {variable}.grad = {grad:.6g}, computed by backward()."
    item = next(item for item in ex.inputs if item.name == variable)
    if item.is_int:
        why = f"{variable} is an integer tensor, and integers cannot require grad"
    elif not item.requires_grad:
        why = f"{variable} has requires_grad off, so PyTorch does not track it"
    elif grad is None:
        why = f"no gradient reached {variable}"
    else:
        why = f"{variable}.grad is {grad} here"
    return f"No tangent: {why}."


def plot_download(fig: dict[str, Any]) -> None:
    """Offer the plot as a self-contained HTML page, built only when the button is pressed."""
    st.download_button(
        "Plot (HTML)",
        lambda: to_html(fig),
        "autograd-plot.html",
        "text/html",
        key="download_plot",
        on_click="ignore",
        icon=":material/download:",
    )
