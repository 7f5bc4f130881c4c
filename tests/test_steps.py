"""Backward step by step: the engine's own order, and chain-rule cards that multiply out exactly.

Oracles: a separate pre-hook log (the order PyTorch's engine ran the nodes) and the gradients the
node hooks saw. A card's local derivative times what its node received must be what the node sent,
to float32 rounding, for every backward function the formula language makes.
"""

from __future__ import annotations

import math
import pickle
import random
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from explorer import explore
from explorer.cards import ACCUMULATE, CARDS, DETACHED, card_for
from explorer.dot import to_dot
from explorer.errors import ExplorerError
from explorer.evaluate import forward
from explorer.formula import FUNCTIONS, parse
from explorer.graph import Operand, Record, graph_and_ids, walk
from explorer.steps import (
    Recorder,
    Step,
    card_markdown,
    number,
    read_saved,
    step_view,
    steps_text,
)

Op = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
_SCALE = 1.75  # the output is op(x, y) * 1.75, so each card's node receives 1.75, not 1


def _run(
    output_of: Callable[[dict[str, torch.Tensor]], torch.Tensor],
    leaves: dict[str, torch.Tensor],
    *,
    calls: int = 1,
    records: Callable[[torch.Tensor], dict] | None = None,
) -> tuple[Any, tuple[Step, ...], list[Any], dict[Any, tuple]]:
    """Build the output, record its backward (``calls`` times), and keep independent logs."""
    output = output_of(leaves)
    functions = walk(output.grad_fn)
    order: list[Any] = []
    hooked: dict[Any, tuple] = {}
    for fn in functions:
        fn.register_prehook(lambda _grads, fn=fn: order.append(fn))
        fn.register_hook(partial(_keep, hooked, fn))
    recorder = Recorder(functions)
    recorder.install()
    for _ in range(calls):
        output.backward(retain_graph=calls > 1)
    graph, ids = graph_and_ids(
        "out",
        output,
        inputs=leaves,
        records=records(output) if records else {},
        hooked=hooked,
        functions=functions,
        used=list(leaves),
    )
    return graph, recorder.steps(ids, graph), [ids[fn] for fn in order], hooked


def _keep(hooked: dict, fn: Any, grad_inputs: Any, grad_outputs: Any) -> None:
    hooked[fn] = (tuple(grad_inputs), tuple(grad_outputs))


def _same(expected: float | None, got: float | None) -> bool:
    """Equal to float32 rounding; nan equals nan, and infinities must agree in sign."""
    if expected is None or got is None:
        return expected is got
    if math.isnan(expected) or math.isnan(got):
        return math.isnan(expected) and math.isnan(got)
    if math.isinf(expected) or math.isinf(got):
        return expected == got
    return math.isclose(expected, got, rel_tol=1e-6, abs_tol=1e-35)


def _float32(value: float) -> float:
    """Round to float32 as PyTorch's product is: past its range, that is inf."""
    return torch.tensor(value, dtype=torch.float64).float().item()


def _check_products(steps: tuple[Step, ...]) -> set[str]:
    """Check every card: local * received == sent; AccumulateGrad: before + received == after."""
    seen = set()
    for step in steps:
        seen.add(step.function)
        if step.function == ACCUMULATE:
            before = step.grad_before or 0.0
            assert _same(before + step.received, step.grad_after), step
            continue
        for sent in step.sends:
            if sent.grad is None:
                assert sent.why_none, step
                continue
            assert sent.local is not None, (step.function, sent)
            if sent.blocked:  # PyTorch selects 0 there (torch.where): even inf * 0 sends 0
                assert (sent.local, sent.grad) == (0, 0), (step.function, sent)
                continue
            product = _float32(sent.local * step.received)
            assert _same(product, sent.grad), (step.function, step, sent)
    return seen


