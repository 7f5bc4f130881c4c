"""The Streamlit page: formula, presets and sliders in; transcript, graph, plot and code out.

This package is the only place that imports streamlit besides app.py. The pipeline runs through
the bounded caches in cache.py (explore(), the plot's curve, the chart's DOT); state and the URL
live in state.py; panels.py draws.
"""

from __future__ import annotations

import math

import streamlit as st

from explorer.core import Exploration
from explorer.errors import ExplorerError
from explorer.formula import MAX_CHARS
from explorer.plot import figure, to_html
from explorer.presets import PRESETS, by_label
from explorer.ui import state
from explorer.ui.cache import Inputs, cached_chart, cached_curve, cached_explore, cached_parse
from explorer.ui.panels import (
    code_panel,
    error_panel,
    graph_panel,
    notes_panel,
    plain,
    transcript_panel,
)
from explorer.values import MAX_MAGNITUDE

__all__ = ["main"]

# Streamlit sizes its text in rem, so the root font size scales the whole page for a projector.
_CSS = """
<style>
html { font-size: %(root)s; }
[data-testid="stCode"] code { font-size: %(code)s !important; line-height: 1.45 !important; }
</style>
"""


def main() -> None:
    """Draw the whole page for one run."""
    state.init_state()
    projector = bool(st.session_state.get("projector", False))
    sizes = {"root": "20px", "code": "1.3rem"} if projector else {"root": "16px", "code": "0.98rem"}
    st.html(_CSS % sizes)
    top = st.container()
    for message in st.session_state.get("_url_errors", []):
        st.warning(plain(f"In the link: {message}"), icon=":material/link_off:")
    text = st.session_state.get("formula", "")
    try:
        formula = cached_parse(text)
    except ExplorerError as error:
        with top:
            _header()
        error_panel(error)
        return
    names = state.input_order(formula.variables)
    inputs = state.current_inputs(names)
    left, right = st.columns([1, 1.35], gap="large")
    # The transcript is computed and sent before the sliders are drawn: the browser shows it as
    # soon as it arrives, which is what a person watching a slider move is waiting for.
    ex: Exploration | None = None
    with right:
        try:
            ex = cached_explore(text, inputs)
        except ExplorerError as error:
            error_panel(error)
        else:
            transcript_panel(ex)
            notes_panel(ex)
    with top:
        _header()
    with left:
        _controls(names)
    if ex is None:
        return
    _graph_plot_and_code(ex, inputs, projector=projector)
    extras = {"plot_var": st.session_state["plot_var"]}
    if projector:
        extras["projector"] = "true"
    state.sync_url(text, names, extras)


def _graph_plot_and_code(ex: Exploration, inputs: Inputs, *, projector: bool) -> None:
    """Lay out the graph, the plot and the code around the graph's shape."""
    dot, direction = cached_chart(ex.formula.text, inputs, projector=projector)
    if direction == "TB":
        # A tall graph leaves room beside it: the plot goes there, the code below.
        graph_column, plot_column = st.columns(2, gap="large")
        with graph_column:
            graph_panel(ex, dot)
        with plot_column:
            _plot_panel(ex, inputs, projector=projector)
        code_panel(ex)
        return
    graph_panel(ex, dot)
    plot_column, code_column = st.columns([1.35, 1], gap="large")
    with plot_column:
        _plot_panel(ex, inputs, projector=projector)
    with code_column:
        code_panel(ex)


def _header() -> None:
    """Draw the title, the formula box, the preset picker and the projector switch."""
    st.title("Autograd Explorer", anchor=False)
    st.caption("Type a formula, move the sliders, and watch PyTorch compute the gradients.")
    st.session_state.setdefault("preset", None)
    formula_column, preset_column, projector_column = st.columns(
        [3, 2, 1], vertical_alignment="bottom"
    )
    formula_column.text_input(
        "Formula",
        key="formula",
        live=True,
        on_change=state.on_formula,
        placeholder="y = w*x + b",
        help=(
            "Numbers, variables, + - * / **, ( ), pi, e and functions such as sin(x), exp(x), "
            f"sigmoid(x), relu(x). At most {MAX_CHARS} characters."
        ),
    )
    preset_column.selectbox(
        "Examples",
        [preset.label for preset in PRESETS],
        key="preset",
        placeholder="Pick an example",
        on_change=state.apply_preset,
    )
    projector_column.toggle("Projector", key="projector", help="Larger graph and text for a class")
    preset = by_label(st.session_state.get("preset") or "")
    if preset is not None and preset.formula == st.session_state.get("formula"):
        st.info(plain(f"What to notice: {preset.notice}"), icon=":material/visibility:")


