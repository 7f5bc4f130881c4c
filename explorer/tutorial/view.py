"""A view of the app as the link's keys: read a query string, and turn a view into CLI inputs.

A view is the ordered list of ``(key, value)`` pairs that the app reads from its URL::

    >>> parse_view("formula=z = x**y&value_x=3.0&value_y=4.0")
    (('formula', 'z = x**y'), ('value_x', '3.0'), ('value_y', '4.0'))

Text with a ``%XX`` escape is URL-encoded (as the app's "Copy link" writes it, with ``+`` for a
space); any other text is taken as typed, so ``formula=x+1`` keeps its plus.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from urllib.parse import parse_qsl, urlencode

from explorer.errors import InputError
from explorer.formula import parse
from explorer.presets import by_label
from explorer.values import NAME, parse_number

__all__ = [
    "DEFAULT_SIZE",
    "PAGE_KEYS",
    "PANELS",
    "View",
    "ViewError",
    "check_keys",
    "cli_inputs",
    "parse_size",
    "parse_view",
    "query",
]

View = tuple[tuple[str, str], ...]
PANELS = ("page", "transcript", "graph", "plot", "code")
DEFAULT_SIZE = (1280, 720)
_SIDES = range(200, 4001)  # pixels
# The keys of explorer/ui/state.py (view shows one panel alone), and Streamlit's embed switches.
PAGE_KEYS = (
    "formula",
    "preset",
    "plot_var",
    "derivative",
    "projector",
    "view",
    "embed",
    "embed_options",
)
FIELDS = ("value", "grad", "dtype", "min", "max", "step")
_FIELD_KEY = re.compile(rf"({'|'.join(FIELDS)})_({NAME.pattern})", re.ASCII)
_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


class ViewError(InputError):
    """Reject a view's key or value; ``key`` names the key at fault, when one is."""

    def __init__(self, message: str, *, key: str | None = None, hint: str | None = None) -> None:
        self.key = key
        super().__init__(message, hint=hint)


def parse_view(text: str) -> View:
    """Read a query string (or a whole link), encoded or not, into checked (key, value) pairs."""
    text = text.strip()
    if "?" in text and "=" not in text.partition("?")[0]:
        text = text.partition("?")[2]  # a whole link: keep what follows the "?"
    if _ESCAPE.search(text):
        try:
            pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=True)
        except ValueError:
            raise ViewError(f"{text[:60]!r} is not a query string of key=value pairs.") from None
    else:
        pairs = [_split(item) for item in text.split("&") if item]
    view = tuple(pairs)
    check_keys(key for key, _ in view)
    return view


