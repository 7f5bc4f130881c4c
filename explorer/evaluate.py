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
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch

from explorer.errors import ComputeError, InputError
from explorer.formula import (
    CONSTANTS,
    FUNCTIONS,
    MAX_VARIABLES,
    METHODS,
    WARNINGS_LOCK,
    Call,
    Const,
    Expr,
    Formula,
    Num,
    Statement,
    Unary,
    Var,
    children,
    name_problem,
    spell,
    unparse,
)
from explorer.graph import Graph, Hooked, Operand, Record, brief, graph_and_ids, scalar, walk
from explorer.steps import Recorder, Step
from explorer.values import check_value

__all__ = [
    "ANOMALY_GATE",
    "MAX_BACKWARD_CALLS",
    "AnomalyGate",
    "BackwardCall",
    "Evaluation",
    "Input",
    "Intermediate",
    "evaluate",
    "evaluate_many",
    "forward",
    "save_grads",
]

MAX_BACKWARD_CALLS = 3

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


class AnomalyGate:
    """Let backward passes run side by side, but none while a detect_anomaly() run is on.

    Anomaly mode is one flag for the whole process, not per thread (torch 2.13: while one thread is
    inside detect_anomaly(), a backward in another thread that meets a nan raises "Function
    'SqrtBackward0' returned nan values" instead of finishing). The app's sessions are threads of
    one process, so every backward and autograd.grad of the explorer runs inside ``backward()``,
    and trace's anomaly run inside ``anomaly()``: a readers-writer lock, the anomaly run being the
    writer. A waiting anomaly run stops new backward passes from starting, so it cannot starve.
    Forward passes need no gate: under anomaly mode they only record a traceback nobody reads.

    Lock order: ``anomaly()`` may take WARNINGS_LOCK inside it; nothing may enter the gate while
    holding WARNINGS_LOCK, and nothing may enter ``backward()`` inside ``backward()`` (a waiting
    anomaly run would then block the inner one forever).
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._running = 0  # backward passes in flight
        self._waiting = 0  # anomaly runs waiting for them to finish
        self._anomaly = False

    @contextmanager
    def backward(self) -> Iterator[None]:
        """Run a backward pass: wait while an anomaly run is on or waiting."""
        with self._changed:
            self._changed.wait_for(lambda: not self._anomaly and not self._waiting)
            self._running += 1
        try:
            yield
        finally:
            with self._changed:
                self._running -= 1
                self._changed.notify_all()

    @contextmanager
    def anomaly(self) -> Iterator[None]:
        """Run with anomaly mode on: alone, once every backward pass in flight has finished."""
        with self._changed:
            self._waiting += 1
            self._changed.wait_for(lambda: not self._anomaly and not self._running)
            self._waiting -= 1
            self._anomaly = True
        try:
            yield
        finally:
            with self._changed:
                self._anomaly = False
                self._changed.notify_all()


ANOMALY_GATE = AnomalyGate()


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
class Intermediate:
    """One tensor a statement named, as PyTorch printed it, and its .grad after backward."""

    name: str
    value: Number
    repr: str  # e.g. "tensor(11., grad_fn=<AddBackward0>)"
    requires_grad: bool
    is_leaf: bool  # True for a detached tensor or a plain copy of an input (h = x)
    retained: bool  # h.retain_grad() ran before backward
    grad: float | None
    grad_repr: str  # "None" unless retained (or a leaf)


@dataclass(frozen=True, slots=True)
class BackwardCall:
    """One call of backward(): the .grad it left on every input and intermediate, or its error."""

    number: int  # 1-based
    grads: dict[str, float | None]  # inputs, then intermediates
    grad_reprs: dict[str, str]  # the same names: repr of .grad, "tensor(8.)" or "None"
    error: str = ""  # PyTorch's RuntimeError message when this call failed


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Everything one forward and backward pass showed, as plain data (no live tensors)."""

    formula: Formula
    inputs: tuple[Input, ...]
    value: Number
    output_repr: str  # e.g. "tensor(5., grad_fn=<AddBackward0>)"
    backward_ran: bool  # False when nothing on the output's path requires grad
    graph: Graph
    intermediates: tuple[Intermediate, ...] = ()  # in statement order
    calls: tuple[BackwardCall, ...] = ()  # one per backward() call that was attempted
    retain_graph: bool = False
    grad_warning: str = ""  # PyTorch's warning on reading .grad of a non-leaf tensor
    unretained: tuple[str, ...] = ()  # asked to retain, but they do not require grad
    steps: tuple[Step, ...] = ()  # backward in the engine's order, one step per node run

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
        self, formula: Formula, tensors: Mapping[str, torch.Tensor], *, record: bool = True
    ) -> None:
        self.formula = formula
        self.scope: dict[str, Value] = dict(tensors)  # the inputs, then each statement's result
        self.named: dict[str, Value] = {}  # each statement's result, the output last
        self.recording = record  # off for many points at once, where no graph is drawn
        self.records: dict[Any, Record] = {}
        self.statement = formula.statements[-1]

    def program(self) -> Value:
        """Run every statement in order, naming each result; return the output's value."""
        result: Value = 0
        for statement in self.formula.statements:
            self.statement = statement
            result, _ = self.run(statement.expr)
            self.scope[statement.name] = self.named[statement.name] = result
            if statement.name in self.formula.names:
                self.name(result, statement.name)
        return result

    def name(self, result: Value, name: str) -> None:
        """Give the backward function that made an intermediate its name, for the graph."""
        grad_fn = result.grad_fn if isinstance(result, torch.Tensor) else None
        record = self.records.get(grad_fn)
        if record is not None and not record.name:  # g = +h is h itself: h keeps its name
            record.name = name

    def run(self, expr: Expr) -> tuple[Value, str]:
        """Return the value of ``expr`` and its spelling, built bottom-up in one pass."""
        if isinstance(expr, Num):
            return expr.value, expr.text
        if isinstance(expr, Const):
            return _CONSTANTS[expr.name], expr.name
        if isinstance(expr, Var):
            return self.scope[expr.name], expr.name
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
                if expr.func in METHODS:
                    return getattr(arg, METHODS[expr.func])()
                return _FUNCTIONS[expr.func](arg)
            if isinstance(expr, Unary):
                return _UNARY[expr.op](operands[0])
            left, right = operands
            if isinstance(left, torch.Tensor) or isinstance(right, torch.Tensor):
                return _OPERATORS[expr.op](left, right)
            return _fold(expr.op, left, right)
        except ComputeError as error:
            raise self.error(f"{text}: {error.message}", expr) from None
        except (RuntimeError, TypeError, ValueError, ZeroDivisionError, OverflowError) as error:
            lines = str(error).strip().splitlines() or [type(error).__name__]
            reason = "division by zero" if isinstance(error, ZeroDivisionError) else lines[0]
            reason = reason.rstrip(".")
            raise self.error(f"PyTorch could not compute {text}: {reason}.", expr) from None

    def error(self, message: str, expr: Expr) -> ComputeError:
        """Say what failed, with a caret in the statement's own line."""
        statement = self.statement
        source = statement.source or self.formula.text
        return ComputeError(message, source=source, column=expr.column, line=statement.line)

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
            self.operand(child, value, part)
            for child, (value, part) in zip(children(expr), results, strict=True)
            if not (isinstance(value, torch.Tensor) and value.requires_grad)
        ]
        self.records[result.grad_fn] = Record(text, result.item(), constants, brief(expr, text))

    def operand(self, child: Expr, value: Value, part: str) -> Operand:
        """Describe an operand that needs no gradient: a number, an input, or a detached tensor."""
        number = value.item() if isinstance(value, torch.Tensor) else value
        if isinstance(child, Var) and child.name in self.formula.variables:
            return Operand(part, number, child.name)
        return Operand(part, number, None, _detached(child, self.formula.statements))


