"""The Streamlit page: controls in the sidebar; transcript, plot and graph on one screen.

This package is the only place that imports streamlit besides app.py. One run reads the state
(state.py), runs the pipeline through the bounded caches (cache.py), then draws: the main area
first, so PyTorch's transcript reaches the browser before anything else, then the sidebar
(sidebar.py), then the URL. While a formula is being typed and does not parse, the main area keeps
showing the last formula that worked, so the page never blanks or jumps.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from explorer.core import Exploration
from explorer.errors import ExplorerError
from explorer.presets import by_label, what_to_notice
from explorer.ui import layout, sidebar, state
from explorer.ui.cache import Inputs, cached_chart, cached_explore, cached_parse
from explorer.ui.embed import embedded
from explorer.ui.layout import Sizes
from explorer.ui.panels import code_panel, graph_panel, notes_panel, plain, transcript_panel
from explorer.ui.plot_panel import plot_download, plot_panel

__all__ = ["main"]


@dataclass(frozen=True, slots=True)
class _View:
    """What the main area shows: a formula that worked, its inputs and its exploration."""

    text: str
    inputs: Inputs
    ex: Exploration

    @property
    def names(self) -> list[str]:
        return [name for name, *_ in self.inputs]


def main() -> None:
    """Draw the whole page for one run."""
    first_run = not st.session_state.get("_seeded")
    state.init_state()
    projector = bool(st.session_state.get("projector", False))
    size = layout.sizes(projector)
    layout.apply(projector)
    text = st.session_state.get("formula", "")
    error, names, view = _explore(text)
    panel = st.session_state.get("embed")
    if panel is not None and view is not None:
        embedded(panel, view.text, view.inputs, view.ex, size)
        return
    if view is not None:
        _main_area(view, size)
    else:
        st.info("Type a formula in the sidebar, such as y = w*x + b, or pick an example.")
    with st.sidebar:
        sidebar.title()
        for message in st.session_state.get("_url_errors", []):
            st.warning(plain(f"In the link: {message}"), icon=":material/link_off:")
        sidebar.formula_box(error)
        if error is not None and view is not None:
            st.caption(plain(f"The page still shows {view.text}, the last formula that worked."))
        sidebar.controls(names)
        # After the controls: the lesson is read once, the first slider is used all the time.
        sidebar.notice(_notice(text, view))
        # A link must restore what the page shows: while the box has an error, that is the view.
        params = _url(text if error is None or view is None else view.text, names)
        sidebar.link_and_projector(params)
    # The first run leaves the URL as it came: the link already restores this view, and a write
    # before the history fix has loaded would add a Back step.
    if not first_run and st.query_params.to_dict() != params:
        st.query_params.from_dict(params)


def _explore(text: str) -> tuple[ExplorerError | None, list[str], _View | None]:
    """Return the problem with ``text`` (if any), the inputs to draw controls for, and the view."""
    try:
        names = state.input_order(cached_parse(text).variables)
    except ExplorerError as error:
        names, view = _last_view()
        return error, names, view
    inputs = state.current_inputs(names)
    try:
        ex = cached_explore(text, inputs)
    except ExplorerError as error:
        return error, names, _last_view()[1]
    state.remember_good(text, inputs)
    return None, names, _View(text, inputs, ex)


def _last_view() -> tuple[list[str], _View | None]:
    """Return the last formula that worked: its inputs' names, and its view.

    The view uses the inputs' current settings; if the formula fails on those (an input just
    switched to int, say), it is shown with the inputs it last worked with.
    """
    good = state.last_good()
    if good is None:
        return [], None
    text, then = good
    names = state.input_order(cached_parse(text).variables)
    for inputs in (state.current_inputs(names), then):
        try:
            return names, _View(text, inputs, cached_explore(text, inputs))
        except ExplorerError:
            continue
    return names, None


def _main_area(view: _View, size: Sizes) -> None:
    """Draw transcript and plot beside the graph, then the code below the fold."""
    ex = view.ex
    left, right = st.columns([1, 1.45], gap="medium")
    with left:
        transcript_panel(ex)
    with right:
        chart = cached_chart(view.text, view.inputs, font=size.graph_font)
        graph_panel(ex, chart, height=size.graph_height)
        notes_panel(ex)
    with left:
        fig = plot_panel(ex, view.inputs, size)
    code_panel(ex)
    if fig is not None:
        plot_download(fig)


def _notice(text: str, view: _View | None) -> str | None:
    """Return the chosen example's lesson with live numbers, while its formula is in the box."""
    preset = by_label(st.session_state.get("preset") or "")
    if preset is None or preset.formula != text or view is None:
        return None
    return f"What to notice: {what_to_notice(preset, view.ex)}"


def _url(text: str, names: list[str]) -> dict[str, str]:
    """Return the query parameters of this view (page switches only when they are on)."""
    page = {}
    if st.session_state.get("preset"):
        page["preset"] = st.session_state["preset"]
    if st.session_state.get("plot_var") in names:
        page["plot_var"] = st.session_state["plot_var"]
    for flag in ("derivative", "projector"):
        if st.session_state.get(flag):
            page[flag] = "true"
    return state.url_params(text, names, page)
