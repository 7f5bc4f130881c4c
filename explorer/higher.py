"""Second derivatives by autograd: the gradient as a tensor with its own graph, f'', the Hessian.

``torch.autograd.grad(y, x, create_graph=True)`` returns dy/dx as a tensor that PyTorch tracked
while computing it, so it has a ``grad_fn`` of its own; differentiating it again gives d2y/dx2.
This module shows that at the point (transcript lines and a script that prints them), along the
plot (f'' at many points from one vectorised double backward), as a graph (the gradient's own
graph, walked and drawn like the formula's), and for all inputs at once (the Hessian).

    >>> from explorer.formula import parse
    >>> second(parse("y = x**2 + 1"), {"x": 2.0}, "x").grad_repr
    'tensor(4., grad_fn=<MulBackward0>)'
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import torch

from explorer.errors import ComputeError, ExplorerError, InputError
from explorer.evaluate import ANOMALY_GATE, Input, evaluate, forward, save_grads
from explorer.formula import RESERVED, Call, Const, Formula, parse, unparse, walk
from explorer.graph import Graph, Hooked, graph_and_ids
from explorer.graph import walk as walk_graph
from explorer.notes import KINKS
from explorer.trace import Explored
from explorer.values import check_value

__all__ = [
    "Hessian",
    "Second",
    "hessian",
    "hessian_explored",
    "hessian_text",
    "second",
    "second_explored",
    "second_many",
    "second_text",
]

Number = int | float
T = TypeVar("T")
_KINKS = tuple(KINKS.values())


@dataclass(frozen=True, slots=True)
class Second:
    """The second derivative of the output by one input at the point, as PyTorch computed it."""

    variable: str  # x
    output: str  # y
    lines: tuple[str, ...]  # what the script prints: inputs, y, dy/dx, then d2y/dx2
    value: float  # y
    grad: float  # dy/dx
    grad_repr: str  # "tensor(4., grad_fn=<MulBackward0>)"
    second: float  # d2y/dx2; 0.0 where the gradient does not depend on x at all
    second_repr: str  # "tensor(2.)"; "None" where PyTorch returned None; "" where grad cannot run
    code: str  # a script that prints ``lines`` exactly
    graph: Graph  # the gradient's own graph, its gradients from dy/dx.backward(inputs=[x])
    notes: tuple[str, ...]

    @property
    def grad_label(self) -> str:
        """Return how the lines name the gradient, e.g. ``dy/dx``."""
        return f"d{self.output}/d{self.variable}"

    @property
    def second_label(self) -> str:
        """Return how the lines name the second derivative, e.g. ``d2y/dx2``."""
        return f"d2{self.output}/d{self.variable}2"


@dataclass(frozen=True, slots=True)
class Hessian:
    """The matrix of second derivatives over the inputs that require grad, and what it means."""

    names: tuple[str, ...]
    matrix: tuple[tuple[float, ...], ...]  # matrix[i][j] = d2y / (d names[i] d names[j])
    eigenvalues: tuple[float, ...]  # ascending; curvature along the principal directions
    shape: str  # "bowl", "dome", "saddle", "trough", "ridge", "flat" or "undefined"
    sentence: str


def _guarded(work: Callable[[], T]) -> T:
    """Run ``work``, letting ExplorerError out and turning anything else into a ComputeError."""
    try:
        return work()
    except ExplorerError:
        raise
    except RuntimeError as error:
        lines = str(error).strip().splitlines() or [type(error).__name__]
        raise ComputeError(f"PyTorch could not differentiate twice: {lines[0]}") from None
    except Exception as error:
        raise ComputeError(f"Something unexpected went wrong ({type(error).__name__}).") from error


def _formula(formula: Formula | str, values: Mapping[str, object]) -> Formula:
    """Accept a parsed Formula or its text (parsed as explore() does)."""
    if isinstance(formula, Formula):
        return formula
    return parse(formula, tuple(values) if isinstance(values, Mapping) else ())


def _leaves(inputs: Sequence[Input]) -> dict[str, torch.Tensor]:
    """Create fresh input tensors exactly as evaluate() does, from inputs it already checked."""
    return {
        item.name: torch.tensor(item.value, requires_grad=item.requires_grad) for item in inputs
    }


def _check_variable(formula: Formula, tensors: Mapping[str, torch.Tensor], variable: str) -> None:
    """Refuse a variable that PyTorch cannot differentiate by, saying why."""
    if variable not in formula.variables:
        raise InputError(f"{variable} is not an input of the formula, so nothing depends on it.")
    tensor = tensors[variable]
    if not tensor.is_floating_point():
        raise InputError(
            f"{variable} is an integer tensor, and only floating point tensors can require "
            "gradients.",
            hint=f"Make {variable} a float to differentiate by it.",
        )
    if not tensor.requires_grad:
        raise InputError(
            f"{variable} was created without requires_grad=True, so PyTorch cannot "
            f"differentiate by it.",
            hint=f"Turn on requires_grad for {variable}.",
        )


def second(
    formula: Formula | str,
    values: Mapping[str, Number],
    variable: str,
    requires_grad: Mapping[str, bool] | None = None,
) -> Second:
    """Differentiate the output twice by ``variable`` at the point, with create_graph=True."""
    return _guarded(
        lambda: _second(evaluate(_formula(formula, values), values, requires_grad), variable)
    )


def second_explored(explored: Explored, variable: str) -> Second:
    """Do what second() does for an Evaluation or Exploration the app already has."""
    return _guarded(lambda: _second(explored, variable))


def _second(explored: Explored, variable: str) -> Second:
    formula, tensors = explored.formula, _leaves(explored.inputs)
    _check_variable(formula, tensors, variable)
    leaf = tensors[variable]
    # The inputs print as evaluate() printed them (same constructor): repr is the slow part here.
    lines = [f"{item.name}: {item.repr}" for item in explored.inputs]
    output = forward(formula, tensors)
    out, grad_label = formula.output, f"d{formula.output}/d{variable}"
    lines.append(f"{out}: {output!r}")
    grad = None
    if output.requires_grad:
        with ANOMALY_GATE.backward():
            (grad,) = torch.autograd.grad(output, leaf, create_graph=True, allow_unused=True)
    if grad is None:  # only through detach(): x's path to y is cut
        raise InputError(
            f"{out} does not depend on {variable} through anything PyTorch tracks "
            f"(detach cuts the graph), so there is no derivative to take again."
        )
    grad_repr = repr(grad)
    lines.append(f"{grad_label}: {grad_repr}")
    case, notes = _case(formula, grad, variable, leaf)
    if case == "constant":
        lines.append(f"{grad_label}.grad_fn : None")
        second_value, second_repr = 0.0, ""
    else:
        with ANOMALY_GATE.backward():
            (result,) = torch.autograd.grad(grad, leaf, retain_graph=True, allow_unused=True)
        lines.append(f"{_second_label(out, variable)}: {result!r}")
        second_value = 0.0 if result is None else float(result.item())
        second_repr = repr(result)
    notes += _value_notes(second_value, _second_label(out, variable))
    return Second(
        variable=variable,
        output=out,
        lines=tuple(lines),
        value=float(output.item()),
        grad=float(grad.item()),
        grad_repr=grad_repr,
        second=second_value,
        second_repr=second_repr,
        code=_script(formula, tensors, variable, case),
        graph=_gradient_graph(grad_label, grad, tensors, variable),
        notes=notes,
    )


def _second_label(output: str, variable: str) -> str:
    return f"d2{output}/d{variable}2"


def _case(
    formula: Formula, grad: torch.Tensor, variable: str, leaf: torch.Tensor
) -> tuple[str, tuple[str, ...]]:
    """Classify the gradient: "tracked" (reaches x), "unused" (x not in its graph), "constant"."""
    label = f"d{formula.output}/d{variable}"
    notes = list(_kink_notes(formula, variable))
    if grad.grad_fn is None:
        notes.append(
            f"{label} has no grad_fn: it does not depend on anything that requires grad, so it "
            f"is a constant and the second derivative is 0. torch.autograd.grad({_ident(label)}, "
            f"{variable}) would raise an error, so the script stops at {label}."
        )
        return "constant", tuple(notes)
    if not _reaches(grad.grad_fn, leaf):
        notes.append(
            f"{label} has a grad_fn, but {variable} is not in its graph: the gradient depends on "
            f"other inputs only. torch.autograd.grad needs allow_unused=True here and returns "
            f"None, which means the second derivative is 0."
        )
        return "unused", tuple(notes)
    return "tracked", tuple(notes)


def _reaches(root: Any, leaf: torch.Tensor) -> bool:
    """Tell whether the graph under ``root`` has the AccumulateGrad of ``leaf``."""
    return any(getattr(fn, "variable", None) is leaf for fn in walk_graph(root))


def _kink_notes(formula: Formula, variable: str) -> tuple[str, ...]:
    """Explain what PyTorch does for the second derivative through abs or relu."""
    found = sorted({node.func for node in _expressions(formula) if _is_kink(node)})
    if not found:
        return ()
    names = " and ".join(found)
    return (
        f"{names} has a kink at 0: the slope jumps there, so there is no second derivative at "
        f"the kink, and 0 everywhere else. PyTorch's formula gives 0 on both sides and at the "
        f"kink itself; the jump in the slope (an infinitely thin spike in d2/d{variable}2) never "
        f"shows.",
    )


def _is_kink(node: object) -> bool:
    return isinstance(node, Call) and node.func in _KINKS


def _expressions(formula: Formula) -> list[object]:
    """Return every node of every statement."""
    return [node for statement in formula.statements for node in walk(statement.expr)]


def _value_notes(value: float, label: str) -> tuple[str, ...]:
    if math.isnan(value):
        return (f"{label} is nan: the second derivative is not defined at this point.",)
    if math.isinf(value):
        return (f"{label} is {value}: the slope changes infinitely fast at this point.",)
    return ()


def _gradient_graph(
    label: str, grad: torch.Tensor, tensors: dict[str, torch.Tensor], variable: str
) -> Graph:
    """Walk the gradient's own graph and run dy/dx.backward(inputs=[x]) through node hooks."""
    functions = walk_graph(grad.grad_fn)
    hooked: Hooked = {}
    # A hook holds its node, and the node its hooks, through PyTorch's C++ graph, a cycle Python's
    # collector cannot see: removed after backward, or every graph stays in memory for good.
    handles = [fn.register_hook(partial(save_grads, hooked, fn)) for fn in functions]
    try:
        if grad.requires_grad:
            # inputs=[x]: only x's AccumulateGrad runs, so x.grad receives d2y/dx2 and no other
            # leaf is written; the drawing's numbers are the second backward's.
            with ANOMALY_GATE.backward():
                grad.backward(inputs=[tensors[variable]])
    finally:
        for handle in handles:
            handle.remove()
    graph, _ = graph_and_ids(
        label, grad, inputs=tensors, records={}, hooked=hooked, functions=functions, used=()
    )
    return graph


