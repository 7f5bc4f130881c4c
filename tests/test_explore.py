"""explore(): real PyTorch values, gradients, transcripts, graphs and scripts, against oracles."""

from __future__ import annotations

import contextlib
import gc
import inspect
import math
import pickle
import random
import subprocess
import sys

import pytest
from conftest import GOLDEN, ROOT, SEEDS
from oracle import central_difference, value64

import explorer
from explorer import ComputeError, ExplorerError, InputError, explore, parse


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_seed_examples_print_the_seed_output_byte_for_byte(name: str) -> None:
    """The transcript equals the seed tutorial's Output block."""
    formula, values = SEEDS[name]
    assert explore(formula, values).transcript == (GOLDEN / f"seed_{name}.txt").read_text()


def test_example2_values_and_grads() -> None:
    """The public fields hold the numbers PyTorch computed."""
    ex = explore("y = w*x + b", {"x": 3, "w": 2.0, "b": 5.0}, requires_grad={"x": False})
    assert ex.value == 11.0
    assert ex.grads == {"x": None, "w": 3.0, "b": 1.0}
    assert list(ex.grads) == ["x", "w", "b"]
    assert ex.output == "y"


CLOSED_FORMS = [
    # formula, values, value, {name: derivative}
    ("x**2 + 1", {"x": 2.0}, 5.0, {"x": 4.0}),
    ("sin(x**2)", {"x": 1.3}, math.sin(1.69), {"x": 2 * 1.3 * math.cos(1.69)}),
    ("x*y", {"x": 2.0, "y": -3.0}, -6.0, {"x": -3.0, "y": 2.0}),
    ("x/y", {"x": 1.0, "y": 4.0}, 0.25, {"x": 0.25, "y": -1 / 16}),
    ("exp(log(x))", {"x": 2.5}, 2.5, {"x": 1.0}),
    ("sigmoid(x)", {"x": 0.0}, 0.5, {"x": 0.25}),
    ("2**x", {"x": 3.0}, 8.0, {"x": 8 * math.log(2)}),
    ("1 - x", {"x": 0.5}, 0.5, {"x": -1.0}),
    ("x**y", {"x": 3.0, "y": 4.0}, 81.0, {"x": 108.0, "y": 81 * math.log(3)}),
    ("abs(x)", {"x": -2.0}, 2.0, {"x": -1.0}),
    ("relu(x)", {"x": -2.0}, 0.0, {"x": 0.0}),
    ("tanh(x)", {"x": 0.5}, math.tanh(0.5), {"x": 1 - math.tanh(0.5) ** 2}),
    ("sqrt(x)", {"x": 4.0}, 2.0, {"x": 0.25}),
    (
        "(w*x + b - t)**2",
        {"w": 0.5, "x": 2.0, "b": 0.1, "t": 1.0},
        0.01,
        {"w": 0.4, "x": 0.1, "b": 0.2, "t": -0.2},
    ),
]


@pytest.mark.parametrize(("formula", "values", "value", "derivatives"), CLOSED_FORMS)
def test_values_and_grads_match_closed_forms(
    formula: str, values: dict[str, float], value: float, derivatives: dict[str, float]
) -> None:
    """Each value and gradient equals the derivative worked out by hand."""
    ex = explore(formula, values)
    assert ex.value == pytest.approx(value, rel=1e-5, abs=1e-6)
    for name, derivative in derivatives.items():
        assert ex.grads[name] == pytest.approx(derivative, rel=1e-5, abs=1e-6)


FD_CASES = [
    "sin(x)*cos(y) + x**3/y",
    "sigmoid(w*x + b)",
    "(sigmoid(w*x + b) - t)**2",
    "log1p(x**2) + expm1(y) - sinh(x)*cosh(y)",
    "softplus(x - y) + atan(x*y) + erf(x)",
    "x**y + y**x",
    "sqrt(x**2 + y**2)",
    "exp(-x**2/2)/sqrt(2*pi)",
    "log2(x) + log10(y) + tan(x/4)",
    "1/(1 + exp(-(w*x + b)))",
]


