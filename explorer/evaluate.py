"""Run a Formula on real tensors: forward, backward with node hooks, into a plain Evaluation.

Inputs are created exactly as the seed tutorial does, ``torch.tensor(value, requires_grad=...)``,
and every operator is applied to them with Python's own operator functions, so PyTorch picks the
same backward functions as the equivalent script (``2**x`` gives PowBackward2, ``1 - x``
RsubBackward1).
Arithmetic between two plain numbers runs as in Python too, but guarded: a result that would be a
huge integer (``9**9**9`` would hold the interpreter for hours) is refused at once.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch

from explorer.errors import ComputeError, InputError
from explorer.formula import (
    CONSTANTS,
    FUNCTIONS,
    MAX_VARIABLES,
    Call,
    Const,
    Expr,
    Formula,
    Num,
    Unary,
    Var,
    children,
    name_problem,
    spell,
)
from explorer.graph import Graph, Hooked, Operand, Record, brief, build_graph, scalar, walk
from explorer.values import check_value

__all__ = ["Evaluation", "Input", "evaluate", "evaluate_many", "forward"]

Number = int | float
Value = Number | torch.Tensor

_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "**": operator.pow,
}
_UNARY: dict[str, Callable[[Any], Any]] = {"-": operator.neg, "+": operator.pos}
_INT64_MAX = 2**63 - 1


def _resolve(spelling: str) -> Any:
    """Look up a trusted dotted name from the FUNCTIONS/CONSTANTS tables (never user text)."""
    head, *rest = spelling.split(".")
    obj = {"torch": torch, "math": math}[head]
    for part in rest:
        obj = getattr(obj, part)
    return obj


_FUNCTIONS = {name: _resolve(spelling) for name, spelling in FUNCTIONS.items()}
_CONSTANTS = {name: _resolve(spelling) for name, spelling in CONSTANTS.items()}


@dataclass(frozen=True, slots=True)
class Input:
    """One input tensor as PyTorch printed it, before and after backward."""

    name: str
    value: Number
    requires_grad: bool
    used: bool  # whether the formula mentions it
    repr: str  # e.g. "tensor(2., requires_grad=True)"
    grad: float | None
    grad_repr: str  # repr of .grad: "tensor(4.)" or "None"

    @property
    def is_int(self) -> bool:
        """Tell whether this is an integer tensor (which can never require grad)."""
        return isinstance(self.value, int)


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Everything one forward and backward pass showed, as plain data (no live tensors)."""

    formula: Formula
    inputs: tuple[Input, ...]
    value: Number
    output_repr: str  # e.g. "tensor(5., grad_fn=<AddBackward0>)"
    backward_ran: bool  # False when nothing on the output's path requires grad
    graph: Graph

    @property
    def output(self) -> str:
        """Return the output's name."""
        return self.formula.output


def _check_inputs(
    formula: Formula, values: Mapping[str, object], requires_grad: Mapping[str, object]
) -> dict[str, tuple[Number, bool]]:
    """Validate values and requires_grad flags; return name -> (value, requires_grad) in order."""
    if not isinstance(values, Mapping) or not isinstance(requires_grad, Mapping):
        raise InputError("Values and requires_grad must be given as name -> value mappings.")
    if missing := [name for name in formula.variables if name not in values]:
        raise InputError(
            f"No value for {', '.join(missing)}.",
            hint=f"Give every variable a value, e.g. {missing[0]}=1.0.",
        )
    if len(values) > MAX_VARIABLES:
        raise InputError(f"There are {len(values)} inputs; the limit is {MAX_VARIABLES}.")
    if unknown := [name for name in requires_grad if name not in values]:
        raise InputError(
            f"requires_grad was given for {', '.join(map(str, unknown))}, which has no value."
        )
    checked: dict[str, tuple[Number, bool]] = {}
    for name, raw in values.items():
        if problem := name_problem(name):
            raise InputError(f"The input name {name!r} {problem}.")
        value = check_value(name, raw)
        flag = requires_grad.get(name, isinstance(value, float))
        if not isinstance(flag, bool):
            raise InputError(f"requires_grad for {name} must be True or False.")
        if flag and isinstance(value, int):
            raise InputError(
                f"{name} = {value} is an integer, and only floating point tensors can require "
                "gradients.",
                hint=f"Write {name} = {value}.0 to make it a float tensor.",
            )
        checked[name] = (value, flag)
    return checked


