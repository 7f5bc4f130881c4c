"""Walk a real autograd graph through ``grad_fn.next_functions`` into a neutral Graph.

The Graph is plain frozen data: nodes and edges with ids handed out in walk order (``n0``,
``n1``...), never from ``id()``, so the same formula gives the same Graph in every process.
dot.py draws it.

Edges point the way the forward pass ran (inputs towards the output); the gradient on an edge is the
one that flowed backward along it, as reported by the node hooks that evaluate.py registers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch

from explorer.formula import Binary, Call, Const, Expr, Num, Var, children, spell

__all__ = [
    "MAX_BRIEF",
    "Edge",
    "Graph",
    "Hooked",
    "Node",
    "NodeKind",
    "Operand",
    "Record",
    "brief",
    "graph_and_ids",
    "scalar",
    "walk",
]

NodeKind = Literal["output", "backward", "accumulate", "input", "constant"]
Number = int | float
MAX_BRIEF = 24  # characters of an operation's text in its box; long formulas stay legible
_BRIEF_DEPTH = 3  # levels of operands a shortened text may keep
_LONG_LEAF = 12  # a name or number longer than this becomes "…" in a shortened text


@dataclass(frozen=True, slots=True)
class Node:
    """One box of the drawing: a backward function, a leaf, a constant or the output."""

    id: str
    kind: NodeKind
    title: str  # AddBackward0, AccumulateGrad, the variable's name, or a constant's text
    detail: str = ""  # what the node computes, e.g. "x**2", or "requires_grad=False"
    value: Number | None = None  # forward value
    grad: float | None = None  # gradient received during backward; None when none flowed
    tracked: bool = True  # False for constants and inputs without requires_grad
    brief: str = ""  # detail shortened for the box, keeping the operator: "(…)**2"
    use: tuple[int, int] | None = None  # (k, n): drawn copy k of a leaf used n times
    name: str = ""  # the named intermediate this backward function produced, e.g. "h"
    detached: str = ""  # for a detached tensor: what was detached, "h" for h.detach()


@dataclass(frozen=True, slots=True)
class Edge:
    """A forward connection ``src -> dst``; ``grad`` flowed back along it during backward."""

    src: str
    dst: str
    grad: float | None = None
    needs_grad: bool = True  # False for constants and inputs PyTorch records only as None


@dataclass(frozen=True, slots=True)
class Graph:
    """Nodes and edges in walk order, output first."""

    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]

    def node(self, title: str) -> Node:
        """Return the first node with this title, e.g. ``graph.node("MulBackward0")``."""
        return next(node for node in self.nodes if node.title == title)


@dataclass(frozen=True, slots=True)
class Operand:
    """An operand that needs no gradient: its text, its forward value and, if an input, its name."""

    text: str
    value: Number
    input_name: str | None = None
    detached: str = ""  # the text of the tensor detached, "h" for detach(h); "" if not detached


@dataclass(slots=True)
class Record:
    """What the evaluator knows about the backward function an operation created."""

    detail: str
    value: Number
    constants: Sequence[Operand]  # the operands that need no gradient, in operand order
    brief: str = ""  # detail shortened for a box: brief(expr, detail)
    name: str = ""  # the statement's name when this operation's result is a named intermediate


def brief(expr: Expr, text: str, limit: int = MAX_BRIEF) -> str:
    """Shorten ``text``, the spelling of ``expr``, to ``limit`` characters, keeping its operator.

    Operands deeper than some level become "…", so the box still says what the node does:
    ``(sigmoid(w*x + b) - t)**2`` becomes ``(sigmoid(…) - t)**2``, and a longer one ``(…)**2``.
    """
    if len(text) <= limit:
        return text
    best = _truncated(expr, 1, top=True)
    if len(best) > limit:  # "softplus(…) + softplus(…)": only the operator itself is left
        return _truncated(expr, 1, top=True, names=False)
    for depth in range(2, _BRIEF_DEPTH + 1):
        shorter = _truncated(expr, depth, top=True)
        if len(shorter) > limit:
            break
        best = shorter
    return best


def _truncated(expr: Expr, depth: int, *, top: bool = False, names: bool = True) -> str:
    """Spell ``expr`` with every operation ``depth`` levels down written as "…"."""
    if isinstance(expr, Num | Var | Const):
        text = spell(expr, ())
        return text if len(text) <= _LONG_LEAF else "…"
    if depth == 0:
        # A function keeps its name when its argument is cut: "sigmoid(…)" says more than "…".
        return f"{expr.func}(…)" if isinstance(expr, Call) and names else "…"
    parts = tuple(_truncated(child, depth - 1, names=names) for child in children(expr))
    # Inside, "… + …" says no more than "…": "… + x*4", not "… + … + x*4". The node's own
    # operation (top) always shows its operator.
    if not top and isinstance(expr, Binary) and parts == ("…", "…"):
        return "…"
    return spell(expr, parts)


def walk(root: Any) -> list[Any]:
    """Return the backward functions reachable from ``root`` in depth-first walk order.

    Iterative with an explicit stack, so a deep graph cannot hit Python's recursion limit.
    """
    order: list[Any] = []
    seen: set[Any] = set()
    stack = [root] if root is not None else []
    while stack:
        fn = stack.pop()
        if fn in seen:
            continue
        seen.add(fn)
        order.append(fn)
        stack.extend(nxt for nxt, _ in reversed(fn.next_functions) if nxt is not None)
    return order


# backward function -> (grad_inputs, grad_outputs) that its hook saw during backward()
Hooked = dict[Any, tuple[Sequence[Any], Sequence[Any]]]


class _Builder:
    """Hand out ids in the order nodes are added, and connect nodes by their keys."""

    def __init__(self, inputs: dict[str, torch.Tensor], records: dict[Any, Record], hooked: Hooked):
        self.inputs, self.records, self.hooked = inputs, records, hooked
        self.nodes: list[Node] = []
        self.ids: dict[Any, str] = {}
        self.links: list[tuple[Any, Any, float | None, bool]] = []

    def add(self, key: Any, kind: NodeKind, title: str, **fields: Any) -> Any:
        """Add a node once per key and return the key."""
        if key not in self.ids:
            self.ids[key] = f"n{len(self.nodes)}"
            self.nodes.append(Node(self.ids[key], kind, title, **fields))
        return key

    def link(self, src: Any, dst: Any, grad: float | None = None, needs_grad: bool = True) -> None:
        """Connect two keys; a backward function's key may get its node later in the walk."""
        self.links.append((src, dst, grad, needs_grad))

    def graph(self) -> Graph:
        edges = tuple(Edge(self.ids[s], self.ids[d], g, n) for s, d, g, n in self.links)
        return Graph(tuple(self.nodes), edges)

    def input(self, name: str) -> Any:
        """Add the leaf tensor ``name`` with its value and, after backward, its .grad."""
        tensor = self.inputs[name]
        flag = tensor.requires_grad
        return self.add(
            ("input", name),
            "input",
            name,
            detail=f"requires_grad={flag}",
            value=tensor.item(),
            grad=scalar(tensor.grad),
            tracked=flag,
        )

    def function(self, fn: Any) -> None:
        """Add one backward function, its leaf or constants, and the edges into it."""
        record = self.records.get(fn)
        sent, received = self.hooked.get(fn, ((), ()))
        title = type(fn).__name__
        if title == "AccumulateGrad":
            name = _input_name(fn.variable, self.inputs) or "leaf"
            self.add(fn, "accumulate", title, detail=f"into {name}.grad", grad=_first(received))
            self.link(self.input(name), fn, grad=_first(received))
            return
        fields = {}
        if record is not None:
            fields = {"detail": record.detail, "value": record.value, "brief": record.brief}
            fields |= {"name": record.name}
        self.add(fn, "backward", title, grad=_first(received), **fields)
        constants = _constants_for(fn, record)
        for slot, (nxt, _) in enumerate(fn.next_functions):
            if nxt is not None:
                self.link(nxt, fn, grad=scalar(sent[slot]) if slot < len(sent) else None)
                continue
            operand = constants.pop(0) if constants else None
            self.link(self.constant(fn, slot, operand), fn, needs_grad=False)

    def constant(self, fn: Any, slot: int, operand: Operand | None) -> Any:
        """Add what PyTorch recorded as None in slot ``slot`` of ``fn``, and return its key.

        That is a number, an input without requires_grad, or a detached tensor (drawn like a
        constant, with its value and where the gradient stops).
        """
        if operand is None:
            return self.add((fn, slot), "constant", "constant", tracked=False)
        detached = operand.detached or _detached_from(operand.text)
        if operand.input_name in self.inputs and not detached:
            return self.input(operand.input_name)
        detail = "detached: gradient stops here" if detached else ""
        return self.add(
            (fn, slot),
            "constant",
            operand.text,
            value=operand.value,
            tracked=False,
            detail=detail,
            detached=detached,
        )


