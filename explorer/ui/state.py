"""Keep the page's state: each variable's settings, presets, the last good formula, and the URL.

Widgets are addressed by key (``value_x``, ``grad_x``, ``dtype_x``, ``min_x``...). Streamlit forgets
a widget's state when the widget is not drawn in a run, so each variable's settings also live in a
plain store (``_settings``) that callbacks update: a variable keeps its value when the formula
changes. URL parameters are untrusted text and go through the same strict parsing as the CLI, and
every derived bound is clamped to the limits, so no link can give a slider an empty range.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

import streamlit as st

from explorer.errors import ExplorerError
from explorer.evaluate import MAX_BACKWARD_CALLS
from explorer.formula import MAX_CHARS, name_problem, parse
from explorer.presets import PRESETS, Preset, by_label
from explorer.values import MAX_MAGNITUDE, NAME, parse_number, to_int

__all__ = [
    "CHOICES",
    "COUNTS",
    "FIELDS",
    "PANELS",
    "apply_preset",
    "current_backward",
    "current_inputs",
    "default_step",
    "hold_range",
    "init_state",
    "input_order",
    "keep",
    "keep_view_keys",
    "last_good",
    "move_step",
    "on_dtype",
    "on_formula",
    "on_range",
    "on_step",
    "page_params",
    "remember",
    "remember_good",
    "shown_step",
    "url_params",
    "variable_settings",
    "view_params",
]

FIELDS = ("value", "grad", "dtype", "min", "max", "step")
_URL_KEY = re.compile(rf"(value|grad|dtype|min|max|step)_({NAME.pattern})", re.ASCII)
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}
# Page switches, kept in the URL only when on.
_PAGE_FLAGS = ("derivative", "projector", "second", "grad_graph", "retain_graph")
# The left column's views: URL value -> label (the view switch keeps the label as its state).
PANELS = {"plot": "Plot", "steps": "Steps", "second": "2nd derivative", "check": "Check"}
# Page choices: key -> (allowed values, default), kept in the URL only when not the default.
CHOICES: dict[str, tuple[tuple[str, ...], str]] = {
    "plot_mode": (("curve", "surface", "contour"), "curve"),
    "panel": (tuple(PANELS), "plot"),
}
# Page counts: key -> (lowest, highest, default); a step past the last is clamped when drawn,
# and the last step (the full view) is the default, left out of the URL.
COUNTS: dict[str, tuple[int, int, int | None]] = {
    "backward_calls": (1, MAX_BACKWARD_CALLS, 1),
    "step": (0, 10_000, None),
}
_RETAIN_KEY = re.compile(rf"retain_({NAME.pattern})", re.ASCII)
DEFAULT_PRESET = PRESETS[0]
EMBED_PANELS = ("graph", "plot", "transcript")
LIMIT = MAX_MAGNITUDE
MIN_STEP = 1e-6  # the smallest float step the range box offers


def default_step(*, is_int: bool) -> int | float:
    """Return a slider's step: whole numbers for an integer tensor, tenths for a float."""
    return 1 if is_int else 0.1


def _clamp(value: float) -> float:
    return max(-LIMIT, min(LIMIT, value))


