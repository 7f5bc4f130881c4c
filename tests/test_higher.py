"""Second derivatives through create_graph, f'' along a plot, the gradient's graph, Hessians."""

from __future__ import annotations

import gc
import math
import pickle
import subprocess
import sys

import pytest
from conftest import ROOT

from explorer.core import explore
from explorer.dot import to_dot
from explorer.errors import InputError
from explorer.evaluate import evaluate_many
from explorer.formula import parse
from explorer.higher import (
    Hessian,
    Second,
    hessian,
    hessian_explored,
    hessian_text,
    second,
    second_explored,
    second_many,
    second_text,
)


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


# formula, f'' in closed form (float64, math module only)
CLOSED_FORMS = [
    ("y = x**3 - 2*x**2 + 5", lambda x: 6 * x - 4),
    ("y = 3*x**4", lambda x: 36 * x**2),
    ("y = sin(x)", lambda x: -math.sin(x)),
    ("y = cos(2*x)", lambda x: -4 * math.cos(2 * x)),
    ("y = exp(x/2)", lambda x: math.exp(x / 2) / 4),
    ("y = sigmoid(x)", lambda x: _sigmoid(x) * (1 - _sigmoid(x)) * (1 - 2 * _sigmoid(x))),
    ("y = x*sin(x)", lambda x: 2 * math.cos(x) - x * math.sin(x)),
    ("y = tanh(x)", lambda x: -2 * math.tanh(x) * (1 - math.tanh(x) ** 2)),
]
POINTS = [-3 + 6 * i / 60 for i in range(61)]


def _near(got: float, want: float, tol: float = 1e-4) -> bool:
    """float32 second derivatives against float64 closed forms."""
    return abs(got - want) <= tol * max(1.0, abs(want))


@pytest.mark.parametrize(("formula", "exact"), CLOSED_FORMS)
def test_second_many_matches_closed_forms(formula, exact) -> None:
    """f'' from one vectorised double backward equals the closed form at 61 points."""
    _, _, seconds = second_many(parse(formula), {"x": 0.0}, "x", POINTS)
    assert seconds is not None
    bad = [(x, got, exact(x)) for x, got in zip(POINTS, seconds, strict=True)]
    assert [item for item in bad if not _near(item[1], item[2])] == []


@pytest.mark.parametrize(("formula", "exact"), CLOSED_FORMS)
def test_second_at_the_point_matches_closed_forms(formula, exact) -> None:
    """The point's d2y/dx2 (two torch.autograd.grad calls) equals the closed form."""
    for x in (-1.3, 0.4, 2.2):
        assert _near(second(formula, {"x": x}, "x").second, exact(x))


def test_second_many_values_and_slopes_are_the_plots() -> None:
    """f and f' from second_many are exactly evaluate_many's (same float32 computation)."""
    formula = parse("y = sin(x)*w + x**2")
    ys, slopes, _ = second_many(formula, {"x": 0.0, "w": 2.0}, "x", POINTS)
    want_ys, want_slopes = evaluate_many(
        formula, {"x": 0.0, "w": 2.0}, "x", POINTS, differentiate=True
    )
    assert list(ys) == want_ys
    assert slopes is not None
    assert list(slopes) == want_slopes


def test_second_many_straight_line_and_unused_variable() -> None:
    """A line has f'' = 0 everywhere; a formula without the variable has no f' or f''."""
    _, slopes, seconds = second_many(parse("y = 2*x + b"), {"x": 0.0, "b": 1.0}, "x", [0.0, 1.0])
    assert slopes == (2.0, 2.0)
    assert seconds == (0.0, 0.0)
    ys, slopes, seconds = second_many(parse("y = 2*b"), {"x": 0.0, "b": 1.0}, "x", [0.0, 1.0])
    assert ys == (2.0, 2.0)
    assert slopes is None
    assert seconds is None


def test_example1_transcript_is_what_pytorch_prints() -> None:
    """The gradient prints with its own grad_fn; the second derivative without."""
    result = second("y = x**2 + 1", {"x": 2.0}, "x")
    assert result.lines == (
        "x: tensor(2., requires_grad=True)",
        "y: tensor(5., grad_fn=<AddBackward0>)",
        "dy/dx: tensor(4., grad_fn=<MulBackward0>)",
        "d2y/dx2: tensor(2.)",
    )
    assert (result.grad, result.second, result.grad_repr) == (
        4.0,
        2.0,
        "tensor(4., grad_fn=<MulBackward0>)",
    )
    assert second_text(result) == "\n".join(result.lines) + "\n"
    assert (result.grad_label, result.second_label) == ("dy/dx", "d2y/dx2")


