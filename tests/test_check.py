"""check(): autograd beside the central difference, with a verdict and its reason in words.

Oracle: each smooth formula's derivative in closed form (float64, the math module). The central
difference must agree with it to 1e-6 relative (with a floor of 1: |d| <= 1e-6 * max(1, |exact|)),
and so must autograd run in float64 at the same point (row.grad64). The float32 gradient the
transcript prints is held to float32's own precision (the verdict's RTOL and ATOL).
"""

from __future__ import annotations

import math
import pickle
import random

import pytest

from explorer.check import ATOL, RTOL, CheckRow, check, check_explored, check_text, step
from explorer.core import explore


def _sigmoid(v: float) -> float:
    return 1 / (1 + math.exp(-v))


# formula, names, gradient in closed form
SMOOTH = [
    ("y = x**3 - 2*x", ("x",), lambda x: (3 * x**2 - 2,)),
    ("y = sin(x)*cos(x)", ("x",), lambda x: (math.cos(2 * x),)),
    ("y = exp(x/2)", ("x",), lambda x: (math.exp(x / 2) / 2,)),
    ("y = sigmoid(x)", ("x",), lambda x: (_sigmoid(x) * (1 - _sigmoid(x)),)),
    ("y = tanh(x)*x", ("x",), lambda x: (math.tanh(x) + x * (1 - math.tanh(x) ** 2),)),
    ("z = x*y + x**2", ("x", "y"), lambda x, y: (y + 2 * x, x)),
    ("z = sin(x*y)", ("x", "y"), lambda x, y: (y * math.cos(x * y), x * math.cos(x * y))),
    (
        "y = (w*x + b)**2",
        ("w", "x", "b"),
        lambda w, x, b: (2 * (w * x + b) * x, 2 * (w * x + b) * w, 2 * (w * x + b)),
    ),
    ("y = softplus(x)", ("x",), lambda x: (_sigmoid(x),)),
    ("h = x*x; y = exp(-h)", ("x",), lambda x: (-2 * x * math.exp(-x * x),)),
]


def _close(got: float, want: float, tol: float) -> bool:
    return abs(got - want) <= tol * max(1.0, abs(want))


def test_smooth_functions_agree_at_100_random_points() -> None:
    """The central difference and float64 autograd agree with the closed form to 1e-6."""
    rng = random.Random(8)
    failures = []
    for trial in range(100):
        formula, names, exact = SMOOTH[trial % len(SMOOTH)]
        values = {name: rng.uniform(-2.0, 2.0) for name in names}
        rows = check(formula, values)
        assert [row.name for row in rows] == list(names)
        for row, want in zip(rows, exact(*values.values()), strict=True):
            ok = (
                _close(row.numeric, want, 1e-6)
                and _close(row.grad64, want, 1e-6)
                and abs(row.grad - row.numeric) <= ATOL + RTOL * abs(row.numeric)
                and (row.verdict, row.cause, row.reason) == ("agree", "", "")
            )
            if not ok:
                failures.append((formula, values, row, want))
    assert failures == []


def test_the_step_is_shown_and_scales_with_x() -> None:
    """h = 1e-6 * max(1, |x|), and each row says which h it used."""
    rows = check("z = x*y", {"x": 0.25, "y": -300.0})
    assert [row.h for row in rows] == [1e-6, 3e-4]
    assert step(-300.0) == 3e-4
    assert rows[0].value == 0.25
    assert rows[1].value == -300.0


def test_errors_are_against_the_float32_gradient() -> None:
    """abs_error and rel_error compare the transcript's gradient with the difference."""
    (row,) = check("y = sin(x)", {"x": 1.0})
    assert row.grad == explore("y = sin(x)", {"x": 1.0}).grads["x"]
    assert row.abs_error == abs(row.grad - row.numeric)
    assert row.rel_error == row.abs_error / max(abs(row.grad), abs(row.numeric))


