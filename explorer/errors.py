"""Say what went wrong in words a student understands.

Every problem a person can cause is one of these, and nothing else leaves ``explore()``::

    ExplorerError (ValueError)    anything the person can fix; str() shows where
    ├── FormulaError              the text is not a formula we accept
    │   └── LimitError            the formula is too long, too deep or too big
    ├── InputError                a value, a requires_grad flag or a NAME=VALUE is wrong
    ├── ComputeError              PyTorch (or plain arithmetic) refused the computation
    └── RenderError               the ``dot`` program is missing or failed
"""

from __future__ import annotations

__all__ = [
    "ComputeError",
    "ExplorerError",
    "FormulaError",
    "InputError",
    "LimitError",
    "RenderError",
]


class ExplorerError(ValueError):
    """Report a problem the person can fix, with the text and column where it is."""

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        column: int | None = None,
        hint: str | None = None,
        line: int | None = None,
    ) -> None:
        self.message = message
        self.source = source  # the line the problem is on
        self.column = column  # 1-based, counted in characters of ``source``
        self.hint = hint
        self.line = line  # 1-based, in a formula of several lines; None for one line
        super().__init__(self.describe())

    def caret(self) -> str:
        """Return the source line with a caret under the column, or '' when unknown."""
        if self.source is None or self.column is None:
            return ""
        return f"{self.source}\n{' ' * (self.column - 1)}^"

    def describe(self) -> str:
        """Return the whole message: what, where (with a caret line) and a hint."""
        places = [f"line {self.line}"] if self.line is not None else []
        places += [f"column {self.column}"] if self.column is not None else []
        where = f" ({', '.join(places)})" if places else ""
        parts = [f"{self.message}{where}"]
        if caret := self.caret():
            parts.append(caret)
        if self.hint:
            parts.append(self.hint)
        return "\n".join(parts)


class FormulaError(ExplorerError):
    """Reject text that is not a formula of the language."""


class LimitError(FormulaError):
    """Reject a formula that is over one of the documented limits."""


class InputError(ExplorerError):
    """Reject a value, a requires_grad flag or a NAME=VALUE argument."""


class ComputeError(ExplorerError):
    """Report a computation that PyTorch or plain arithmetic refuses."""


class RenderError(ExplorerError):
    """Report that the graph could not be rendered by the ``dot`` program."""