SCRIPTS = [
    ("y = x**2 + 1", {"x": 2.0}, "x", None),
    ("z = x**y", {"x": 3.0, "y": 4.0}, "x", None),
    ("z = x**y", {"x": 3.0, "y": 4.0}, "y", {"x": False}),
    ("y = w*x + b", {"x": 3.0, "w": 2.0, "b": 5.0}, "x", None),  # dy/dx = w: x not in its graph
    ("y = w*x + b", {"x": 3.0, "w": 2.0, "b": 5.0}, "x", {"w": False}),  # dy/dx has no grad_fn
    ("y = relu(x) + pi*x**2", {"x": 0.0}, "x", None),
    ("y = sqrt(x)", {"x": 0.0}, "x", None),
    ("h = w*x + b; y = sigmoid(h)*n", {"x": 1.0, "w": 0.5, "b": 0.1, "n": 3}, "x", None),
    ("y = dy_dx*x**3", {"x": 1.5, "dy_dx": 2.0}, "x", None),  # the script's name is taken
]


def test_generated_scripts_print_the_same_lines() -> None:
    """Each generated script, run by Python in a fresh namespace, prints exactly the lines."""
    results = [second(formula, values, name, flags) for formula, values, name, flags in SCRIPTS]
    runner = "\n".join(
        [
            "import sys",
            "for code in sys.stdin.read().split('\\0'):",
            "    exec(code, {})",
            "    print('\\0', flush=True)",
        ]
    )
    done = subprocess.run(
        [sys.executable, "-c", runner],
        input="\0".join(result.code for result in results),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=True,
    )
    printed = done.stdout.split("\0\n")[:-1]
    assert printed == [second_text(result) for result in results]


def test_cases_and_notes() -> None:
    """No grad_fn, a gradient that does not reach x, kinks and infinities each get their note."""
    unused = second("y = w*x + b", {"x": 3.0, "w": 2.0, "b": 5.0}, "x")
    assert unused.lines[-1] == "d2y/dx2: None"
    assert unused.second == 0.0
    assert "allow_unused=True" in unused.notes[0]
    assert "allow_unused=True" in unused.code
    constant = second("y = w*x + b", {"x": 3.0, "w": 2.0, "b": 5.0}, "x", {"w": False})
    assert constant.lines[-2:] == ("dy/dx: tensor(2.)", "dy/dx.grad_fn : None")
    assert constant.second == 0.0
    assert constant.second_repr == ""
    assert "no grad_fn" in constant.notes[0]
    kink = second("y = relu(x)", {"x": 0.0}, "x")
    assert kink.second == 0.0
    assert kink.second_repr == "tensor(0.)"
    assert "PyTorch's formula gives 0" in kink.notes[0]
    steep = second("y = sqrt(x)", {"x": 0.0}, "x")
    assert steep.second == -math.inf
    assert "-inf" in steep.notes[-1]


@pytest.mark.parametrize(
    ("values", "flags", "message"),
    [
        ({"x": 2}, None, "integer"),
        ({"x": 2.0}, {"x": False}, "without requires_grad"),
    ],
)
def test_refusals(values, flags, message) -> None:
    """A variable PyTorch cannot differentiate by is refused in words."""
    with pytest.raises(InputError, match=message):
        second("y = x**2", values, "x", flags)


def test_refuses_a_variable_the_formula_does_not_use() -> None:
    """Asking for d/dw of a formula without w says so."""
    with pytest.raises(InputError, match="not an input"):
        second("y = x**2", {"x": 1.0, "w": 1.0}, "w")


@pytest.mark.parametrize(
    ("name", "formula", "values", "variable"),
    [
        ("example1", "y = x**2 + 1", {"x": 2.0}, "x"),
        ("example3", "z = x**y", {"x": 3.0, "y": 4.0}, "x"),
        ("sigmoid", "y = sigmoid(w*x + b)", {"x": 1.0, "w": 0.5, "b": 0.1}, "x"),
    ],
)
def test_gradient_graph_dot_is_golden(golden, name, formula, values, variable) -> None:
    """The gradient's own graph, walked and drawn like any graph, is byte-for-byte stable."""
    result = second(formula, values, variable)
    dot = to_dot(result.graph)
    assert to_dot(second(formula, values, variable).graph) == dot
    golden(f"{name}_gradgraph.dot", dot)


def test_gradient_graph_carries_the_second_backward() -> None:
    """dy/dx is the output; x's AccumulateGrad receives d2y/dx2 = 2 for y = x**2 + 1."""
    graph = second("y = x**2 + 1", {"x": 2.0}, "x").graph
    assert graph.nodes[0].title == "dy/dx"
    assert graph.nodes[0].value == 4.0
    assert graph.node("AccumulateGrad").grad == 2.0
    assert graph.node("x").grad == 2.0
    titles = [node.title for node in graph.nodes]
    assert "MulBackward0" in titles
    assert "PowBackward0" in titles


