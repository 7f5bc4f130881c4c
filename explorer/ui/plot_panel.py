"""The plot panel: the output along one input, its tangent from autograd, and the scrubber."""

from __future__ import annotations

import math
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from explorer.core import Exploration
from explorer.errors import ExplorerError
from explorer.plot import figure, to_html
from explorer.ui import state
from explorer.ui.cache import Inputs, cached_curvature, plot_curve
from explorer.ui.layout import Sizes
from explorer.ui.panels import error_panel, plain

__all__ = ["plot_chart", "plot_download", "plot_panel", "plot_variable", "slope_caption"]

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


def plot_panel(ex: Exploration, inputs: Inputs, size: Sizes) -> dict[str, Any] | None:
    """Plot the output along one variable, with the tangent whose slope is that variable's grad.

    Returns the figure (for the download below the fold), or None when it cannot be drawn.
    """
    names = [name for name, *_ in inputs]
    fig = plot_chart(ex, inputs, size)
    variable = st.session_state["plot_var"]
    # Drawn below the chart: they are seldom changed, and the chart gets the height.
    row = st.container(horizontal=True, vertical_alignment="center", key="plot_controls")
    row.selectbox("Plot along", names, key="plot_var", width=110, label_visibility="collapsed")
    row.toggle(plain(f"Show d{ex.output}/d{variable}"), key="derivative")
    if _can_curve(inputs, variable, ex):
        row.toggle(plain(f"d2{ex.output}/d{variable}2"), key="second")
    row.caption(plain(slope_caption(ex, variable, ex.grads[variable])))
    if st.session_state.get("second") and _can_curve(inputs, variable, ex):
        st.caption(plain(_curvature_caption(ex, inputs, variable)))
    return fig


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
    """Draw the chart alone (``stretch``: as tall as its container); return its figure."""
    variable = plot_variable(ex, [name for name, *_ in inputs])
    fig = _figure(ex, inputs, variable, size)
    if fig is None:
        return None
    if stretch:
        del fig["layout"]["height"]
    st.plotly_chart(
        _Prebuilt(fig),
        theme=None,
        config=_CONFIG,
        key="plot_chart",
        height="stretch" if stretch else "content",
    )
    return fig


def _figure(ex: Exploration, inputs: Inputs, variable: str, size: Sizes) -> dict[str, Any] | None:
    """Return the plot's figure, or show why it cannot be drawn and return None."""
    settings = state.variable_settings(variable)
    grad = ex.grads[variable]
    try:
        second = bool(st.session_state.get("second")) and _can_curve(inputs, variable, ex)
        curve = plot_curve(ex, inputs, variable, settings["min"], settings["max"], second=second)
    except ExplorerError as error:
        error_panel(error, where="The plot cannot be drawn: ")
        return None
    return figure(
        curve,
        settings["value"],
        ex.value,
        grad,
        derivative=bool(st.session_state.get("derivative")),
        second=second,
        font_size=size.plot_font,
        height=size.plot_height,
    )


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