def _defaults(value: int | float, grad: bool | None = None) -> dict[str, Any]:
    """Return settings for a value: float or int, a range that holds it, grad on for floats."""
    is_int = isinstance(value, int)
    low = _clamp(min(-5, math.floor(value) - 1))
    high = _clamp(max(5, math.ceil(value) + 1))
    return {
        "value": value,
        "grad": (not is_int) if grad is None else grad,
        "dtype": "int" if is_int else "float",
        "min": int(low) if is_int else float(low),
        "max": int(high) if is_int else float(high),
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


def hold_range(name: str) -> None:
    """Keep a variable's range in its widgets' keys while its range inputs are not drawn.

    Streamlit forgets an undrawn widget's value and brings back the first one its key was given,
    which the next callback would copy into the store; the store's own range is written instead.
    """
    settings = variable_settings(name)
    for field in ("min", "max", "step"):
        st.session_state[f"{field}_{name}"] = settings[field]


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


def remember_good(text: str, inputs: tuple[tuple[str, str, int | float, bool], ...]) -> None:
    """Keep the last formula that gave a full view and its inputs, to show while typing."""
    st.session_state["_good"] = (text, inputs)


def last_good() -> tuple[str, tuple[tuple[str, str, int | float, bool], ...]] | None:
    """Return the last formula that gave a full view, with the inputs it had then."""
    return st.session_state.get("_good")


def remember(name: str) -> None:
    """Callback: copy a variable's widget values into the store."""
    settings = variable_settings(name)
    for field in FIELDS:
        key = f"{field}_{name}"
        if key in st.session_state:
            settings[field] = st.session_state[key]
    if isinstance(settings["value"], float):
        # A float slider reports 0.30000000000000004; the transcript and URL should say 0.3.
        # 15 significant digits clean that without moving 1e-10 to 0, and the range still holds.
        value = float(f"{settings['value']:.15g}")
        settings["value"] = min(max(value, settings["min"]), settings["max"])
    st.session_state["_url_errors"] = []


def on_dtype(name: str) -> None:
    """Callback: switch a variable between int and float, the way torch.tensor would see it."""
    remember(name)
    settings = _store()[name]
    if settings["dtype"] == "int":
        new = _defaults(to_int(settings["value"]), grad=False)
        low, high = math.floor(_clamp(settings["min"])), math.ceil(_clamp(settings["max"]))
    else:
        new = _defaults(float(settings["value"]))
        low, high = float(settings["min"]), float(settings["max"])
    # Keep the range the person chose when it still holds the value and one step.
    if low <= new["value"] <= high and low < high:
        new["min"], new["max"] = low, high
    _write(name, new)


def on_range(name: str) -> None:
    """Callback: accept a new slider range and step, keeping the value inside the range."""
    remember(name)
    settings = _store()[name]
    _write(name, _fit_range(settings))


def _step(step: float, *, is_int: bool) -> int | float:
    """Return a usable slider step: whole and at least 1 for ints, at least MIN_STEP for floats."""
    if not step > 0:
        return default_step(is_int=is_int)
    if is_int:
        return int(min(max(1, math.ceil(step)), LIMIT))
    return float(min(max(step, MIN_STEP), LIMIT))


def _fit_range(settings: dict[str, Any]) -> dict[str, Any]:
    """Return settings whose range is inside the limits, non-empty, and holds the value."""
    cast = int if settings["dtype"] == "int" else float
    low, high = (cast(_clamp(settings[end])) for end in ("min", "max"))
    step = _step(settings["step"], is_int=cast is int)
    if high <= low:
        # An empty range would break the slider: keep the width of one step, inside the limits.
        high = min(low + step, cast(LIMIT))
        if high <= low:  # low is at the upper limit: open the range downwards instead
            low = max(high - step, cast(-LIMIT))
    value = min(max(settings["value"], low), high)
    return {**settings, "min": low, "max": high, "step": step, "value": cast(value)}


def _intermediates(formula: str) -> tuple[str, ...]:
    """Return the intermediates a preset's formula names."""
    return parse(formula).names


def apply_preset() -> None:
    """Callback: load the chosen preset's formula, inputs, ranges and view."""
    preset = by_label(st.session_state.get("preset") or "")
    if preset is None:
        return
    st.session_state["formula"] = preset.formula
    st.session_state["_order"] = list(preset.values)
    for name, value in preset.values.items():
        _write(name, _preset_settings(preset, name, value))
    st.session_state["plot_var"] = preset.plot_var or next(iter(preset.values))
    st.session_state["plot_var2"] = preset.plot_var2
    st.session_state["plot_mode"] = preset.plot_mode
    st.session_state["second"] = preset.second
    # Lessons about backward itself open with its settings and, maybe, on the steps view.
    for name in _intermediates(preset.formula):
        st.session_state[f"retain_{name}"] = name in preset.retain
    st.session_state["backward_calls"] = preset.backward_calls
    st.session_state["retain_graph"] = preset.retain_graph
    st.session_state["panel"] = PANELS[preset.panel]
    st.session_state["_step_end"] = True  # a new graph opens on its full view
    st.session_state["_url_errors"] = []


def _preset_settings(preset: Preset, name: str, value: int | float) -> dict[str, Any]:
    """Return an input's settings as a preset opens it: its value, flag and range."""
    settings = _defaults(value, preset.requires_grad.get(name))
    if name in preset.ranges:
        low, high = preset.ranges[name]
        settings.update(_fit_range({**settings, "min": low, "max": high}))
    return settings


def on_formula() -> None:
    """Callback: a typed formula is no longer the preset, so forget the preset's label."""
    preset = by_label(st.session_state.get("preset") or "")
    if preset is not None and preset.formula != st.session_state.get("formula"):
        st.session_state["preset"] = None
    st.session_state["_step_end"] = True  # a new graph opens on its full view
    st.session_state["_url_errors"] = []


def init_state() -> None:
    """Seed a new session once: from the URL when it has a formula, else the first preset."""
    if st.session_state.get("_seeded"):
        return
    st.session_state["_seeded"] = True
    params = st.query_params.to_dict()
    if not params:
        st.session_state["preset"] = DEFAULT_PRESET.label
        apply_preset()
        return
    if "formula" not in params:
        # A link with a preset (or only switches) opens that preset, then applies the rest.
        preset = by_label(params.get("preset") or "") or DEFAULT_PRESET
        params = {**_preset_params(preset), **params}
    st.session_state["_url_errors"] = _seed_from_url(params)


def _preset_params(preset: Preset) -> dict[str, str]:
    """Return the link parameters of a preset as first loaded."""
    params = {"formula": preset.formula, "preset": preset.label}
    for name, value in preset.values.items():
        settings = _preset_settings(preset, name, value)
        params[f"value_{name}"] = repr(value)
        params[f"grad_{name}"] = "true" if settings["grad"] else "false"
        params[f"dtype_{name}"] = settings["dtype"]
        if name in preset.ranges:
            params[f"min_{name}"] = repr(settings["min"])
            params[f"max_{name}"] = repr(settings["max"])
    params["plot_var"] = preset.plot_var or next(iter(preset.values))
    if preset.plot_var2:
        params["plot_var2"] = preset.plot_var2
    if preset.plot_mode != "curve":
        params["plot_mode"] = preset.plot_mode
    if preset.second:
        params["second"] = "true"
    params |= {f"retain_{name}": "true" for name in preset.retain}
    if preset.backward_calls != 1:
        params["backward_calls"] = str(preset.backward_calls)
    if preset.retain_graph:
        params["retain_graph"] = "true"
    if preset.panel != "plot":
        params["panel"] = preset.panel
    return params


def _seed_from_url(params: Mapping[str, str | None]) -> list[str]:
    """Set the state from URL parameters; return a message for each one that is not valid."""
    errors: list[str] = []
    formula = params.get("formula") or ""
    # Longer text is refused by parse() anyway; cutting it keeps the session state small.
    st.session_state["formula"] = formula[: MAX_CHARS + 1]
    found: dict[str, dict[str, str]] = {}
    for key, raw in params.items():
        if key not in _PAGE_FLAGS and (match := _URL_KEY.fullmatch(key)):
            found.setdefault(match[2], {})[match[1]] = raw or ""
    try:
        parsed = parse(st.session_state["formula"])
        used, intermediates = set(parsed.variables), set(parsed.names)
    except ExplorerError:
        used, intermediates = set(found), None  # the formula box will say what is wrong with it
    for name in [name for name in found if name not in used]:
        errors.append(f"{name} is not used by the formula; its settings were ignored.")
        del found[name]
    st.session_state["_order"] = list(found)
    for name, fields in found.items():
        settings, problems = _settings_from_url(name, fields)
        errors += problems
        _write(name, settings)
    retains = [key for key in params if key not in _PAGE_FLAGS and _RETAIN_KEY.fullmatch(key)]
    unknown = [key for key in retains if intermediates is not None and key[7:] not in intermediates]
    errors += [
        f"{key[7:]} is not an intermediate of the formula; {key} was ignored." for key in unknown
    ]
    flags = [*_PAGE_FLAGS, *(key for key in retains if key not in unknown)]
    for flag in flags:
        raw = params.get(flag)
        if raw is not None:
            value = _BOOLEANS.get(raw.lower())
            if value is None:
                errors.append(f"{flag} must be true or false; it was ignored.")
            st.session_state[flag] = bool(value)
    errors += _page_from_url(params)
    errors += _preset_from_url(params.get("preset"), formula)
    errors += _embed_from_url(params.get("view"))
    return errors


def _plotted_from_url(params: Mapping[str, str | None]) -> list[str]:
    """Set the inputs to plot along (plot_var, plot_var2) from a link, if they are names."""
    errors = []
    for key in ("plot_var", "plot_var2"):
        name = params.get(key)
        if name is None:
            continue
        if name_problem(name) is None:
            st.session_state[key] = name
        else:
            errors.append(f"{key} in the link is not a variable name; it was ignored.")
    return errors


def _page_from_url(params: Mapping[str, str | None]) -> list[str]:
    """Set the page's choices and counts from a link; say why any was not used."""
    errors = _plotted_from_url(params)
    for key, (allowed, _) in CHOICES.items():
        raw = params.get(key)
        if raw is None:
            continue
        if raw in allowed:
            st.session_state[key] = PANELS[raw] if key == "panel" else raw
        else:
            errors.append(f"{key} must be one of {', '.join(allowed)}; it was ignored.")
    for key, (low, high, _) in COUNTS.items():
        raw = params.get(key)
        if raw is None:
            continue
        if raw.isascii() and raw.isdigit() and low <= int(raw) <= high:
            st.session_state[key] = int(raw)
            if key == "step":
                st.session_state["_step_end"] = False
        else:
            errors.append(f"{key} must be a whole number from {low} to {high}; it was ignored.")
    return errors


def page_params(names: Iterable[str], intermediates: Iterable[str]) -> dict[str, str]:
    """Return the page's switches, choices and counts that differ from their defaults."""
    names = list(names)
    page: dict[str, str] = {}
    for key in ("plot_var", "plot_var2"):
        if st.session_state.get(key) in names:
            page[key] = st.session_state[key]
    flags = [*_PAGE_FLAGS, *(f"retain_{name}" for name in intermediates)]
    for flag in flags:
        if st.session_state.get(flag):
            page[flag] = "true"
    if st.session_state.get("plot_mode", "curve") != "curve":
        page["plot_mode"] = st.session_state["plot_mode"]
    panel = next(
        (key for key, label in PANELS.items() if label == st.session_state.get("panel")), None
    )
    if panel not in (None, "plot"):
        page["panel"] = panel
    if st.session_state.get("backward_calls") not in (None, 1):
        page["backward_calls"] = str(st.session_state["backward_calls"])
    stepping = page.get("panel") == "steps" and not st.session_state.get("_step_end", True)
    if stepping and st.session_state.get("step") is not None:
        page["step"] = str(st.session_state["step"])
    return page


def current_backward(intermediates: Iterable[str]) -> tuple[tuple[str, ...], int, bool]:
    """Return how backward runs: the intermediates to retain, the calls, retain_graph."""
    retain = tuple(name for name in intermediates if st.session_state.get(f"retain_{name}"))
    calls = st.session_state.get("backward_calls") or 1
    return retain, int(calls), bool(st.session_state.get("retain_graph"))


# Widgets drawn in one view only: Streamlit forgets a widget's value in a run that does not draw it.
_VIEW_KEYS = (
    "plot_var",
    "plot_var2",
    "plot_mode",
    "derivative",
    "second",
    "second_var",
    "grad_graph",
)


def keep_view_keys() -> None:
    """Keep the values of the widgets of the views not shown in this run."""
    keep(_VIEW_KEYS)


def keep(keys: Iterable[str]) -> None:
    """Keep the values of widgets that this run does not draw (Streamlit would forget them)."""
    for key in keys:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]