def _ident(label: str) -> str:
    """Turn ``dy/dx`` into the script's name ``dy_dx``."""
    return label.replace("/", "_")


def _names(formula: Formula, tensors: Mapping[str, torch.Tensor], variable: str) -> tuple[str, str]:
    """Return the script's names for dy/dx and d2y/dx2, clear of every name already in use."""
    taken = {*tensors, formula.output, *formula.names, *RESERVED}
    chosen = []
    for label in (f"d{formula.output}/d{variable}", _second_label(formula.output, variable)):
        name = _ident(label)
        while name in taken:
            name += "_"
        taken.add(name)
        chosen.append(name)
    return chosen[0], chosen[1]


def _compute_lines(formula: Formula) -> list[str]:
    """Spell the formula's statements as PyTorch code."""
    return [f"{s.name} = {unparse(s.expr, torch=True)}" for s in formula.statements]


def _script(formula: Formula, tensors: Mapping[str, torch.Tensor], variable: str, case: str) -> str:
    """Write a script that prints exactly the lines of the Second it belongs to."""
    out = formula.output
    label, label2 = f"d{out}/d{variable}", _second_label(out, variable)
    grad_name, second_name = _names(formula, tensors, variable)
    uses_math = any(isinstance(node, Const) for node in _expressions(formula))
    lines = [f"# {formula}: second derivative by {variable}, generated by autograd-explorer"]
    lines += ["import math"] if uses_math else []
    lines += ["import torch", "", "# create the input tensors and print them"]
    for name, tensor in tensors.items():
        flag = ", requires_grad=True" if tensor.requires_grad else ""
        lines.append(f"{name} = torch.tensor({tensor.item()!r}{flag})")
    lines += [f'print("{name}:", {name})' for name in tensors]
    lines += ["", "# compute the output", *_compute_lines(formula), f'print("{out}:", {out})', ""]
    lines += [
        "# the gradient, as a tensor with a graph of its own (create_graph=True)",
        f"({grad_name},) = torch.autograd.grad({out}, {variable}, create_graph=True)",
        f'print("{label}:", {grad_name})',
        "",
    ]
    if case == "constant":
        lines += [
            f"# {label} has no grad_fn: it is a constant, so there is nothing to differentiate",
            f'print("{label}.grad_fn :", {grad_name}.grad_fn)',
        ]
    else:
        unused = ", allow_unused=True" if case == "unused" else ""
        lines += [
            "# differentiate the gradient again",
            f"({second_name},) = torch.autograd.grad({grad_name}, {variable}{unused})",
            f'print("{label2}:", {second_name})',
        ]
    return "\n".join(lines) + "\n"


