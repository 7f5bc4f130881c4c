"""Find where an inf or nan first appeared in a graph, forward or backward, and say it in words.

A non-finite number spreads: once ``log(0) = -inf``, everything computed from it is inf or nan too.
What teaches is its origin, the first node whose own inputs were still finite. Forward, nodes are
read in computation order (operands before the operation, left before right, as the evaluator ran
them); backward, in the order PyTorch's engine runs them (a node after every node that sends it a
gradient, the most recently created first). PyTorch's own check,
``torch.autograd.detect_anomaly()``, is run once more on a fresh forward pass for its message.

    >>> from explorer.evaluate import evaluate
    >>> from explorer.formula import parse
    >>> trace(evaluate(parse("y = log(x)"), {"x": 0.0})).first.sentence
    'log(0) = -inf at LogBackward0'
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import torch

from explorer.dot import format_number
from explorer.errors import ExplorerError
from explorer.evaluate import ANOMALY_GATE, Input, forward
from explorer.formula import WARNINGS_LOCK, Formula, children, parse, spell, unparse
from explorer.graph import Graph, Node
from explorer.steps import Step

__all__ = [
    "Explored",
    "Origin",
    "Trace",
    "anomaly_message",
    "forward_order",
    "number",
    "trace",
]

Stage = Literal["forward", "backward"]


@dataclass(frozen=True, slots=True)
class Origin:
    """The first node where a value (forward) or a gradient (backward) stopped being finite."""

    node: str  # Graph node id, for dot.to_dot(..., marks={node: "warning"})
    title: str  # e.g. "LogBackward0", or a constant's text
    stage: Stage
    sentence: str  # e.g. "log(0) = -inf at LogBackward0"


@dataclass(frozen=True, slots=True)
class Trace:
    """Where inf/nan came from (forward origin first, then backward's) and PyTorch's own word."""

    origins: tuple[Origin, ...]
    anomaly: str = ""  # detect_anomaly's message, e.g. "Function 'SqrtBackward0' returned nan..."

    @property
    def first(self) -> Origin | None:
        """Return the origin to paint: the forward one if any, else the backward one."""
        return self.origins[0] if self.origins else None


class Explored(Protocol):
    """What trace() reads: an Evaluation or an Exploration."""

    @property
    def formula(self) -> Formula: ...

    @property
    def inputs(self) -> tuple[Input, ...]: ...

    @property
    def graph(self) -> Graph: ...

    @property
    def steps(self) -> tuple[Step, ...]: ...


def trace(explored: Explored, *, anomaly: bool = True) -> Trace:
    """Return where inf or nan first appeared in ``explored.graph``, and detect_anomaly's message.

    The anomaly run happens only when a gradient is nan: detect_anomaly looks for nan alone.
    """
    graph = explored.graph
    if _all_finite(graph):  # the usual case, on every slider move: nothing to look for
        return Trace((), "")
    origins = tuple(
        origin
        for origin in (
            _forward_origin(graph, explored.steps),
            _backward_origin(graph, explored.steps),
        )
        if origin is not None
    )
    message = ""
    if anomaly and _has_nan_gradient(graph):
        message = anomaly_message(explored.formula, explored.inputs)
    return Trace(origins, message)


def number(value: float) -> str:
    """Write a number for a sentence: ``0``, ``-1``, ``2.5000``, ``inf``, ``1.0000e+12``."""
    if math.isfinite(value) and value == int(value) and abs(value) <= 1e8:
        return str(int(value))
    return format_number(value)


def _finite(value: float | None) -> bool:
    return value is None or math.isfinite(value)


def _sources(graph: Graph) -> dict[str, list[str]]:
    """Map each node id to the ids of the nodes feeding it, in edge (operand) order."""
    sources: dict[str, list[str]] = {node.id: [] for node in graph.nodes}
    for edge in graph.edges:
        sources[edge.dst].append(edge.src)
    return sources


def forward_order(graph: Graph) -> list[str]:
    """Return node ids in computation order: operands first, left to right, the output last."""
    sources = _sources(graph)
    order: list[str] = []
    done: set[str] = set()
    # Iterative post-order: (id, expanded) pairs on an explicit stack.
    stack = [(graph.nodes[0].id, False)] if graph.nodes else []
    while stack:
        node, expanded = stack.pop()
        if node in done:
            continue
        if expanded:
            done.add(node)
            order.append(node)
            continue
        stack.append((node, True))
        stack.extend((src, False) for src in reversed(sources[node]) if src not in done)
    order += [node.id for node in graph.nodes if node.id not in done]
    return order


def _engine_order(steps: Sequence[Step]) -> list[str]:
    """Return the node ids of the first backward() call in the order PyTorch's engine ran them."""
    return list(dict.fromkeys(step.node for step in steps if step.call == 1))


def _creation_order(graph: Graph, steps: Sequence[Step]) -> list[str]:
    """Return node ids in the order the forward pass made them.

    The engine runs the ready node made last first, so its order reversed is the order of
    creation; nodes it never ran (constants, a graph without backward) follow in operand order.
    """
    made = list(reversed(_engine_order(steps)))
    seen = set(made)
    return made + [node for node in forward_order(graph) if node not in seen]


def _forward_origin(graph: Graph, steps: Sequence[Step]) -> Origin | None:
    nodes = {node.id: node for node in graph.nodes}
    sources = _sources(graph)
    for node_id in _creation_order(graph, steps):
        node = nodes[node_id]
        if node.kind == "output" or _finite(node.value):
            continue
        if all(_finite(_operand_value(nodes, sources, src)) for src in sources[node_id]):
            return Origin(node_id, node.title, "forward", _forward_sentence(node, nodes, sources))
    return None


def _operand_value(nodes: dict[str, Node], sources: dict[str, list[str]], src: str) -> float | None:
    """Return the forward value a source carries; an AccumulateGrad passes on its input's."""
    node = nodes[src]
    if node.kind == "accumulate" and sources[src]:
        return nodes[sources[src][0]].value
    return node.value


def _operand_text(nodes: dict[str, Node], sources: dict[str, list[str]], src: str) -> str:
    """Return how a source is spelled inside its consumer's text: ``x``, ``2``, ``w*x + b``."""
    node = nodes[src]
    if node.kind == "accumulate" and sources[src]:
        return nodes[sources[src][0]].title
    return node.detail if node.kind == "backward" else node.title


def _forward_sentence(node: Node, nodes: dict[str, Node], sources: dict[str, list[str]]) -> str:
    """Say ``log(0) = -inf at LogBackward0``: the operation with its operands' values."""
    value = number(node.value) if node.value is not None else "?"
    if node.kind != "backward":
        return f"{node.title} = {value}, a constant computed from numbers alone"
    values = {
        _operand_text(nodes, sources, src): _operand_value(nodes, sources, src)
        for src in sources[node.id]
    }
    return f"{_substituted(node.detail, values)} = {value} at {node.title}"


def _substituted(detail: str, values: dict[str, float | None]) -> str:
    """Spell ``detail`` with each operand whose value is known written as that value."""
    try:
        expr = parse(detail).expr
    except ExplorerError:
        return detail
    parts = []
    for child in children(expr):
        text = unparse(child)
        known = values.get(text)
        parts.append(text if known is None else number(known))
    # A negative operand needs brackets where its text did not: "sqrt(-1)" is fine, "2*-1" is not.
    parts = [f"({part})" if part.startswith("-") and len(parts) == 2 else part for part in parts]
    return spell(expr, tuple(parts)) if parts else detail


def _backward_origin(graph: Graph, steps: Sequence[Step]) -> Origin | None:
    nodes = {node.id: node for node in graph.nodes}
    sent: dict[str, list[float]] = {}
    for edge in graph.edges:
        if edge.grad is not None:
            sent.setdefault(edge.dst, []).append(edge.grad)
    for node_id in _engine_order(steps):
        node = nodes[node_id]
        received = node.grad
        if node.kind != "backward" or received is None or not math.isfinite(received):
            continue
        bad = [grad for grad in sent.get(node_id, []) if not math.isfinite(grad)]
        if bad:
            return Origin(node_id, node.title, "backward", _backward_sentence(node, received, bad))
    return None


def _backward_sentence(node: Node, received: float, bad: Sequence[float]) -> str:
    """Say how a finite incoming gradient became inf or nan: ``0 * inf = nan at ...``."""
    what = f"a local derivative of {node.detail}" if node.detail else "its local derivative"
    where = f"at {node.title} during backward"
    if math.isnan(bad[0]) and received == 0:
        return f"0 * inf = nan {where}: {what} is infinite here, and the gradient arriving was 0"
    if math.isnan(bad[0]):
        return (
            f"nan {where}: {what} is undefined here (like 0/0), "
            f"so the gradient {number(received)} became nan"
        )
    local = bad[0] if received == 0 else bad[0] / received
    return (
        f"{number(received)} * {number(local)} = {number(bad[0])} {where}: {what} is infinite here"
    )


def _all_finite(graph: Graph) -> bool:
    """Tell whether every value and gradient in the graph is a finite number (or absent)."""
    numbers = [node.value for node in graph.nodes] + [node.grad for node in graph.nodes]
    numbers += [edge.grad for edge in graph.edges]
    return all(_finite(number) for number in numbers)


def _has_nan_gradient(graph: Graph) -> bool:
    grads = [edge.grad for edge in graph.edges] + [node.grad for node in graph.nodes]
    return any(grad is not None and math.isnan(grad) for grad in grads)


def anomaly_message(formula: Formula, inputs: Sequence[Input]) -> str:
    """Run forward on fresh tensors and backward under detect_anomaly; return PyTorch's message.

    Returns "" when backward finishes (no nan) or nothing requires grad. The message is the first
    line of the RuntimeError, e.g. "Function 'SqrtBackward0' returned nan values in its 0th output."
    """
    tensors = {
        item.name: torch.tensor(item.value, requires_grad=item.requires_grad) for item in inputs
    }
    try:
        output = forward(formula, tensors)
    except ExplorerError:
        return ""
    if not output.requires_grad:
        return ""
    # Anomaly mode is one flag for the whole process: the gate keeps every other backward out
    # while it is on. catch_warnings swaps process-wide state: WARNINGS_LOCK, taken second (the
    # gate's lock order), keeps the other catch_warnings of the process from overlapping it.
    with ANOMALY_GATE.anomaly(), WARNINGS_LOCK, warnings.catch_warnings():
        # detect_anomaly warns that it is on and that the forward pass left no traceback.
        warnings.simplefilter("ignore")
        try:
            with torch.autograd.detect_anomaly():
                output.backward()
        except RuntimeError as error:
            lines = str(error).strip().splitlines()
            return lines[0] if lines else ""
    return ""
