"""Name the real problem in a formula Python could not parse, in a student's words.

Python's own messages for half-typed formulas say little ("invalid syntax") or mislead: it reads
``x +* 2`` as ``x + (*2)``, an unpacking. This scan reads the tokens left to right, knowing at each
step whether a value (number, name, bracket) or an operator comes next, and reports the first
place where that expectation fails: two operators in a row, an operator with nothing on one side,
two values with no operator between them, ``2x``, ``sin x``, nothing after ``=``.

    >>> diagnose("y = x +* 2").describe().splitlines()[0]
    "Two operators in a row: '+' and then '*'. (column 8)"
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Collection
from dataclasses import dataclass

from explorer.errors import FormulaError

__all__ = ["diagnose"]

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
    # A number with whatever is glued to it (2x, 1e-5, 0x10): judged as a whole below.
    | (?P<number>(?:\d|\.\d)(?:[eE][+-]\d|[\w.])*)
    | (?P<name>[A-Za-z_]\w*)
    | (?P<operator>\*\*|//|<<|>>|[-+*/%@^&|~])
    | (?P<open>\()
    | (?P<close>\))
    | (?P<assign>=(?!=))
    | (?P<other>.)
    """,
    re.VERBOSE | re.ASCII,
)
_DIGITS = r"\d(?:_?\d)*"
_DECIMAL = rf"(?:{_DIGITS}\.(?:{_DIGITS})?|\.{_DIGITS}|{_DIGITS})(?:[eE][+-]?{_DIGITS})?"
# Every literal Python reads (the parser's allow-list then explains 0x10 or 2j); anything else
# glued to a number is Python's to report, unless it is a number run into a name.
_PYTHON_NUMBER = re.compile(
    rf"{_DECIMAL}[jJ]?|0[xX](?:_?[\da-fA-F])+|0[oO](?:_?[0-7])+|0[bB](?:_?[01])+", re.ASCII
)
_LEADING_ZERO = re.compile(r"0[\d_]*[1-9][\d_]*", re.ASCII)  # Python refuses 0123 (C's octal)
_GLUED = re.compile(rf"({_DECIMAL})([A-Za-z_]\w*)", re.ASCII)
_UNARY = frozenset("+-~")
_BOTH_SIDES = "An operator needs a number or variable on each side."


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str
    text: str
    column: int  # 1-based


class _GiveUp(Exception):
    """The text has something this scan does not judge; Python's own message is used instead."""


def diagnose(text: str, functions: Collection[str] = ()) -> FormulaError | None:
    """Return the first real problem in a formula Python refused, or None to use Python's words.

    ``functions`` are the names that take brackets, so ``sin x`` is told to be ``sin(x)``.
    """
    try:
        _Scan(text, functions).run(_tokens(text))
    except FormulaError as error:
        return error
    except _GiveUp:
        pass
    return None


def _tokens(text: str) -> list[_Token]:
    """Split text into tokens; give up on anything the scan does not judge (quotes, ',', if)."""
    tokens = []
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup or "other"
        if kind == "other" or (kind == "name" and keyword.iskeyword(match.group())):
            raise _GiveUp
        if kind != "space":
            tokens.append(_Token(kind, match.group(), match.start() + 1))
    return tokens


class _Scan:
    """Walk the tokens, expecting a value or an operator in turn; raise at the first mistake."""

    def __init__(self, text: str, functions: Collection[str]) -> None:
        self.text = text
        self.functions = functions
        self.opened: list[_Token] = []
        self.previous: _Token | None = None
        self.want_value = True

    def error(self, message: str, column: int, hint: str | None = None) -> FormulaError:
        return FormulaError(message, source=self.text, column=column, hint=hint)

    def run(self, tokens: list[_Token]) -> None:
        if tokens and tokens[0].kind == "assign":
            raise self.error(
                "Nothing before '=': name the output, or leave out the '='.",
                1,
                hint="Write y = x**2 + 1, or just x**2 + 1.",
            )
        if len(tokens) > 1 and tokens[0].kind == "name" and tokens[1].kind == "assign":
            self.previous, tokens = tokens[1], tokens[2:]
        for token in tokens:
            self.want_value = self.step(token)
            self.previous = token
        self.at_end()

    def step(self, token: _Token) -> bool:
        """Judge one token; return whether a value must come next."""
        if token.kind == "number":
            self.number(token)
        if token.kind in ("number", "name"):
            if not self.want_value:
                raise self.missing_operator(token)
            return False
        if token.kind == "open":
            self.opened.append(token)
            return True  # after a value, "(" is a call, which Python reads; the allow-list judges
        if token.kind == "close":
            self.close()
            return False
        if token.kind == "operator":
            self.operator(token)
            return True
        raise _GiveUp  # a second '=': Python's message says it

    def number(self, token: _Token) -> None:
        if _LEADING_ZERO.fullmatch(token.text):
            raise self.error(
                f"A whole number cannot start with 0: write {token.text.lstrip('0_')}, "
                f"not {token.text}.",
                token.column,
            )
        if glued := _GLUED.fullmatch(token.text):
            number, name = glued.groups()
            raise self.error(
                f"Missing * between {number} and {name}: write {number}*{name}, not {token.text}.",
                token.column + len(number),
            )
        if not _PYTHON_NUMBER.fullmatch(token.text):
            raise _GiveUp

    def missing_operator(self, token: _Token) -> FormulaError:
        """A value right after a value: say which operator (or bracket) is missing."""
        previous = self.previous
        before = "(...)" if previous is None or previous.kind == "close" else previous.text
        if before in self.functions:
            return self.error(
                f"{before} is a function: put what it takes in brackets, {before}({token.text}).",
                token.column,
            )
        return self.error(
            f"Missing operator between {before} and {token.text}.",
            token.column,
            hint=f"For a product write {before}*{token.text}.",
        )

    def operator(self, token: _Token) -> None:
        if not self.want_value or token.text in _UNARY:
            return  # a binary operator after a value, or a sign: -x, x * -2, x + +1
        if self.previous is not None and self.previous.kind == "operator":
            raise self.error(
                f"Two operators in a row: {self.previous.text!r} and then {token.text!r}.",
                token.column,
                hint=f"{_BOTH_SIDES} Remove one, or write what goes between them.",
            )
        raise self.error(f"{token.text!r} has nothing on its left.", token.column, hint=_BOTH_SIDES)

    def close(self) -> None:
        previous = self.previous
        if self.want_value and previous is not None and previous.kind == "operator":
            raise self.error(
                f"{previous.text!r} has nothing on its right.", previous.column, hint=_BOTH_SIDES
            )
        if not self.opened:
            raise _GiveUp  # Python says "unmatched ')'" at the right place
        # "()" is an empty call or tuple: Python reads it, and the allow-list judges it.
        self.opened.pop()

    def at_end(self) -> None:
        previous = self.previous
        if not self.want_value or previous is None:
            return  # complete but for brackets: Python names the '(' that is never closed
        if previous.kind == "operator":
            raise self.error(
                f"The formula ends with {previous.text!r}, which has nothing on its right.",
                previous.column,
                hint=f"{_BOTH_SIDES} Finish it, e.g. x{previous.text}2.",
            )
        if previous.kind == "assign":
            raise self.error(
                "Nothing after '=': write what to compute.",
                len(self.text) + 1,
                hint="A formula looks like y = x**2 + 1.",
            )
