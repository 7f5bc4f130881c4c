"""Draw the panels: transcript, notes, graph, plot and code, each with its downloads.

User text never reaches Markdown: it is shown with ``st.code`` or escaped by ``plain()``.
"""

from __future__ import annotations

import functools
import re
import shutil
from collections.abc import Callable

import streamlit as st

from explorer.core import Exploration
from explorer.dot import GRAD_COLOR, GRADIENT_CAPTION, LEGEND, STYLES, render
from explorer.errors import ExplorerError

__all__ = ["code_panel", "error_panel", "graph_panel", "notes_panel", "plain", "transcript_panel"]

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


def transcript_panel(ex: Exploration) -> None:
    """Show PyTorch's printed lines, exactly."""
    st.subheader("PyTorch prints", anchor=False)
    st.code(ex.transcript, language=None)


def notes_panel(ex: Exploration) -> None:
    """Show the plain-language notes; inf and nan as warnings."""
    for note in ex.notes:
        box = st.warning if note in ex.warnings else st.info
        box(plain(note), icon=":material/lightbulb:")


def _export(dot: str, fmt: str) -> Callable[[], bytes]:
    """Return a callable that renders only when the button is pressed, off the rerun path."""
    return lambda: render(dot, fmt)


def graph_panel(ex: Exploration, chart: str) -> None:
    """Show the chart's DOT, laid out in the browser, with the legend and DOT/SVG/PNG downloads."""
    st.subheader("Computation graph", anchor=False)
    # Natural size, shrunk only when wider than the page: text stays as large as it can be.
    st.graphviz_chart(chart)
    st.html(_LEGEND_HTML)
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
            _export(ex.dot, fmt),
            f"autograd-graph.{fmt}",
            mime,
            key=f"download_{fmt}",
            on_click="ignore",
            disabled=not has_dot,
            icon=":material/download:",
        )
    if not has_dot:
        st.caption(
            "SVG and PNG need Graphviz's dot program on the server; download the DOT and run "
            "dot -Tsvg autograd-graph.dot > graph.svg"
        )


def code_panel(ex: Exploration) -> None:
    """Show the equivalent script (with the copy button of st.code) and a .py download."""
    st.subheader("Equivalent PyTorch code", anchor=False)
    st.code(ex.code, language="python")
    st.download_button(
        "Download .py",
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
