"""Draw the panels: transcript, notes, graph, plot and code, each with its downloads.

User text never reaches Markdown: it is shown with ``st.code`` or escaped by ``plain()``.
"""

from __future__ import annotations

import functools
import re
import shutil

import streamlit as st

from explorer import export
from explorer.core import Exploration
from explorer.dot import GRAD_COLOR, GRADIENT_CAPTION, LEGEND, STYLES
from explorer.errors import ExplorerError, RenderError
from explorer.ui.cache import Chart

__all__ = [
    "CODE_HEADING",
    "GRAPH_HEADING",
    "TRANSCRIPT_HEADING",
    "code_download",
    "code_lines",
    "error_panel",
    "gradient_panel",
    "graph_downloads",
    "graph_legend",
    "graph_panel",
    "notes_panel",
    "plain",
    "transcript_lines",
    "transcript_panel",
]

_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>$~:&=^])")


def plain(text: str) -> str:
    """Escape every Markdown and LaTeX character, so text shows exactly as written."""
    return _MARKDOWN.sub(r"\\\1", text)


def error_panel(error: ExplorerError, *, where: str = "") -> None:
    """Show an ExplorerError: the message in a red box, the caret line as code."""
    st.error(plain(f"{where}{error.message}"), icon=":material/error:")
    if caret := error.caret():
        st.code(caret, language=None)
    if error.hint:
        st.caption(plain(error.hint))


TRANSCRIPT_HEADING = "PyTorch prints"
GRAPH_HEADING = "Computation graph"
CODE_HEADING = "Equivalent PyTorch code"


def transcript_panel(ex: Exploration) -> None:
    """Show PyTorch's printed lines under their heading."""
    with st.container(key="transcript"):
        st.subheader(TRANSCRIPT_HEADING, anchor=False)
        transcript_lines(ex)


def transcript_lines(ex: Exploration) -> None:
    """Show PyTorch's printed lines, exactly; long lines wrap rather than being cut off."""
    st.code(ex.transcript, language=None, wrap_lines=True)


def notes_panel(ex: Exploration) -> None:
    """Show what PyTorch itself said (warnings, errors) and the notes; inf and nan as warnings."""
    for lesson in ex.lessons:
        st.info(plain(lesson), icon=":material/school:")
    for note in ex.notes:
        box = st.warning if note in ex.warnings else st.info
        box(plain(note), icon=":material/lightbulb:")


def graph_panel(
    ex: Exploration, chart: Chart, height: int, step: tuple[int, int] | None = None
) -> None:
    """Show the graph, laid out in the browser (under GRAPH_HEADING, above graph_legend()).

    A graph too large for the browser to lay out quickly is replaced by the reason (the
    downloads still draw it whole). ``step`` is (shown, last) of backward, step by step.
    """
    if step is not None and step[0] < step[1]:
        shown, last = step
        what = (
            "after the forward pass: no gradient yet"
            if shown == 0
            else "the highlighted node runs; arrows show the gradients sent so far"
        )
        st.caption(f"Backward step {shown} of {last}, {what}.")
    if chart.message:
        st.info(plain(chart.message), icon=":material/account_tree:")
    else:
        with st.container(key="graph"):
            # Stretched to the column and given a height, the SVG scales to fill that box.
            st.graphviz_chart(chart.dot, width="stretch", height=height)
    if chart.note:
        st.caption(plain(chart.note))


def graph_legend() -> None:
    """Show what the graph's colours and arrows mean."""
    st.html(_LEGEND_HTML)


def gradient_panel(dot: str, label: str, height: int) -> None:
    """Show the gradient's own graph where the formula's graph goes, as large."""
    st.subheader(plain(f"Graph of {label}"), anchor=False)
    st.caption(plain(f"What PyTorch recorded while computing {label} (create_graph=True)."))
    with st.container(key="graph"):
        st.graphviz_chart(dot, width="stretch", height=height)


# Session key: (format, hash of the DOT, message) of the last SVG/PNG that could not be made.
_EXPORT_PROBLEM = "_graph_export_problem"


def graph_downloads(ex: Exploration) -> None:
    """Offer the graph as DOT, SVG and PNG, and say in words why an SVG or PNG failed.

    SVG and PNG are drawn only when asked for (a deferred download, off the rerun path), by
    export.render: bounded in time and in concurrent renders, and cached. Streamlit answers a
    download whose callable raises with a generic "Failed to generate file" that vanishes after
    5 s, so the click also reruns the page through _check_export, which shares that same render
    and keeps the reason, shown here until the DOT changes or an export succeeds.
    """
    has_dot = _has_dot()
    row = st.container(horizontal=True, key="graph_downloads")
    row.download_button(
        "DOT",
        ex.dot,
        "autograd-graph.dot",
        "text/vnd.graphviz",
        key="download_dot",
        on_click="ignore",
        icon=":material/download:",
    )
    for fmt, mime in (("svg", "image/svg+xml"), ("png", "image/png")):
        row.download_button(
            fmt.upper(),
            functools.partial(export.render, ex.dot, fmt),
            f"autograd-graph.{fmt}",
            mime,
            key=f"download_{fmt}",
            on_click=_check_export,
            args=(ex.dot, fmt),
            disabled=not has_dot,
            icon=":material/download:",
        )
    problem = st.session_state.get(_EXPORT_PROBLEM)
    if problem is not None and problem[1] == hash(ex.dot):
        st.warning(
            plain(f"The {problem[0].upper()} could not be made. {problem[2]}"),
            icon=":material/error:",
        )
    if not has_dot:
        st.caption(
            "SVG and PNG need Graphviz's dot program on the server; download the DOT and run "
            "dot -Tsvg autograd-graph.dot > graph.svg"
        )


def _check_export(dot: str, fmt: str) -> None:
    """Share the render the download just started, and keep its failure to show in words."""
    try:
        export.render(dot, fmt)
    except RenderError as error:
        st.session_state[_EXPORT_PROBLEM] = (fmt, hash(dot), error.message)
    else:
        st.session_state.pop(_EXPORT_PROBLEM, None)


def code_lines(ex: Exploration) -> None:
    """Show the equivalent script, with the copy button of st.code."""
    st.code(ex.code, language="python")


def code_download(ex: Exploration) -> None:
    """Offer the equivalent script as a .py file."""
    st.download_button(
        "Script (.py)",
        ex.code,
        "autograd_example.py",
        "text/x-python",
        key="download_code",
        on_click="ignore",
        icon=":material/download:",
    )


def _legend_html() -> str:
    """Return the legend as a row of swatches; built from constants only, no user text."""
    item = "display:inline-flex;align-items:center;margin-right:1.2em;white-space:nowrap"
    items = []
    for kind, text in LEGEND:
        fill, border, style = STYLES[kind]
        line = "dashed" if "dashed" in style else "solid"
        swatch = f"width:1.1em;height:0.9em;background:{fill};border:2px {line} {border}"
        items.append(
            f'<span style="{item}"><span style="{swatch};margin-right:0.4em"></span>{text}</span>'
        )
    items.append(f'<span style="{item};color:{GRAD_COLOR}">{GRADIENT_CAPTION}</span>')
    return f'<div style="font-size:0.85rem;line-height:1.9">{"".join(items)}</div>'


_LEGEND_HTML = _legend_html()


@functools.cache
def _has_dot() -> bool:
    """Tell whether Graphviz's dot program is installed (looked up once per server)."""
    return shutil.which("dot") is not None