def graph_and_ids(
    output_name: str,
    output: torch.Tensor,
    *,
    inputs: dict[str, torch.Tensor],
    records: dict[Any, Record],
    hooked: Hooked,
    functions: Sequence[Any],
    used: Sequence[str],
) -> tuple[Graph, dict[Any, str]]:
    """Build the Graph of ``output`` after backward, and map each backward function to its id.

    ``functions`` is ``walk(output.grad_fn)``; ``hooked`` maps each of them to the (grad_inputs,
    grad_outputs) its hook saw; ``records`` maps the functions the evaluator created to their
    operation; ``used`` names the inputs that appear in the formula, in reading order. The map is
    what steps.py needs to tell which box each step of backward ran in.
    """
    grads_flowed = bool(hooked) or (output.grad_fn is None and output.requires_grad)
    builder = _Builder(inputs, records, hooked)
    out = builder.add(
        "output",
        "output",
        output_name,
        value=output.item(),
        grad=1.0 if grads_flowed else None,
        detail="" if output.requires_grad else "no grad_fn: nothing requires grad",
    )
    root = output.grad_fn
    if root is not None:
        builder.link(root, out, grad=1.0 if grads_flowed else None)
    elif output.requires_grad:  # y = x: the output is the leaf itself
        builder.link(builder.input(_input_name(output, inputs) or used[0]), out, grad=1.0)
    for fn in functions:
        builder.function(fn)
    for name in used:
        builder.input(name)
    ids = {fn: builder.ids[fn] for fn in functions}
    return builder.graph(), ids


