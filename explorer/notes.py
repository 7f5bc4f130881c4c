"""Explain in plain words what a student might wonder about: None gradients, inf, nan, kinks."""

from __future__ import annotations

import math

from explorer.evaluate import Evaluation
from explorer.graph import Graph, Node

__all__ = ["notes", "unused_note"]

_KINKS = {"AbsBackward0": "abs", "ReluBackward0": "relu"}


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
    _graph_notes(evaluation.graph, found)
    return tuple(found.texts), tuple(found.warnings)


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
    sent: dict[str, list[float]] = {}
    for edge in graph.edges:
        if edge.grad is not None:
            sent.setdefault(edge.dst, []).append(edge.grad)
    for node in graph.nodes:
        if node.kind != "backward":
            continue
        if _turns_nonfinite(node, sent.get(node.id, [])):
            where = f"{node.title} ({node.detail})" if node.detail else node.title
            found.warn(
                f"The gradient stops being a finite number at {where}: "
                "its local derivative is infinite or undefined at this input."
            )
        if node.title in _KINKS and node.value == 0:
            found.info(
                f"{_KINKS[node.title]} has a kink at 0, where the slope jumps; "
                "PyTorch uses 0 as its derivative there."
            )


def _turns_nonfinite(node: Node, sent: list[float]) -> bool:
    """Tell whether ``node`` received a finite gradient but sent a non-finite one."""
    if node.grad is None or not math.isfinite(node.grad):
        return False
    return any(not math.isfinite(grad) for grad in sent)
