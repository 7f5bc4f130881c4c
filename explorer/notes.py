"""Explain in plain words what a student might wonder about: None gradients, inf, nan, kinks."""

from __future__ import annotations

import math

from explorer.evaluate import Evaluation
from explorer.formula import METHODS, Call, Formula, Var, children, unparse, walk
from explorer.graph import Graph
from explorer.trace import trace

__all__ = ["KINKS", "lessons", "notes", "unused_note"]

_ORDINALS = {2: "second", 3: "third"}

KINKS = {"AbsBackward0": "abs", "ReluBackward0": "relu"}


class _Found:
    """Collect notes in order, remembering which ones warn about inf or nan."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.warnings: list[str] = []

    def info(self, text: str) -> None:
        self.texts.append(text)

    def warn(self, text: str) -> None:
        self.texts.append(text)
        self.warnings.append(text)


def notes(evaluation: Evaluation) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Return every note, most important first, and the warnings among them (inf and nan)."""
    found = _Found()
    _output_notes(evaluation, found)
    _input_notes(evaluation, found)
    _program_notes(evaluation, found)
    _graph_notes(evaluation.graph, found)
    # Where inf or nan first appeared, forward and then backward: the node the page paints.
    for origin in trace(evaluation, anomaly=False).origins:
        found.warn(f"Where it first appeared ({origin.stage}): {origin.sentence}.")
    return tuple(found.texts), tuple(found.warnings)


def lessons(evaluation: Evaluation) -> tuple[str, ...]:
    """Return what PyTorch itself said or did that a student should learn from, explained.

    Each quotes PyTorch's own words where it spoke: its warning on reading ``.grad`` of a non-leaf
    tensor, its RuntimeError on a second backward() through a freed graph.
    """
    found = [*_grad_lessons(evaluation), *_call_lessons(evaluation)]
    return tuple(found)


def unused_note(name: str) -> str:
    """Say that an input is not in the formula; the app and the CLI both print this sentence."""
    return f"{name} is not used by the formula, so no gradient reaches it: {name}.grad is None."


def _output_notes(evaluation: Evaluation, found: _Found) -> None:
    name, value = evaluation.output, evaluation.value
    if not evaluation.backward_ran:
        found.info(
            f"Nothing {name} depends on requires grad, so PyTorch recorded no graph: {name} has no "
            f"grad_fn, {name}.backward() would raise an error, and every .grad stays None. "
            "Turn on requires_grad for a float input to see gradients."
        )
    if math.isnan(value):
        found.warn(
            f"{name} is nan (not a number): some step has no defined value here, "
            "such as 0/0, the log of a negative number, or inf - inf."
        )
    elif math.isinf(value):
        found.warn(
            f"{name} is {value}: a step overflowed or divided by zero (for example log(0) is -inf)."
        )


def _input_notes(evaluation: Evaluation, found: _Found) -> None:
    for item in evaluation.inputs:
        name = item.name
        if not item.used:
            found.info(unused_note(name))
        elif item.is_int:
            found.info(
                f"{name} is an integer tensor, {item.repr}: only floating point tensors can "
                f"require gradients, so {name}.grad is None. Make it a float to differentiate "
                "by it."
            )
        elif not item.requires_grad:
            found.info(
                f"{name} was created without requires_grad=True, so PyTorch does not track it "
                f"and {name}.grad is None."
            )
        elif item.grad is not None and math.isinf(item.grad):
            found.warn(f"{name}.grad is {item.grad}: the slope is infinitely steep at this point.")
        elif item.grad is not None and math.isnan(item.grad):
            found.warn(f"{name}.grad is nan: the derivative is not defined at this point.")


def _graph_notes(graph: Graph, found: _Found) -> None:
    for node in graph.nodes:
        if node.kind != "backward":
            continue
        if node.title in KINKS and node.value == 0:
            found.info(
                f"{KINKS[node.title]} has a kink at 0, where the slope jumps; "
                "PyTorch uses 0 as its derivative there."
            )


