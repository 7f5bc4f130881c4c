"""Ready-made formulas: the seed tutorial's three examples, then classroom lessons.

Each preset lists its inputs in the order the transcript prints them, with ints for integer tensors,
a lesson worded without numbers (so it stays true when a slider moves), and each input's gradient
in the formula language. ``what_to_notice`` adds the gradients PyTorch computed, as it printed them:

    >>> from explorer.core import explore
    >>> what_to_notice(PRESETS[0], explore("y = x**2 + 1", {"x": 2.0}))
    'x.grad is 2*x, the slope of the parabola at x. Here x.grad = 2*x = tensor(4.).'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from explorer.formula import parse

if TYPE_CHECKING:  # plain data here; the engine (and torch) is the caller's
    from explorer.core import Exploration
    from explorer.evaluate import Input

__all__ = ["PRESETS", "Preset", "by_label", "what_to_notice"]


@dataclass(frozen=True, slots=True)
class Preset:
    """A formula with its inputs, requires_grad overrides, the variable to plot and a lesson.

    ``gradients`` maps each input to its gradient in the formula language, or to "" where the
    closed form would not fit in a sentence (only PyTorch's number is shown then).
    """

    label: str
    formula: str
    values: dict[str, int | float]
    notice: str
    gradients: dict[str, str]
    requires_grad: dict[str, bool] = field(default_factory=dict)
    plot_var: str | None = None


PRESETS: tuple[Preset, ...] = (
    Preset(
        "Example 1: y = x**2 + 1",
        "y = x**2 + 1",
        {"x": 2.0},
        "x.grad is 2*x, the slope of the parabola at x.",
        {"x": "2*x"},
    ),
    Preset(
        "Example 2: y = w*x + b",
        "y = w*x + b",
        {"x": 3, "w": 2.0, "b": 5.0},
        "Only floating point tensors can require grad, so while x is an integer tensor, x.grad "
        "is None. w.grad is x, the input that w multiplies, and b.grad is 1.",
        {"x": "w", "w": "x", "b": "1"},
        plot_var="w",
    ),
    Preset(
        "Example 3: z = x**y",
        "z = x**y",
        {"x": 3.0, "y": 4.0},
        "A tensor to a tensor power is PowBackward1: it sends a gradient to the base, "
        "y*x**(y-1), and to the exponent, x**y * ln(x).",
        {"x": "y*x**(y - 1)", "y": "x**y*log(x)"},
    ),
    Preset(
        "Chain rule: sin(x**2)",
        "y = sin(x**2)",
        {"x": 1.0},
        "Each backward node multiplies in its own factor: cos(x**2) from sin, 2*x from the power.",
        {"x": "cos(x**2)*2*x"},
    ),
    Preset(
        "Product rule: x**2 * sin(x)",
        "y = x**2 * sin(x)",
        {"x": 1.0},
        "MulBackward0 sends the gradient to both factors, and both paths add up at x.",
        {"x": "2*x*sin(x) + x**2*cos(x)"},
    ),
    Preset(
        "Quotient: sin(x) / x",
        "y = sin(x) / x",
        {"x": 1.0},
        "DivBackward0 sends 1/x to the top and -sin(x)/x**2 to the bottom; try x = 0 for nan.",
        {"x": "cos(x)/x - sin(x)/x**2"},
    ),
    Preset(
        "Neuron: (sigmoid(w*x + b) - t)**2",
        "loss = (sigmoid(w*x + b) - t)**2",
        {"w": 0.5, "x": 1.5, "b": 0.1, "t": 1.0},
        "Training needs gradients only for the weights w and b; the data x and the target t need "
        "none, and without requires_grad their .grad is None.",
        {"w": "", "x": "", "b": "", "t": ""},
        requires_grad={"x": False, "t": False},
        plot_var="w",
    ),
    Preset(
        "relu vs softplus",
        "y = softplus(x) - relu(x)",
        {"x": 0.5},
        "relu's slope jumps from 0 to 1 at x = 0, softplus's slope sigmoid(x) changes smoothly.",
        {"x": ""},
    ),
    Preset(
        "The kink of abs at 0",
        "y = abs(x)",
        {"x": 0.0},
        "abs has no single slope at 0; PyTorch reports 0 there, between the one-sided -1 and 1.",
        {"x": ""},
    ),
    Preset(
        "sqrt at 0: infinite slope",
        "y = sqrt(x)",
        {"x": 0.0},
        "The curve stands vertical at 0, so x.grad is inf there; move x right to see it shrink.",
        {"x": "1/(2*sqrt(x))"},
    ),
    Preset(
        "exp and log undo each other",
        "y = log(exp(x))",
        {"x": 1.0},
        "log(exp(x)) is x, whose slope is 1, and PyTorch gets there as (1/exp(x)) * exp(x) "
        "through two backward nodes.",
        {"x": "1/exp(x)*exp(x)"},
    ),
    Preset(
        "A tensor exponent: 2**x",
        "y = 2**x",
        {"x": 1.0},
        "A number to a tensor power is PowBackward2, and its gradient is 2**x * ln(2).",
        {"x": "2**x*log(2)"},
    ),
    Preset(
        "A constant blocks a gradient",
        "y = c*x**2",
        {"c": 3.0, "x": 1.0},
        "While c is made without requires_grad, the backward pass never reaches it and c.grad "
        "is None; x.grad is 2*c*x either way.",
        {"c": "x**2", "x": "2*c*x"},
        requires_grad={"c": False},
        plot_var="x",
    ),
)


def by_label(label: str) -> Preset | None:
    """Return the preset with this label, or None."""
    return next((preset for preset in PRESETS if preset.label == label), None)


def what_to_notice(preset: Preset, exploration: Exploration) -> str:
    """Return the lesson followed by each input's gradient as PyTorch printed it in ``exploration``.

    Every number comes from the exploration, so the note stays true at any slider value, dtype or
    requires_grad; for another formula than the preset's, only the lesson is returned.
    """
    if str(exploration.formula) != str(parse(preset.formula)):
        return preset.notice
    facts = [
        _gradient(item, preset.gradients[item.name])
        for item in exploration.inputs
        if item.name in preset.gradients
    ]
    return f"{preset.notice} Here {'; '.join(facts)}." if facts else preset.notice


def _gradient(item: Input, closed_form: str) -> str:
    """Say an input's gradient: its closed form and PyTorch's print, or why it is None."""
    if item.grad is None:
        return f"{item.name}.grad is None ({_why_none(item)})"
    form = f"{closed_form} = " if closed_form else ""
    return f"{item.name}.grad = {form}{item.grad_repr}"


def _why_none(item: Input) -> str:
    if not item.used:
        return f"{item.name} is not used by the formula"
    if item.is_int:
        return f"{item.name} is an integer tensor"
    if not item.requires_grad:
        return f"{item.name} does not require grad"
    return f"no gradient reached {item.name}"