# Each backward function, made by the formula language's own operations where it can make it, and
# by the aten operation otherwise (add.Scalar, sub.Scalar, rsub: no formula makes them in 2.13).
_MADE_BY: list[tuple[str, Op]] = [
    ("AddBackward0", lambda x, y: x + y),
    ("AddBackward0", lambda x, y: x + 2),
    ("AddBackward1", lambda x, y: torch.ops.aten.add.Scalar(x, 2.5)),
    ("SubBackward0", lambda x, y: x - y),
    ("SubBackward1", lambda x, y: torch.ops.aten.sub.Scalar(x, 2.5)),
    ("RsubBackward0", torch.rsub),
    ("RsubBackward1", lambda x, y: 2.5 - x),
    ("MulBackward0", lambda x, y: x * y),
    ("MulBackward0", lambda x, y: x * 3),
    ("MulBackward0", lambda x, y: x * x),
    ("DivBackward0", lambda x, y: x / y),
    ("DivBackward0", lambda x, y: x / 2),
    ("PowBackward0", lambda x, y: x**2),
    ("PowBackward0", lambda x, y: x**2.5),
    ("PowBackward0", lambda x, y: x**0),
    ("PowBackward0", lambda x, y: x**-1),
    ("PowBackward1", lambda x, y: x**y),
    ("PowBackward2", lambda x, y: 2**x),
    ("PowBackward2", lambda x, y: 0**x),
    ("PowBackward2", lambda x, y: (-2) ** x),
    ("PowBackward2", lambda x, y: math.e**x),
    ("NegBackward0", lambda x, y: -x),
    ("ReciprocalBackward0", lambda x, y: 2 / x),
    ("SoftplusBackward0", lambda x, y: F.softplus(x * 10)),
]
_MADE_BY += [
    (f"{name.capitalize()}Backward0", lambda x, y, name=name: getattr(torch, name)(x))
    for name in FUNCTIONS
    if name != "softplus"
]
_POINTS = [(-2.5, -2.0), (-1.0, 0.0), (0.0, 1.5), (0.0, -1.0), (0.5, 4.0), (3.0, 0.0), (2.5, 3.0)]


@pytest.mark.parametrize(("name", "op"), _MADE_BY, ids=[name for name, _ in _MADE_BY])
def test_each_card_multiplies_to_what_the_hooks_saw(name: str, op: Op) -> None:
    """At negative points, zero and positive ones, local * received is exactly what was sent."""
    for x, y in _POINTS:
        leaves = {
            "x": torch.tensor(x, requires_grad=True),
            "y": torch.tensor(y, requires_grad=True),
        }
        _, steps, engine, _ = _run(lambda t: op(t["x"], t["y"]) * _SCALE, leaves)
        assert [step.node for step in steps] == engine
        # The last one: the scaling by 1.75 is itself a MulBackward0, and runs first.
        mine = [step for step in steps if step.function.lower() == name.lower()][-1]
        assert mine.received in (_SCALE, 2 * _SCALE)  # 2/x: the 1/x receives 2 * 1.75
        assert ACCUMULATE in _check_products(steps)


def test_every_backward_function_of_the_language_has_a_card() -> None:
    """The table covers each name made above, and nothing made above is missing from it."""
    made = {name.lower() for name, _ in _MADE_BY} | {ACCUMULATE.lower()}
    assert made == {name.lower() for name in CARDS}
    functions = {
        type(getattr(torch, f)(torch.tensor(0.5, requires_grad=True)).grad_fn).__name__
        for f in FUNCTIONS
        if f != "softplus"
    }
    assert functions <= set(CARDS)
    assert card_for("NoSuchBackward0") is None


def test_softplus_is_linear_above_its_threshold() -> None:
    """Above 20 PyTorch's softplus is the identity, and its card says slope 1 there."""
    leaves = {"x": torch.tensor(25.0, requires_grad=True)}
    _, steps, _, _ = _run(lambda t: F.softplus(t["x"]), leaves)
    assert steps[0].sends[0].local == 1.0
    _check_products(steps)


_INPUTS = ("x", "w", "b")
_OPERATORS = ("+", "-", "*", "/", "**")


def _random_formula(rng: random.Random, size: int, names: tuple[str, ...] = _INPUTS) -> str:
    if size == 0:
        leaf = rng.choice([*names, "2", "0.5", "3"])
        intermediate = leaf in names and leaf not in _INPUTS
        return f"detach({leaf})" if intermediate and rng.random() < 0.25 else leaf
    roll = rng.random()
    if roll < 0.3:
        return f"{rng.choice(sorted(FUNCTIONS))}({_random_formula(rng, size - 1, names)})"
    if roll < 0.4:
        return f"-({_random_formula(rng, size - 1, names)})"
    left = rng.randint(0, size - 1)
    right = _random_formula(rng, size - 1 - left, names)
    return f"({_random_formula(rng, left, names)}){rng.choice(_OPERATORS)}({right})"


def _random_program(rng: random.Random) -> str:
    """1 to 4 statements; later ones read the inputs, earlier names and detached names."""
    count = rng.randint(1, 4)
    names: tuple[str, ...] = _INPUTS
    statements = []
    for k in range(1, count + 1):
        name = "y" if k == count else f"h{k}"
        statements.append(f"{name} = {_random_formula(rng, rng.randint(1, 4), names)}")
        names = (*names, name)
    return "; ".join(statements)


