"""The Streamlit page: controls in the sidebar; transcript, plot and graph on one screen.

This package is the only place that imports streamlit besides app.py. One run reads the state
(state.py), runs the pipeline through the bounded caches (cache.py), then draws: the main area
first, so PyTorch's transcript reaches the browser before anything else, then the sidebar
(sidebar.py), then the URL. While a formula is being typed and does not parse, the main area keeps
showing the last formula that worked, so the page never blanks or jumps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import streamlit as st

from explorer.core import Exploration
from explorer.errors import ExplorerError
from explorer.presets import by_label, what_to_notice
from explorer.ui import backward_panel, layout, sidebar, state
from explorer.ui.cache import (
    ONCE,
    Backward,
    Inputs,
    cached_chart,
    cached_explore,
    cached_parse,
    cached_trace,
)
from explorer.ui.embed import embedded
from explorer.ui.higher_panel import check_panel, gradient_graph, second_panel
from explorer.ui.layout import Sizes
from explorer.ui.panels import (
    code_download,
    code_panel,
    gradient_panel,
    graph_downloads,
    graph_panel,
    notes_panel,
    plain,
    transcript_panel,
)
from explorer.ui.plot_panel import plot_download, plot_panel
from explorer.ui.surface_panel import float_inputs, mode_control, surface_panel

__all__ = ["main"]

# grad_graph and retain_graph are the page's own switches: an input or intermediate named graph
# would give its requires_grad or retain_grad switch the same key.
_RESERVED = {"graph"}


@dataclass(frozen=True, slots=True)
class _View:
    """What the main area shows: a formula that worked, its inputs, how backward ran, the result."""

    text: str
    inputs: Inputs
    backward: Backward
    ex: Exploration

    @property
    def names(self) -> list[str]:
        return [name for name, *_ in self.inputs]


def main() -> None:
    """Draw the whole page for one run."""
    first_run = not st.session_state.get("_seeded")
    state.init_state()
    state.keep_tab_keys()
    projector = bool(st.session_state.get("projector", False))
    size = layout.sizes(projector)
    layout.apply(projector)
    text = st.session_state.get("formula", "")
    error, names, view = _explore(text)
    panel = st.session_state.get("embed")
    if panel is not None and view is not None:
        embedded(panel, view.ex, size, text=view.text, inputs=view.inputs, backward=view.backward)
        return
    if view is not None:
        _main_area(view, size)
    else:
        st.info("Type a formula in the sidebar, such as y = w*x + b, or pick an example.")
    intermediates = view.ex.formula.names if view is not None else ()
    with st.sidebar:
        sidebar.title()
        for message in st.session_state.get("_url_errors", []):
            st.warning(plain(f"In the link: {message}"), icon=":material/link_off:")
        sidebar.formula_box(error)
        if error is not None and view is not None:
            st.caption(plain(f"The page still shows {view.text}, the last formula that worked."))
        sidebar.controls(names)
        if view is not None:
            mode_control(view.inputs)
        backward_panel.controls(intermediates)
        # After the controls: the lesson is read once, the first slider is used all the time.
        sidebar.notice(_notice(text, view))
        # A link must restore what the page shows: while the box has an error, that is the view.
        shown_text = text if error is None or view is None else view.text
        params = _url(shown_text, names, intermediates)
        sidebar.link_and_projector(params)
    # The first run leaves the URL as it came: the link already restores this view, and a write
    # before the history fix has loaded would add a Back step.
    if not first_run and st.query_params.to_dict() != params:
        st.query_params.from_dict(params)


def _explore(text: str) -> tuple[ExplorerError | None, list[str], _View | None]:
    """Return the problem with ``text`` (if any), the inputs to draw controls for, and the view."""
    try:
        formula = cached_parse(text)
    except ExplorerError as error:
        names, view = _last_view()
        return error, names, view
    if clash := sorted(_RESERVED & {*formula.variables, *formula.names}):
        message = f"{clash[0]} is a name the page uses for its own switches; pick another name."
        names, view = _last_view()
        return ExplorerError(message), names, view
    names = state.input_order(formula.variables)
    inputs = state.current_inputs(names)
    backward = state.current_backward(formula.names)
    # Every cache is keyed by the parsed text (no surrounding spaces, \n line ends), as the views
    # that start from ex.formula.text are: one typed text, one set of entries.
    try:
        ex = cached_explore(formula.text, inputs, backward)
    except ExplorerError as error:
        return error, names, _last_view()[1]
    state.remember_good(text, inputs)
    return None, names, _View(formula.text, inputs, backward, ex)


def _last_view() -> tuple[list[str], _View | None]:
    """Return the last formula that worked: its inputs' names, and its view.

    The view uses the inputs' current settings; if the formula fails on those (an input just
    switched to int, say), it is shown with the inputs it last worked with, backward run once.
    """
    good = state.last_good()
    if good is None:
        return [], None
    formula = cached_parse(good[0])
    text, then = formula.text, good[1]
    names = state.input_order(formula.variables)
    tries = (
        (state.current_inputs(names), state.current_backward(formula.names)),
        (then, ONCE),
    )
    for inputs, backward in tries:
        try:
            return names, _View(text, inputs, backward, cached_explore(text, inputs, backward))
        except ExplorerError:
            continue
    return names, None


def _main_area(view: _View, size: Sizes) -> None:
    """Draw the transcript and the tabs (plot, steps...) beside the graph, then the code."""
    ex = view.ex
    left, right = st.columns([1, 1.45], gap="medium")
    with left:
        transcript_panel(ex)
    last = len(ex.steps)
    shown = state.shown_step(last)
    if st.session_state.get("panel") != state.PANELS["steps"]:
        shown = last  # the step view belongs to the steps tab; elsewhere the graph is whole
    second = st.session_state.get("panel") == state.PANELS["second"]
    drawn = gradient_graph(ex, view.inputs, size.graph_font) if second else None
    with right:
        if drawn is not None:
            gradient_panel(*drawn, height=size.graph_height)
            notes_panel(ex)
        else:
            _graph_column(view, size, shown, last)
        # Filled only while open: five download buttons cost every slider move ~2 ms of server
        # time and as many messages; the plot they offer is known once the tabs have run.
        menu = st.popover(
            "Download", icon=":material/download:", key="downloads", on_change="rerun"
        )
    with left:
        fig = _tabs(view, size)
    code_panel(ex)
    if menu.open:
        with menu:
            _downloads(ex, fig)


def _downloads(ex: Exploration, fig: dict[str, Any] | None) -> None:
    """Offer the graph (DOT, SVG, PNG), the plot (HTML) and the script (.py) as files."""
    st.caption("The graph")
    graph_downloads(ex)
    st.caption("The plot and the script")
    with st.container(horizontal=True):
        if fig is not None:
            plot_download(fig)
        code_download(ex)


def _graph_column(view: _View, size: Sizes, shown: int, last: int) -> None:
    """Draw the formula's graph (at the chosen backward step), the notes and the anomaly lesson."""
    ex = view.ex
    chart = cached_chart(
        view.text,
        view.inputs,
        view.backward,
        font=size.graph_font,
        shown=shown if shown < last else None,
    )
    graph_panel(ex, chart, height=size.graph_height, step=(shown, last))
    notes_panel(ex)
    if ex.warnings:
        found = cached_trace(view.text, view.inputs)
        if found.anomaly:
            st.info(
                plain(f"torch.autograd.detect_anomaly() says: {found.anomaly}"),
                icon=":material/school:",
            )