def _split(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep:
        raise ViewError(f"{item[:60]!r} is not key=value.", hint="Write it like value_x=3.0.")
    return key.strip(), value.strip()


def check_keys(keys: Iterable[str]) -> None:
    """Refuse a key the app does not read, and a key given twice."""
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            raise ViewError(f"{key} is given twice.", key=key)
        seen.add(key)
        if key not in PAGE_KEYS and not _FIELD_KEY.fullmatch(key):
            raise ViewError(
                f"{key[:60]!r} is not a key the app reads.",
                key=key,
                hint=f"The keys are {', '.join(PAGE_KEYS)} and {', '.join(FIELDS)} followed "
                "by _ and an input's name, like value_x.",
            )


def query(view: View) -> str:
    """Return the view as a URL-encoded query string, keys in their order."""
    return urlencode(view)


def cli_inputs(view: View) -> tuple[str, dict[str, int | float], dict[str, bool]]:
    """Return the formula, values and requires_grad flags that the CLI takes for this view.

    Inputs come in the app's order: as the link first names them, then the formula's other
    variables, which the app starts at 1.0. Every value the app would warn about is refused here,
    so a view that passes gives the app's own picture of the same tensors.
    """
    params = dict(view)
    if "formula" not in params:
        raise ViewError("A view needs a formula, like formula = y = w*x + b.")
    variables = parse(params["formula"]).variables
    fields: dict[str, dict[str, str]] = {}
    for key, raw in view:
        if match := _FIELD_KEY.fullmatch(key):
            if match[2] not in variables:
                raise ViewError(f"{key}: the formula has no input {match[2]}.", key=key)
            fields.setdefault(match[2], {})[match[1]] = raw
    order = [*fields, *(name for name in variables if name not in fields)]
    values, grads = {}, {}
    for name in order:
        values[name], grads[name] = _input(name, fields.get(name, {}))
    _check_page(params, order)
    return params["formula"], values, grads


def _input(name: str, fields: dict[str, str]) -> tuple[int | float, bool]:
    """Return an input's value and requires_grad as the app reads them from its link."""
    value = _number(fields, "value", name, 1.0)
    dtype = fields.get("dtype")
    if dtype == "int":
        if isinstance(value, float) and not value.is_integer():
            raise ViewError(
                f"value_{name} is not a whole number, so {name} cannot be an int.",
                key=f"value_{name}",
            )
        value = int(value)
    elif dtype == "float":
        value = float(value)
    elif dtype is not None:
        raise ViewError(f"dtype_{name} must be int or float.", key=f"dtype_{name}")
    grad = _boolean(fields, "grad", name)
    if grad and isinstance(value, int):
        raise ViewError(f"{name} is an integer, which cannot require grad.", key=f"grad_{name}")
    _check_range(name, fields, value)
    return value, (not isinstance(value, int)) if grad is None else grad


def _number(fields: dict[str, str], field: str, name: str, default: float) -> int | float:
    if field not in fields:
        return default
    try:
        return parse_number(fields[field], f"{field}_{name}")
    except InputError as error:
        raise ViewError(error.message, key=f"{field}_{name}", hint=error.hint) from None


def _boolean(fields: dict[str, str], field: str, name: str) -> bool | None:
    key = f"{field}_{name}" if name else field
    if field not in fields:
        return None
    value = _BOOLEANS.get(fields[field].lower())
    if value is None:
        raise ViewError(f"{key} must be true or false.", key=key)
    return value


def _check_range(name: str, fields: dict[str, str], value: int | float) -> None:
    """Refuse a slider range the app would widen or a step it would not use."""
    low = _number(fields, "min", name, -float("inf"))
    high = _number(fields, "max", name, float("inf"))
    if "step" in fields and _number(fields, "step", name, 1) <= 0:
        raise ViewError(f"step_{name} must be more than 0.", key=f"step_{name}")
    if not low < high or not low <= value <= high:
        key = f"min_{name}" if "min" in fields else f"max_{name}"
        raise ViewError(f"The range of {name} does not hold its value {value}.", key=key)


def _check_page(params: dict[str, str], names: Sequence[str]) -> None:
    """Refuse page settings the app would ignore: a bad switch, plot_var or preset."""
    for flag in ("derivative", "projector"):
        _boolean(params, flag, "")
    plot_var = params.get("plot_var")
    if plot_var is not None and plot_var not in names:
        raise ViewError(f"plot_var: the formula has no input {plot_var!r}.", key="plot_var")
    label = params.get("preset")
    if label is not None:
        preset = by_label(label)
        if preset is None:
            raise ViewError(f"preset: {label!r} is not one of the examples.", key="preset")
        if preset.formula != params["formula"]:
            raise ViewError(
                f"preset: the example's formula is {preset.formula}, not this one.", key="preset"
            )


def parse_size(text: str) -> tuple[int, int]:
    """Read ``WxH`` (like 1280x720) into (width, height); each side 200 to 4000 pixels."""
    match = re.fullmatch(r"\s*(\d{1,5})\s*[xX]\s*(\d{1,5})\s*", text)
    if not match or int(match[1]) not in _SIDES or int(match[2]) not in _SIDES:
        raise ViewError(
            f"{text[:30]!r} is not a size.",
            key="size",
            hint="Write WIDTHxHEIGHT, each side 200 to 4000 pixels, like 1280x720.",
        )
    return int(match[1]), int(match[2])
