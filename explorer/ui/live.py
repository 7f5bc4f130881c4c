"""What a slider move redraws: the plotted input's slider and the views of the values, a fragment.

A slider sends its value on release; Streamlit then runs the whole page again and the browser
draws every element again. The plotted input's slider is drawn by a Streamlit fragment
(``st.fragment``): a move reruns only ``live()``, which draws into slots the last full run left
in the page (``Slots``): the transcript, the graph, its notes, the plot's point and slope, the
code, the lesson. The plot's chart stays as it is (its page script moves the point). Anything else
a move needs (another view beside the plot, a point the chart cannot show, a formula that fails on
the new values) hands it on to a full run with ``st.rerun()``. The other sliders and controls are
drawn by the full run: each of them changes the curve.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import streamlit as st
from streamlit.delta_generator import DeltaGenerator
from streamlit.runtime.scriptrunner import get_script_run_ctx

from explorer.errors import ExplorerError
from explorer.presets import by_label, what_to_notice
from explorer.ui import sidebar, state
from explorer.ui.cache import Chart, cached_chart, cached_explore, cached_trace
from explorer.ui.layout import Sizes
from explorer.ui.panels import code_lines, graph_panel, notes_panel, plain, transcript_lines
from explorer.ui.plot_panel import Staged, fill_staged, staged_move

if TYPE_CHECKING:
    from explorer.ui import _View

__all__ = ["Slots", "graph_chart", "live"]


@dataclass(frozen=True, slots=True)
class Slots:
    """Where the full run left room for the views of the inputs' values (None: not shown)."""

    sliders: dict[str, DeltaGenerator] = field(default_factory=dict)  # the plotted input's
    lesson: DeltaGenerator | None = None  # under them, the example's lesson with live numbers
    transcript: DeltaGenerator | None = None
    graph: DeltaGenerator | None = None
    notes: DeltaGenerator | None = None  # under the graph's legend
    code: DeltaGenerator | None = None
    staged: Staged | None = None  # the plot's chart, when a move of its input can keep it
    shown: int = 0  # the backward step the graph shows


@st.fragment
def live(names: list[str], view: _View | None, slots: Slots, size: Sizes) -> None:
    """Draw the plotted input's slider and, into ``slots``, the views of the inputs' values.

    On a full run the arguments are this run's; on a rerun of the fragment alone they are the
    last full run's, and ``view`` is computed again for the inputs' new values.
    """
    alone = _rerun_alone()
    if alone and (slots.staged is None or view is None):
        st.rerun()  # this page shows more that depends on the inputs than live() draws
    if view is not None:
        move = slots.staged.move if slots.staged is not None else None
        if alone:
            view, move = _moved(view, size, slots.staged)
        _views(view, move, slots, size)
    # Last: the browser shows a moved slider at once; the transcript is what is waited for.
    for name, place in slots.sliders.items():
        with place:
            sidebar.slider(name)
    if alone:
        # The box's own text, as the full run writes it (a fast move needs a formula that works).
        text = st.session_state.get("formula", "")
        params = state.view_params(text, names, view.ex.formula.names)
        if st.query_params.to_dict() != params:
            st.query_params.from_dict(params)


def _views(view: _View, move: dict[str, Any] | None, slots: Slots, size: Sizes) -> None:
    """Draw the transcript, graph, plot's point, code and lesson of ``view``."""
    with slots.transcript:
        transcript_lines(view.ex)
    if slots.graph is not None:
        with slots.graph:
            graph_panel(
                view.ex,
                graph_chart(view, size, slots.shown),
                size.graph_height,
                step=(slots.shown, len(view.ex.steps)),
            )
        # Always one box, even with no notes: a fragment may only write where the last full
        # run wrote, and a move can bring the first note (a value where log gives -inf).
        with slots.notes.container():
            _notes(view)
    if slots.staged is not None and move is not None:
        fill_staged(slots.staged, view.ex, move)
    with slots.code:
        code_lines(view.ex)
    with slots.lesson:
        sidebar.notice(_notice(st.session_state.get("formula", ""), view))


def graph_chart(view: _View, size: Sizes, shown: int) -> Chart:
    """Return the formula's graph at backward step ``shown``."""
    last = len(view.ex.steps)
    return cached_chart(
        view.text,
        view.inputs,
        view.backward,
        font=size.graph_font,
        shown=shown if shown < last else None,
    )


def _notes(view: _View) -> None:
    """Draw what PyTorch said and the notes under the graph, with the anomaly lesson if any."""
    ex = view.ex
    notes_panel(ex)
    if ex.warnings:
        found = cached_trace(view.text, view.inputs)
        if found.anomaly:
            st.info(
                plain(f"torch.autograd.detect_anomaly() says: {found.anomaly}"),
                icon=":material/school:",
            )


def _notice(text: str, view: _View | None) -> str | None:
    """Return the chosen example's lesson with live numbers, while its formula is in the box."""
    preset = by_label(st.session_state.get("preset") or "")
    if preset is None or preset.formula != text or view is None:
        return None
    return f"What to notice: {what_to_notice(preset, view.ex)}"


def _moved(view: _View, size: Sizes, staged: Staged) -> tuple[_View, dict[str, Any]]:
    """Return the view for the inputs' new values and the move of the staged chart's point.

    Reruns the whole page when the staged chart cannot show them (another input moved: a new
    curve; a setting changed; the formula fails there).
    """
    inputs = state.current_inputs(view.names)
    try:
        ex = cached_explore(view.text, inputs, view.backward)
    except ExplorerError:
        st.rerun()
    drawn = staged_move(ex, inputs, size)
    # layout.meta names a staged figure by its content: the same name, the same chart.
    if drawn is None or drawn[0]["layout"]["meta"] != staged.fig["layout"]["meta"]:
        st.rerun()
    state.remember_good(st.session_state.get("formula", ""), inputs)
    return replace(view, inputs=inputs, ex=ex), drawn[1]


def _rerun_alone() -> bool:
    """Tell whether this run is the fragment's own rerun, not the whole page's."""
    ctx = get_script_run_ctx()
    return bool(ctx is not None and ctx.fragment_ids_this_run)
