"""The step view on the drawing: marked nodes, gradients only where they have flowed, names, cuts.

Built from hand-made Graphs, so these tests depend on dot.py alone; the seed goldens
(tests/test_explore.py) pin the drawing without marks.
"""

from __future__ import annotations

import re
import shutil

import pytest

from explorer.chart import chart_plan
from explorer.dot import MARKS, STYLES, render, to_dot
from explorer.graph import Edge, Graph, Node


def _graph() -> Graph:
    """h = w*x + 1 (named) feeds y = sigmoid(h); a detached h feeds the output as well."""
    nodes = (
        Node("n0", "output", "loss", value=0.5, grad=1.0),
        Node("n1", "backward", "MulBackward0", "y*detach(h)", 0.5, 1.0, brief="y*detach(h)"),
        Node("n2", "backward", "SigmoidBackward0", "sigmoid(h)", 0.25, 2.0, name="y"),
        Node(
            "n3",
            "constant",
            "detach(h)",
            "detached: gradient stops here",
            2.0,
            None,
            False,
            detached="h",
        ),
        Node("n4", "backward", "AddBackward0", "w*x + 1", 2.0, 0.4, name="h"),
        Node("n5", "accumulate", "AccumulateGrad", "into x.grad", grad=0.8),
        Node("n6", "input", "x", "requires_grad=True", 0.5, 0.8),
    )
    edges = (
        Edge("n1", "n0", 1.0),
        Edge("n2", "n1", 2.0),
        Edge("n3", "n1", None, needs_grad=False),
        Edge("n4", "n2", 0.4),
        Edge("n5", "n4", 0.8),
        Edge("n6", "n5", 0.8),
    )
    return Graph(nodes, edges)


def _line(dot: str, node: str) -> str:
    return next(line for line in dot.splitlines() if line.startswith(f"  {node} ["))


def test_without_marks_the_drawing_is_the_plain_one() -> None:
    """marks=None and carried=None add nothing: no pen widths, no transparent ink."""
    dot = to_dot(_graph())
    assert dot == to_dot(_graph(), marks=None, carried=None)
    assert "penwidth=3" not in dot
    assert "transparent" not in dot


def test_a_named_backward_node_says_which_tensor_it_made() -> None:
    """The box of the node that produced h reads "h = w*x + 1 = 2.", under its function."""
    dot = to_dot(_graph())
    assert "<B>AddBackward0</B><BR/>h = w*x + 1 = 2.<BR/>" in _line(dot, "n4")
    assert "<B>SigmoidBackward0</B><BR/>y = sigmoid(h) = 0.2500<BR/>" in _line(dot, "n2")


def test_a_detached_tensor_is_drawn_as_a_cut_constant_with_its_value() -> None:
    """h.detach() with its value, the words for the cut, its own border, and a legend row."""
    dot = to_dot(_graph())
    line = _line(dot, "n3")
    assert "<B>h.detach()</B><BR/>= 2.<BR/>detached: gradient stops here" in line
    fill, border, style = STYLES["detached"]
    assert f'fillcolor="{fill}", color="{border}", style="{style}"' in line
    assert "detached tensor: gradient stops here" in dot
    assert "detached tensor" not in to_dot(Graph(_graph().nodes[:1], ()))


def test_a_named_detached_tensor_keeps_its_name() -> None:
    """d = detach(h) reads "d = h.detach()"."""
    node = Node(
        "n0", "constant", "d", "detached: gradient stops here", 2.0, tracked=False, detached="h"
    )
    assert "<B>d = h.detach()</B>" in to_dot(Graph((node,), ()))


@pytest.mark.parametrize("mark", ["running", "warning"])
def test_marks_paint_the_node(mark: str) -> None:
    """A running or warning node gets its fill, border and a thick pen; done stays as drawn."""
    fill, border, style, pen = MARKS[mark]
    dot = to_dot(_graph(), marks={"n2": mark, "n1": "done"})
    assert f'fillcolor="{fill}", color="{border}", style="{style}", penwidth={pen}' in _line(
        dot, "n2"
    )
    assert _line(dot, "n1") == _line(to_dot(_graph()), "n1")