def _controls(names: list[str]) -> None:
    """Draw a slider, a requires_grad switch and an int/float choice per variable."""
    st.subheader("Inputs", anchor=False)
    for name in names:
        settings = state.variable_settings(name)
        is_int = settings["dtype"] == "int"
        with st.container(border=True, key=f"input_{name}"):
            slider_column, switch_column = st.columns([3, 2], vertical_alignment="center")
            slider_column.slider(
                plain(name),
                min_value=settings["min"],
                max_value=settings["max"],
                step=settings["step"],
                key=f"value_{name}",
                on_change=state.remember,
                args=(name,),
            )
            switch_column.toggle(
                "requires_grad",
                key=f"grad_{name}",
                on_change=state.remember,
                args=(name,),
                disabled=is_int,
                help="Integer tensors cannot require gradients." if is_int else None,
            )
            switch_column.segmented_control(
                "dtype",
                ["float", "int"],
                key=f"dtype_{name}",
                required=True,
                on_change=state.on_dtype,
                args=(name,),
                label_visibility="collapsed",
            )
            with st.expander(plain(f"Range of {name}")):
                _range_inputs(name, is_int)


def _range_inputs(name: str, is_int: bool) -> None:
    step = state.default_step(is_int=is_int)
    limit = int(MAX_MAGNITUDE) if is_int else MAX_MAGNITUDE
    bounds = {"min": -limit, "max": limit, "step": 1 if is_int else 1e-6}
    columns = st.columns(3)
    for column, field, label in zip(
        columns, ("min", "max", "step"), ("from", "to", "step"), strict=True
    ):
        column.number_input(
            label,
            min_value=bounds["step"] if field == "step" else bounds["min"],
            max_value=bounds["max"],
            key=f"{field}_{name}",
            step=step,
            format=None if is_int else "%g",
            on_change=state.on_range,
            args=(name,),
        )


def _plot_panel(ex: Exploration, inputs: Inputs, *, projector: bool) -> None:
    """Plot the output along one variable, with the tangent whose slope is that variable's grad."""
    st.subheader("Plot", anchor=False)
    names = [name for name, *_ in inputs]
    if st.session_state.get("plot_var") not in names:
        with_grad = [name for name in names if ex.grads.get(name) is not None]
        st.session_state["plot_var"] = (with_grad or names)[0]
    choose_column, toggle_column = st.columns([2, 1], vertical_alignment="bottom")
    variable = choose_column.selectbox("Plot along", names, key="plot_var")
    derivative = toggle_column.toggle(plain(f"Show d{ex.output}/d{variable}"), key="derivative")
    settings = state.variable_settings(variable)
    grad = ex.grads[variable]
    try:
        curve = cached_curve(
            ex.formula.text,
            inputs,
            variable,
            settings["min"],
            settings["max"],
            differentiate=grad is not None,
        )
    except ExplorerError as error:
        error_panel(error, where="The plot cannot be drawn: ")
        return
    fig = figure(
        curve,
        settings["value"],
        ex.value,
        grad,
        derivative=derivative,
        font_size=22 if projector else 14,
    )
    st.plotly_chart(fig, theme=None, config={"displaylogo": False}, key="plot_chart")
    st.caption(plain(_slope_caption(ex, variable, grad)))
    st.download_button(
        "Plot as HTML",
        lambda: to_html(fig),
        "autograd-plot.html",
        "text/html",
        key="download_plot",
        on_click="ignore",
        icon=":material/download:",
    )


def _slope_caption(ex: Exploration, variable: str, grad: float | None) -> str:
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