def test_random_programs_run_in_the_engines_order_with_cards_that_add_up() -> None:
    """For 120 random programs of 1-4 statements at random points: the steps' order is the
    engine's pre-hook order, every card multiplies out, and every function that appears has one.
    """
    rng = random.Random(7)
    checked = 0
    for _ in range(120):
        try:
            formula = parse(_random_program(rng), _INPUTS)
        except ExplorerError:
            continue  # e.g. a statement without a variable: refused, nothing to step through
        values = {name: rng.choice((-1.5, -0.5, 0.0, 0.7, 2.0)) for name in _INPUTS}
        leaves = {name: torch.tensor(v, requires_grad=True) for name, v in values.items()}
        try:
            output = forward(formula, leaves)
        except ExplorerError:
            continue  # refused, e.g. a power too large
        if output.grad_fn is None:
            continue
        _, steps, engine, _ = _run(lambda t, f=formula: forward(f, t), leaves)
        assert [step.node for step in steps] == engine, formula.text
        assert {step.function for step in steps} <= set(CARDS), formula.text
        _check_products(steps)
        checked += 1
    assert checked > 60


def test_explore_records_the_steps() -> None:
    """explore() itself keeps the steps (evaluate.py installs the recorder before backward)."""
    ex = explore("h = x*2; d = detach(h); y = d*x + h", {"x": 3.0})
    assert [step.function for step in ex.steps] == [
        "AddBackward0",
        "MulBackward0",
        "MulBackward0",
        ACCUMULATE,
    ]
    assert ex.steps[1].sends[0].why_none == "detached: the gradient stops here"
    assert ex.steps[-1].accumulates == "x.grad = 0 + 8 = 8"
    assert ex.steps[-1].parts == (6.0, 2.0)  # from d*x, then from h = x*2, as they ran
    assert pickle.loads(pickle.dumps(ex)).steps == ex.steps


def test_the_issue_example_reads_as_the_issue_writes_it() -> None:
    """z = x**y at 3, 4: 4·3^(4-1) = 108, 81·ln 3 = 88.99, then x.grad = 0 + 108."""
    leaves = {
        "x": torch.tensor(3.0, requires_grad=True),
        "y": torch.tensor(4.0, requires_grad=True),
    }
    graph, steps, _, _ = _run(lambda t: t["x"] ** t["y"], leaves)
    assert [step.function for step in steps] == ["PowBackward1", ACCUMULATE, ACCUMULATE]
    power = steps[0]
    to_x, to_y = power.sends
    assert (to_x.wrt, to_x.formula, to_x.numbers, to_x.local) == (
        "x",
        "y·x^(y−1)",
        "4·3^(4−1)",
        108,
    )
    assert (to_y.formula, to_y.numbers, number(to_y.local)) == ("x^y·ln x", "81·ln 3", "88.99")
    assert to_x.product == "1·108 = 108"
    assert steps[1].accumulates == "x.grad = 0 + 108 = 108"
    text = steps_text(steps)
    assert text.startswith("Step 1: PowBackward1 (out)\n  receives 1 (backward() starts")
    assert "towards x: ∂out/∂x = y·x^(y−1) = 4·3^(4−1) = 108; sends 1·108 = 108" in text
    assert "\n\nStep 2: AccumulateGrad for x\n  receives 108\n  x.grad = 0 + 108 = 108\n" in text
    assert "x.grad = 0 + 108 = 108" in card_markdown(steps[1])
    assert "Power rule" in card_markdown(power)
    assert [send.to for send in power.sends] == [
        edge.src for edge in graph.edges if edge.dst == power.node
    ]


def test_backward_twice_keeps_counting_and_accumulates() -> None:
    """With retain_graph the second call's steps follow on, and .grad goes 108 + 108 = 216."""
    leaves = {
        "x": torch.tensor(3.0, requires_grad=True),
        "y": torch.tensor(4.0, requires_grad=True),
    }
    _, steps, engine, _ = _run(lambda t: t["x"] ** t["y"], leaves, calls=2)
    assert [step.index for step in steps] == [1, 2, 3, 4, 5, 6]
    assert [step.call for step in steps] == [1, 1, 1, 2, 2, 2]
    assert [step.node for step in steps] == engine
    assert steps[4].accumulates == "x.grad = 108 + 108 = 216"
    assert "Step 4 (backward call 2): PowBackward1" in steps_text(steps)


def test_a_second_backward_without_retain_graph_stops_where_pytorch_raised() -> None:
    """The failed call's root step is kept, marked unfinished, and shown as a warning."""
    x = torch.tensor(2.0, requires_grad=True)
    output = x**2 + 1
    functions = walk(output.grad_fn)
    recorder = Recorder(functions)
    recorder.install()
    output.backward()
    with pytest.raises(RuntimeError, match="second time"):
        output.backward()
    graph, ids = graph_and_ids(
        "y", output, inputs={"x": x}, records={}, hooked={}, functions=functions, used=["x"]
    )
    steps = recorder.steps(ids, graph)
    assert [(s.call, s.function, s.finished) for s in steps][-2:] == [
        (2, "AddBackward0", True),
        (2, "PowBackward0", False),
    ]
    assert "PyTorch raised an error" in steps_text(steps[-1:])
    marks, _ = step_view(graph, steps, len(steps))
    assert marks[steps[-1].node] == "warning"