# formula, values, verdict, cause, words the reason must contain
REASONS = [
    ("y = relu(x)", {"x": 0.0}, "disagree", "kink", ("relu has a kink at 0", "PyTorch returns 0")),
    ("y = abs(x)", {"x": 0.0}, "agree", "kink", ("abs has a kink", "only because")),
    ("y = 3*abs(x - 0.5)", {"x": 0.5}, "agree", "kink", ("abs has a kink", "-3", "3")),
    ("y = relu(x - 1)*x", {"x": 1.0}, "disagree", "kink", ("relu has a kink",)),
    ("y = log(x)", {"x": 0.0}, "disagree", "domain", ("edge of the domain", "log(0) = -inf")),
    ("y = sqrt(x)", {"x": 0.0}, "disagree", "domain", ("edge of the domain", "SqrtBackward0")),
    ("y = sqrt(x)", {"x": -1.0}, "disagree", "domain", ("sqrt(-1) = nan",)),
    ("y = sqrt(x)", {"x": 1e-7}, "disagree", "domain", ("within h", "not a number at x - h")),
    ("y = x/x", {"x": 0.0}, "disagree", "domain", ("0/0 = nan",)),
    ("y = sin(x + 10000)", {"x": 0.123456}, "disagree", "rounding", ("float32 rounding",)),
    ("y = (x + 1000)*(x - 1000)", {"x": 0.001}, "disagree", "rounding", ("f is large",)),
    ("y = 1/x", {"x": 1e-5}, "disagree", "steep", ("changes very fast", "smaller h")),
    ("y = relu(x)", {"x": -1.0}, "agree", "", ()),
]


@pytest.mark.parametrize(("formula", "values", "verdict", "cause", "words"), REASONS)
def test_verdicts_name_the_reason(formula, values, verdict, cause, words) -> None:
    """Kinks, domain edges, rounding and steep slopes each get their verdict and words."""
    (row,) = check(formula, values)
    assert (row.verdict, row.cause) == (verdict, cause)
    for word in words:
        assert word in row.reason
    assert bool(row.reason) == bool(cause)


def test_kink_rows_show_both_one_sided_slopes() -> None:
    """At relu's kink the slope is 0 on the left and 1 on the right; the centre averages them."""
    (row,) = check("y = relu(x)", {"x": 0.0})
    assert (row.grad, row.left, row.right, row.numeric) == (0.0, 0.0, 1.0, 0.5)


def test_only_inputs_with_a_gradient_get_a_row() -> None:
    """Int inputs, inputs without requires_grad and unused inputs have no gradient to check."""
    rows = check("y = w*x + b", {"x": 3, "w": 2.0, "b": 5.0, "u": 1.0}, {"b": False})
    assert [row.name for row in rows] == ["w"]
    assert check("y = x**2", {"x": 1.0}, {"x": False}) == ()
    assert check_text(()) == "No input has a gradient to check.\n"


def test_check_explored_reuses_an_exploration() -> None:
    """Given the app's Exploration, the rows are the same as from the formula."""
    values = {"x": 0.0, "w": 1.5}
    assert check_explored(explore("y = relu(x)*w", values)) == check("y = relu(x)*w", values)


def test_text_table() -> None:
    """The CLI's table has a header, a row per input and a line per reason."""
    text = check_text(check("z = relu(x)*y", {"x": 0.0, "y": 2.0}))
    lines = text.splitlines()
    assert lines[0].split()[:2] == ["input", "value"]
    assert lines[1].split()[0] == "x"
    assert lines[1].endswith("disagree (kink)")
    assert lines[2].split()[0] == "y"
    assert lines[2].endswith("agree")
    assert lines[3].startswith("x: relu has a kink")
    assert len(lines) == 4


def test_rows_are_plain_and_picklable() -> None:
    """Rows are frozen dataclasses of floats and strings that survive pickling."""
    rows = check("y = log(x)", {"x": 0.0})
    assert all(isinstance(row, CheckRow) for row in rows)
    copy = pickle.loads(pickle.dumps(rows))
    assert [row.reason for row in copy] == [row.reason for row in rows]
    assert all(type(value) in (str, float) for value in _fields(rows[0]))


def _fields(row: CheckRow) -> list[object]:
    """Return a slotted dataclass's field values."""
    return [getattr(row, name) for name in row.__slots__]
