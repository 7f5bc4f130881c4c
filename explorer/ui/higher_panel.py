"""Beyond one slope: the second derivative (and the gradient's own graph), the Hessian, and the
finite-difference check of every gradient.

Each is computed from the exploration the page already has, through the bounded caches.
"""

from __future__ import annotations

import streamlit as st

from explorer.check import CheckRow
from explorer.core import Exploration
from explorer.dot import to_dot
from explorer.errors import ExplorerError
from explorer.higher import second_text
from explorer.ui.cache import Inputs, cached_check, cached_hessian, cached_second
from explorer.ui.layout import Sizes
from explorer.ui.panels import error_panel, plain

__all__ = ["check_panel", "second_panel"]


def second_panel(ex: Exploration, inputs: Inputs, size: Sizes) -> None:
    """Show what PyTorch prints for dy/dx (with its grad_fn) and d2y/dx2, then the Hessian."""
    floats = [name for name, dtype, _, grad in inputs if dtype == "float" and grad]
    if not floats:
        st.info(
            plain("No float input requires grad, so there is nothing to differentiate."),
            icon=":material/info:",
        )
        return
    # The plotted input when it can be differentiated by; else a choice of this tab's own, so
    # visiting the tab never changes what the plot shows.
    plotted = st.session_state.get("plot_var")
    key = "plot_var" if plotted in floats else "second_var"
    if st.session_state.get(key) not in floats:
        st.session_state[key] = floats[0]
    if len(floats) > 1:
        st.selectbox("Differentiate by", floats, key=key, width=160)
    variable = st.session_state[key]
    try:
        result = cached_second(ex.formula.text, inputs, variable)
    except ExplorerError as error:
        error_panel(error, where="The second derivative cannot be computed: ")
        return
    st.caption(
        plain(
            f"torch.autograd.grad({ex.output}, {variable}, create_graph=True) gives "
            f"{result.grad_label} as a tensor with its own grad_fn; differentiating it again "
            f"gives {result.second_label}:"
        )
    )
    with st.container(key="second_lines"):
        st.code(second_text(result), language=None, wrap_lines=True)
    for note in result.notes:
        st.info(plain(note), icon=":material/lightbulb:")
    with st.expander("The script that prints these lines"):
        st.code(result.code, language="python")
    if st.toggle(plain(f"Draw the graph of {result.grad_label}"), key="grad_graph"):
        dot = to_dot(result.graph, legend=False, font_size=size.graph_font)
        st.graphviz_chart(dot, width="stretch", height=size.graph_height)
    _hessian(ex, inputs)


def _hessian(ex: Exploration, inputs: Inputs) -> None:
    try:
        hessian = cached_hessian(ex.formula.text, inputs)
    except ExplorerError as error:
        error_panel(error, where="The Hessian cannot be computed: ")
        return
    if not hessian.names:
        return
    st.markdown("**Hessian** (all second derivatives at this point)")
    rows = {
        name: {other: f"{hessian.matrix[i][j]:.6g}" for j, other in enumerate(hessian.names)}
        for i, name in enumerate(hessian.names)
    }
    st.table(rows)
    st.caption(plain(hessian.sentence))


def check_panel(ex: Exploration, inputs: Inputs) -> None:
    """Show every gradient beside its central difference in float64, and the verdict."""
    try:
        rows = cached_check(ex.formula.text, inputs)
    except ExplorerError as error:
        error_panel(error, where="The check cannot be done: ")
        return
    if not rows:
        st.info(plain("No input has a gradient to check."), icon=":material/info:")
        return
    st.caption(
        "Is autograd right? Each gradient beside the central difference "
        "(f(x+h) − f(x−h)) / 2h, computed in float64."
    )
    st.table({row.name: _cells(row) for row in rows})
    if ex.backward_calls > 1:
        st.caption("These are the gradients of one backward() call: more calls add up in .grad.")
    for row in rows:
        if row.reason:
            box = st.warning if row.verdict == "disagree" else st.info
            box(plain(f"{row.name}: {row.reason}"), icon=":material/rule:")


def _cells(row: CheckRow) -> dict[str, str]:
    verdict = row.verdict + (f" ({row.cause})" if row.cause else "")
    return {
        "autograd": f"{row.grad:.8g}",
        "difference": f"{row.numeric:.10g}",
        "h": f"{row.h:.1g}",
        "abs error": f"{row.abs_error:.2g}",
        "rel error": f"{row.rel_error:.2g}",
        "verdict": verdict,
    }
