"""Check autograd against finite differences, the test every ML course teaches.

For each input with a gradient, the central difference ``(f(x+h) - f(x-h)) / 2h`` is taken in
float64 and set beside the gradient the transcript prints (float32), with the absolute and
relative error and a verdict. Where they disagree, the reason is named: a kink (abs, relu at 0),
a point at the edge of the domain (log at 0, sqrt at 0), float32 rounding, or a slope that changes
too fast for the step.

The step is ``h = 1e-6 * max(1, |x|)``. The central difference's own error is about
``h**2 * |f'''| / 6`` (truncation, ~1e-12 here) plus ``eps * |f| / h`` (float64 rounding of f,
eps = 2.2e-16, so ~2e-10 * |f|): both far below float32's own rounding of the gradient (~1e-7
relative), so a disagreement larger than that is not the check's fault. h grows with |x| so that
x + h stays a different number from x, and the divisor is ``(x + h) - (x - h)`` as float64 holds
them, not 2h, which removes the error of representing x + h.

    >>> check("y = x**2", {"x": 3.0})[0].verdict
    'agree'
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import torch

from explorer.errors import ComputeError, ExplorerError
from explorer.evaluate import ANOMALY_GATE, evaluate, forward
from explorer.formula import Formula, parse
from explorer.notes import KINKS
from explorer.trace import Explored, number, trace

__all__ = [
    "ATOL",
    "RTOL",
    "Cause",
    "CheckRow",
    "Verdict",
    "check",
    "check_explored",
    "check_text",
    "step",
]

Number = int | float
Verdict = Literal["agree", "disagree"]
Cause = Literal["", "kink", "domain", "rounding", "steep"]
# float32 gradient against a float64 difference: |grad - numeric| <= ATOL + RTOL * |numeric|.
# float32 keeps ~7 digits; a few roundings in a chain of operations stay well inside 1e-4.
RTOL, ATOL = 1e-4, 1e-5
_TIGHT = 1e-6  # float64 autograd against the difference: only the difference's own error is left
_EPS64 = 2.0**-52


@dataclass(frozen=True, slots=True)
class CheckRow:
    """One input's gradient beside its finite-difference estimate, and the verdict."""

    name: str
    value: float  # the point x
    grad: float  # autograd, float32: what the transcript prints as x.grad
    grad64: float  # autograd in float64 at the same point, to tell rounding from real trouble
    h: float  # the step
    numeric: float  # (f(x+h) - f(x-h)) / ((x+h) - (x-h)), float64
    left: float  # one-sided (f(x) - f(x-h)) / h: the slope just left of x
    right: float  # one-sided (f(x+h) - f(x)) / h: the slope just right of x
    abs_error: float  # |grad - numeric|
    rel_error: float  # abs_error / max(|grad|, |numeric|); 0 when both are 0
    verdict: Verdict
    cause: Cause  # "" when they agree for the plain reason that the function is smooth here
    reason: str  # in plain words; "" when cause is ""


def step(value: float) -> float:
    """Return the central difference's step h for the point ``value``: 1e-6 * max(1, |x|)."""
    return 1e-6 * max(1.0, abs(value))


def check(
    formula: Formula | str,
    values: Mapping[str, Number],
    requires_grad: Mapping[str, bool] | None = None,
) -> tuple[CheckRow, ...]:
    """Check every input that got a gradient against the central difference, in input order."""
    try:
        if not isinstance(formula, Formula):
            formula = parse(formula, tuple(values) if isinstance(values, Mapping) else ())
        return check_explored(evaluate(formula, values, requires_grad))
    except ExplorerError:
        raise
    except Exception as error:
        raise ComputeError(f"Something unexpected went wrong ({type(error).__name__}).") from error