@pytest.mark.parametrize("formula", FD_CASES)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_grads_match_float64_central_differences(formula: str, seed: int) -> None:
    """Autograd's float32 gradients agree with float64 finite differences at random points."""
    rng = random.Random(seed)
    variables = parse(formula).variables
    values = {name: round(rng.uniform(0.3, 1.7), 3) for name in variables}
    ex = explore(formula, values)
    assert ex.value == pytest.approx(value64(parse(formula).expr, values), rel=1e-5, abs=1e-6)
    for name in variables:
        expected = central_difference(formula, values, name)
        assert ex.grads[name] == pytest.approx(expected, rel=1e-4, abs=1e-5)


@pytest.mark.parametrize(
    ("formula", "values", "titles"),
    [
        (
            "y = x**2 + 1",
            {"x": 2.0},
            ["y", "AddBackward0", "1", "PowBackward0", "AccumulateGrad", "x"],
        ),
        (
            "x**y",
            {"x": 3.0, "y": 4.0},
            ["z", "PowBackward1", "AccumulateGrad", "x", "AccumulateGrad", "y"],
        ),
        ("2**x", {"x": 1.0}, ["y", "PowBackward2", "AccumulateGrad", "x"]),
        ("1 - x", {"x": 1.0}, ["y", "RsubBackward1", "AccumulateGrad", "x"]),
        (
            "2/x",
            {"x": 1.0},
            ["y", "MulBackward0", "2", "ReciprocalBackward0", "AccumulateGrad", "x"],
        ),
        ("x", {"x": 1.0}, ["y", "x"]),
    ],
)
def test_graph_is_pytorchs_own_in_walk_order(
    formula: str, values: dict[str, float], titles: list[str]
) -> None:
    """Node titles are type(fn).__name__ of the real backward functions, ids in walk order."""
    graph = explore(formula, values).graph
    assert [node.title for node in graph.nodes] == titles
    assert [node.id for node in graph.nodes] == [f"n{i}" for i in range(len(titles))]


def test_graph_shows_an_input_without_grad_as_an_untracked_input() -> None:
    """In example 2, x reaches MulBackward0 only as None: a dashed input with no gradient."""
    graph = explore("y = w*x + b", {"x": 3, "w": 2.0, "b": 5.0}).graph
    x = graph.node("x")
    assert (x.kind, x.tracked, x.value, x.grad) == ("input", False, 3, None)
    mul = graph.node("MulBackward0")
    (edge,) = [edge for edge in graph.edges if edge.src == x.id]
    assert (edge.dst, edge.needs_grad, edge.grad) == (mul.id, False, None)


def test_graph_gradients_are_the_ones_the_hooks_saw() -> None:
    """For w*x + b at w=3, x=2: AddBackward0 receives 1, MulBackward0 sends 2 to w and 3 to x."""
    graph = explore("y = w*x + b", {"w": 3.0, "x": 2.0, "b": 0.0}).graph
    add, mul = graph.node("AddBackward0"), graph.node("MulBackward0")
    assert add.grad == 1.0
    sent = {edge.src: edge.grad for edge in graph.edges if edge.dst == mul.id}
    leaves = {n.detail: n.id for n in graph.nodes if n.kind == "accumulate"}
    assert sent == {leaves["into w.grad"]: 2.0, leaves["into x.grad"]: 3.0}
    assert (mul.value, mul.detail) == (6.0, "w*x")


def test_shared_leaf_collects_both_gradients() -> None:
    """x*x uses one AccumulateGrad twice; it receives the sum, x.grad = 2x."""
    ex = explore("x*x", {"x": 3.0})
    accumulate = ex.graph.node("AccumulateGrad")
    assert accumulate.grad == 6.0
    assert [edge.grad for edge in ex.graph.edges if edge.src == accumulate.id] == [3.0, 3.0]


def test_nothing_requires_grad_gives_none_grads_and_a_note() -> None:
    """PyTorch's backward() would raise; we return None grads and explain why."""
    ex = explore("w*x", {"w": 2.0, "x": 3}, requires_grad={"w": False})
    assert ex.grads == {"w": None, "x": None}
    assert ex.transcript.splitlines()[2] == "y: tensor(6.)"
    assert any("backward() would raise" in note for note in ex.notes)


