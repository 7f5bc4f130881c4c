"""Ready-made formulas: the seed tutorial's three examples, then classroom lessons.

Each preset lists its inputs in the order the transcript prints them, with ints for integer tensors,
a lesson worded without numbers (so it stays true when a slider moves), and each input's gradient
in the formula language. ``what_to_notice`` adds the gradients PyTorch computed, as it printed them
(after each backward() call when there are several):

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
    from explorer.evaluate import Input, Intermediate

__all__ = ["PLOT_MODES", "PRESETS", "Preset", "by_label", "what_to_notice"]


PLOT_MODES = ("curve", "surface", "contour")


@dataclass(frozen=True, slots=True)
class Preset:
    """A formula with its inputs, requires_grad overrides, how to plot it and a lesson.

    ``gradients`` maps each input to its gradient in the formula language, or to "" where the
    closed form would not fit in a sentence (only PyTorch's number is shown then); after the
    inputs it may name intermediates, whose .grad the note then follows too. A closed form may
    use the program's intermediates (``2*(y - t)``). ``plot_mode`` is one of PLOT_MODES; a
    surface or contour plots ``plot_var`` across and ``plot_var2`` up. ``ranges`` gives slider
    ranges (low, high) for some inputs; the others get the page's default. ``second`` opens the
    plot with the second derivative shown. ``retain`` names the intermediates whose retain_grad
    switch starts on; backward() runs ``backward_calls`` times, with ``retain_graph`` or not;
    ``panel`` is the view the page opens on: "plot", "steps", "second" or "check".
    """

    label: str
    formula: str
    values: dict[str, int | float]
    notice: str
    gradients: dict[str, str]
    requires_grad: dict[str, bool] = field(default_factory=dict)
    plot_var: str | None = None
    plot_mode: str = "curve"
    plot_var2: str | None = None
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    second: bool = False
    retain: tuple[str, ...] = ()
    backward_calls: int = 1
    retain_graph: bool = False
    panel: str = "plot"


# The neuron as a program, and the chain rule's factors in its intermediates' names.
_NEURON = "h = w*x + b; y = sigmoid(h); loss = (y - t)**2"
_NEURON_VALUES: dict[str, int | float] = {"w": 0.5, "x": 1.5, "b": 0.1, "t": 1.0}
_DLOSS_DH = "2*(y - t)*y*(1 - y)"
_NEURON_GRADIENTS = {
    "w": f"{_DLOSS_DH}*x",
    "x": f"{_DLOSS_DH}*w",
    "b": _DLOSS_DH,
    "t": "-2*(y - t)",
}
_DATA = {"x": False, "t": False}  # training needs no gradient for the data and the target

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
    Preset(
        "Saddle: z = x**2 - y**2",
        "z = x**2 - y**2",
        {"x": 1.0, "y": 0.5},
        "z curves up along x and down along y, so the tangent plane cuts through the surface "
        "wherever it touches; at x = y = 0 the gradient is 0, yet z has neither a top nor a "
        "bottom there: a saddle.",
        {"x": "2*x", "y": "-2*y"},
        plot_var="x",
        plot_mode="surface",
        plot_var2="y",
        ranges={"x": (-2.0, 2.0), "y": (-2.0, 2.0)},
    ),
    Preset(
        "Bowl: z = x**2 + y**2",
        "z = x**2 + y**2",
        {"x": 1.0, "y": 0.5},
        "The level lines are circles around the bottom at x = y = 0, and the gradient "
        "(2*x, 2*y) points straight away from it, across the circles: uphill. Gradient descent "
        "steps the other way.",
        {"x": "2*x", "y": "2*y"},
        plot_var="x",
        plot_mode="contour",
        plot_var2="y",
        ranges={"x": (-2.0, 2.0), "y": (-2.0, 2.0)},
    ),
    Preset(
        "Newton's step on a parabola",
        "y = (x - 1)**2 + 1",
        {"x": 3.0},
        "The second derivative is 2 everywhere, so Newton's step x - f'(x)/f''(x), "
        "x - 2*(x - 1)/2, lands on the bottom at x = 1 in one step, from any x.",
        {"x": "2*(x - 1)"},
        second=True,
    ),
    Preset(
        "sqrt(x**2) at 0: 0 times inf",
        "y = sqrt(x**2)",
        {"x": 0.0},
        "sqrt(x**2) is abs(x), but PyTorch multiplies two slopes: 1/(2*sqrt(x**2)) from sqrt "
        "and 2*x from the power. At 0 that is inf times 0, which is nan; elsewhere it is -1 or 1.",
        {"x": "1/(2*sqrt(x**2))*2*x"},
    ),
    Preset(
        "log(x) at 0: -inf",
        "y = log(x)",
        {"x": 0.0},
        "log(0) is -inf and the slope 1/x is inf there. Below 0, log(x) is nan, yet "
        "LogBackward0 still returns 1/x: a slope with no curve under it.",
        {"x": "1/x"},
    ),
    Preset(
        "Finite differences at relu's kink",
        "y = relu(x)",
        {"x": 0.0},
        "At 0 PyTorch says relu's slope is 0, while the central difference "
        "(relu(h) - relu(-h))/(2*h) gives one half, the average of the slopes 0 and 1 either "
        "side: autograd and finite differences disagree at the kink, and only there.",
        {"x": ""},
        panel="check",
    ),
    Preset(
        "Program: h.grad, retain_grad",
        _NEURON,
        _NEURON_VALUES,
        "h and y are intermediates, not leaves. backward() fills .grad only for leaves, so an "
        "intermediate's .grad is None, and reading it makes PyTorch warn, unless its retain_grad "
        "switch is on: h.retain_grad() before backward keeps dloss/dh in h.grad.",
        {**_NEURON_GRADIENTS, "h": _DLOSS_DH, "y": "2*(y - t)"},
        requires_grad=_DATA,
        plot_var="w",
        retain=("h",),
    ),
    Preset(
        "detach cuts a path",
        "h = w*x; y = h*detach(h)",
        {"w": 1.5, "x": 2.0},
        "detach(h) has h's value but no grad_fn, so backward stops there and only the path "
        "through the first factor counts. y equals h**2, whose slope in w is 2*h*x, yet "
        "PyTorch gives half of it, w.grad = h*x; the same for x.",
        {"w": "h*x", "x": "h*w"},
        plot_var="w",
    ),
    Preset(
        "backward twice: grads add up",
        "y = x**2 + 1",
        {"x": 2.0},
        "With retain_graph the graph survives backward(), and each call adds its gradient to "
        "x.grad instead of replacing it: one more 2*x per call. That is why a training loop "
        "calls optimizer.zero_grad() before each backward().",
        {"x": "2*x"},
        backward_calls=2,
        retain_graph=True,
    ),
    Preset(
        "backward twice: the error",
        "y = x**2 + 1",
        {"x": 2.0},
        "Without retain_graph, backward() frees the tensors the graph saved for it (x, for the "
        "slope of x**2), so calling it again raises PyTorch's RuntimeError, and x.grad keeps "
        "what the first call left.",
        {"x": "2*x"},
        backward_calls=2,
    ),
    Preset(
        "Step through a neuron",
        _NEURON,
        _NEURON_VALUES,
        "Backward runs from loss down to the weights in PyTorch's own order. Each node "
        "multiplies the gradient it receives by its local derivative, 2*(y - t) at the square, "
        "1 at the subtraction, y*(1 - y) at sigmoid, 1 at the add and x at w*x for w, and "
        "AccumulateGrad adds what arrives to .grad.",
        _NEURON_GRADIENTS,
        requires_grad=_DATA,
        plot_var="w",
        panel="steps",
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
    gradients = preset.gradients
    facts = [
        _gradient(exploration, item.name, gradients[item.name], item.grad_repr, _why_none(item))
        for item in exploration.inputs
        if item.name in gradients
    ]
    facts += [
        _gradient(exploration, item.name, gradients[item.name], item.grad_repr, _why_not_kept(item))
        for item in exploration.intermediates
        if item.name in gradients
    ]
    facts += _failures(exploration)
    return f"{preset.notice} Here {'; '.join(facts)}." if facts else preset.notice


def _gradient(exploration: Exploration, name: str, closed_form: str, last: str, why: str) -> str:
    """Say a tensor's gradient: its closed form and PyTorch's print, or why it is None.

    With several backward() calls the print after each successful one follows, as .grad grows.
    """
    if last == "None":
        return f"{name}.grad is None ({why})"
    form = f"{closed_form} = " if closed_form else ""
    if len(exploration.calls) < 2:
        return f"{name}.grad = {form}{last}"
    first, *later = [
        (call.number, call.grad_reprs[name]) for call in exploration.calls if not call.error
    ]
    after = "".join(f", {text} after #{number}" for number, text in later)
    return f"{name}.grad = {form}{first[1]} after backward() #{first[0]}{after}"


def _failures(exploration: Exploration) -> list[str]:
    """Say which backward() calls raised PyTorch's RuntimeError, if any did."""
    failed = " and ".join(f"#{call.number}" for call in exploration.calls if call.error)
    return [f"{exploration.output}.backward() {failed} raised RuntimeError"] if failed else []


def _why_none(item: Input) -> str:
    if not item.used:
        return f"{item.name} is not used by the formula"
    if item.is_int:
        return f"{item.name} is an integer tensor"
    if not item.requires_grad:
        return f"{item.name} does not require grad"
    return f"no gradient reached {item.name}"


def _why_not_kept(item: Intermediate) -> str:
    if not item.requires_grad:
        return f"{item.name} does not require grad"
    if not item.is_leaf and not item.retained:
        return f"{item.name} is not a leaf tensor and retain_grad is off"
    return f"no gradient reached {item.name}"