def _constants_for(fn: Any, record: Record | None) -> list[Operand]:
    """Match the ``None`` entries of next_functions with the operands that need no gradient.

    PyTorch keeps only ``None`` for an operand that needs no gradient (a number, or a tensor
    without requires_grad); the operands that do need one fill the other slots. When the counts
    disagree (an internal function such as ReciprocalBackward0), the constants stay unnamed.
    """
    if record is None:
        return []
    constants = list(record.constants)
    nones = sum(nxt is None for nxt, _ in fn.next_functions)
    return constants if len(constants) == nones else []


def _detached_from(text: str) -> str:
    """Return ``h`` for the spelling ``detach(h)`` of a detached operand, else "".

    ``detach(a)*detach(b)`` is not one: its first bracket closes before the end.
    """
    if not (text.startswith("detach(") and text.endswith(")")):
        return ""
    depth = 0
    for position, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and char == ")":
            return text[len("detach(") : -1] if position == len(text) - 1 else ""
    return ""


def _input_name(tensor: torch.Tensor, inputs: dict[str, torch.Tensor]) -> str | None:
    return next((name for name, leaf in inputs.items() if leaf is tensor), None)


def _first(grads: Sequence[Any]) -> float | None:
    return scalar(grads[0]) if grads else None


def scalar(grad: Any) -> float | None:
    """Return a 0-d tensor as a float, or None for None."""
    return None if grad is None else float(grad.item())
