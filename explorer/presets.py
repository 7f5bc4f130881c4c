"""Ready-made formulas: the seed tutorial's three examples, then classroom lessons.

Each preset lists its inputs in the order the transcript prints them, with ints for integer tensors,
and one sentence on what to notice.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["PRESETS", "Preset", "by_label"]


@dataclass(frozen=True, slots=True)
class Preset:
    """A formula with its inputs, requires_grad overrides, the variable to plot and a lesson."""

    label: str
    formula: str
    values: dict[str, int | float]
    notice: str
    requires_grad: dict[str, bool] = field(default_factory=dict)
    plot_var: str | None = None


PRESETS: tuple[Preset, ...] = (
    Preset(
        "Example 1: y = x**2 + 1",
        "y = x**2 + 1",
        {"x": 2.0},
        "x.grad is 2*x = 4: the slope of the parabola at x = 2.",
    ),
    Preset(
        "Example 2: y = w*x + b",
        "y = w*x + b",
        {"x": 3, "w": 2.0, "b": 5.0},
        "x is an integer tensor without requires_grad, so x.grad is None, "
        "while w.grad = x = 3 and b.grad = 1.",
        plot_var="w",
    ),
    Preset(
        "Example 3: z = x**y",
        "z = x**y",
        {"x": 3.0, "y": 4.0},
        "A tensor to a tensor power is PowBackward1: dz/dx = y*x**(y-1) = 108 and "
        "dz/dy = x**y * ln(x) = 88.99.",
    ),
    Preset(
        "Chain rule: sin(x**2)",
        "y = sin(x**2)",
        {"x": 1.0},
        "Each backward node multiplies in its own factor: x.grad = cos(x**2) * 2*x.",
    ),
    Preset(
        "Product rule: x**2 * sin(x)",
        "y = x**2 * sin(x)",
        {"x": 1.0},
        "MulBackward0 sends the gradient to both factors, and both paths add up at x.",
    ),
    Preset(
        "Quotient: sin(x) / x",
        "y = sin(x) / x",
        {"x": 1.0},
        "DivBackward0 sends 1/x to the top and -sin(x)/x**2 to the bottom; try x = 0 for nan.",
    ),
    Preset(
        "Neuron: (sigmoid(w*x + b) - t)**2",
        "loss = (sigmoid(w*x + b) - t)**2",
        {"w": 0.5, "x": 1.5, "b": 0.1, "t": 1.0},
        "Only the weights w and b require grad; the data x and target t do not, "
        "so their .grad stays None.",
        requires_grad={"x": False, "t": False},
        plot_var="w",
    ),
    Preset(
        "relu vs softplus",
        "y = softplus(x) - relu(x)",
        {"x": 0.5},
        "relu's slope jumps from 0 to 1 at x = 0, softplus's slope sigmoid(x) changes smoothly.",
    ),
    Preset(
        "The kink of abs at 0",
        "y = abs(x)",
        {"x": 0.0},
        "abs has no single slope at 0; PyTorch reports 0 there, between the one-sided -1 and 1.",
    ),
    Preset(
        "sqrt at 0: infinite slope",
        "y = sqrt(x)",
        {"x": 0.0},
        "The curve stands vertical at 0, so x.grad is inf there; move x right to see it shrink.",
    ),
    Preset(
        "exp and log undo each other",
        "y = log(exp(x))",
        {"x": 1.0},
        "y = x, so x.grad = 1, computed as (1/exp(x)) * exp(x) through two backward nodes.",
    ),
    Preset(
        "A tensor exponent: 2**x",
        "y = 2**x",
        {"x": 1.0},
        "A number to a tensor power is PowBackward2, and its gradient is 2**x * ln(2).",
    ),
    Preset(
        "A constant blocks a gradient",
        "y = c*x**2",
        {"c": 3.0, "x": 1.0},
        "c was made without requires_grad, so the backward pass never reaches it: c.grad is None.",
        requires_grad={"c": False},
        plot_var="x",
    ),
)


def by_label(label: str) -> Preset | None:
    """Return the preset with this label, or None."""
    return next((preset for preset in PRESETS if preset.label == label), None)