def second_text(result: Second) -> str:
    """Return the lines the CLI's ``--second NAME`` prints (what the script prints)."""
    return "\n".join(result.lines) + "\n"


def second_many(
    formula: Formula,
    values: Mapping[str, Number],
    variable: str,
    points: Sequence[Number],
) -> tuple[tuple[float, ...], tuple[float, ...] | None, tuple[float, ...] | None]:
    """Return f, f' and f'' at many values of ``variable``, the others held at ``values``.

    One forward on a 1-D tensor of points, one backward of the sum with create_graph=True (each
    point's gradient is its own f', the formula being elementwise) and one more backward of the
    sum of f' give all three in float32. f' and f'' are None where the output does not depend on
    ``variable``; f'' is all zeros where f' does not depend on it (a straight line).
    """
    return _guarded(lambda: _second_many(formula, values, variable, points))


def _second_many(
    formula: Formula, values: Mapping[str, Number], variable: str, points: Sequence[Number]
) -> tuple[tuple[float, ...], tuple[float, ...] | None, tuple[float, ...] | None]:
    tensors = {name: torch.tensor(check_value(name, raw)) for name, raw in values.items()}
    if variable not in tensors or not tensors[variable].is_floating_point():
        raise InputError(f"{variable} must be a float input to take its second derivative.")
    along = torch.tensor([float(point) for point in points], requires_grad=True)
    tensors[variable] = along
    output = forward(formula, tensors).expand(along.shape)
    ys = tuple(output.detach().double().tolist())
    if not output.requires_grad:
        return ys, None, None
    with ANOMALY_GATE.backward():
        (slopes,) = torch.autograd.grad(output.sum(), along, create_graph=True)
    if not slopes.requires_grad:
        return ys, tuple(slopes.double().tolist()), (0.0,) * len(ys)
    with ANOMALY_GATE.backward():
        (curvature,) = torch.autograd.grad(slopes.sum(), along, allow_unused=True)
    seconds = (0.0,) * len(ys) if curvature is None else tuple(curvature.double().tolist())
    return ys, tuple(slopes.detach().double().tolist()), seconds


