"""Run the whole pipeline: text -> Formula -> Evaluation -> Exploration (transcript, DOT, code)."""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from explorer.code import script
from explorer.dot import to_dot
from explorer.errors import ComputeError, ExplorerError, InputError
from explorer.evaluate import BackwardCall, Evaluation, Input, Intermediate, evaluate
from explorer.formula import Formula, parse
from explorer.graph import Graph
from explorer.notes import lessons, notes
from explorer.steps import Step
from explorer.transcript import transcript

__all__ = ["Exploration", "explore"]

# A Formula is frozen and parse() depends only on the text and the other names: a page reruns the
# same formula with new values on every slider move, as a script is compiled once and run often.
# Errors are not cached (lru_cache keeps only results), so a bad formula is checked every time.
_parsed = functools.lru_cache(maxsize=256)(parse)


def _parse(formula: object, taken: tuple[str, ...]) -> Formula:
    """Parse through the cache, but only plain text: a str subclass could fake its hash or ==."""
    return _parsed(formula, taken) if type(formula) is str else parse(formula, taken)


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
    intermediates: tuple[Intermediate, ...] = ()  # each named tensor but the output, in order
    calls: tuple[BackwardCall, ...] = ()  # each backward() call: the grads it left, or its error
    lessons: tuple[str, ...] = ()  # what PyTorch itself said (warnings, errors), explained
    backward_calls: int = 1
    retain_graph: bool = False
    steps: tuple[Step, ...] = ()  # backward step by step, in the order PyTorch's engine ran it

    @property
    def output(self) -> str:
        """Return the output's name."""
        return self.formula.output


def explore(
    formula: str,
    values: Mapping[str, int | float],
    requires_grad: Mapping[str, bool] | None = None,
    *,
    retain: Collection[str] = (),
    backward_calls: int = 1,
    retain_graph: bool = False,
) -> Exploration:
    """Run ``formula`` on real tensors and return everything PyTorch showed.

    ``retain`` names intermediates to call ``retain_grad()`` on before backward; backward() runs
    ``backward_calls`` times (1 to 3), with ``retain_graph=True`` between calls if asked.

    >>> explore("y = w*x + b", {"x": 3, "w": 2.0, "b": 5.0}).grads
    {'x': None, 'w': 3.0, 'b': 1.0}
    >>> explore("h = 2*x; y = h**2", {"x": 1.0}, retain=("h",)).intermediates[0].grad
    4.0
    """
    try:
        values, requires_grad = _plain_names(values), _plain_names(requires_grad)
        taken = tuple(values) if isinstance(values, Mapping) else ()
        retain = _plain_retain(retain)
        evaluation = evaluate(
            _parse(formula, taken),
            values,
            requires_grad,
            retain=retain,
            backward_calls=backward_calls,
            retain_graph=retain_graph,
        )
        return _assemble(evaluation, backward_calls)
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


def _plain_retain(retain: object) -> object:
    """Copy the names to retain as plain str, as _plain_names does for inputs."""
    if isinstance(retain, str):
        return (str.__str__(retain),)
    if isinstance(retain, Collection):
        return tuple(str.__str__(name) if isinstance(name, str) else name for name in retain)
    return retain


def _assemble(evaluation: Evaluation, backward_calls: int) -> Exploration:
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
        intermediates=evaluation.intermediates,
        calls=evaluation.calls,
        lessons=lessons(evaluation),
        backward_calls=backward_calls,
        retain_graph=evaluation.retain_graph,
        steps=evaluation.steps,
    )
