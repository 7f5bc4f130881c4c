"""Programs of several statements: parsing rules, retain_grad, detach, backward more than once."""

from __future__ import annotations

import contextlib
import pickle
import random
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from test_formula import REJECTED

from explorer import ComputeError, FormulaError, InputError, LimitError, explore, parse
from explorer.__main__ import main
from explorer.evaluate import evaluate_many, forward
from explorer.formula import MAX_OPERATIONS, MAX_STATEMENTS

LOSS = "h = w*x + b; y = sigmoid(h); loss = (y - t)**2"
LOSS_VALUES = {"w": 2.0, "x": 3.0, "b": 0.5, "t": 1.0}


# ---------------------------------------------------------------------------------------------
# Parsing


def test_a_program_has_statements_inputs_and_intermediates() -> None:
    """Each statement is kept; inputs are the names read but never assigned, in reading order."""
    formula = parse(LOSS)
    assert [(s.name, str(s), s.column) for s in formula.statements] == [
        ("h", "h = w*x + b", 1),
        ("y", "y = sigmoid(h)", 14),
        ("loss", "loss = (y - t)**2", 30),
    ]
    assert (formula.output, formula.variables, formula.names) == (
        "loss",
        ("w", "x", "b", "t"),
        ("h", "y"),
    )
    assert formula.expression == "(y - t)**2"
    assert str(formula) == LOSS
    assert str(parse(str(formula))) == LOSS


def test_new_lines_separate_statements_like_semicolons() -> None:
    """Lines (blank ones, indents, Windows line ends and a trailing ';' too) read as statements."""
    formula = parse("  h = w*x + b\r\n\n    y = sigmoid(h);\n")
    assert str(formula) == "h = w*x + b; y = sigmoid(h)"
    assert [s.line for s in formula.statements] == [1, 3]
    assert parse("y = x**2 + 1").statements[0].line is None


def test_the_output_may_stay_unnamed_and_its_default_avoids_every_name() -> None:
    """A bare last expression is named y, z, f... avoiding inputs, intermediates and taken names."""
    assert parse("y = 2*x; y + 1").output == "z"
    assert parse("h = 2*x; h + 1", taken=("y",)).output == "z"


PROGRAM_ERRORS = [
    # text, message fragment, line (None: one line), column, the caret's source line
    ("a = x;; y = a", "empty statement", None, 7, "a = x;; y = a"),
    ("; y = x", "empty statement", None, 1, "; y = x"),
    ("y = h*x; h = x", "'h' is used before it is assigned (statement 2", None, 5, "y = h*x; h = x"),
    ("h = x\ny = 2*h\nz = q\nq = y", "'q' is used before", 3, 5, "z = q"),
    ("h = x; h = h*2", "'h' is already assigned by statement 1", None, 8, "h = x; h = h*2"),
    ("h = x; y = h; y = 2*y", "'y' is already assigned", None, 15, "h = x; y = h; y = 2*y"),
    ("h = h + x; y = h", "The name 'h' is also the name of an input", None, 1, "h = h + x; y = h"),
    ("x*2; y = x", "Only the last statement may leave its result unnamed", None, 1, "x*2; y = x"),
    ("h = x\nh += 1\ny = h", "looks like y = w*x + b", 2, 1, "h += 1"),
    ("h = 3; y = h*x", "uses no variable", None, 1, "h = 3; y = h*x"),
    ("h = x\n  y = sin(h", "never closed", 2, 8, "y = sin(h"),
    ("h = x\ny = h +* 2", "Two operators in a row", 2, 8, "y = h +* 2"),
    ("h = x; y = h +* 2", "Two operators in a row", None, 15, "h = x; y = h +* 2"),
    ("h = x\ny = h^2", "'^' is not a power", 2, 6, "y = h^2"),
    ("h = x\ny = h \u2212 1", "Type - instead", 2, 7, "y = h \u2212 1"),
    ("h = x\ny = h # note", "comment", 2, 7, "y = h # note"),
    ("detach = x", "function or constant", None, 1, "detach = x"),
    ("y = detach", "detach is a function", None, 5, "y = detach"),
    ("y = detach(x, x)", "exactly one argument", None, 5, "y = detach(x, x)"),
    ("y = x.detach()", "Write detach(h) for h.detach()", None, 5, "y = x.detach()"),
]


