"""How backward runs, and backward step by step: the retain_grad switches, the number of calls,
and the chain-rule card of the node the engine runs at the chosen step.

The step is the page's state (key ``step``, in the URL): the graph beside this panel shows the
same step, with the running node highlighted and gradients only on the edges that carried one.
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from explorer.core import Exploration
from explorer.evaluate import MAX_BACKWARD_CALLS
from explorer.steps import card_markdown
from explorer.ui import state
from explorer.ui.panels import plain

__all__ = ["controls", "steps_panel", "summary"]


def controls(intermediates: Sequence[str]) -> None:
    """Draw backward()'s settings in an expander titled with them: retain_grad, calls, retain_graph.

    Its switches are drawn only while it is open (four elements fewer on every slider move); the
    title says the settings either way. It opens by itself when a formula, an example or a link
    brings intermediates or settings other than one plain backward().
    """
    retain, calls, retain_graph = state.current_backward(intermediates)
    shown = (tuple(intermediates), retain, calls, retain_graph)
    if shown != st.session_state.get("_backward_shown"):
        st.session_state["_backward_shown"] = shown
        # The title is part of the expander's identity: a new title is a new expander, closed
        # unless told; one that was open stays open.
        opened = st.session_state.get("backward_settings")
        if intermediates or shown[1:] != ((), 1, False) or opened:
            st.session_state["backward_settings"] = True
    box = st.expander(
        plain(summary(retain, calls, retain_graph)), key="backward_settings", on_change="rerun"
    )
    if not box.open:
        state.keep(["backward_calls", "retain_graph", *(f"retain_{n}" for n in intermediates)])
        return
    with box:
        for name in intermediates:
            st.toggle(
                plain(f"{name}.retain_grad()"),
                key=f"retain_{name}",
                help=f"Keep the gradient of the intermediate {name}, so {name}.grad is not None.",
            )
        row = st.container(horizontal=True, vertical_alignment="center", gap="small")
        st.session_state.setdefault("backward_calls", 1)
        row.segmented_control(
            "calls",
            list(range(1, MAX_BACKWARD_CALLS + 1)),
            key="backward_calls",
            required=True,
            format_func=lambda calls: f"{calls}×",
            help="Call backward() this many times: gradients add up in .grad.",
            label_visibility="collapsed",
        )
        row.toggle(
            "retain_graph",
            key="retain_graph",
            width="content",
            help="backward(retain_graph=True) keeps the graph, so backward() can run again.",
        )


def summary(retain: Sequence[str], calls: int, retain_graph: bool) -> str:
    """Say how backward runs in a few words of code, such as ``h.retain_grad() · backward()``."""
    call = "backward()" if calls == 1 else f"backward() ×{calls}"
    flag = ["retain_graph"] if retain_graph else []
    return " · ".join([*(f"{name}.retain_grad()" for name in retain), call, *flag])


def steps_panel(ex: Exploration) -> None:
    """Show the step slider with previous/next buttons, and the card of the chosen step."""
    steps = ex.steps
    last = len(steps)
    if not last:
        st.info(
            plain("No backward step ran: nothing the output depends on requires grad."),
            icon=":material/info:",
        )
        return
    shown = state.shown_step(last)
    row = st.container(horizontal=True, vertical_alignment="center", key="stepper")
    row.button(
        "Previous",
        key="previous_step",
        icon=":material/chevron_left:",
        on_click=state.move_step,
        args=(-1, last),
        disabled=shown == 0,
    )
    row.button(
        "Next",
        key="next_step",
        icon=":material/chevron_right:",
        on_click=state.move_step,
        args=(1, last),
        disabled=shown == last,
    )
    row.caption(f"step {shown} of {last}")
    st.slider(
        "Backward, step by step",
        min_value=0,
        max_value=last,
        key="step",
        on_change=state.on_step,
        args=(last,),
        label_visibility="collapsed",
    )
    if shown == 0:
        st.info(
            plain(
                "After the forward pass: every tensor has its value, no gradient has flowed yet. "
                "Press Next to run the first node of backward()."
            ),
            icon=":material/play_arrow:",
        )
    else:
        with st.container(key="chain_card"):
            st.markdown(card_markdown(steps[shown - 1]))
