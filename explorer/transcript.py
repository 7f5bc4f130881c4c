"""Print what the seed tutorial's script prints: PyTorch's own repr of every tensor and gradient."""

from __future__ import annotations

from explorer.evaluate import BackwardCall, Evaluation

__all__ = ["after_call", "failed_call", "transcript"]


def transcript(evaluation: Evaluation) -> str:
    """Return the lines ``print("x:", x)`` ... ``print("x.grad :", x.grad)`` would print.

    Each line is ``repr`` of the real tensor (an f-string would print ``4.0`` for a 0-d tensor).
    The inputs come first, then each statement's result as it is computed, then the gradients:
    once, or after each backward() call when there are several.
    """
    lines = [f"{item.name}: {item.repr}" for item in evaluation.inputs]
    lines += [f"{item.name}: {item.repr}" for item in evaluation.intermediates]
    lines.append(f"{evaluation.output}: {evaluation.output_repr}")
    if len(evaluation.calls) > 1:
        for call in evaluation.calls:
            lines += _call_lines(evaluation.output, call)
    else:
        lines += [f"{item.name}.grad : {item.grad_repr}" for item in evaluation.inputs]
        lines += [f"{item.name}.grad : {item.grad_repr}" for item in evaluation.intermediates]
    return "\n".join(lines) + "\n"


def after_call(output: str, number: int) -> str:
    """Return the line printed after backward() call ``number`` succeeded."""
    return f"after {output}.backward() #{number}:"


def failed_call(output: str, number: int) -> str:
    """Return the start of the line printed when backward() call ``number`` raised."""
    return f"{output}.backward() #{number} raised RuntimeError:"


def _call_lines(output: str, call: BackwardCall) -> list[str]:
    if call.error:
        return [f"{failed_call(output, call.number)} {call.error}"]
    return [after_call(output, call.number)] + [
        f"{name}.grad : {text}" for name, text in call.grad_reprs.items()
    ]