def shown_step(last: int) -> int:
    """Return the backward step to show, 0 to ``last``; by default the last (the full view)."""
    step = st.session_state.get("step")
    if step is None or st.session_state.get("_step_end", True) or not 0 <= step <= last:
        step = last
        st.session_state["_step_end"] = True
    st.session_state["step"] = step
    return step


def on_step(last: int) -> None:
    """Callback: the step slider moved; at the last step the view follows new formulas' ends."""
    st.session_state["_step_end"] = st.session_state.get("step") == last


def move_step(delta: int, last: int) -> None:
    """Callback: go one step back or forward."""
    step = st.session_state.get("step")
    step = last if step is None else step
    st.session_state["step"] = min(max(step + delta, 0), last)
    on_step(last)


def _embed_from_url(panel: str | None) -> list[str]:
    """Remember ``view=graph|plot|transcript``: the page then shows that panel alone."""
    if panel is None:
        return []
    if panel not in EMBED_PANELS:
        return [f"view must be one of {', '.join(EMBED_PANELS)}; the whole page is shown."]
    st.session_state["embed"] = panel
    return []


def _preset_from_url(label: str | None, formula: str) -> list[str]:
    """Show a preset's lesson only when the link's formula is still that preset's formula."""
    if label is None:
        return []
    preset = by_label(label)
    if preset is None:
        return ["preset in the link is not one of the examples; it was ignored."]
    if preset.formula == formula:
        st.session_state["preset"] = preset.label
    return []