def test_a_detached_operand_sends_nothing_and_is_drawn_cut() -> None:
    """y = detach(h)*x: the detached slot gets no gradient, and the box says so."""
    x = torch.tensor(3.0, requires_grad=True)
    h = x * 2
    detached = h.detach()

    def output_of(t: dict[str, torch.Tensor]) -> torch.Tensor:
        return detached * t["x"]

    def records(output: torch.Tensor) -> dict:
        operand = Operand("detach(h)", 6.0)
        return {output.grad_fn: Record("detach(h)*x", 18.0, [operand], name="y")}

    graph, steps, _, _ = _run(output_of, {"x": x}, records=records)
    mul = steps[0]
    assert mul.tensor == "y"
    cut, to_x = mul.sends
    assert (cut.wrt, cut.grad, cut.detached) == ("h.detach()", None, True)
    assert "towards h.detach(): nothing (detached: the gradient stops here)" in (steps_text(steps))
    assert DETACHED in card_markdown(mul)
    assert (to_x.formula, to_x.local, to_x.grad) == ("h.detach()", 6.0, 6.0)
    dot = to_dot(graph)
    assert "<B>h.detach()</B><BR/>= 6.<BR/>detached: gradient stops here" in dot
    assert "detached tensor: gradient stops here" in dot  # the legend's extra row


def test_step_view_carries_only_what_has_flowed() -> None:
    """Step 0 shows nothing; step k marks k running and carries the edges into steps 1..k."""
    leaves = {"x": torch.tensor(2.0, requires_grad=True)}
    graph, steps, _, _ = _run(lambda t: t["x"] ** 2 + 1, leaves)
    assert step_view(graph, steps, 0) == ({}, set())
    marks, carried = step_view(graph, steps, 1)
    root = steps[0].node
    assert marks == {"n0": "done", root: "running"}
    assert carried == {(edge.src, edge.dst) for edge in graph.edges if edge.dst in ("n0", root)}
    dot = to_dot(graph, marks=marks, carried=carried)
    assert 'fontcolor="transparent"' in dot
    assert f'  {root} [label=<<B>AddBackward0</B><BR/><FONT COLOR="#A63D00">' in dot
    full = step_view(graph, steps, len(steps))[1]
    assert full == {(edge.src, edge.dst) for edge in graph.edges}


def test_steps_are_plain_data_and_text_is_deterministic() -> None:
    """Steps pickle; the same run gives the same text."""
    texts = []
    for _ in range(2):
        leaves = {"x": torch.tensor(0.5, requires_grad=True)}
        _, steps, _, _ = _run(lambda t: torch.sigmoid(t["x"] * 3) ** 2, leaves)
        assert pickle.loads(pickle.dumps(steps)) == steps
        texts.append(steps_text(steps) + "".join(card_markdown(step) for step in steps))
    assert texts[0] == texts[1]


class _Odd:
    """A stand-in backward function whose saved tensors are gone or named differently."""

    next_functions = ()

    @property
    def _saved_self(self) -> torch.Tensor:
        raise RuntimeError("Trying to backward through the graph a second time")

    _saved_other = 2.5


def test_saved_tensors_are_read_defensively() -> None:
    """A missing or freed attribute is skipped, not raised."""
    saved = read_saved(_Odd())
    assert (saved.a, saved.b, saved.r) == (None, 2.5, None)


def test_numbers_on_cards_stay_short_without_looking_whole() -> None:
    """4 significant digits; a fraction never prints as a whole number."""
    assert [number(v) for v in (108.0, 88.98759, 0.99998331, -3.0, 1e-5, math.inf, 7)] == [
        "108",
        "88.99",
        "0.99998",
        "-3",
        "1e-05",
        "inf",
        "7",
    ]


def test_the_card_escapes_what_markdown_would_read_as_markup() -> None:
    """A name with _ and a product with * stay literal: no stray italics in the app."""
    leaves = {
        "x": torch.tensor(3.0, requires_grad=True),
        "y": torch.tensor(4.0, requires_grad=True),
    }

    def records(output: torch.Tensor) -> dict:
        mul = output.grad_fn.next_functions[0][0]
        return {mul: Record("x*y", 12.0, [], name="a_b")}

    _, steps, _, _ = _run(lambda t: t["x"] * t["y"] * t["x"], leaves, records=records)
    markdown = card_markdown(steps[1])
    assert "**a\\_b** = 12" in markdown
    assert "towards x: ∂a\\_b/∂x = y = 4" in markdown
    bare = markdown.replace("**", "").replace("\\*", "").replace("\\_", "")
    assert "_" not in bare
    assert bare.count("*") == 2  # the rule's own italics: *Product rule.*
