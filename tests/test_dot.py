"""Numbers and labels on the graph: written as PyTorch prints them, shortened without losing the op.

The oracle for every number is PyTorch's own repr of the same 0-d tensor.
"""

from __future__ import annotations

import math
import random
import re

import pytest
import torch
from conftest import SEEDS

from explorer import explore
from explorer.dot import format_number, to_dot
from explorer.formula import Binary, Call, Unary, parse
from explorer.graph import MAX_BRIEF, brief
from explorer.presets import PRESETS


def _printed(value: float | int) -> str:
    """Return what PyTorch prints inside ``tensor(...)`` for this value as a 0-d tensor."""
    return repr(torch.tensor(value))[len("tensor(") : -1]


def _values() -> list[float | int]:
    """Floats at every magnitude and at torch's switching points, whole floats, ints, specials."""
    rng = random.Random(9)
    values: list[float | int] = [0.0, -0.0, math.inf, -math.inf, math.nan, 1.0, -1.0, 0.5, 2.5]
    values += [1e8, -1e8, 1e-4, -1e-4, 1.00000001e8, 99999999.0, 100000000.5, 9.9999e-5]
    values += [167.96160888671875, 88.98759460449219, 123456.0, 1e-5, 3.4e38, 3.5e38, 1e-45]
    values += [0.00010001, 0.000099999, 12345678.9, 1e12, -1e12, 0.1, 1 / 3]
    for _ in range(3000):
        values.append(rng.choice((-1, 1)) * 10 ** rng.uniform(-12, 13))
    for _ in range(500):
        values.append(float(rng.randint(-(10**10), 10**10)))
    for _ in range(200):
        # Halfway cases of the 4th decimal, where rounding a float64 and a float32 could differ.
        values.append(rng.randint(-(10**6), 10**6) / 10**4 + 0.00005)
    values += [0, 3, -7, 2**62, -(2**63)]
    return values


def test_numbers_are_written_exactly_as_pytorch_prints_them() -> None:
    """format_number agrees with repr(torch.tensor(v)) for 3,700 values, specials and ints."""
    wrong = [(v, format_number(v), _printed(v)) for v in _values()]
    wrong = [case for case in wrong if case[1] != case[2]]
    assert not wrong, wrong[:10]


def test_the_issue_examples_read_as_pytorch_prints_them() -> None:
    """4 decimals, a bare point for whole floats, ints as ints, scientific for tiny and huge."""
    assert format_number(167.96160888671875) == "167.9616"
    assert format_number(168.0) == "168."
    assert format_number(3) == "3"
    assert format_number(1e-5) == "1.0000e-05"
    assert format_number(123456789.0) == "1.2346e+08"
    assert format_number(None) == "None"


def _node_values(dot: str) -> dict[str, str]:
    """Map each box's bold title to the value it shows after "= " (on the title's row or below)."""
    shown = {}
    for title, value in re.findall(r"<B>([^<]+)</B>(?:<BR/>[^<]*?)? = ([^<]+)<BR/>", dot):
        shown.setdefault(title, value)
    return shown


def _transcript_numbers(transcript: str) -> dict[str, str]:
    """Map each printed name (``x``, ``x.grad``) to the number inside its ``tensor(...)``."""
    numbers = {}
    for line in transcript.splitlines():
        if match := re.match(r"(\S+?)\s*: tensor\(([^,)]+)", line):
            numbers[match[1]] = match[2]
    return numbers


@pytest.mark.parametrize(
    ("formula", "values"),
    [(p.formula, p.values) for p in PRESETS] + list(SEEDS.values()),
    ids=[p.label for p in PRESETS] + list(SEEDS),
)
def test_graph_numbers_agree_with_the_transcript(formula: str, values: dict) -> None:
    """Every input's and the output's value and .grad on the graph read as the transcript prints."""
    ex = explore(formula, values)
    printed = _transcript_numbers(ex.transcript)
    shown = _node_values(ex.dot)
    for name in [*values, ex.output]:
        assert shown[name] == printed[name], name
    for node in ex.graph.nodes:
        if node.kind == "input" and node.tracked:
            assert format_number(node.grad) == printed[f"{node.title}.grad"]
            assert f"grad {printed[f'{node.title}.grad']}</FONT>" in ex.dot