def _settings_from_url(name: str, fields: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    """Read a variable's fields strictly; a bad one falls back to its default with a message."""
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
    settings = _defaults(value, grad)
    errors += _range_from_url(name, fields, settings)
    return settings, errors


def _range_from_url(name: str, fields: Mapping[str, str], settings: dict[str, Any]) -> list[str]:
    """Apply min_, max_ and step_ from a link to ``settings``; say why any was not used."""
    errors = []
    wanted = dict(settings)
    for field in ("min", "max", "step"):
        if field not in fields:
            continue
        try:
            number = parse_number(fields[field], f"{field}_{name}")
        except ExplorerError as error:
            errors.append(f"{error.message} The default was used.")
            continue
        if field == "step" and number <= 0:
            errors.append(f"step_{name} must be more than 0; the default was used.")
            continue
        wanted[field] = number
    if wanted == settings:
        return errors
    if not wanted["min"] < wanted["max"] or not wanted["min"] <= settings["value"] <= wanted["max"]:
        errors.append(f"The range of {name} in the link does not hold its value; it was widened.")
        wanted["min"] = min(wanted["min"], settings["value"])
        wanted["max"] = max(wanted["max"], settings["value"])
    settings.update(_fit_range(wanted))
    return errors


def view_params(text: str, names: list[str], intermediates: Iterable[str] = ()) -> dict[str, str]:
    """Return the query parameters of this view (page settings only when not the default)."""
    page = {}
    if st.session_state.get("preset"):
        page["preset"] = st.session_state["preset"]
    page |= page_params(names, intermediates)
    return url_params(text, names, page)


def url_params(formula: str, names: Iterable[str], page: Mapping[str, str]) -> dict[str, str]:
    """Return the query parameters that restore this view: formula, page settings, each input.

    A variable's range and step are written only when they differ from the defaults for its
    value, since opening the link computes those same defaults.
    """
    wanted = {"formula": formula, **page}
    for name in names:
        settings = _store()[name]
        wanted[f"value_{name}"] = repr(settings["value"])
        wanted[f"grad_{name}"] = "true" if settings["grad"] else "false"
        wanted[f"dtype_{name}"] = settings["dtype"]
        defaults = _defaults(settings["value"])
        for field in ("min", "max", "step"):
            if settings[field] != defaults[field] or type(settings[field]) is not type(
                defaults[field]
            ):
                wanted[f"{field}_{name}"] = repr(settings[field])
    return wanted