HESSIANS = [
    ("z = x**2 - y**2", {"x": 0.7, "y": -1.2}, ((2, 0), (0, -2)), "saddle"),
    ("z = x**2 + 3*y**2", {"x": 0.7, "y": -1.2}, ((2, 0), (0, 6)), "bowl"),
    ("z = -(x**2) - y**2 + x*y", {"x": 0.3, "y": 0.4}, ((-2, 1), (1, -2)), "dome"),
    ("z = x*y", {"x": 1.0, "y": 2.0}, ((0, 1), (1, 0)), "saddle"),
    ("z = (x + y)**2", {"x": 1.0, "y": 2.0}, ((2, 2), (2, 2)), "trough"),
    ("z = 2*x + y", {"x": 1.0, "y": 2.0}, ((0, 0), (0, 0)), "flat"),
    (
        "z = sin(x)*y",
        {"x": 0.5, "y": 2.0},
        ((-math.sin(0.5) * 2, math.cos(0.5)), (math.cos(0.5), 0)),
        "saddle",
    ),
    ("y = x**3", {"x": 1.5}, ((9,),), "bowl"),
]


@pytest.mark.parametrize(("formula", "values", "exact", "shape"), HESSIANS)
def test_hessian_matches_closed_forms(formula, values, exact, shape) -> None:
    """The Hessian from torch.autograd.functional.hessian equals the closed form."""
    result = hessian(formula, values)
    assert result.names == tuple(values)
    for row, want in zip(result.matrix, exact, strict=True):
        assert all(_near(g, w) for g, w in zip(row, want, strict=True))
    assert result.shape == shape
    assert shape in result.sentence or shape == "flat"


def test_hessian_sentences() -> None:
    """The sentence says what the shape means, for a surface and for a curve."""
    assert "saddle" in hessian("z = x**2 - y**2", {"x": 1.0, "y": 1.0}).sentence
    assert "minimum" in hessian("z = x**2 + y**2", {"x": 1.0, "y": 1.0}).sentence
    assert "bends up" in hessian("y = x**2", {"x": 1.0}).sentence
    undefined = hessian("z = sqrt(x) + y", {"x": 0.0, "y": 1.0})
    assert undefined.shape == "undefined"
    assert "not finite" in undefined.sentence
    table = hessian_text(hessian("z = x**2 - y**2", {"x": 1.0, "y": 1.0}))
    assert table.splitlines()[1].split() == ["x", "2", "0"]


def test_hessian_covers_the_inputs_that_require_grad() -> None:
    """Inputs without requires_grad and int inputs stay fixed; none at all is refused."""
    result = hessian("z = x**2*y + n", {"x": 1.0, "y": 3.0, "n": 2}, {"y": False})
    assert result.names == ("x",)
    assert result.matrix == ((6.0,),)
    with pytest.raises(InputError, match="No input requires grad"):
        hessian("z = x**2", {"x": 1.0}, {"x": False})


def test_results_are_plain_and_picklable() -> None:
    """Second and Hessian survive pickling unchanged."""
    result = second("y = sin(x)*w", {"x": 1.0, "w": 2.0}, "x")
    assert isinstance(result, Second)
    assert pickle.loads(pickle.dumps(result)) == result
    matrix = hessian("z = x*y", {"x": 1.0, "y": 2.0})
    assert isinstance(matrix, Hessian)
    assert pickle.loads(pickle.dumps(matrix)) == matrix


def test_explored_variants_match_and_skip_the_second_pass() -> None:
    """Given the app's Exploration, second and hessian give the same results as from text."""
    values = {"x": 1.5, "w": -0.5}
    explored = explore("y = sin(w*x)*x", values)
    assert second_explored(explored, "w") == second("y = sin(w*x)*x", values, "w")
    assert hessian_explored(explored) == hessian("y = sin(w*x)*x", values)


def test_detach_that_cuts_the_only_path_is_refused() -> None:
    """y = detach(x)*2 has no grad_fn: there is no derivative to take again."""
    with pytest.raises(InputError, match="detach cuts the graph"):
        second("y = detach(x)*2", {"x": 2.0}, "x")


def test_second_explored_leaves_nothing_behind() -> None:
    """The gradient graph's hooks are removed after backward, so each call's graph is freed."""
    ex = explore("h = w*x; y = sin(h)**2 + b", {"x": 3, "w": 2.0, "b": 5.0})
    for _ in range(20):  # fill the caches (saved-tensor names, dtypes) first
        second_explored(ex, "w")
    gc.collect()
    before = len(gc.get_objects())
    for _ in range(200):
        second_explored(ex, "w")
    gc.collect()
    # A kept graph costs ~76 objects a call; a few may come and go in the interpreter's caches.
    assert len(gc.get_objects()) - before < 200
