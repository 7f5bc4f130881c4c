"""The Streamlit page: controls in the sidebar; transcript, plot and graph on one screen.

This package is the only place that imports streamlit besides app.py. One run reads the state
(state.py), runs the pipeline through the bounded caches (cache.py), then draws the main area's
views and the sidebar (sidebar.py), leaving slots for what shows the inputs' values: the sliders,
the transcript, the graph, the plot's point, the code and the lesson are drawn by live.py, a
fragment that a slider move reruns alone. While a formula is being typed and does not parse, the
main area keeps showing the last formula that worked, so the page never blanks or jumps.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import streamlit as st

from explorer.core import Exploration
from explorer.errors import ExplorerError
from explorer.ui import backward_panel, layout, sidebar, state
from explorer.ui.cache import ONCE, Backward, Inputs, cached_explore, cached_parse
from explorer.ui.embed import embedded
from explorer.ui.higher_panel import check_panel, gradient_graph, second_panel
from explorer.ui.layout import Sizes
from explorer.ui.live import Slots, graph_chart, live
from explorer.ui.panels import (
    CODE_HEADING,
    GRAPH_HEADING,
    TRANSCRIPT_HEADING,
    code_download,
    gradient_panel,
    graph_downloads,
    graph_legend,
    notes_panel,
    plain,
)
from explorer.ui.plot_panel import PLACE_SCRIPT, Staged, plot_download, plot_panel
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
    state.keep_view_keys()
    projector = bool(st.session_state.get("projector", False))
    size = layout.sizes(projector)
    layout.apply(projector, PLACE_SCRIPT)
    text = st.session_state.get("formula", "")
    error, names, view = _explore(text)
    panel = st.session_state.get("embed")
    if panel is not None and view is not None:
        embedded(panel, view.ex, size, text=view.text, inputs=view.inputs, backward=view.backward)
        return
    slots = Slots()
    if view is not None:
        slots = _main_area(view, size, stage=error is None and _stageable(view))
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
        # Only the plotted input's slider can move without a full run (the chart stays); any
        # other input changes the curve, so its slider reruns the page directly.
        staged = [st.session_state["plot_var"]] if slots.staged is not None else []
        sliders = sidebar.controls(names, live=staged)
        if view is not None:
            mode_control(view.inputs)
        backward_panel.controls(intermediates)
        # After the controls: the lesson is read once, the first slider is used all the time.
        lesson = st.container()
        # A link must restore what the page shows: while the box has an error, that is the view.
        shown_text = text if error is None or view is None else view.text
        params = state.view_params(shown_text, names, intermediates)
        sidebar.link_and_projector(params)
    live(names, view, replace(slots, sliders=sliders, lesson=lesson), size)
    # The first run leaves the URL as it came: the link already restores this view, and a write
    # before the history fix has loaded would add a Back step.
    if not first_run and st.query_params.to_dict() != params:
        st.query_params.from_dict(params)


def _stageable(view: _View) -> bool:
    """Tell whether a slider move may keep the plot's chart: the plot view, nothing else open.

    The other views, the curvature's caption, the surface, the downloads and the link all show
    something of the inputs' values that only a full run draws.
    """
    return (
        st.session_state.get("panel", state.PANELS["plot"]) == state.PANELS["plot"]
        and not _surface(view.inputs)
        and not st.session_state.get("second")
        and not st.session_state.get("downloads")
        and not st.session_state.get("copy_link")
        and not st.session_state.get("_url_errors")  # a move clears them: a full run redraws
    )


def _surface(inputs: Inputs) -> bool:
    """Tell whether the plot view shows two inputs (a surface or level lines), not a curve."""
    return st.session_state.get("plot_mode", "curve") != "curve" and len(float_inputs(inputs)) >= 2


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


def _main_area(view: _View, size: Sizes, *, stage: bool) -> Slots:
    """Draw the views (plot, steps...) and the graph's downloads; leave slots for the rest.

    The transcript, the graph, the code (and with ``stage``, the plot's point) are drawn into
    their slots by live(), on this run and on every move of a slider.
    """
    ex = view.ex
    left, right = st.columns([1, 1.45], gap="medium")
    # The headings are drawn here, once: live() fills what is under them on every move.
    transcript = left.container(key="transcript")
    transcript.subheader(TRANSCRIPT_HEADING, anchor=False)
    last = len(ex.steps)
    shown = state.shown_step(last)
    if st.session_state.get("panel") != state.PANELS["steps"]:
        shown = last  # the step view belongs to the steps view; elsewhere the graph is whole
    second = st.session_state.get("panel") == state.PANELS["second"]
    drawn = gradient_graph(ex, view.inputs, size.graph_font) if second else None
    graph = notes = None
    with right:
        if drawn is not None:
            gradient_panel(*drawn, height=size.graph_height)
            notes_panel(ex)
        else:
            st.subheader(GRAPH_HEADING, anchor=False)
            graph = st.container()
            if not graph_chart(view, size, shown).message:  # a graph too large has no legend
                graph_legend()
            notes = st.container()
        # Filled only while open: five download buttons cost every slider move ~2 ms of server
        # time and as many messages; the plot they offer is known once the views have run.
        menu = st.popover(
            "Download", icon=":material/download:", key="downloads", on_change="rerun"
        )
    with left:
        fig, staged = _chosen_view(view, size, stage)
    code = st.container(key="code")  # the tutorial's screenshots find the panel by this key
    code.subheader(CODE_HEADING, anchor=False)
    if menu.open:
        with menu:
            _downloads(ex, fig)
    return Slots(
        transcript=transcript, graph=graph, notes=notes, code=code, staged=staged, shown=shown
    )


def _downloads(ex: Exploration, fig: dict[str, Any] | None) -> None:
    """Offer the graph (DOT, SVG, PNG), the plot (HTML) and the script (.py) as files."""
    st.caption("The graph")
    graph_downloads(ex)
    st.caption("The plot and the script")
    with st.container(horizontal=True):
        if fig is not None:
            plot_download(fig)
        code_download(ex)


def _chosen_view(
    view: _View, size: Sizes, stage: bool
) -> tuple[dict[str, Any] | None, Staged | None]:
    """Draw the left column's view switch and the chosen view; only that one is computed.

    A segmented control rather than ``st.tabs``: after each update of the page from the server,
    the tab bar updates itself twice more, and each update makes the browser render the whole page
    again (15 React commits per slider move instead of 11; bench/floor.py).

    Return the plot, if drawn, and (with ``stage``) its staged chart for live() to fill.
    """
    ex, inputs = view.ex, view.inputs
    st.session_state.setdefault("panel", state.PANELS["plot"])
    shown = st.segmented_control(
        "View",
        list(state.PANELS.values()),
        key="panel",
        required=True,
        label_visibility="collapsed",
        wrap=True,  # a narrow column shows every choice on two rows rather than hide the last
    )
    fig = staged = None
    if shown == state.PANELS["steps"]:
        backward_panel.steps_panel(ex)
    elif shown == state.PANELS["second"]:
        second_panel(ex, inputs)
    elif shown == state.PANELS["check"]:
        check_panel(ex, inputs)
    elif _surface(inputs):
        fig = surface_panel(ex, inputs, size, st.session_state["plot_mode"])
    else:
        fig, staged = plot_panel(ex, inputs, size, stage=stage)
    return fig, staged