@pytest.mark.parametrize(
    ("formula", "values", "fragment"),
    [
        ("sqrt(x)", {"x": 0.0}, "infinitely steep"),
        ("log(x)", {"x": 0.0}, "is -inf"),
        ("sin(x)/x", {"x": 0.0}, "is nan"),
        ("x**y", {"x": -2.0, "y": 2.0}, "y.grad is nan"),
        ("abs(x)", {"x": 0.0}, "kink at 0"),
        ("w*x", {"w": 1.0, "x": 2.0, "b": 1.0}, "b is not used by the formula"),
        ("w*x", {"w": 1.0, "x": 2}, "integer tensor"),
        ("w*x", {"w": 1.0, "x": 2.0}, ""),
    ],
)
def test_inf_nan_and_none_are_results_with_notes(
    formula: str, values: dict[str, float], fragment: str
) -> None:
    """Edge cases give results, each with a plain-language note (and no note when all is well)."""
    notes = explore(formula, values).notes
    if fragment:
        assert any(fragment in note for note in notes), notes
    else:
        assert notes == ()


def test_int_input_keeps_pytorchs_integer_behaviour() -> None:
    """An int value is an integer tensor: tensor(3), and int arithmetic stays integer."""
    ex = explore("y = 2**3*x", {"x": 3})
    assert ex.transcript.splitlines()[:2] == ["x: tensor(3)", "y: tensor(24)"]


@pytest.mark.parametrize(
    ("call", "error", "fragment"),
    [
        (lambda: explore("w*x", {"w": 1.0}), InputError, "No value for x"),
        (lambda: explore("x", {"x": 3}, {"x": True}), InputError, "only floating point"),
        (lambda: explore("x", {"x": 3.0}, {"q": True}), InputError, "has no value"),
        (lambda: explore("x", {"x": 3.0}, {"x": 1}), InputError, "True or False"),
        (lambda: explore("x", {"x": "3"}), InputError, "must be a number"),
        (lambda: explore("x", {"x": float("nan")}), InputError, "finite"),
        (lambda: explore("x", [("x", 1.0)]), InputError, "mappings"),
        (lambda: explore(3, {"x": 1.0}), ExplorerError, "text"),
        (lambda: explore("x**-1", {"x": 2}), ComputeError, "Integers to negative integer powers"),
        (lambda: explore("9**9**9*x", {"x": 1.0}), ComputeError, "too large"),
        (lambda: explore("10.0**400*x", {"x": 1.0}), ComputeError, "could not compute"),
        (lambda: explore("x + 1/0", {"x": 1.0}), ComputeError, "division by zero"),
        (lambda: explore("x + (-8)**(1/3)", {"x": 1.0}), ComputeError, "complex"),
        (lambda: explore("softplus(x)", {"x": 2}), ComputeError, "softplus"),
        (lambda: explore("y = x", {"x": 1.0, "y": 2.0}), ExplorerError, "also the name"),
        (lambda: explore("x*pi", {"x": 1.0, "math": 2.0}), InputError, "reserved"),
        (lambda: explore("x", {"x": 1.0, "torch": 2.0}), InputError, "reserved"),
        (lambda: explore("x", {"x": 1.0, "if": 2.0}), InputError, "keyword"),
        (lambda: explore("x", {"x": 1.0, "\ufb01": 2.0}), InputError, "letter"),
        (lambda: explore("x", {"x": 1.0, "sin": 2.0}), InputError, "function"),
        (lambda: explore("x", {"x": 10**400}), InputError, "too large"),
    ],
)
def test_bad_inputs_raise_explorer_errors(call, error: type[Exception], fragment: str) -> None:
    """Every bad input raises an ExplorerError subclass with a message."""
    with pytest.raises(error, match=fragment):
        call()


def test_division_by_a_zero_tensor_is_a_result_not_an_error() -> None:
    """Plain 1/0 is refused, but x/(1 - 1) divides a tensor by zero: inf, as PyTorch says."""
    assert math.isinf(explore("x/(1 - 1)", {"x": 1.0}).value)


def test_random_text_never_escapes_as_anything_but_explorer_error() -> None:
    """Thousands of random formulas give an Exploration or an ExplorerError, nothing else."""
    rng = random.Random(0)
    alphabet = "xyw12.e()+-*/ sincoexplgqrt,=_[]'.^%<"
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24)))
        with contextlib.suppress(ExplorerError):
            explore(text, {"x": 0.5, "y": 2, "w": -1.0})


