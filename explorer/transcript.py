"""Print what the seed tutorial's script prints: PyTorch's own repr of every tensor and gradient."""

from __future__ import annotations

from explorer.evaluate import Evaluation

__all__ = ["transcript"]


def transcript(evaluation: Evaluation) -> str:
    """Return the lines ``print("x:", x)`` ... ``print("x.grad :", x.grad)`` would print.

    Each line is ``repr`` of the real tensor (an f-string would print ``4.0`` for a 0-d tensor).
    """
    lines = [f"{item.name}: {item.repr}" for item in evaluation.inputs]
    lines.append(f"{evaluation.output}: {evaluation.output_repr}")
    lines += [f"{item.name}.grad : {item.grad_repr}" for item in evaluation.inputs]
    return "\n".join(lines) + "\n"