def _detached(expr: Expr, statements: Sequence[Statement]) -> str:
    """Return what ``expr`` detaches: "h" for detach(h) or for a name bound to it, else ""."""
    if isinstance(expr, Var):
        made = next((s.expr for s in statements if s.name == expr.name), None)
        return _detached(made, statements) if made is not None else ""
    if isinstance(expr, Call) and expr.func in METHODS:
        return unparse(expr.arg)
    return ""


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
    second derivatives, finite differences. Every statement runs; the result is the output's
    value, always a tensor.
    """
    return torch.as_tensor(_Forward(formula, tensors, record=False).program())


def evaluate(
    formula: Formula,
    values: Mapping[str, Number],
    requires_grad: Mapping[str, bool] | None = None,
    *,
    retain: Iterable[str] = (),
    backward_calls: int = 1,
    retain_graph: bool = False,
) -> Evaluation:
    """Build the inputs, run forward and backward, and return what PyTorch showed.

    ``retain`` names intermediates whose ``retain_grad()`` runs before backward; backward() runs
    ``backward_calls`` times, keeping the graph between calls when ``retain_graph`` is set.

    >>> from explorer.formula import parse
    >>> evaluate(parse("y = x**2 + 1"), {"x": 2.0}).output_repr
    'tensor(5., grad_fn=<AddBackward0>)'
    """
    checked = _check_inputs(formula, values, requires_grad or {})
    retain = _check_retain(formula, retain)
    _check_calls(backward_calls, retain_graph)
    # Fresh leaves every time: a leaf reused across runs would accumulate its .grad.
    tensors = {
        name: torch.tensor(value, requires_grad=flag) for name, (value, flag) in checked.items()
    }
    forward = _Forward(formula, tensors)
    # parse() guarantees a variable, so this is a tensor already; as_tensor is for type checkers.
    output = torch.as_tensor(forward.program())
    named = {name: torch.as_tensor(forward.named[name]) for name in formula.names}
    # retain_grad() raises on a tensor that does not require grad; the script leaves it out too.
    retained = tuple(name for name in retain if named[name].requires_grad)
    for name in retained:
        named[name].retain_grad()

    functions = walk(output.grad_fn)
    # Before backward: the recorder reads the saved tensors (backward frees them) and hooks every
    # node for every call (pre-hooks: the engine's order; hooks: what each received and sent).
    recorder = Recorder(functions)
    recorder.install()
    backward_ran = output.requires_grad
    calls: list[BackwardCall] = []
    warning = ""
    try:
        for number in range(1, backward_calls + 1 if backward_ran else 1):
            keep = retain_graph and number < backward_calls
            error = _backward(output, keep) if number == 1 else _backward_again(output, keep)
            grads, seen = _read_grads({**tensors, **named})
            warning = warning or seen
            calls.append(_call(number, grads, error))
    finally:
        recorder.remove()  # else the graph is never freed (see Recorder.remove)
    if not calls:  # without backward, .grad is read once, as the script prints it once
        grads, warning = _read_grads({**tensors, **named})
    final = calls[-1] if calls else _call(0, grads, "")

    used = set(formula.variables)
    inputs = tuple(
        Input(
            name,
            checked[name][0],
            tensor.requires_grad,
            name in used,
            repr(tensor),
            final.grads[name],
            final.grad_reprs[name],
        )
        for name, tensor in tensors.items()
    )
    intermediates = tuple(
        Intermediate(
            name,
            tensor.item(),
            repr(tensor),
            tensor.requires_grad,
            tensor.is_leaf,
            name in retained,
            final.grads[name],
            final.grad_reprs[name],
        )
        for name, tensor in named.items()
    )
    graph, node_ids = graph_and_ids(
        formula.output,
        output,
        inputs=tensors,
        records=forward.records,
        hooked=recorder.hooked,
        functions=functions,
        used=formula.variables,
    )
    return Evaluation(
        formula,
        inputs,
        output.item(),
        repr(output),
        backward_ran,
        graph,
        intermediates=intermediates,
        calls=tuple(calls),
        retain_graph=retain_graph,
        grad_warning=warning,
        unretained=tuple(name for name in retain if name not in retained),
        steps=recorder.steps(node_ids, graph),
    )


def _check_retain(formula: Formula, retain: object) -> tuple[str, ...]:
    """Return the names to retain, in statement order; each must name an intermediate."""
    if isinstance(retain, str):
        retain = (retain,)
    if not isinstance(retain, Iterable):
        raise InputError("retain must list the names of intermediates, like ('h',).")
    asked = list(retain)
    for name in asked:
        if name not in formula.names:
            raise InputError(_retain_problem(formula, name))
    return tuple(name for name in formula.names if name in asked)


def _retain_problem(formula: Formula, name: object) -> str:
    """Say why ``name`` cannot be retained, and what can."""
    if name in formula.variables:
        what = "an input, a leaf tensor: backward() fills its .grad without retain_grad()"
    elif name == formula.output:
        what = "the output"
    else:
        what = "not a name the formula assigns"
    can = (
        f"retain works for the intermediates: {', '.join(formula.names)}"
        if formula.names
        else "retain works for intermediates, like h in h = w*x; y = sin(h)"
    )
    return f"Cannot retain the gradient of {name!r}: it is {what}. {can[0].upper()}{can[1:]}."


def _check_calls(backward_calls: object, retain_graph: object) -> None:
    """Refuse a number of backward() calls outside 1..MAX_BACKWARD_CALLS, or a non-bool flag."""
    if (
        not isinstance(backward_calls, int)
        or isinstance(backward_calls, bool)
        or not 1 <= backward_calls <= MAX_BACKWARD_CALLS
    ):
        raise InputError(
            f"backward() can be called 1 to {MAX_BACKWARD_CALLS} times, not {backward_calls!r}."
        )
    if not isinstance(retain_graph, bool):
        raise InputError("retain_graph must be True or False.")


def _read_grads(tensors: Mapping[str, torch.Tensor]) -> tuple[dict[str, Any], str]:
    """Read every .grad as a script would, and PyTorch's warning about a non-leaf one, if any.

    The warning is captured from the real access, so the lesson quotes what PyTorch says.
    """
    if all(tensor.is_leaf for tensor in tensors.values()):
        # PyTorch warns only on .grad of a non-leaf tensor: no need to take the process-wide
        # warnings lock and filters.
        return {name: tensor.grad for name, tensor in tensors.items()}, ""
    with WARNINGS_LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        grads = {name: tensor.grad for name, tensor in tensors.items()}
    texts = (str(item.message) for item in caught if issubclass(item.category, UserWarning))
    found = next((text for text in texts if ".grad" in text), "")
    # PyTorch appends where in its C++ sources it warned: noise for a student.
    return grads, found.split(" (Triggered internally at")[0]


def _call(number: int, grads: Mapping[str, Any], error: str) -> BackwardCall:
    values = {name: scalar(grad) for name, grad in grads.items()}
    reprs = {name: repr(grad) for name, grad in grads.items()}
    return BackwardCall(number, values, reprs, error)


def _backward(output: torch.Tensor, keep: bool = False) -> str:
    """Run backward(), reporting PyTorch's refusal as a ComputeError; return "" (no error)."""
    try:
        with ANOMALY_GATE.backward():
            output.backward(retain_graph=keep)
    except RuntimeError as error:
        raise ComputeError(f"PyTorch's backward() failed: {error}") from None
    return ""


def _backward_again(output: torch.Tensor, keep: bool) -> str:
    """Run a second or third backward(); return PyTorch's RuntimeError message, "" if none.

    Without retain_graph the first call freed the saved tensors, and PyTorch refuses: that
    refusal is the lesson, so it is kept, not raised.
    """
    try:
        with ANOMALY_GATE.backward():
            output.backward(retain_graph=keep)
    except RuntimeError as error:
        return str(error)
    return ""


def save_grads(
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
    output = forward(formula, tensors).expand(along.shape)
    slopes = None
    if output.requires_grad:
        _backward(output.sum())
        slopes = tensors[variable].grad.tolist() if tensors[variable].grad is not None else None
    return output.detach().double().tolist(), slopes