def _tabs(view: _View, size: Sizes) -> dict[str, Any] | None:
    """Draw the left column's tabs; only the open one is computed. Return the plot, if drawn."""
    ex, inputs = view.ex, view.inputs
    st.session_state.setdefault("panel", state.PANELS["plot"])
    plot, steps, second, check = st.tabs(
        list(state.PANELS.values()), key="panel", on_change="rerun"
    )
    fig = None
    if plot.open:
        with plot:
            mode = st.session_state.get("plot_mode", "curve")
            if mode != "curve" and len(float_inputs(inputs)) >= 2:
                fig = surface_panel(ex, inputs, size, mode)
            else:
                fig = plot_panel(ex, inputs, size)
    if steps.open:
        with steps:
            backward_panel.steps_panel(ex)
    if second.open:
        with second:
            second_panel(ex, inputs)
    if check.open:
        with check:
            check_panel(ex, inputs)
    return fig


def _notice(text: str, view: _View | None) -> str | None:
    """Return the chosen example's lesson with live numbers, while its formula is in the box."""
    preset = by_label(st.session_state.get("preset") or "")
    if preset is None or preset.formula != text or view is None:
        return None
    return f"What to notice: {what_to_notice(preset, view.ex)}"


def _url(text: str, names: list[str], intermediates: tuple[str, ...] = ()) -> dict[str, str]:
    """Return the query parameters of this view (page settings only when not the default)."""
    page = {}
    if st.session_state.get("preset"):
        page["preset"] = st.session_state["preset"]
    page |= state.page_params(names, intermediates)
    return state.url_params(text, names, page)