class _Forward:
    """Evaluate a Formula on tensors, recording the backward function each operation creates."""

    def __init__(
        self, formula: Formula, tensors: dict[str, torch.Tensor], *, record: bool = True
    ) -> None:
        self.formula = formula
        self.tensors = tensors
        self.recording = record  # off for many points at once, where no graph is drawn
        self.records: dict[Any, Record] = {}

    def run(self, expr: Expr) -> tuple[Value, str]:
        """Return the value of ``expr`` and its spelling, built bottom-up in one pass."""
        if isinstance(expr, Num):
            return expr.value, expr.text
        if isinstance(expr, Const):
            return _CONSTANTS[expr.name], expr.name
        if isinstance(expr, Var):
            return self.tensors[expr.name], expr.name
        operands_of = children(expr)
        results = [self.run(child) for child in operands_of]
        text = spell(expr, tuple(part for _, part in results))
        operands = [value for value, _ in results]
        result = self.apply(expr, operands, text)
        if self.recording and isinstance(result, torch.Tensor) and result.grad_fn is not None:
            self.record(result, expr, text, results)
        return result, text

    def apply(self, expr: Expr, operands: list[Value], text: str) -> Value:
        """Apply one operation, as Python would, turning any refusal into a ComputeError."""
        try:
            if isinstance(expr, Call):
                (arg,) = operands
                arg = arg if isinstance(arg, torch.Tensor) else torch.tensor(arg)
                return _FUNCTIONS[expr.func](arg)
            if isinstance(expr, Unary):
                return _UNARY[expr.op](operands[0])
            left, right = operands
            if isinstance(left, torch.Tensor) or isinstance(right, torch.Tensor):
                return _OPERATORS[expr.op](left, right)
            return _fold(expr.op, left, right)
        except ComputeError as error:
            raise ComputeError(
                f"{text}: {error.message}", source=self.formula.text, column=expr.column
            ) from None
        except (RuntimeError, TypeError, ValueError, ZeroDivisionError, OverflowError) as error:
            lines = str(error).strip().splitlines() or [type(error).__name__]
            reason = "division by zero" if isinstance(error, ZeroDivisionError) else lines[0]
            reason = reason.rstrip(".")
            raise ComputeError(
                f"PyTorch could not compute {text}: {reason}.",
                source=self.formula.text,
                column=expr.column,
            ) from None

    def record(
        self,
        result: torch.Tensor,
        expr: Expr,
        text: str,
        results: list[tuple[Value, str]],
    ) -> None:
        """Remember what created ``result.grad_fn`` (``+x`` returns x itself: nothing new)."""
        if result.grad_fn in self.records:
            return
        # Only operands that need no gradient are kept: they are the ones PyTorch records as None.
        constants = [
            Operand(
                part,
                value.item() if isinstance(value, torch.Tensor) else value,
                child.name if isinstance(child, Var) else None,
            )
            for child, (value, part) in zip(children(expr), results, strict=True)
            if not (isinstance(value, torch.Tensor) and value.requires_grad)
        ]
        self.records[result.grad_fn] = Record(text, result.item(), constants, brief(expr, text))


def _fold(op: str, left: Number, right: Number) -> Number:
    """Compute ``left op right`` for two plain numbers exactly as Python does, but never slowly."""
    both_int = isinstance(left, int) and isinstance(right, int)
    if (
        op == "**"
        and both_int
        and right > 0
        and abs(left) > 1
        and right * math.log2(abs(left)) > 63
    ):
        raise ComputeError("the result is too large for a 64-bit integer.")
    result = _OPERATORS[op](left, right)
    if isinstance(result, complex):
        raise ComputeError("a negative number to a fractional power is a complex number.")
    if isinstance(result, int) and abs(result) > _INT64_MAX:
        raise ComputeError("the result is too large for a 64-bit integer.")
    return result


