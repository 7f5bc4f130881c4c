"""Keep the page's state: each variable's settings, presets, and the shareable URL.

Widgets are addressed by key (``value_x``, ``grad_x``, ``dtype_x``...). Streamlit forgets a widget's
state when the widget is not drawn in a run, so each variable's settings also live in a plain store
(``_settings``) that callbacks update: a variable keeps its value when the formula changes.
URL parameters are untrusted text and go through the same strict parsing as the CLI.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

import streamlit as st

from explorer.errors import ExplorerError
from explorer.formula import MAX_CHARS, name_problem
from explorer.presets import PRESETS, by_label
from explorer.values import MAX_MAGNITUDE, NAME, parse_number

__all__ = [
    "FIELDS",
    "apply_preset",
    "current_inputs",
    "default_step",
    "init_state",
    "input_order",
    "on_dtype",
    "on_formula",
    "on_range",
    "remember",
    "sync_url",
    "variable_settings",
]

FIELDS = ("value", "grad", "dtype", "min", "max", "step")
_URL_KEY = re.compile(rf"(value|grad|dtype)_({NAME.pattern})", re.ASCII)
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}
DEFAULT_PRESET = PRESETS[0]


def default_step(*, is_int: bool) -> int | float:
    """Return a slider's step: whole numbers for an integer tensor, tenths for a float."""
    return 1 if is_int else 0.1


def _defaults(value: int | float, grad: bool | None = None) -> dict[str, Any]:
    """Return settings for a value: float or int, a range that holds it, grad on for floats."""
    is_int = isinstance(value, int)
    low = min(-5, math.floor(value) - 1)
    high = max(5, math.ceil(value) + 1)
    return {
        "value": value,
        "grad": (not is_int) if grad is None else grad,
        "dtype": "int" if is_int else "float",
        "min": low if is_int else float(low),
        "max": high if is_int else float(high),
        "step": default_step(is_int=is_int),
    }


def _store() -> dict[str, dict[str, Any]]:
    return st.session_state.setdefault("_settings", {})


def _write(name: str, settings: dict[str, Any]) -> None:
    """Put settings in the store and in the widgets' keys, so both agree."""
    _store()[name] = settings
    for field in FIELDS:
        st.session_state[f"{field}_{name}"] = settings[field]


def variable_settings(name: str) -> dict[str, Any]:
    """Return the settings of a variable, creating defaults and widget keys the first time."""
    settings = _store().get(name)
    if settings is None:
        settings = _defaults(1.0)
        _store()[name] = settings
    order = st.session_state.setdefault("_order", [])
    if name not in order:
        order.append(name)
    for field in FIELDS:
        st.session_state.setdefault(f"{field}_{name}", settings[field])
    return settings


def current_inputs(names: Iterable[str]) -> tuple[tuple[str, str, int | float, bool], ...]:
    """Return (name, dtype, value, requires_grad) per variable, from the store, in input order."""
    inputs = []
    for name in names:
        settings = variable_settings(name)
        inputs.append((name, settings["dtype"], settings["value"], settings["grad"]))
    return tuple(inputs)


def input_order(variables: Iterable[str]) -> list[str]:
    """Return the formula's variables in input order: the order they were first given."""
    variables = list(dict.fromkeys(variables))
    order = st.session_state.setdefault("_order", [])
    order += [name for name in variables if name not in order]
    return [name for name in order if name in variables]


def remember(name: str) -> None:
    """Callback: copy a variable's widget values into the store."""
    settings = variable_settings(name)
    for field in FIELDS:
        key = f"{field}_{name}"
        if key in st.session_state:
            settings[field] = st.session_state[key]
    if isinstance(settings["value"], float):
        # A float slider reports 0.30000000000000004; the transcript and URL should say 0.3.
        settings["value"] = round(settings["value"], 9)
    st.session_state["_url_errors"] = []


def on_dtype(name: str) -> None:
    """Callback: switch a variable between int and float, the way torch.tensor would see it."""
    remember(name)
    settings = _store()[name]
    if settings["dtype"] == "int":
        value = round(settings["value"])
        new = _defaults(value, grad=False)
        new["min"], new["max"] = math.floor(settings["min"]), math.ceil(settings["max"])
    else:
        new = _defaults(float(settings["value"]))
        new["min"], new["max"] = float(settings["min"]), float(settings["max"])
    _write(name, new)


