"""Every formula the parser accepts gets a graph that Graphviz lays out in bounded time.

The drawing plan (explorer/chart.py) draws a leaf used in many places once per use, so that dot
never meets the thousands of rank-skipping arrows that once took it minutes. The last test is the
one place in the suite with a time bound, because issue 9 asks for it: a generator of worst cases
at the parser's limits, each DOT through ``dot -Tsvg`` within 3 s (they take 0.1-0.8 s here).
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from explorer import explore
from explorer.chart import (
    MAX_DRAWN_NODES,
    MAX_SHARED_USES,
    MAX_SLACK,
    PAGE_NODES,
    chart_plan,
    ranks,
)
from explorer.dot import to_dot
from explorer.formula import MAX_CHARS, MAX_OPERATIONS, MAX_VARIABLES, parse
from explorer.graph import Edge, Graph, Node
from explorer.presets import PRESETS

LAYOUT_SECONDS = 3.0  # issue 9: native dot on the project's DOT, for every accepted formula
NAMES = ["a", "b", "c", "d", "f", "g", "h", "k", "m", "n", "p", "q"]
FUNCTIONS = ["sin", "exp", "sigmoid", "tanh", "relu", "abs", "softplus"]


def _sum(items: list[str], op: str = "+") -> str:
    return f" {op} ".join(items) if op in "+-" else op.join(items)


def _chain(uses: int) -> str:
    return "y = " + _sum(["x"] * uses)


# --- the plan -------------------------------------------------------------------------------


@pytest.mark.parametrize("preset", PRESETS, ids=lambda preset: preset.label)
def test_presets_are_drawn_as_pytorch_has_them(preset) -> None:
    """Short sharing (x**2 * sin(x)) keeps one AccumulateGrad with an arrow to each use."""
    graph = explore(preset.formula, preset.values, preset.requires_grad).graph
    plan = chart_plan(graph)
    assert (plan.graph, plan.split, plan.note, plan.too_large) == (graph, (), "", False)


def test_short_sharing_stays_one_leaf() -> None:
    """x used 3 times close together: one AccumulateGrad, three arrows out of it."""
    graph = explore("y = x**2 * sin(x) + x", {"x": 1.0}).graph
    plan = chart_plan(graph)
    accumulate = graph.node("AccumulateGrad")
    assert plan.split == ()
    assert sum(edge.src == accumulate.id for edge in plan.graph.edges) == 3


def test_a_long_chain_draws_x_once_per_use() -> None:
    """x + x + ... (81 uses): 81 copies of x and of its AccumulateGrad, each marked use k of n."""
    graph = explore(_chain(81), {"x": 0.5}).graph
    plan = chart_plan(graph)
    assert plan.split == ("x",)
    assert "x is drawn once per use" in plan.note
    copies = [node for node in plan.graph.nodes if node.use is not None]
    assert len(copies) == 2 * 81
    assert {node.use for node in copies} == {(k, 81) for k in range(1, 82)}
    accumulate = graph.node("AccumulateGrad")
    expected = [f"{accumulate.id}_{k}" for k in range(1, 82)]
    assert [node.id for node in copies if node.kind == "accumulate"] == expected
    assert plan.nodes == len(graph.nodes) - 2 + 2 * 81


def test_split_keeps_every_gradient_and_makes_a_tree() -> None:
    """Each copy's arrow carries its own use's gradient; every box feeds at most one other."""
    graph = explore("y = " + _sum([f"x*{i}" for i in range(1, 40)]), {"x": 0.5}).graph
    plan = chart_plan(graph)
    assert plan.split == ("x",)
    accumulate = graph.node("AccumulateGrad")
    original = [edge.grad for edge in graph.edges if edge.src == accumulate.id]
    copied = [edge.grad for edge in plan.graph.edges if edge.src.startswith(f"{accumulate.id}_")]
    assert copied == original == [float(i) for i in range(1, 40)]
    sources = [edge.src for edge in plan.graph.edges]
    assert len(sources) == len(set(sources))
    assert {edge.src for edge in plan.graph.edges} | {edge.dst for edge in plan.graph.edges} == {
        node.id for node in plan.graph.nodes
    }


def test_far_apart_uses_are_split_even_when_few() -> None:
    """x used twice, beside the output and under a chain of 130 products: one very long arrow."""
    formula = "y = x + x*" + _sum(["w"] * 130, "*")
    plan = chart_plan(explore(formula, {"x": 0.5, "w": 1.0}).graph)
    assert plan.split == ("x", "w")
    assert [node.use for node in plan.graph.nodes if node.title == "x"] == [(1, 2), (2, 2)]


def test_the_costliest_leaves_are_split_first_and_the_plan_is_deterministic() -> None:
    """12 variables in a long sum are all split; the same Graph always gives the same plan."""
    formula = "y = " + "+".join(NAMES[i % 12] for i in range(MAX_OPERATIONS + 1))
    graph = explore(formula, dict.fromkeys(NAMES, 1.0)).graph
    plan = chart_plan(graph)
    assert set(plan.split) == set(NAMES)
    assert plan.split == tuple(sorted(plan.split, key=formula.index))  # walk order
    assert chart_plan(graph) == plan


def test_what_stays_shared_is_within_the_budget() -> None:
    """Over random formulas, the leaves left shared skip few ranks and have few arrows."""
    rng = random.Random(3)
    for _ in range(30):
        formula = _random_formula(rng)
        plan = chart_plan(explore(formula, _values(formula)).graph)
        rank = ranks(plan.graph)
        out: dict[str, list[str]] = {}
        for edge in plan.graph.edges:
            out.setdefault(edge.src, []).append(edge.dst)
        shared = {src: dsts for src, dsts in out.items() if len(dsts) > 1}
        assert sum(len(dsts) for dsts in shared.values()) <= MAX_SHARED_USES
        slack = sum(rank[src] - rank[dst] - 1 for src, dsts in shared.items() for dst in dsts)
        assert slack <= MAX_SLACK


def test_a_graph_over_the_budget_becomes_a_message() -> None:
    """Past max_nodes, the DOT is one box that says why, and the plan says so for the UI."""
    graph = explore(_chain(201), {"x": 0.5}).graph
    page = chart_plan(graph, PAGE_NODES)
    assert page.too_large
    assert page.message.startswith("This graph has 603 boxes and 602 arrows: too large to draw")
    assert "the SVG download draws it whole" in page.message
    dot = to_dot(graph, legend=False, max_nodes=PAGE_NODES)
    assert "message [label=<This graph has 603 boxes" in dot
    assert "->" not in dot
    assert not chart_plan(graph).too_large  # exports draw it
    assert "->" in to_dot(graph)


def test_a_hand_made_graph_past_the_export_budget_says_so() -> None:
    """Beyond MAX_DRAWN_NODES even exports draw the message, without offering the SVG."""
    nodes = tuple(Node(f"n{i}", "backward", "AddBackward0") for i in range(MAX_DRAWN_NODES + 1))
    edges = tuple(Edge(f"n{i + 1}", f"n{i}") for i in range(MAX_DRAWN_NODES))
    plan = chart_plan(Graph(nodes, edges))
    assert plan.too_large
    assert "SVG" not in plan.message


# --- the worst cases, through real dot --------------------------------------------------------


def _values(formula: str) -> dict[str, float]:
    return dict.fromkeys(parse(formula).variables, 0.5)


def _balanced(rng: random.Random, leaves: int, names: list[str]) -> str:
    """A balanced tree over ``names``: the same leaves feed many boxes on one rank (crossings)."""
    items = [rng.choice(names) for _ in range(leaves)]
    depth = 0
    while len(items) > 1:
        op = "+-*/"[depth % 4]
        pairs = [items[i : i + 2] for i in range(0, len(items), 2)]
        items = [f"({pair[0]}{op}{pair[1]})" if len(pair) == 2 else pair[0] for pair in pairs]
        depth += 1
    return items[0]


def _random_formula(rng: random.Random) -> str:
    """A random tree of ~150-200 operations over 1-12 variables, with functions and constants."""
    names = NAMES[: rng.randint(1, MAX_VARIABLES)]

    def build(size: int, depth: int) -> str:
        if size == 0 or depth > 24:
            return rng.choice(names) if rng.random() < 0.85 else f"{rng.randint(1, 9)}.5"
        if rng.random() < 0.15:
            return f"{rng.choice(FUNCTIONS)}({build(size - 1, depth + 1)})"
        left = rng.randint(0, size - 1)
        op = rng.choice("+-*/")
        return f"({build(left, depth + 1)}{op}{build(size - 1 - left, depth + 1)})"

    size = MAX_OPERATIONS
    while True:
        formula = "y = " + build(size, 0)
        if len(formula) <= MAX_CHARS:
            parse(formula)
            return formula
        size = size * 9 // 10


def worst_cases() -> Iterator[tuple[str, str]]:
    """Yield (name, formula) at the parser's limits: the issue's five and their relatives."""
    yield "80 additions", _chain(81)
    yield "200 additions", _chain(MAX_OPERATIONS + 1)
    yield "200 products", "y = " + _sum(["x"] * (MAX_OPERATIONS + 1), "*")
    yield "200 quotients", "y = " + _sum(["x"] * (MAX_OPERATIONS + 1), "/")
    yield "100 terms x*i", "y = " + _sum([f"x*{i}" for i in range(1, 101)])
    yield "100 products x*w", "y = " + _sum(["x", "w"] * 100 + ["x"], "*")
    yield "x**x**... chain", "y = " + _sum(["x"] * (MAX_OPERATIONS + 1), "**")
    yield "200 additions, 12 variables", "y = " + "+".join(NAMES[i % 12] for i in range(201))
    crossing = [f"{NAMES[i % 12]}*{NAMES[(i * 5 + 3) % 12]}" for i in range(100)]
    yield "100 crossing products", "y = " + _sum(crossing)
    yield "66 sin(x*w)", "y = " + _sum(["sin(x*w)"] * 66)
    yield "functions of x", "y = " + _sum([f"{FUNCTIONS[i % 7]}(x)" for i in range(90)])
    yield "nested powers", "y = " + "(" * 29 + "x" + "**x + x)" * 29 + "**x"
    yield "balanced tree, 12 variables", "y = " + _balanced(random.Random(1), 128, NAMES)
    yield "balanced tree, 2 variables", "y = " + _balanced(random.Random(2), 128, ["x", "w"])
    yield "reuse far apart", "y = x + " + _sum(["w"] * 190, "*") + " + x"
    yield "long names", "y = " + "+".join(["x" * 40] * 24)
    yield "int x in 100 products", "y = " + _sum(["x", "w"] * 100 + ["x"], "*")
    rng = random.Random(0)
    for index in range(8):
        yield f"random {index}", _random_formula(rng)


def _require_dot() -> None:
    if shutil.which("dot"):
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail("the layout bound needs Graphviz's dot (apt-get install graphviz)")
    pytest.skip("Graphviz's dot is not installed")


def _lays_out(dot: str) -> None:
    """Run ``dot -Tsvg`` with the issue's bound as a hard timeout."""
    try:
        done = subprocess.run(
            ["dot", "-Tsvg"],
            input=dot.encode(),
            capture_output=True,
            timeout=LAYOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"dot took longer than {LAYOUT_SECONDS:g} s")
    assert done.returncode == 0, done.stderr.decode()[-500:]
    assert done.stdout.rstrip().endswith(b"</svg>")


@pytest.mark.parametrize(("name", "formula"), list(worst_cases()), ids=lambda item: str(item)[:40])
def test_worst_cases_lay_out_within_3_seconds(name: str, formula: str) -> None:
    """The export DOT and the page's DOT (projector font, the other direction) each take < 3 s."""
    _require_dot()
    values = _values(formula)
    if name.startswith("int x"):
        values["x"] = 1  # an int tensor: no AccumulateGrad, the input box itself feeds each use
    graph = explore(formula, values).graph
    export = to_dot(graph)
    page = to_dot(graph, legend=False, font_size=18)
    direction = "TB" if "rankdir=LR" in page else "LR"
    other = to_dot(graph, legend=False, font_size=14, direction=direction)
    assert not chart_plan(graph).too_large, f"{name}: exports draw every accepted formula"
    for dot in (export, page, other):
        _lays_out(dot)