def hessian(
    formula: Formula | str,
    values: Mapping[str, Number],
    requires_grad: Mapping[str, bool] | None = None,
) -> Hessian:
    """Return the Hessian at the point over the inputs that require grad, with its meaning."""
    return _guarded(lambda: _hessian(evaluate(_formula(formula, values), values, requires_grad)))


def hessian_explored(explored: Explored) -> Hessian:
    """Do what hessian() does for an Evaluation or Exploration the app already has."""
    return _guarded(lambda: _hessian(explored))


def _hessian(explored: Explored) -> Hessian:
    formula, tensors = explored.formula, _leaves(explored.inputs)
    names = tuple(name for name in formula.variables if tensors[name].requires_grad)
    if not names:
        raise InputError("No input requires grad, so there is no Hessian to take.")
    fixed = {name: tensor.detach() for name, tensor in tensors.items()}

    def function(*moving: torch.Tensor) -> torch.Tensor:
        return forward(formula, {**fixed, **dict(zip(names, moving, strict=True))})

    point = tuple(fixed[name] for name in names)
    with ANOMALY_GATE.backward():  # its forward passes run inside too: they take no gate
        blocks = torch.autograd.functional.hessian(function, point)
    matrix = tuple(
        tuple(float(blocks[i][j].item()) for j in range(len(names))) for i in range(len(names))
    )
    eigenvalues = _eigenvalues(matrix)
    shape = _shape(eigenvalues)
    return Hessian(names, matrix, eigenvalues, shape, _sentence(shape, names, eigenvalues))