def _program_notes(evaluation: Evaluation, found: _Found) -> None:
    """Say where detach cut the graph, and which gradients it took away."""
    formula = evaluation.formula
    live, behind = _reach(formula)
    for statement in formula.statements:
        if statement.name in formula.names and statement.name not in live | behind:
            found.info(
                f"{statement.name} is computed but {formula.output} does not use it, so no "
                f"gradient reaches {statement.name}."
            )
    cuts = dict.fromkeys(
        unparse(node.arg)
        for statement in formula.statements
        for node in walk(statement.expr)
        if isinstance(node, Call) and node.func in METHODS
    )
    for cut in cuts:
        found.info(
            f"detach({cut}) is {cut}.detach(): the same value as a new tensor with no grad_fn, so "
            f"PyTorch records nothing behind it. The graph is cut there, and no gradient flows "
            f"back through it to what {cut} was computed from."
        )
    if not evaluation.backward_ran:
        return
    for item in evaluation.inputs:
        if not item.requires_grad or item.name not in behind:
            continue
        if item.name not in live:
            found.info(
                f"{item.name}.grad is None: every path from {formula.output} back to "
                f"{item.name} goes through detach, so no gradient reaches {item.name}."
            )
        else:
            found.info(
                f"{item.name}.grad counts only the paths that avoid detach; what would flow "
                f"through detach is left out, so it is smaller than (or differs from) the full "
                f"derivative of {formula.output} by {item.name}."
            )


def _reach(formula: Formula) -> tuple[set[str], set[str]]:
    """Return the names the output reaches without crossing detach, and those behind a detach.

    Names are inputs and intermediates; a name may be in both sets (reached both ways).
    """
    made = {statement.name: statement.expr for statement in formula.statements}
    live: set[str] = set()
    behind: set[str] = set()
    stack = [(formula.expr, False)]
    while stack:
        expr, cut = stack.pop()
        if isinstance(expr, Var):
            seen = behind if cut else live
            if expr.name not in seen:
                seen.add(expr.name)
                if expr.name in made:
                    stack.append((made[expr.name], cut))
            continue
        cut = cut or (isinstance(expr, Call) and expr.func in METHODS)
        stack.extend((child, cut) for child in children(expr))
    return live, behind


def _grad_lessons(evaluation: Evaluation) -> list[str]:
    """Explain .grad of the intermediates: None with PyTorch's warning, or kept by retain_grad."""
    found = []
    silent = [
        item.name
        for item in evaluation.intermediates
        if item.requires_grad and not item.is_leaf and not item.retained
    ]
    if evaluation.grad_warning and silent:
        names = ", ".join(silent)
        found.append(
            f"{names} {'is not a leaf tensor' if len(silent) == 1 else 'are not leaf tensors'}: "
            f"backward() fills .grad only for leaves, so {silent[0]}.grad is None, and reading it "
            f'made PyTorch warn: "{evaluation.grad_warning}" Switch on retain_grad for '
            f"{silent[0]} to see its gradient."
        )
    for item in evaluation.intermediates:
        if item.retained and item.grad is not None:
            found.append(
                f"{item.name}.retain_grad() asked PyTorch to keep the gradient of this non-leaf "
                f"tensor: {item.name}.grad = {item.grad_repr} is d{evaluation.output}/d{item.name}"
                + (", summed over the backward() calls." if len(evaluation.calls) > 1 else ".")
            )
    for name in evaluation.unretained:
        found.append(
            f"{name} does not require grad, so {name}.retain_grad() would raise an error; it is "
            f"left out, and {name}.grad stays None."
        )
    return found


def _call_lessons(evaluation: Evaluation) -> list[str]:
    """Explain a second or third backward(): PyTorch's refusal, or gradients that accumulate."""
    calls, out = evaluation.calls, evaluation.output
    if len(calls) < 2:
        return []
    failed = next((call for call in calls if call.error), None)
    if failed is not None:
        return [
            f"The {_ORDINALS[failed.number]} call of {out}.backward() raised PyTorch's "
            f'RuntimeError: "{failed.error}" The first call freed the tensors the backward '
            f"functions had saved; call {out}.backward(retain_graph=True) to keep them for "
            "another call."
        ]
    found = []
    if not evaluation.retain_graph:
        found.append(
            f"The second call of {out}.backward() worked even without retain_graph=True: no "
            "backward function on this graph saved a tensor, so the first call had nothing to "
            "free."
        )
    first, last = calls[0].grads, calls[-1].grads
    grown = next((name for name, grad in first.items() if grad and last.get(name) != grad), None)
    if grown is not None:
        found.append(
            f"Each backward() call adds its gradients to .grad instead of replacing them: "
            f"{grown}.grad went from {first[grown]:g} after one call to {last[grown]:g} after "
            f"{len(calls)}. Training loops clear them (optimizer.zero_grad()) before each "
            "backward()."
        )
    return found