def forward(formula: Formula, tensors: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Run ``formula`` on the given tensors (any shape, broadcast elementwise), recording nothing.

    The one entry point for computing a formula on tensors a caller made itself: grids for plots,
    second derivatives, finite differences. The result is always a tensor.
    """
    result, _ = _Forward(formula, dict(tensors), record=False).run(formula.expr)
    return torch.as_tensor(result)


def evaluate(
    formula: Formula, values: Mapping[str, Number], requires_grad: Mapping[str, bool] | None = None
) -> Evaluation:
    """Build the inputs, run forward and backward, and return what PyTorch showed.

    >>> from explorer.formula import parse
    >>> evaluate(parse("y = x**2 + 1"), {"x": 2.0}).output_repr
    'tensor(5., grad_fn=<AddBackward0>)'
    """
    checked = _check_inputs(formula, values, requires_grad or {})
    # Fresh leaves every time: a leaf reused across runs would accumulate its .grad.
    tensors = {
        name: torch.tensor(value, requires_grad=flag) for name, (value, flag) in checked.items()
    }
    forward = _Forward(formula, tensors)
    result, _ = forward.run(formula.expr)
    # parse() guarantees a variable, so this is a tensor already; as_tensor is for type checkers.
    output = torch.as_tensor(result)

    functions = walk(output.grad_fn)
    hooked: Hooked = {}
    for fn in functions:
        fn.register_hook(partial(_save_grads, hooked, fn))
    backward_ran = output.requires_grad
    if backward_ran:
        _backward(output)

    used = set(formula.variables)
    inputs = tuple(
        Input(
            name,
            checked[name][0],
            tensor.requires_grad,
            name in used,
            repr(tensor),
            scalar(tensor.grad),
            repr(tensor.grad),
        )
        for name, tensor in tensors.items()
    )
    graph = build_graph(
        formula.output,
        output,
        inputs=tensors,
        records=forward.records,
        hooked=hooked,
        functions=functions,
        used=formula.variables,
    )
    return Evaluation(formula, inputs, output.item(), repr(output), backward_ran, graph)


def _backward(output: torch.Tensor) -> None:
    """Run backward(), reporting PyTorch's refusal as a ComputeError."""
    try:
        output.backward()
    except RuntimeError as error:
        raise ComputeError(f"PyTorch's backward() failed: {error}") from None


def _save_grads(
    hooked: Hooked,
    fn: Any,
    grad_inputs: Sequence[Any],
    grad_outputs: Sequence[Any],
) -> None:
    """Keep what one backward function sent on (grad_inputs) and received (grad_outputs)."""
    hooked[fn] = (tuple(grad_inputs), tuple(grad_outputs))


def evaluate_many(
    formula: Formula,
    values: Mapping[str, Number],
    variable: str,
    points: Sequence[Number],
    *,
    differentiate: bool,
) -> tuple[list[float], list[float] | None]:
    """Evaluate at many values of one variable at once, the others held at ``values``.

    With ``differentiate``, one vectorised backward of the sum gives f'(x) at every point (the
    formula is elementwise, so each point's gradient is its own derivative). Returns the values
    and the derivatives, or None where there are none.
    """
    checked = _check_inputs(formula, values, {})
    tensors = {name: torch.tensor(value) for name, (value, _) in checked.items()}
    is_int = isinstance(checked[variable][0], int)
    along = torch.tensor(list(points), dtype=torch.int64 if is_int else torch.float32)
    tensors[variable] = along.requires_grad_(differentiate and not is_int)
    result, _ = _Forward(formula, tensors, record=False).run(formula.expr)
    output = torch.as_tensor(result).expand(along.shape)
    slopes = None
    if output.requires_grad:
        _backward(output.sum())
        slopes = tensors[variable].grad.tolist() if tensors[variable].grad is not None else None
    return output.detach().double().tolist(), slopes
