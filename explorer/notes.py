"""Explain in plain words what a student might wonder about: None gradients, inf, nan, kinks."""

from __future__ import annotations

import math

from explorer.evaluate import Evaluation
from explorer.graph import Graph, Node

__all__ = ["notes"]

_KINKS = {"AbsBackward0": "abs", "ReluBackward0": "relu"}


def notes(evaluation: Evaluation) -> tuple[str, ...]:
    """Return the notes for one evaluation, most important first."""
    found = [*_output_notes(evaluation), *_input_notes(evaluation), *_graph_notes(evaluation.graph)]
    return tuple(found)


def _output_notes(evaluation: Evaluation) -> list[str]:
    name, value = evaluation.output, evaluation.value
    found = []
    if not evaluation.backward_ran:
        found.append(
            f"Nothing {name} depends on requires grad, so PyTorch recorded no graph: {name} has no "
            f"grad_fn, {name}.backward() would raise an error, and every .grad stays None. "
            "Turn on requires_grad for a float input to see gradients."
        )
    if math.isnan(value):
        found.append(
            f"{name} is nan (not a number): some step has no defined value here, "
            "such as 0/0, the log of a negative number, or inf - inf."
        )
    elif math.isinf(value):
        found.append(
            f"{name} is {value}: a step overflowed or divided by zero (for example log(0) is -inf)."
        )
    return found


def _input_notes(evaluation: Evaluation) -> list[str]:
    found = []
    for item in evaluation.inputs:
        name = item.name
        if not item.used:
            found.append(
                f"{name} is not used in the formula, so no gradient reaches it: "
                f"{name}.grad is None."
            )
        elif item.is_int:
            found.append(
                f"{name} is an integer tensor, {item.repr}: only floating point tensors can "
                f"require gradients, so {name}.grad is None. Make it a float to differentiate "
                "by it."
            )
        elif not item.requires_grad:
            found.append(
                f"{name} was created without requires_grad=True, so PyTorch does not track it "
                f"and {name}.grad is None."
            )
        elif item.grad is not None and math.isinf(item.grad):
            found.append(
                f"{name}.grad is {item.grad}: the slope is infinitely steep at this point."
            )
        elif item.grad is not None and math.isnan(item.grad):
            found.append(f"{name}.grad is nan: the derivative is not defined at this point.")
    return found


def _graph_notes(graph: Graph) -> list[str]:
    found = []
    sent: dict[str, list[float]] = {}
    for edge in graph.edges:
        if edge.grad is not None:
            sent.setdefault(edge.dst, []).append(edge.grad)
    for node in graph.nodes:
        if node.kind != "backward":
            continue
        if _turns_nonfinite(node, sent.get(node.id, [])):
            where = f"{node.title} ({node.detail})" if node.detail else node.title
            found.append(
                f"The gradient stops being a finite number at {where}: "
                "its local derivative is infinite or undefined at this input."
            )
        if node.title in _KINKS and node.value == 0:
            found.append(
                f"{_KINKS[node.title]} has a kink at 0, where the slope jumps; "
                "PyTorch uses 0 as its derivative there."
            )
    return found


def _turns_nonfinite(node: Node, sent: list[float]) -> bool:
    """Tell whether ``node`` received a finite gradient but sent a non-finite one."""
    if node.grad is None or not math.isfinite(node.grad):
        return False
    return any(not math.isfinite(grad) for grad in sent)