def check_explored(evaluation: Explored) -> tuple[CheckRow, ...]:
    """Check an Evaluation or Exploration already computed (the app has one): no second pass."""
    checked = [item for item in evaluation.inputs if item.grad is not None]
    if not checked:
        return ()
    names = [item.name for item in checked]
    points = {item.name: item.value for item in evaluation.inputs}
    grads64 = _grads64(evaluation.formula, points, names, evaluation)
    sides = _differences(evaluation.formula, points, names)
    kinks = _kinks(evaluation)
    origin = trace(evaluation, anomaly=False).first
    rows = []
    for item, grad64, side in zip(checked, grads64, sides, strict=True):
        grad = math.nan if item.grad is None else item.grad  # never None: filtered above
        facts = _Facts(item.name, float(item.value), grad, grad64, *side)
        rows.append(facts.row(kinks, origin.sentence if origin else ""))
    return tuple(rows)


def _grads64(
    formula: Formula, points: Mapping[str, Number], names: list[str], evaluation: Explored
) -> list[float]:
    """Return autograd's gradients in float64 at the same point (ints stay int64 tensors)."""
    flags = {item.name: item.requires_grad for item in evaluation.inputs}
    tensors = {
        name: torch.tensor(value, dtype=_dtype(value), requires_grad=flags[name])
        for name, value in points.items()
    }
    output = forward(formula, tensors)
    if not output.requires_grad:
        return [math.nan] * len(names)
    with ANOMALY_GATE.backward():
        grads = torch.autograd.grad(output, [tensors[name] for name in names], allow_unused=True)
    return [math.nan if grad is None else float(grad.item()) for grad in grads]


def _dtype(value: Number) -> torch.dtype:
    return torch.int64 if isinstance(value, int) else torch.float64


def _differences(
    formula: Formula, points: Mapping[str, Number], names: list[str]
) -> list[tuple[float, float, float, float, float]]:
    """Return (central, left, right, h, noise) per name, from one float64 forward of 2k + 1 points.

    ``noise`` is the central difference's own rounding error: float64 rounds each f to about
    eps * |f|, which the division by 2h magnifies.

    Point 0 is x itself; points 2j+1 and 2j+2 move only input j, by -h and +h.
    """
    count = 2 * len(names) + 1
    batch = {
        name: torch.full((count,), value, dtype=_dtype(value)) for name, value in points.items()
    }
    steps = []
    for j, name in enumerate(names):
        h = step(float(points[name]))
        batch[name][2 * j + 1] -= h
        batch[name][2 * j + 2] += h
        steps.append(h)
    with torch.no_grad():
        f = forward(formula, batch).expand(count).tolist()
    results = []
    for j, name in enumerate(names):
        below, above = batch[name][2 * j + 1].item(), batch[name][2 * j + 2].item()
        x = float(points[name])
        f_minus, f_plus = f[2 * j + 1], f[2 * j + 2]
        central = _divide(f_plus - f_minus, above - below)
        left, right = _divide(f[0] - f_minus, x - below), _divide(f_plus - f[0], above - x)
        noise = _EPS64 * max(abs(f_minus), abs(f_plus)) / (above - below)
        results.append((central, left, right, steps[j], noise))
    return results


def _divide(top: float, bottom: float) -> float:
    """Divide, giving nan for inf - inf and friends instead of raising."""
    try:
        return top / bottom
    except ZeroDivisionError:
        return math.nan


def _kinks(evaluation: Explored) -> list[str]:
    """Name the kinked functions in the graph, those sitting exactly at their kink first."""
    nodes = [node for node in evaluation.graph.nodes if node.title in KINKS]
    nodes.sort(key=lambda node: node.value != 0)
    return list(dict.fromkeys(KINKS[node.title] for node in nodes))


def _close(a: float, b: float, rtol: float, atol: float) -> bool:
    return abs(a - b) <= atol + rtol * abs(b)