def test_an_unknown_mark_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown marks"):
        to_dot(_graph(), marks={"n2": "runing"})


def test_carried_edges_alone_show_their_gradient() -> None:
    """Step view: labels on carried edges; the others keep their place in transparent ink."""
    carried = {("n1", "n0"), ("n2", "n1"), ("n3", "n1")}
    dot = to_dot(_graph(), marks={"n0": "done", "n1": "running"}, carried=carried)
    assert '  n1 -> n0 [label="1."];' in dot
    assert '  n2 -> n1 [label="2."];' in dot
    assert '  n4 -> n2 [label="0.4000", fontcolor="transparent"];' in dot
    assert '  n6 -> n5 [label="0.8000", fontcolor="transparent"];' in dot
    # n2 sent nothing yet but received its gradient along a carried edge: its grad row shows.
    assert '<FONT COLOR="#A63D00">grad 2.</FONT>' in _line(dot, "n2")
    assert '<FONT COLOR="transparent">grad 0.4000</FONT>' in _line(dot, "n4")
    assert '<FONT COLOR="transparent">grad 0.8000</FONT>' in _line(dot, "n6")


def test_stepping_never_moves_the_layout() -> None:
    """Every step's DOT is the full one with colours changed: the same text once those go."""

    def bare(dot: str) -> str:
        dot = re.sub(
            r'fillcolor="[^"]*", color="[^"]*", style="[^"]*"(, penwidth=[\d.]+)?', "", dot
        )
        dot = dot.replace(', fontcolor="transparent"', "")
        return dot.replace('COLOR="transparent"', 'COLOR="#A63D00"')

    full = bare(to_dot(_graph()))
    for carried in (set(), {("n1", "n0")}, {(e.src, e.dst) for e in _graph().edges}):
        assert bare(to_dot(_graph(), marks={"n1": "running"}, carried=carried)) == full


def test_marks_follow_a_leaf_drawn_once_per_use() -> None:
    """x + x + ... splits the AccumulateGrad into copies n1_1, n1_2...: each takes its mark."""
    uses = 20
    nodes = [Node("n0", "output", "y", value=1.0, grad=1.0)]
    edges = []
    previous = "n0"
    for k in range(uses - 1):
        node = f"n{k + 2}"
        nodes.append(Node(node, "backward", "AddBackward0", grad=1.0))
        edges.append(Edge(node, previous, 1.0))
        edges.append(Edge("n1", node, 1.0))
        previous = node
    nodes.append(Node("n1", "accumulate", "AccumulateGrad", grad=float(uses)))
    nodes.append(Node(f"n{uses + 1}", "input", "x", value=0.5, grad=float(uses)))
    edges.append(Edge(f"n{uses + 1}", "n1", float(uses)))
    graph = Graph(tuple(nodes), tuple(edges))
    assert chart_plan(graph).split == ("x",)
    dot = to_dot(graph, marks={"n1": "running"}, carried={("n1", "n2")})
    copies = [line for line in dot.splitlines() if line.startswith("  n1_") and "->" not in line]
    assert copies
    assert all(f"penwidth={MARKS['running'][3]}" in line for line in copies)
    assert '  n1_1 -> n2 [label="1."];' in dot
    assert '  n1_2 -> n3 [label="1.", fontcolor="transparent"];' in dot


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_graphviz_draws_the_marked_view() -> None:
    """transparent and the pen widths are valid Graphviz: dot renders the step view."""
    dot = to_dot(_graph(), marks={"n2": "running", "n4": "warning"}, carried={("n1", "n0")})
    assert render(dot, "svg").startswith(b"<?xml")