def test_a_float_input_with_a_whole_value_shows_its_point() -> None:
    """x=3 (an int tensor) reads 3 and x=3.0 reads 3., as PyTorch tells the two apart."""
    assert _node_values(explore("y = w*x", {"x": 3, "w": 2.0}).dot)["x"] == "3"
    assert _node_values(explore("y = w*x", {"x": 3.0, "w": 2.0}).dot)["x"] == "3."


def test_the_neurons_loss_box_keeps_its_square() -> None:
    """The issue's example: the PowBackward0 box shows the squaring, not a cut-off prefix."""
    ex = explore("loss = (sigmoid(w*x + b) - t)**2", {"w": 0.5, "x": 1.5, "b": 0.1, "t": 1.0})
    power = ex.graph.node("PowBackward0")
    assert power.detail == "(sigmoid(w*x + b) - t)**2"
    assert power.brief == "(sigmoid(…) - t)**2"
    assert "(sigmoid(…) - t)**2 = 0.0897" in ex.dot
    assert ex.graph.node("SubBackward0").brief == "sigmoid(w*x + b) - t"  # short: unchanged


@pytest.mark.parametrize(
    ("text", "short"),
    [
        ("(a + b + c + d + e + f + g + h)**2", "(… + g + h)**2"),
        ("(a*b*c*d*e*f*g*h + a*b*c*d*e*f*g*h)**2", "(…*h + …*h)**2"),
        ("sigmoid(a + b + c + d + e + f + g + h)", "sigmoid(… + g + h)"),
        ("(a + b + c + d + e + f + g + h) - t", "… + g + h - t"),
        ("x*1 + x*2 + x*3 + x*4 + x*5 + x*6", "… + x*5 + x*6"),
        ("sin(cos(tan(exp(log(sqrt(x + y + z + w + v))))))", "sin(cos(tan(exp(…))))"),
        ("averyveryverylongname_for_x*2 + y", "…*2 + y"),
        ("softplus(a + b + c + d + e + f) + softplus(a + b + c + d + e + f)", "… + …"),
    ],
)
def test_brief_keeps_the_operator_and_as_much_as_fits(text: str, short: str) -> None:
    """Deeper operands become …; a function keeps its name; the node's own operator stays."""
    expr = parse(f"out = {text}").expr
    assert brief(expr, text) == short


def _top(text: str) -> tuple[str, str]:
    """Return the kind and operator of an expression's top node, reading … as a variable."""
    expr = parse("out = " + text.replace("…", "u")).expr
    if isinstance(expr, Binary | Unary):
        return type(expr).__name__, expr.op
    return type(expr).__name__, expr.func if isinstance(expr, Call) else ""


_INPUTS = {"x": 0.7, "w": 1.3, "b": 0.2, "a_long_variable_name_here": 1.1}


def _random_formula(rng: random.Random, size: int) -> str:
    if size == 0:
        return rng.choice([*_INPUTS, "2", "0.5"])
    if rng.random() < 0.25:
        function = rng.choice(["sin", "sigmoid", "softplus", "exp"])
        return f"{function}({_random_formula(rng, size - 1)})"
    if rng.random() < 0.1:
        return f"-({_random_formula(rng, size - 1)})"
    left = rng.randint(0, size - 1)
    op = rng.choice(["+", "-", "*", "/", "**"])
    return f"({_random_formula(rng, left)}){op}({_random_formula(rng, size - 1 - left)})"


def test_every_box_keeps_its_operator_within_the_limit() -> None:
    """Over random formulas, each shortened box has the full text's top operator and fits."""
    rng = random.Random(4)
    for _ in range(150):
        text = _random_formula(rng, rng.randint(1, 40))
        try:
            ex = explore(f"y = {text}", _INPUTS)
        except ValueError:
            continue  # e.g. a power too large for an integer: refused, nothing to draw
        for node in ex.graph.nodes:
            if node.kind != "backward" or not node.detail:
                continue
            assert len(node.brief) <= MAX_BRIEF, node.brief
            assert _top(node.brief) == _top(node.detail), (node.detail, node.brief)
            if len(node.detail) <= MAX_BRIEF:
                assert node.brief == node.detail


def test_dot_escapes_nothing_it_should_not_and_stays_deterministic() -> None:
    """The same Graph gives the same DOT, and the ellipsis reaches the DOT as text."""
    ex = explore("y = (sigmoid(w*x + b) - t)**2", {"w": 0.5, "x": 1.5, "b": 0.1, "t": 1.0})
    assert to_dot(ex.graph) == to_dot(ex.graph) == ex.dot
    assert "(sigmoid(…) - t)**2" in ex.dot