@dataclass(frozen=True, slots=True)
class _Facts:
    """The numbers of one row, before the verdict."""

    name: str
    value: float
    grad: float
    grad64: float
    numeric: float
    left: float
    right: float
    h: float
    noise: float

    def row(self, kinks: list[str], origin: str) -> CheckRow:
        """Decide the verdict and the reason, most telling reason first."""
        error = abs(self.grad - self.numeric)
        scale = max(abs(self.grad), abs(self.numeric))
        relative = 0.0 if scale == 0 else _divide(error, scale)
        agree = math.isfinite(error) and _close(self.grad, self.numeric, RTOL, ATOL)
        cause, reason = self.cause(agree, kinks, origin)
        verdict: Verdict = "agree" if agree else "disagree"
        return CheckRow(
            self.name,
            self.value,
            self.grad,
            self.grad64,
            self.h,
            self.numeric,
            self.left,
            self.right,
            error,
            relative,
            verdict,
            cause,
            reason,
        )

    def cause(self, agree: bool, kinks: list[str], origin: str) -> tuple[Cause, str]:
        x = f"{self.name} = {number(self.value)}"
        if not all(map(math.isfinite, (self.grad, self.numeric))):
            return "domain", self.domain(x, origin)
        if kinks and not _close(self.left, self.right, 1e-3, 1e-3):
            return "kink", self.kink(x, kinks[0], agree)
        if agree:
            return "", ""
        if self.noise >= 0.1 * abs(self.grad - self.numeric):
            return "rounding", (
                f"rounding: f is large here compared with how much it changes over h = "
                f"{self.h:.1g}, so even float64 loses digits of f(x+h) - f(x-h) (about "
                f"{self.noise:.1g} in the central difference), and float32 loses more in "
                f"autograd's {self.grad:.6g}. In float64 autograd gives {self.grad64:.10g}."
            )
        if _close(self.grad64, self.numeric, _TIGHT, _TIGHT):
            return "rounding", (
                f"float32 rounding: in float64 autograd gives {self.grad64:.10g}, which agrees "
                f"with the central difference. float32 keeps about 7 significant digits, and "
                f"computing this slope at {x} loses some of them (a large number in between, or "
                f"a difference of nearly equal ones)."
            )
        return "steep", (
            f"The slope changes very fast near {x}: over the step h = {self.h:.1g} it goes from "
            f"{self.left:.6g} to {self.right:.6g}, so the central difference itself is off; "
            f"a smaller h would come closer to autograd."
        )

    def domain(self, x: str, origin: str) -> str:
        what = f" ({origin})" if origin else ""
        if not math.isfinite(self.grad):
            return (
                f"{x} is at the edge of the domain{what}: the slope is infinite or undefined "
                f"here, PyTorch returns {number(self.grad)} and the central difference gives "
                f"{number(self.numeric)}."
            )
        return (
            f"{x} is within h = {self.h:.1g} of the edge of the domain: the function is not a "
            f"number at x - h or x + h, so the central difference is {number(self.numeric)}; "
            f"autograd's {self.grad:.6g} is the slope at {x} itself."
        )

    def kink(self, x: str, kink: str, agree: bool) -> str:
        both = (
            "Both give the same number only because the central difference averages the two sides."
            if agree
            else f"The central difference averages the two sides: {self.numeric:.6g}."
        )
        return (
            f"{kink} has a kink at 0 here: the slope is {self.left:.6g} just left of {x} and "
            f"{self.right:.6g} just right of it, so there is no derivative at this point. "
            f"PyTorch returns {number(self.grad)} there ({kink}'s rule at 0). {both}"
        )


_HEADER = ("input", "value", "autograd (float32)", "central diff (float64)", "h", "abs error")
_HEADER2 = ("rel error", "verdict")


def check_text(rows: tuple[CheckRow, ...]) -> str:
    """Return the table the CLI's ``--check`` prints, then the reasons, one line each."""
    if not rows:
        return "No input has a gradient to check.\n"
    table = [(*_HEADER, *_HEADER2)]
    for row in rows:
        table.append(
            (
                row.name,
                f"{row.value:.6g}",
                f"{row.grad:.8g}",
                f"{row.numeric:.10g}",
                f"{row.h:.1g}",
                f"{row.abs_error:.2g}",
                f"{row.rel_error:.2g}",
                row.verdict + (f" ({row.cause})" if row.cause else ""),
            )
        )
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in table
    ]
    lines += [f"{row.name}: {row.reason}" for row in rows if row.reason]
    return "\n".join(lines) + "\n"
