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
]

MAX_MAGNITUDE = 1e12
MAX_NAME_LENGTH = 40
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*", re.ASCII)  # the one rule for names, everywhere
_INT = re.compile(r"[+-]?\d{1,16}", re.ASCII)
_FLOAT = re.compile(r"[+-]?(?:\d+\.\d*|\.\d+|\d+(?=[eE]))(?:[eE][+-]?\d{1,3})?", re.ASCII)


def check_value(name: str, value: object) -> int | float:
    """Return value if it is a finite int or float within the limit, else raise InputError."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"The value of {name} must be a number, not {type(value).__name__}.")
    # Plain int/float from here on: a subclass could print itself differently in the script.
    value = int(value) if isinstance(value, int) else float(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"The value of {name} must be a finite number, not {value}.")
    if abs(value) > MAX_MAGNITUDE:  # ints are compared exactly, so 10**400 is simply too large
        raise InputError(f"The value of {name} is too large; the limit is {MAX_MAGNITUDE:g}.")
    return value


def parse_number(text: str, name: str = "the value") -> int | float:
    """Read ``3`` as an int and ``3.0``, ``-1.5e0`` or ``2e3`` as a float; refuse anything else."""
    if _INT.fullmatch(text):
        return check_value(name, int(text))
    if len(text) <= 40 and _FLOAT.fullmatch(text):
        return check_value(name, float(text))
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
