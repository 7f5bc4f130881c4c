"""Run the whole pipeline: text -> Formula -> Evaluation -> Exploration (transcript, DOT, code)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from explorer.code import script
from explorer.dot import to_dot
from explorer.errors import ComputeError, ExplorerError, InputError
from explorer.evaluate import Evaluation, Input, evaluate
from explorer.formula import Formula, parse
from explorer.graph import Graph
from explorer.notes import notes
from explorer.transcript import transcript

__all__ = ["Exploration", "explore"]


@dataclass(frozen=True, slots=True)
class Exploration:
    """All that a front end shows for one formula and its inputs; plain, picklable data."""

    formula: Formula
    inputs: tuple[Input, ...]
    value: int | float
    grads: dict[str, float | None]  # every input, in input order; None where no gradient
    transcript: str
    dot: str
    code: str
    graph: Graph
    notes: tuple[str, ...]
    warnings: tuple[str, ...]  # the notes about inf and nan, which a front end may show louder

    @property
    def output(self) -> str:
        """Return the output's name."""
        return self.formula.output


def explore(
    formula: str,
    values: Mapping[str, int | float],
    requires_grad: Mapping[str, bool] | None = None,
) -> Exploration:
    """Run ``formula`` on real tensors and return everything PyTorch showed.

    >>> explore("y = w*x + b", {"x": 3, "w": 2.0, "b": 5.0}).grads
    {'x': None, 'w': 3.0, 'b': 1.0}
    """
    try:
        values, requires_grad = _plain_names(values), _plain_names(requires_grad)
        taken = tuple(values) if isinstance(values, Mapping) else ()
        return _assemble(evaluate(parse(formula, taken), values, requires_grad))
    except ExplorerError:
        raise
    except Exception as error:
        # The promise to every front end is that only ExplorerError leaves; anything else is our
        # bug, and the person still deserves a sentence rather than a traceback.
        raise ComputeError(f"Something unexpected went wrong ({type(error).__name__}).") from error


def _plain_names(mapping: Mapping[str, object] | None) -> Mapping[str, object] | None:
    """Copy a mapping with every str key made a plain str, so names are checked as they print.

    A str subclass could spell itself differently in the generated script (its ``__format__`` or
    ``__str__``); ``str.__str__`` copies the characters themselves. Other keys stay as they are, for
    evaluate() to refuse with a message.
    """
    if not isinstance(mapping, Mapping):
        return mapping
    plain: dict[object, object] = {}
    for key, item in mapping.items():
        name = str.__str__(key) if isinstance(key, str) else key
        if name in plain:  # two keys that differed only as objects, not as text
            raise InputError(f"The name {name!r} is given twice.")
        plain[name] = item
    return plain


def _assemble(evaluation: Evaluation) -> Exploration:
    texts, warnings = notes(evaluation)
    return Exploration(
        formula=evaluation.formula,
        inputs=evaluation.inputs,
        value=evaluation.value,
        grads={item.name: item.grad for item in evaluation.inputs},
        transcript=transcript(evaluation),
        dot=to_dot(evaluation.graph),
        code=script(evaluation),
        graph=evaluation.graph,
        notes=texts,
        warnings=warnings,
    )
