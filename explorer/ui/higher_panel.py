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
from explorer.ui.panels import error_panel, plain

__all__ = ["check_panel", "gradient_graph", "second_panel"]


def _floats(inputs: Inputs) -> list[str]:
    """Return the inputs a second derivative can be taken by: floats that require grad."""
    return [name for name, dtype, _, grad in inputs if dtype == "float" and grad]


def _variable_key(inputs: Inputs) -> str | None:
    """Return the state key of the input to differentiate by (None: there is none).

    The plotted input when it can be differentiated by; else a choice of this view's own, so
    visiting the view never changes what the plot shows.
    """
    floats = _floats(inputs)
    if not floats:
        return None
    key = "plot_var" if st.session_state.get("plot_var") in floats else "second_var"
    if st.session_state.get(key) not in floats:
        st.session_state[key] = floats[0]
    return key


def gradient_graph(ex: Exploration, inputs: Inputs, font: int) -> tuple[str, str] | None:
    """Return the DOT of the gradient's own graph and its label, when the switch asks for it."""
    key = _variable_key(inputs)
    if key is None or not st.session_state.get("grad_graph"):
        return None
    try:
        result = cached_second(ex.formula.text, inputs, st.session_state[key])
    except ExplorerError:
        return None  # the view itself says why
    return to_dot(result.graph, legend=False, font_size=font), result.grad_label


def second_panel(ex: Exploration, inputs: Inputs) -> None:
    """Show what PyTorch prints for dy/dx (with its grad_fn) and d2y/dx2, then the Hessian."""
    key = _variable_key(inputs)
    if key is None:
        st.info(
            plain("No float input requires grad, so there is nothing to differentiate."),
            icon=":material/info:",
        )
        return
    if len(_floats(inputs)) > 1:
        st.selectbox("Differentiate by", _floats(inputs), key=key, width=160)
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
    # Drawn in the graph's own column, where the formula's graph was: large enough to read.
    st.toggle(plain(f"Show the graph of {result.grad_label} on the right"), key="grad_graph")
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
