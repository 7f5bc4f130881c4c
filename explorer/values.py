"""Parse and check the numbers a person gives: NAME=VALUE arguments, URL values, explore() values.

Text is read strictly: plain ASCII decimal only, so ``nan``, ``inf``, ``1_000``, ``0x10`` and
non-ASCII digits (which ``float()`` would accept) are refused with a message.

    >>> parse_number("3"), parse_number("-1.5e0")
    (3, -1.5)
"""

from __future__ import annotations

import math
import re

from explorer.errors import InputError

__all__ = [
    "MAX_MAGNITUDE",
    "MAX_NAME_LENGTH",
    "NAME",
    "check_value",
    "parse_assignment",
    "parse_number",
    "to_int",
]

MAX_MAGNITUDE = 1e12
MAX_NAME_LENGTH = 40
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*", re.ASCII)  # the one rule for names, everywhere
_INT = re.compile(r"[+-]?0*(\d+)", re.ASCII)
_FLOAT = re.compile(r"[+-]?(?:\d+\.\d*|\.\d+|\d+(?=[eE]))(?:[eE][+-]?\d+)?", re.ASCII)
_MAX_INT_DIGITS = len(str(int(MAX_MAGNITUDE)))  # more digits are over the limit, however many
_MAX_FLOAT_TEXT = 100  # float() of longer text is not worth its time


def check_value(name: str, value: object) -> int | float:
    """Return value if it is a finite int or float within the limit, else raise InputError."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"The value of {name} must be a number, not {type(value).__name__}.")
    # Plain int/float from here on: a subclass could print itself differently in the script.
    value = int(value) if isinstance(value, int) else float(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"The value of {name} must be a finite number, not {value}.")
    if abs(value) > MAX_MAGNITUDE:  # ints are compared exactly, so 10**400 is simply too large
        raise _too_large(name)
    return value


def _too_large(name: str) -> InputError:
    return InputError(f"The value of {name} is too large; the limit is {MAX_MAGNITUDE:g}.")


def parse_number(text: str, name: str = "the value") -> int | float:
    """Read ``3`` as an int and ``3.0``, ``-1.5e0`` or ``2e3`` as a float; refuse anything else.

    A well-formed number beyond the limit (17 digits, ``1e400``) is "too large", not "not a number".
    """
    if match := _INT.fullmatch(text):
        if len(match.group(1)) > _MAX_INT_DIGITS:  # refused before int(), which is slow on 10**6
            raise _too_large(name)
        return check_value(name, int(text))
    if len(text) <= _MAX_FLOAT_TEXT and _FLOAT.fullmatch(text):
        value = float(text)
        if math.isinf(value):  # 1e400 overflows to inf; it was typed as a (huge) number
            raise _too_large(name)
        return check_value(name, value)
    raise InputError(
        f"{text[:40]!r} is not a number for {name}.",
        hint="Write a plain number like 3 (an integer tensor) or 3.0, -1.5, 2e3 (float tensors).",
    )


def parse_assignment(text: str) -> tuple[str, int | float]:
    """Split ``NAME=VALUE`` into a name and a strictly parsed number."""
    name, sep, value = text.partition("=")
    if not sep or not NAME.fullmatch(name):
        raise InputError(
            f"{text[:60]!r} is not NAME=VALUE.", hint="Give inputs like x=3 (int) or x=3.0 (float)."
        )
    return name, parse_number(value, name)


def to_int(value: float) -> int:
    """Round to the nearest integer, halves away from zero: 2.5 -> 3, -2.5 -> -3, 3.5 -> 4.

    This is the one rounding used when a float becomes an int (school rounding, unlike Python's
    ``round``, which sends halves to the even neighbour: round(2.5) == 2).
    """
    if not math.isfinite(value):
        raise InputError(f"{value} has no nearest integer.")
    magnitude = abs(value)
    whole = math.floor(magnitude)
    # magnitude - whole is exact in binary floating point, so 0.49999999999999994 stays below a half
    # (floor(magnitude + 0.5) would round it up to 1).
    if magnitude - whole >= 0.5:
        whole += 1
    return whole if value >= 0 else -whole