def on_range(name: str) -> None:
    """Callback: accept a new slider range and step, keeping the value inside the range."""
    remember(name)
    settings = _store()[name]
    cast = int if settings["dtype"] == "int" else float
    low, high = (cast(_clamp(settings[end])) for end in ("min", "max"))
    step = cast(settings["step"]) if settings["step"] > 0 else default_step(is_int=cast is int)
    step = min(step, cast(MAX_MAGNITUDE))
    if high <= low:
        # An empty range would break the slider: keep the width of one step, inside the limits.
        high, low = (low + step, low) if low + step <= MAX_MAGNITUDE else (high, high - step)
    value = min(max(settings["value"], low), high)
    _write(name, {**settings, "min": low, "max": high, "step": step, "value": cast(value)})


def _clamp(value: float) -> float:
    return max(-MAX_MAGNITUDE, min(MAX_MAGNITUDE, value))


def apply_preset() -> None:
    """Callback: load the chosen preset's formula, inputs and settings."""
    preset = by_label(st.session_state.get("preset") or "")
    if preset is not None:
        _load(preset.formula, preset.values, preset.requires_grad, preset.plot_var)


def _load(
    formula: str,
    values: Mapping[str, int | float],
    requires_grad: Mapping[str, bool],
    plot_var: str | None,
) -> None:
    st.session_state["formula"] = formula
    st.session_state["_order"] = list(values)
    for name, value in values.items():
        _write(name, _defaults(value, requires_grad.get(name)))
    st.session_state["plot_var"] = plot_var or next(iter(values))
    st.session_state["_url_errors"] = []


def on_formula() -> None:
    """Callback: a typed formula is no longer the preset, so forget the preset's label."""
    preset = by_label(st.session_state.get("preset") or "")
    if preset is not None and preset.formula != st.session_state.get("formula"):
        st.session_state["preset"] = None
    st.session_state["_url_errors"] = []


def init_state() -> None:
    """Seed a new session once: from the URL when it has a formula, else the first preset."""
    if st.session_state.get("_seeded"):
        return
    st.session_state["_seeded"] = True
    params = st.query_params.to_dict()
    if "formula" not in params:
        st.session_state["preset"] = DEFAULT_PRESET.label
        apply_preset()
        return
    st.session_state["_url_errors"] = _seed_from_url(params)


def _seed_from_url(params: Mapping[str, str | None]) -> list[str]:
    """Set the state from URL parameters; return a message for each one that is not valid."""
    errors: list[str] = []
    formula = params.get("formula") or ""
    # Longer text is refused by parse() anyway; cutting it keeps the session state small.
    st.session_state["formula"] = formula[: MAX_CHARS + 1]
    found: dict[str, dict[str, str]] = {}
    for key, raw in params.items():
        if match := _URL_KEY.fullmatch(key):
            found.setdefault(match[2], {})[match[1]] = raw or ""
    st.session_state["_order"] = list(found)
    for name, fields in found.items():
        settings, problems = _settings_from_url(name, fields)
        errors += problems
        _write(name, settings)
    plot_var = params.get("plot_var")
    if plot_var is not None:
        if name_problem(plot_var) is None:
            st.session_state["plot_var"] = plot_var
        else:
            errors.append("plot_var in the link is not a variable name; it was ignored.")
    projector = params.get("projector")
    if projector is not None:
        st.session_state["projector"] = _BOOLEANS.get(projector.lower(), False)
    return errors


def _settings_from_url(name: str, fields: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    """Read value_NAME, grad_NAME and dtype_NAME strictly; a bad one falls back with a message."""
    errors = []
    value: int | float = 1.0
    if "value" in fields:
        try:
            value = parse_number(fields["value"], f"value_{name}")
        except ExplorerError as error:
            errors.append(f"{error.message} It was set to 1.0.")
    dtype = fields.get("dtype")
    if dtype == "int":
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        elif isinstance(value, float):
            errors.append(f"value_{name} is not a whole number, so {name} stays a float.")
    elif dtype == "float":
        value = float(value)
    elif dtype is not None:
        errors.append(f"dtype_{name} must be int or float; it was ignored.")
    grad = None
    if "grad" in fields:
        grad = _BOOLEANS.get(fields["grad"].lower())
        if grad is None:
            errors.append(f"grad_{name} must be true or false; it was ignored.")
        elif grad and isinstance(value, int):
            errors.append(f"{name} is an integer, which cannot require grad; grad_{name} is off.")
            grad = False
    return _defaults(value, grad), errors


def sync_url(formula: str, names: Iterable[str], extras: Mapping[str, str]) -> None:
    """Write the current view into the URL (only when it changed, to spare the browser history)."""
    wanted = {"formula": formula}
    for name in names:
        settings = _store()[name]
        wanted[f"value_{name}"] = repr(settings["value"])
        wanted[f"grad_{name}"] = "true" if settings["grad"] else "false"
        wanted[f"dtype_{name}"] = settings["dtype"]
    wanted.update(extras)
    if st.query_params.to_dict() != wanted:
        st.query_params.from_dict(wanted)