def test_number_subclasses_become_plain_numbers_in_the_script() -> None:
    """A float subclass cannot print itself into the generated script."""

    class Sneaky(float):
        def __repr__(self) -> str:
            return "__import__('os').getcwd()"

    ex = explore("x", {"x": Sneaky(1.5)})
    assert "torch.tensor(1.5, requires_grad=True)" in ex.code
    assert "__import__" not in ex.code


def test_str_subclass_names_reach_the_script_as_plain_text() -> None:
    """A str subclass key cannot spell itself differently in the script (issue 9, section 6)."""

    class Sneaky(str):
        __slots__ = ()

        def __format__(self, spec: str) -> str:
            return "__import__('os').getcwd()"

        def __str__(self) -> str:
            return "__import__('os').getcwd()"

    ex = explore("y = w*x", {Sneaky("w"): 2.0, "x": 3.0}, {Sneaky("x"): False})
    assert "__import__" not in ex.code + ex.transcript + ex.dot
    assert "w = torch.tensor(2.0, requires_grad=True)" in ex.code
    assert ex.grads == {"w": 3.0, "x": None}
    assert all(type(name) is str for name in ex.grads)


def test_a_name_twice_after_conversion_is_refused() -> None:
    """Two keys that are different objects but the same text are one name given twice."""

    class Distinct(str):
        __slots__ = ()

        def __hash__(self) -> int:
            return id(self)

        def __eq__(self, other: object) -> bool:
            return self is other

    with pytest.raises(InputError, match="given twice"):
        explore("x", {Distinct("x"): 1.0, Distinct("x"): 2.0})


def test_exploration_is_plain_picklable_data() -> None:
    """The Exploration pickles and compares equal: no live tensors inside."""
    ex = explore("y = w*x + b", {"x": 3, "w": 2.0, "b": 5.0})
    copy = pickle.loads(pickle.dumps(ex))
    assert (copy.transcript, copy.dot, copy.code, copy.graph) == (
        ex.transcript,
        ex.dot,
        ex.code,
        ex.graph,
    )


def test_explore_leaves_nothing_behind() -> None:
    """Every object explore() makes is freed: hooks on the graph must not keep it alive."""

    def run() -> None:
        explore("h = w*x; y = sin(h)**2 + b", {"x": 3, "w": 2.0, "b": 5.0}, retain=("h",))

    for _ in range(20):  # fill the caches (saved-tensor names, dtypes) first
        run()
    gc.collect()
    before = len(gc.get_objects())
    for _ in range(200):
        run()
    gc.collect()
    # A kept graph costs ~70 objects a call; a few may come and go in caches of the interpreter.
    assert len(gc.get_objects()) - before < 200


CODE_CASES = [
    *SEEDS.values(),
    ("softplus(x) + sin(pi/2)*x - e", {"x": 0.7}),
    ("w*x", {"w": 2.0, "x": 3}),
    ("y = 2**3*x + abs(-3)", {"x": 3}),
    ("sqrt(x)", {"x": 0.0}),
    ("x", {"x": 1.5, "unused": 2.0}),
]


@pytest.mark.parametrize(("formula", "values"), CODE_CASES)
def test_generated_code_prints_exactly_the_transcript(formula: str, values: dict) -> None:
    """Running ex.code with python prints ex.transcript, byte for byte."""
    ex = explore(formula, values)
    done = subprocess.run(
        [sys.executable, "-c", ex.code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout == ex.transcript


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_dot_matches_golden_file(name: str, golden) -> None:
    """The DOT of each seed example is exactly the stored one (pytest --update-golden rewrites)."""
    formula, values = SEEDS[name]
    golden(f"{name}.dot", explore(formula, values).dot)


def test_dot_and_transcript_are_identical_across_processes() -> None:
    """Two fresh interpreters with different hash seeds print the same DOT, code and transcript."""
    program = (
        "from explorer import explore\n"
        "ex = explore('y = sigmoid(w*x + b)**2 + 2/x - x*x', {'x': 3.0, 'w': 2.0, 'b': 5})\n"
        "print(ex.dot, ex.code, ex.transcript)\n"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", program],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
            env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"},
            cwd=ROOT,
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1


def test_public_names_match_all() -> None:
    """explorer.__all__ lists exactly the public names of the package."""
    public = {
        name
        for name, value in vars(explorer).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }
    assert set(explorer.__all__) == public
