"""The two-input views: the surface with its tangent plane, or level lines with the gradient arrow.

The pair is ``plot_var`` (across) and ``plot_var2`` (up); the other inputs stay at their slider
values. The grid is cached by formula, pair and ranges, so moving the pair's sliders only moves
the point, the plane and the arrow, which come from the same backward as the transcript.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from explorer.core import Exploration
from explorer.errors import ExplorerError
from explorer.surface import contour_caption, contour_figure, point, surface_caption, surface_figure
from explorer.ui import state
from explorer.ui.cache import Inputs, surface_grid
from explorer.ui.layout import Sizes
from explorer.ui.panels import error_panel, plain

__all__ = ["MODES", "float_inputs", "mode_control", "surface_panel"]

MODES = {"curve": "Curve", "surface": "Surface", "contour": "Level lines"}
_CONFIG = {"displaylogo": False}


def float_inputs(inputs: Inputs) -> list[str]:
    """Return the float inputs: the ones a surface can run along."""
    return [name for name, dtype, *_ in inputs if dtype == "float"]


def mode_control(inputs: Inputs) -> str:
    """Draw the curve/surface/level-lines choice when two inputs are floats; return the mode."""
    if len(float_inputs(inputs)) < 2:
        return "curve"
    st.session_state.setdefault("plot_mode", "curve")
    st.segmented_control(
        "Plot as",
        list(MODES),
        key="plot_mode",
        required=True,
        format_func=MODES.get,
    )
    return st.session_state["plot_mode"]


def surface_panel(ex: Exploration, inputs: Inputs, size: Sizes, mode: str) -> dict[str, Any] | None:
    """Draw the surface or the level lines over two float inputs; return the figure."""
    names = float_inputs(inputs)
    x_var = st.session_state.get("plot_var")
    x_var = x_var if x_var in names else names[0]
    st.session_state["plot_var"] = x_var
    others = [name for name in names if name != x_var]
    if st.session_state.get("plot_var2") not in others:
        st.session_state["plot_var2"] = others[0]
    y_var = st.session_state["plot_var2"]
    ranges = tuple(
        (float(state.variable_settings(n)["min"]), float(state.variable_settings(n)["max"]))
        for n in (x_var, y_var)
    )
    try:
        grid = surface_grid(ex, inputs, (x_var, y_var), ranges)
    except ExplorerError as error:
        error_panel(error, where="The surface cannot be drawn: ")
        return None
    here = point(ex, x_var, y_var)
    draw, caption = (
        (surface_figure, surface_caption)
        if mode == "surface"
        else (contour_figure, contour_caption)
    )
    fig = draw(grid, here, font_size=size.plot_font, height=size.plot_height)
    st.plotly_chart(fig, theme=None, config=_CONFIG, key=f"plot_{mode}")
    row = st.container(horizontal=True, vertical_alignment="center", key="surface_controls")
    row.selectbox("across", names, key="plot_var", width=110)
    row.selectbox("up", others, key="plot_var2", width=110)
    st.caption(plain(caption(grid, here)))
    return fig
