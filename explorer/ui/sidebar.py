"""The sidebar: the formula box, the examples and their lesson, one set of controls per input.

Everything a person changes lives here, so the main area can give the whole screen to what
PyTorch shows. Widgets are addressed by key and change state through the callbacks in state.py.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from urllib.parse import urlencode

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from explorer.errors import ExplorerError
from explorer.formula import MAX_CHARS
from explorer.presets import PRESETS
from explorer.ui import state
from explorer.ui.panels import error_panel, plain
from explorer.values import MAX_MAGNITUDE

__all__ = ["controls", "formula_box", "link_and_projector", "notice", "slider", "title"]


_BOX_HEIGHT = 68  # two lines: Streamlit's smallest text area; it grows a scroll bar beyond


def title() -> None:
    """Draw the app's name and one line on what it does."""
    st.markdown(
        "**Autograd Explorer**",
        help="Type a formula, move the sliders, and watch PyTorch compute the gradients.",
    )


def formula_box(error: ExplorerError | None) -> None:
    """Draw the formula box, the problem with it (if any), and the examples."""
    st.text_area(
        "Formula",
        key="formula",
        height=_BOX_HEIGHT,
        on_change=state.on_formula,
        placeholder="y = w*x + b",
        help=(
            "Numbers, variables, + - * / **, ( ), pi, e and functions such as sin(x), exp(x), "
            "sigmoid(x), relu(x), detach(h). Several statements, one per line or separated by ;, "
            f"name intermediates: h = w*x + b; y = sigmoid(h). At most {MAX_CHARS} characters."
        ),
    )
    if error is not None:
        with st.container(key="formula_error"):
            error_panel(error)
    st.session_state.setdefault("preset", None)
    st.selectbox(
        "Examples",
        [preset.label for preset in PRESETS],
        key="preset",
        placeholder="Pick an example",
        on_change=state.apply_preset,
    )


def notice(text: str | None) -> None:
    """Show the chosen example's lesson, if any."""
    if text:
        st.info(plain(text), icon=":material/visibility:")


def controls(names: Sequence[str], live: Container[str] = ()) -> dict[str, DeltaGenerator]:
    """Draw a box per variable with its slider, requires_grad switch, int/float choice and range.

    For the variables in ``live``, returns the place for the slider at the top of their box
    instead: live() (a fragment) draws it, so that a move reruns only what shows the values.
    """
    places: dict[str, DeltaGenerator] = {}
    for name in names:
        settings = state.variable_settings(name)
        is_int = settings["dtype"] == "int"
        # One wrapping row: the slider fills the first line, the switches share the next (one
        # container fewer per input: each is a message on every run).
        box = st.container(
            border=True, key=f"input_{name}", horizontal=True, vertical_alignment="center"
        )
        if name in live:
            places[name] = box.container()
        else:
            with box:
                slider(name)
        box.toggle(
            "requires_grad",
            width="content",
            key=f"grad_{name}",
            on_change=state.remember,
            args=(name,),
            disabled=is_int,
            help="Integer tensors cannot require gradients." if is_int else None,
        )
        box.segmented_control(
            "dtype",
            ["float", "int"],
            key=f"dtype_{name}",
            required=True,
            on_change=state.on_dtype,
            args=(name,),
            label_visibility="collapsed",
        )
        # In the row, not a line of its own: four inputs fit the sidebar. Drawn only while
        # open: three number inputs per variable would cost every run ~1 ms of server time and
        # a re-render each; the store keeps the range meanwhile.
        popover = box.popover(
            "",
            icon=":material/tune:",
            help=plain(f"The slider's range and step for {name}"),
            key=f"range_{name}",
            on_change="rerun",
        )
        if popover.open:
            with popover:
                _range_inputs(name, is_int)
        else:
            state.hold_range(name)
    return places


def slider(name: str) -> None:
    """Draw a variable's slider, with the range and step of its settings."""
    settings = state.variable_settings(name)
    st.slider(
        plain(name),
        min_value=settings["min"],
        max_value=settings["max"],
        step=settings["step"],
        key=f"value_{name}",
        on_change=state.remember,
        args=(name,),
    )


def _range_inputs(name: str, is_int: bool) -> None:
    """Draw the slider's range (from, to: side by side, so the popover fits 720 px) and step."""
    step = state.default_step(is_int=is_int)
    limit = int(MAX_MAGNITUDE) if is_int else MAX_MAGNITUDE
    bounds = {"min": -limit, "max": limit, "step": 1 if is_int else 1e-6}
    ends = st.container(horizontal=True, gap="small")
    for field, label in (("min", "from"), ("max", "to"), ("step", "step")):
        (ends if field != "step" else st).number_input(
            label,
            min_value=bounds["step"] if field == "step" else bounds["min"],
            max_value=bounds["max"],
            key=f"{field}_{name}",
            step=step,
            format=None if is_int else "%g",
            on_change=state.on_range,
            args=(name,),
        )


def link_and_projector(params: dict[str, str]) -> None:
    """Draw the projector switch and a "Copy link" popover holding the link to this view."""
    row = st.container(horizontal=True, vertical_alignment="center")
    row.toggle("Projector", key="projector", help="Larger text and graph for a class")
    # Filled only while open, so a slider move does not send the link twice (URL and here).
    box = row.popover("Copy link", icon=":material/link:", key="copy_link", on_change="rerun")
    if box.open:
        with box:
            base = st.context.url or ""
            st.caption("This link opens exactly this view (copy button at the right):")
            st.code(f"{base}?{urlencode(params)}", language=None, wrap_lines=True)