def _eigenvalues(matrix: tuple[tuple[float, ...], ...]) -> tuple[float, ...]:
    """Return the eigenvalues of the symmetric part, in float64, ascending; nan when not finite."""
    values = torch.tensor(matrix, dtype=torch.float64)
    if not torch.isfinite(values).all():
        return (math.nan,) * len(matrix)
    return tuple(torch.linalg.eigvalsh((values + values.T) / 2).tolist())


def _shape(eigenvalues: tuple[float, ...]) -> str:
    """Name the surface's shape from the signs of its curvatures."""
    if any(math.isnan(value) for value in eigenvalues):
        return "undefined"
    largest = max(abs(value) for value in eigenvalues)
    # float32 second derivatives: a curvature below 1e-5 of the largest counts as flat.
    tolerance = 1e-5 * largest
    ups = sum(value > tolerance for value in eigenvalues)
    downs = sum(value < -tolerance for value in eigenvalues)
    if largest == 0 or (ups == 0 and downs == 0):
        return "flat"
    if ups and downs:
        return "saddle"
    if ups == len(eigenvalues):
        return "bowl"
    if downs == len(eigenvalues):
        return "dome"
    return "trough" if ups else "ridge"


_MEANINGS = {
    "undefined": "is not finite here (inf or nan): the function is not twice differentiable at "
    "this point.",
    "flat": "is zero: no curvature in any direction, so to second order the function is flat or "
    "a plane here.",
    "saddle": "has positive and negative eigenvalues: the surface curves up along one direction "
    "and down along another, like a saddle (z = x**2 - y**2); where the gradient is 0 this is a "
    "saddle point, neither a minimum nor a maximum.",
    "bowl": "has only positive eigenvalues: the surface curves up in every direction, like a "
    "bowl; where the gradient is 0 this is a minimum.",
    "dome": "has only negative eigenvalues: the surface curves down in every direction, like a "
    "dome; where the gradient is 0 this is a maximum.",
    "trough": "has positive and zero eigenvalues: the surface curves up in some directions and "
    "is flat along others, like a trough with a level floor.",
    "ridge": "has negative and zero eigenvalues: the surface curves down in some directions and "
    "is flat along others, like a ridge with a level top.",
}
_CURVES = {
    "undefined": "is not finite here: the curve has no second derivative at this point.",
    "flat": "is 0: the curve does not bend here (a straight line to second order).",
    "bowl": "is positive: the curve bends up here, like a bowl (convex); where the slope is 0 "
    "this is a minimum, and Newton's step x - f'/f'' jumps towards it.",
    "dome": "is negative: the curve bends down here, like a dome (concave); where the slope is 0 "
    "this is a maximum.",
}


def _sentence(shape: str, names: tuple[str, ...], eigenvalues: tuple[float, ...]) -> str:
    """Say what the Hessian means, in one sentence."""
    if len(names) == 1:
        return f"The second derivative by {names[0]} {_CURVES[shape]}"
    return f"The Hessian over {', '.join(names)} {_MEANINGS[shape]}"


def hessian_text(result: Hessian) -> str:
    """Return the Hessian as a small aligned table, then its sentence."""
    cells = [[format(value, ".6g") for value in row] for row in result.matrix]
    width = max([len(name) for name in result.names] + [len(c) for row in cells for c in row])
    header = " " * width + "  " + "  ".join(name.rjust(width) for name in result.names)
    rows = [
        name.ljust(width) + "  " + "  ".join(cell.rjust(width) for cell in row)
        for name, row in zip(result.names, cells, strict=True)
    ]
    return "\n".join([header, *rows, result.sentence]) + "\n"