@pytest.mark.parametrize(("text", "fragment", "line", "column", "source"), PROGRAM_ERRORS)
def test_bad_programs_say_what_and_where(
    text: str, fragment: str, line: int | None, column: int, source: str
) -> None:
    """Each rule of programs raises FormulaError with the statement's own line and column."""
    with pytest.raises(FormulaError) as caught:
        parse(text)
    error = caught.value
    assert fragment in str(error)
    assert (error.line, error.column) == (line, column)
    assert error.caret().splitlines() == [source, " " * (column - 1) + "^"]
    where = f"(line {line}, column {column})" if line else f"(column {column})"
    assert where in str(error).splitlines()[0]


def test_an_input_name_given_as_taken_cannot_be_assigned() -> None:
    """A name the caller gives a value cannot be assigned by a statement."""
    with pytest.raises(FormulaError, match="The name 'x' is also the name of an input"):
        parse("x = w*2; y = x", taken=("x",))
    with pytest.raises(FormulaError, match="The name 'h' is also the name of an input"):
        explore("h = w*2; y = h", {"w": 1.0, "h": 2.0})


def test_limits_count_the_whole_program() -> None:
    """MAX_STATEMENTS statements are accepted, one more is refused; operations add up."""
    ok = "; ".join(["h0 = x", *(f"h{i} = h{i - 1} + x" for i in range(1, MAX_STATEMENTS))])
    assert len(parse(ok).statements) == MAX_STATEMENTS
    with pytest.raises(LimitError, match=f"{MAX_STATEMENTS + 1} statements") as caught:
        parse(ok + "; y = x")
    assert caught.value.column == len(ok) + 3
    half = "x" + "+x" * (MAX_OPERATIONS // 2 + 1)
    with pytest.raises(LimitError, match="operations"):
        parse(f"h = {half}\ny = h{half[1:]}")


# Rejected one-liners whose message legitimately changes inside a program.
_CHANGES_IN_A_PROGRAM = {"", "   ", "3 + 4", "x\n+1"}


@pytest.mark.parametrize(
    ("text", "fragment", "column"),
    [case for case in REJECTED if case[0] not in _CHANGES_IN_A_PROGRAM],
)
def test_every_statement_goes_through_the_allow_list(
    text: str, fragment: str, column: int | None
) -> None:
    """Each refused one-liner is refused the same way as the second line of a program."""
    with pytest.raises(FormulaError) as caught:
        parse("h0 = x\n" + text)
    error = caught.value
    assert fragment in str(error)
    assert error.line == 2
    if column is not None:
        assert error.column == column


ATTACKS = [
    "__import__('pathlib').Path(CANARY).touch()",
    "(lambda: __import__('pathlib').Path(CANARY).touch())()",
    "open(CANARY, 'w')",
    "exec(\"open(CANARY, 'w')\")",
    "x.new_ones(1)",
    "detach(x).__class__",
    "globals()['__builtins__']",
]


@pytest.mark.parametrize("attack", ATTACKS)
@pytest.mark.parametrize(
    "shape", ["h = x; y = {}", "h = {}; y = x", "h = x\ny = h*{}", "{}; y = x"]
)
def test_attacks_in_any_statement_are_refused_and_never_run(
    attack: str, shape: str, tmp_path: Path
) -> None:
    """Code hidden in any statement is refused, and the canary file stays absent."""
    canary = tmp_path / "canary"
    with pytest.raises(FormulaError):
        explore(shape.format(attack.replace("CANARY", repr(str(canary)))), {"x": 1.0})
    assert not canary.exists()


def test_random_programs_never_escape_as_anything_but_explorer_errors() -> None:
    """Random text with ';' and new lines gives an Exploration or an ExplorerError, nothing else."""
    rng = random.Random(7)
    alphabet = "xyh12.()+-*/ =;\nsindetach"
    for _ in range(600):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        with contextlib.suppress(FormulaError, InputError, ComputeError):
            explore(text, {"x": 0.5, "y": 2.0})


# ---------------------------------------------------------------------------------------------
# Evaluation: named tensors, retain_grad, detach, backward more than once


def test_transcript_prints_each_intermediate_as_computed_then_every_grad() -> None:
    """Inputs, each statement's tensor in order, then the grads of inputs and intermediates."""
    ex = explore("h = w*x + b; y = h**2", {"w": 2.0, "x": 1.0, "b": 0.5})
    assert ex.transcript == (
        "w: tensor(2., requires_grad=True)\n"
        "x: tensor(1., requires_grad=True)\n"
        "b: tensor(0.5000, requires_grad=True)\n"
        "h: tensor(2.5000, grad_fn=<AddBackward0>)\n"
        "y: tensor(6.2500, grad_fn=<PowBackward0>)\n"
        "w.grad : tensor(5.)\n"
        "x.grad : tensor(10.)\n"
        "b.grad : tensor(5.)\n"
        "h.grad : None\n"
    )
    (h,) = ex.intermediates
    assert (h.name, h.value, h.is_leaf, h.retained, h.grad) == ("h", 2.5, False, False, None)
    assert "not a leaf" in ex.lessons[0]
    assert "Switch on retain_grad for h" in ex.lessons[0]
    assert ex.graph.nodes[[n.title for n in ex.graph.nodes].index("AddBackward0")].name == "h"


def test_the_lesson_quotes_pytorchs_own_warning_from_the_real_access() -> None:
    """The lesson holds the warning PyTorch gives on reading .grad of a non-leaf tensor."""
    x = torch.tensor(1.0, requires_grad=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _ = (x * 2).grad
    expected = str(caught[0].message).split(" (Triggered internally")[0]
    ex = explore(LOSS, LOSS_VALUES)
    assert f'"{expected}"' in ex.lessons[0]


def test_retain_grad_shows_the_real_gradient_of_an_intermediate() -> None:
    """retain=("h",) gives h.grad = dloss/dh, as torch.autograd.grad computes it."""
    ex = explore(LOSS, LOSS_VALUES, retain=("h",))
    leaves = {name: torch.tensor(value, requires_grad=True) for name, value in LOSS_VALUES.items()}
    h = leaves["w"] * leaves["x"] + leaves["b"]
    (dh,) = torch.autograd.grad((torch.sigmoid(h) - leaves["t"]) ** 2, h)
    h_item, _ = ex.intermediates
    assert (h_item.retained, h_item.grad) == (True, pytest.approx(dh.item(), rel=1e-6))
    assert f"h.grad : {dh!r}" in ex.transcript.splitlines()
    assert "y.grad : None" in ex.transcript.splitlines()
    assert "h.retain_grad()" in ex.code


def test_detach_cuts_the_path_and_the_notes_say_which_gradients_it_took() -> None:
    """detach(h) is h.detach(): w loses its only path (None), x keeps only the direct one."""
    ex = explore("h = w*x; y = detach(h)*x", {"w": 3.0, "x": 2.0})
    assert ex.grads == {"w": None, "x": 6.0}
    assert "y = h.detach()*x" in ex.code
    assert any("w.grad is None: every path" in note for note in ex.notes)
    assert any("x.grad counts only the paths that avoid detach" in note for note in ex.notes)
    cut = [node for node in ex.graph.nodes if node.kind == "constant"]
    assert [(node.value, node.tracked) for node in cut] == [(6.0, False)]


def test_backward_twice_with_retain_graph_accumulates() -> None:
    """Example 1 called twice with retain_graph: x.grad 4 then 8, each call shown."""
    ex = explore("y = x**2 + 1", {"x": 2.0}, backward_calls=2, retain_graph=True)
    assert ex.transcript.splitlines()[2:] == [
        "after y.backward() #1:",
        "x.grad : tensor(4.)",
        "after y.backward() #2:",
        "x.grad : tensor(8.)",
    ]
    assert ex.grads == {"x": 8.0}
    assert [call.grads for call in ex.calls] == [{"x": 4.0}, {"x": 8.0}]
    assert "y.backward(retain_graph=True)" in ex.code
    assert any("went from 4 after one call to 8 after 2" in lesson for lesson in ex.lessons)


def test_backward_twice_without_retain_graph_shows_pytorchs_error_as_a_lesson() -> None:
    """The second call's real RuntimeError is captured, shown and explained; nothing is raised."""
    x = torch.tensor(2.0, requires_grad=True)
    y = x**2 + 1
    y.backward()
    with pytest.raises(RuntimeError) as real:
        y.backward()
    ex = explore("y = x**2 + 1", {"x": 2.0}, backward_calls=2)
    assert ex.calls[1].error == str(real.value)
    assert "Trying to backward through the graph a second time" in ex.calls[1].error
    assert ex.transcript.splitlines()[-1] == f"y.backward() #2 raised RuntimeError: {real.value}"
    assert ex.grads == {"x": 4.0}
    assert "second call of y.backward() raised PyTorch's RuntimeError" in ex.lessons[0]


def test_options_are_checked() -> None:
    """Bad retain names, call counts and flags are InputErrors that say what is allowed."""
    with pytest.raises(InputError, match="it is an input"):
        explore(LOSS, LOSS_VALUES, retain=("x",))
    with pytest.raises(InputError, match=r"the output\. Retain works for the intermediates: h, y"):
        explore(LOSS, LOSS_VALUES, retain=("loss",))
    with pytest.raises(InputError, match="not a name the formula assigns"):
        explore("y = x", {"x": 1.0}, retain="q")
    for calls in (0, 4, 1.5, True):
        with pytest.raises(InputError, match="1 to 3 times"):
            explore("y = x", {"x": 1.0}, backward_calls=calls)
    with pytest.raises(InputError, match="True or False"):
        explore("y = x", {"x": 1.0}, retain_graph=1)


def test_compute_errors_point_into_the_statements_line() -> None:
    """A refused computation in line 2 says line 2, with the caret under that line."""
    with pytest.raises(ComputeError) as caught:
        explore("h = x\ny = h + 1/0", {"x": 1.0})
    assert (caught.value.line, caught.value.column, caught.value.source) == (2, 10, "y = h + 1/0")


def test_programs_explore_into_plain_picklable_data() -> None:
    """The new fields pickle and compare equal."""
    ex = explore(LOSS, LOSS_VALUES, retain=("h",), backward_calls=3, retain_graph=True)
    copy = pickle.loads(pickle.dumps(ex))
    assert (copy.intermediates, copy.calls, copy.lessons) == (
        ex.intermediates,
        ex.calls,
        ex.lessons,
    )


# ---------------------------------------------------------------------------------------------
# The generated scripts print exactly the transcripts (one interpreter runs them all)

SCRIPT_CASES: list[tuple[str, dict, dict]] = [
    (LOSS, LOSS_VALUES, {}),
    (LOSS, LOSS_VALUES, {"retain": ("h", "y")}),
    ("h = w*x\n\ny = detach(h)*x + sin(detach(pi/4))", {"w": 3.0, "x": 2.0}, {}),
    ("h = x*w; d = detach(h); y = d*x", {"x": 2.0, "w": 3.0}, {"retain": ("d",)}),
    ("y = x**2 + 1", {"x": 2.0}, {"backward_calls": 2, "retain_graph": True}),
    ("y = x**2 + 1", {"x": 2.0}, {"backward_calls": 3}),
    ("y = x + 1", {"x": 2.0}, {"backward_calls": 2}),
    (LOSS, LOSS_VALUES, {"retain": ("h",), "backward_calls": 3, "retain_graph": True}),
    ("h = w*x; g = x; y = h + 1", {"w": 2.0, "x": 3}, {"backward_calls": 2}),
    ("h = w*x; y = h", {"w": 2.0, "x": 3}, {"retain": ("h",)}),
    ("h = 2*x; y = h + 1", {"x": 3}, {"backward_calls": 2}),
]


def test_generated_scripts_print_exactly_the_transcripts(tmp_path: Path) -> None:
    """Each script, run by python, prints its transcript byte for byte; warnings go to stderr."""
    explorations = [explore(text, values, **options) for text, values, options in SCRIPT_CASES]
    paths = []
    for index, ex in enumerate(explorations):
        paths.append(tmp_path / f"script{index}.py")
        paths[-1].write_text(ex.code)
    runner = (
        "import runpy, sys\n"
        "for path in sys.argv[1:]:\n"
        "    runpy.run_path(path, run_name='__main__')\n"
        "    print('\\0', end='')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", runner, *map(str, paths)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    printed = done.stdout.split("\0")[:-1]
    assert printed == [ex.transcript for ex in explorations]
    assert "is not a leaf Tensor is being accessed" in done.stderr


# ---------------------------------------------------------------------------------------------
# Random programs against an independent oracle: the same program written in plain torch

_FUNCTIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "sin": torch.sin,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "exp": torch.exp,
    "detach": torch.Tensor.detach,
}
_OPS: dict[str, Callable] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
}


def _random_expr(rng: random.Random, names: list[str], depth: int) -> tuple[str, Callable]:
    """Return an expression's text and a function computing it from a dict of tensors."""
    if depth == 0 or rng.random() < 0.3:
        if rng.random() < 0.2:
            number = rng.choice([2, 0.5, 3])
            return str(number), lambda env: number
        name = rng.choice(names)
        return name, lambda env: env[name]
    if rng.random() < 0.35:
        func = rng.choice(list(_FUNCTIONS))
        text, inner = _random_expr(rng, names, depth - 1)
        function = _FUNCTIONS[func]
        return f"{func}({text})", lambda env: function(torch.as_tensor(inner(env)))
    op = rng.choice(list(_OPS))
    (ltext, left), (rtext, right) = (_random_expr(rng, names, depth - 1) for _ in range(2))
    apply = _OPS[op]
    return f"({ltext}) {op} ({rtext})", lambda env: apply(left(env), right(env))


def _times(compute: Callable, name: str) -> Callable:
    """Return a function computing ``(expr) * name``, as the statement's text says."""
    return lambda env: compute(env) * env[name]


def _random_program(rng: random.Random) -> tuple[str, list[tuple[str, Callable]]]:
    """Return a program of 1-4 statements and the same program as plain torch functions."""
    names = ["x", "w"]
    texts, program = [], []
    for index in range(rng.randint(1, 4)):
        text, compute = _random_expr(rng, names, 3)
        name, newest = f"h{index}", names[-1]
        # Every statement must read a name: this one multiplies by the newest.
        texts.append(f"{name} = ({text}) * {newest}")
        program.append((name, _times(compute, newest)))
        names.append(name)
    return "; ".join(texts), program


def _oracle(program: list[tuple[str, Callable]], values: dict[str, float], retain: list[str]):
    """Run the program in plain torch: values of every name, and grads of inputs and retained."""
    env: dict[str, torch.Tensor] = {
        name: torch.tensor(value, requires_grad=True) for name, value in values.items()
    }
    for name, compute in program:
        env[name] = torch.as_tensor(compute(env))
    for name in retain:
        if env[name].requires_grad:
            env[name].retain_grad()
    output = env[program[-1][0]]
    if output.requires_grad:
        output.backward()
    return env


@pytest.mark.parametrize("seed", range(40))
def test_random_programs_match_plain_torch(seed: int) -> None:
    """Values, input grads and retained grads equal the same program run in plain torch.

    Called twice with retain_graph, every gradient is exactly twice one call's.
    """
    rng = random.Random(seed)
    text, program = _random_program(rng)
    values = {"x": round(rng.uniform(-1.5, 1.5), 2), "w": round(rng.uniform(-1.5, 1.5), 2)}
    names = [name for name, _ in program[:-1]]
    retain = [name for name in names if rng.random() < 0.5]
    ex = explore(text, values, retain=retain)
    env = _oracle(program, values, retain)
    close = {"rel": 1e-5, "abs": 1e-7, "nan_ok": True}
    assert ex.value == pytest.approx(env[program[-1][0]].item(), **close)
    for name in values:
        expected = env[name].grad
        assert ex.grads[name] == (
            None if expected is None else pytest.approx(expected.item(), **close)
        )
    for item in ex.intermediates:
        assert item.value == pytest.approx(env[item.name].item(), **close)
        if item.retained:
            assert item.grad == pytest.approx(env[item.name].grad.item(), **close)
        elif not item.is_leaf:
            assert item.grad_repr == "None"
    twice = explore(text, values, retain=retain, backward_calls=2, retain_graph=True)
    doubled = {name: None if grad is None else 2 * grad for name, grad in ex.grads.items()}
    assert twice.grads == pytest.approx(doubled, nan_ok=True)


def test_forward_and_evaluate_many_run_every_statement() -> None:
    """The grid entry points run programs: values and slopes match the program written out."""
    formula = parse("h = w*x; y = sin(h) + detach(h)*x")
    xs = torch.linspace(-2, 2, 9)
    expected = torch.sin(1.5 * xs) + 1.5 * xs * xs
    assert torch.allclose(forward(formula, {"x": xs, "w": torch.tensor(1.5)}), expected)
    ys, slopes = evaluate_many(formula, {"x": 0.0, "w": 1.5}, "x", xs.tolist(), differentiate=True)
    assert ys == pytest.approx(expected.tolist(), rel=1e-5, abs=1e-6)
    # detach(h) is a constant for the gradient: d/dx = 1.5*cos(1.5x) + 1.5x
    slope = 1.5 * torch.cos(1.5 * xs) + 1.5 * xs
    assert slopes == pytest.approx(slope.tolist(), rel=1e-5, abs=1e-6)


# ---------------------------------------------------------------------------------------------
# Command line


def test_cli_retain_backward_and_retain_graph(capsys: pytest.CaptureFixture[str]) -> None:
    """--retain, --backward N and --retain-graph reach explore(); lessons go to stderr."""
    assert (
        main(["h = 2*x; y = h**2", "x=1.0", "--retain", "h", "--backward", "2", "--retain-graph"])
        == 0
    )
    out, err = capsys.readouterr()
    assert out.splitlines()[-3:] == [
        "after y.backward() #2:",
        "x.grad : tensor(16.)",
        "h.grad : tensor(8.)",
    ]
    assert "lesson: Each backward() call adds its gradients" in err


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["y = x", "x=1.0", "--backward", "4"], "1 to 3 times"),
        (["y = x", "x=1.0", "--backward", "two"], "invalid int value"),
        (["y = x", "x=1.0", "--retain", "q"], "Cannot retain"),
        (["h = x; h = 2*h", "x=1.0"], "already assigned"),
    ],
)
def test_cli_bad_program_options_exit_2(
    args: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bad values exit 2 with 'error: ...' and print nothing on stdout."""
    with contextlib.suppress(SystemExit):
        assert main(args) == 2
    out, err = capsys.readouterr()
    assert (out, err.startswith("error: "), fragment in err) == ("", True, True)
