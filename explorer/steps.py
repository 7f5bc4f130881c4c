"""Record backward as PyTorch's engine runs it: the order of the nodes, what each received and sent.

A Recorder puts a pre-hook (called just before a node runs, with the gradient it received) and a
hook (called after, with what it sent on) on every backward function of the graph, and reads each
function's saved tensors before backward frees them. Afterwards ``steps()`` turns the log into
plain ``Step`` data: one per node run, in the engine's order, each with its chain-rule card filled
in (cards.py) from the node's own saved numbers.

    >>> recorder = Recorder(walk(output.grad_fn))  # doctest: +SKIP
    >>> recorder.install(); output.backward(); recorder.remove()  # doctest: +SKIP
    >>> steps = recorder.steps(node_ids, graph)  # doctest: +SKIP
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, partial
from typing import Any

import torch

from explorer.cards import ACCUMULATE, DETACHED, Card, Rule, Saved, card_for
from explorer.graph import Graph, Hooked, Node

__all__ = [
    "Recorder",
    "Sent",
    "Step",
    "card_markdown",
    "read_saved",
    "step_text",
    "step_view",
    "steps_text",
]

Number = int | float
# attribute of the backward function -> field of Saved; read defensively: names vary by version
_SAVED = {
    "_saved_self": "a",
    "_saved_other": "b",
    "_saved_exponent": "b",
    "_saved_result": "r",
    "_saved_alpha": "alpha",
    "_saved_beta": "beta",
    "_saved_threshold": "threshold",
}
_PLACEHOLDER = re.compile(r"\{(a|b|r)\}")
_UNSAVED = Saved()  # a function that saved nothing PyTorch's card can use
_FIELDS = ("a", "b", "r", "alpha", "beta", "threshold")  # Saved's fields, in packing order


@dataclass(frozen=True, slots=True)
class Sent:
    """What one step sent into one input slot of its backward function.

    The card's texts and the local derivative are worked out only when asked for, from the
    numbers the node saved (kept here as plain numbers): recording then costs explore() little,
    and the page shows one card at a time.
    """

    slot: int  # position in grad_fn.next_functions
    to: str  # id of the node the gradient goes to (a constant's id for a slot without one)
    wrt: str  # the operand's text: "x", "w*x", "2"
    grad: float | None  # the gradient the hook saw it send (None: nothing flows here)
    received: float | None = None  # what the node received, which the local derivative scales
    why_none: str = ""  # why no gradient flows: a constant, or a detached tensor
    detached: bool = False  # the operand is a detached tensor: the gradient path is cut here
    function: str = ""  # the backward function whose card has this slot's rule ("" for none)
    names: tuple[tuple[str, str], ...] = ()  # placeholder -> operand text
    saved: tuple[tuple[str, Number, str], ...] = ()  # Saved field, value, dtype ("" for a number)

    @property
    def rule(self) -> Rule | None:
        """Return the card's rule for this slot, or None when there is none."""
        card = card_for(self.function)
        return card.rules[self.slot] if card and self.slot < len(card.rules) else None

    @property
    def local(self) -> float | None:
        """Return the local derivative's value, computed as PyTorch's backward formula does."""
        rule = self.rule
        return None if rule is None else _local(rule.local, _unpack(self.saved))

    @property
    def blocked(self) -> bool:
        """Tell whether PyTorch sent 0 by selection rather than by multiplying (relu at 0)."""
        rule = self.rule
        return bool(rule and rule.blocked and _local(rule.blocked, _unpack(self.saved)))

    @property
    def formula(self) -> str:
        """Return the local derivative in the operands' names, e.g. the power rule's; or ""."""
        rule = self.rule
        return "" if rule is None else _fill(rule.formula, dict(self.names), _bracket)

    @property
    def numbers(self) -> str:
        """Return the local derivative with the node's saved numbers."""
        rule = self.rule
        numbers = {key: number(value) for key, value, _ in self.saved}
        return "" if rule is None else _fill(rule.numbers, numbers, _bracket_number)

    @property
    def product(self) -> str:
        """Return the chain rule's product as sent: ``1·108 = 108``; "" when nothing was sent."""
        return _product(self, *_worked(self))


@dataclass(frozen=True, slots=True)
class Step:
    """One backward function run by the engine: what it received, and what it sent where."""

    index: int  # 1, 2, ...: the engine's order, counted on across backward() calls
    call: int  # which backward() call: 1 for the first
    node: str  # the graph's node id
    function: str  # the backward function's name: "PowBackward1", "AccumulateGrad"
    tensor: str  # what it belongs to: "z", "h", "x**2"; for AccumulateGrad the leaf's name
    value: Number | None  # that tensor's forward value
    received: float | None  # the gradient it received (the sum over all uses)
    parts: tuple[float, ...] = ()  # what each use sent, in arrival order, when more than one
    sends: tuple[Sent, ...] = ()
    grad_before: float | None = None  # AccumulateGrad: the leaf's .grad before (None: unset)
    grad_after: float | None = None  # AccumulateGrad: the leaf's .grad after
    finished: bool = True  # False when PyTorch raised inside this node (its hook never ran)
    first: bool = False  # the first step of its backward() call: the root, which receives 1

    @property
    def accumulates(self) -> str:
        """Return ``x.grad = 0 + 108 = 108`` for an AccumulateGrad step, else ""."""
        if self.function != ACCUMULATE or self.received is None:
            return ""
        before = number(self.grad_before) if self.grad_before is not None else "0"
        after = number(self.grad_after)
        return f"{self.tensor}.grad = {before} + {_signed(self.received)} = {after}"


@dataclass(slots=True)
class _Run:
    """One node run as the hooks saw it (mutable while backward runs)."""

    fn: Any
    call: int
    received: tuple[float | None, ...]
    grad_before: float | None
    sent: tuple[float | None, ...] = ()
    grad_after: float | None = None
    finished: bool = False
    # what each earlier run sent into this one: filled by steps()
    parts: list[float] = field(default_factory=list)


def read_saved(fn: Any) -> Saved:
    """Read what a backward function saved for its backward, before backward frees it.

    Each attribute is read on its own and skipped when missing or unreadable, so a PyTorch that
    names them differently leaves a card without numbers rather than an error.
    """
    found: dict[str, Any] = {}
    for attribute, key in _saved_names(type(fn)):
        try:
            value = getattr(fn, attribute)
        except (AttributeError, RuntimeError):
            continue
        if isinstance(value, torch.Tensor):
            value = value.detach()  # no graph for the card's own arithmetic
        if value is not None:
            found.setdefault(key, value)
    return Saved(**found)


@cache
def _saved_names(kind: type) -> tuple[tuple[str, str], ...]:
    """Return the saved-tensor attributes a kind of backward function has, with Saved's fields."""
    return tuple((name, key) for name, key in _SAVED.items() if hasattr(kind, name))


class Recorder:
    """Log the engine's order and each node's gradients on the backward functions given."""

    def __init__(self, functions: Sequence[Any]) -> None:
        self.functions = list(functions)  # walk(output.grad_fn): the root comes first
        self.saved: dict[Any, Saved] = {}
        # fn -> (grad_inputs, grad_outputs) of its first run: what graph.graph_and_ids takes as
        # hooked (the graph shows the first backward() call)
        self.hooked: Hooked = {}
        self.runs: list[_Run] = []
        self._open: dict[Any, _Run] = {}
        self._calls = 0
        self._handles: list[Any] = []

    def install(self) -> None:
        """Read saved tensors and register the hooks; call once, before the first backward()."""
        for fn in self.functions:
            self.saved[fn] = read_saved(fn)
            self._handles.append(fn.register_prehook(partial(self._before, fn)))
            self._handles.append(fn.register_hook(partial(self._after, fn)))

    def remove(self) -> None:
        """Remove the hooks; call after the last backward(). What was recorded stays.

        Each hook holds this recorder and its function, which holds the hook: a cycle through
        PyTorch's C++ graph that Python's garbage collector cannot see, so without this the graph
        and its tensors would never be freed (torch 2.13: ~16 kB per explore()).
        """
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _before(self, fn: Any, grad_outputs: Sequence[Any]) -> None:
        # Every backward() call starts at the root: that is how calls are told apart.
        if fn is self.functions[0]:
            self._calls += 1
        run = _Run(fn, self._calls, _floats(grad_outputs), _leaf_grad(fn))
        self._open[fn] = run
        self.runs.append(run)

    def _after(self, fn: Any, grad_inputs: Sequence[Any], grad_outputs: Sequence[Any]) -> None:
        self.hooked.setdefault(fn, (tuple(grad_inputs), tuple(grad_outputs)))
        run = self._open.pop(fn, None)
        if run is not None:
            run.sent, run.grad_after, run.finished = _floats(grad_inputs), _leaf_grad(fn), True

    def steps(self, node_ids: Mapping[Any, str], graph: Graph | None = None) -> tuple[Step, ...]:
        """Return the steps run so far, in the engine's order, as plain data.

        ``node_ids`` maps each backward function to its node id (``graph_and_ids``); ``graph``
        gives the operands' names and values for the cards (without it they read a, b).
        """
        _share_out(self.runs)
        texts = _Texts(graph, node_ids)
        return tuple(self._step(index, run, texts) for index, run in enumerate(self.runs, start=1))

    def _step(self, index: int, run: _Run, texts: _Texts) -> Step:
        fn, name = run.fn, type(run.fn).__name__
        node = texts.ids.get(fn, "")
        received = run.received[0] if run.received else None
        sources = texts.sources(node)
        parts = tuple(run.parts) if len(run.parts) > 1 else ()
        first = index == 1 or self.runs[index - 2].call != run.call
        common = {
            "index": index,
            "call": run.call,
            "node": node,
            "function": name,
            "first": first,
        }
        if name == ACCUMULATE:
            leaf = texts.text(sources[0]) if sources else "leaf"
            return Step(
                **common,
                tensor=leaf,
                value=texts.value(sources[0]) if sources else None,
                received=received,
                parts=parts,
                grad_before=run.grad_before,
                grad_after=run.grad_after,
                finished=run.finished,
            )
        slots = [texts.text(source) for source in sources]
        packed = _pack(self.saved.get(fn, _UNSAVED))
        card = card_for(name)
        # The card's placeholders with the operands' texts: the same for every slot of the step.
        names = () if card is None else _names(card, slots, packed)
        operands = _Operands(sources, slots, texts, card, names, fn.next_functions)
        sends = tuple(_sent(slot, run, packed, operands) for slot in range(len(operands.nexts)))
        return Step(
            **common,
            tensor=texts.text(node),
            value=texts.value(node),
            received=received,
            parts=parts,
            sends=sends,
            finished=run.finished,
        )


def _share_out(runs: list[_Run]) -> None:
    """Fill each run's ``parts``: what the runs before it in the same call sent into it."""
    pending: dict[tuple[int, Any], list[float]] = {}  # (call, fn) -> what was sent into fn
    for run in runs:
        run.parts[:] = pending.pop((run.call, run.fn), [])
        for slot, (nxt, _) in enumerate(run.fn.next_functions):
            if nxt is not None and slot < len(run.sent) and run.sent[slot] is not None:
                pending.setdefault((run.call, nxt), []).append(run.sent[slot])


class _Texts:
    """Read names and values for the cards from the Graph: the boxes' own texts."""

    def __init__(self, graph: Graph | None, ids: Mapping[Any, str]) -> None:
        self.ids = ids
        self.nodes: dict[str, Node] = {node.id: node for node in graph.nodes} if graph else {}
        self.into: dict[str, list[str]] = {}
        self.out_of: dict[str, list[str]] = {}
        for edge in graph.edges if graph else ():
            self.into.setdefault(edge.dst, []).append(edge.src)
            self.out_of.setdefault(edge.src, []).append(edge.dst)

    def sources(self, node: str) -> list[str]:
        """Return the ids feeding ``node``, in slot order (graph_and_ids links them so)."""
        return self.into.get(node, [])

    def text(self, node_id: str) -> str:
        """Return how an operand reads: a leaf's name, a constant, a named or computed tensor."""
        node = self.nodes.get(node_id)
        if node is None:
            return ""
        if node.kind == "accumulate":
            feeding = self.sources(node_id)
            return self.text(feeding[0]) if feeding else "leaf"
        if node.detached and node.title == f"detach({node.detached})":
            return f"{_bracket(node.detached)}.detach()"
        if node.kind != "backward":  # a leaf, a constant, or a named detached tensor: d
            return node.title
        if text := node.name or self._output_name(node_id) or node.brief or node.detail:
            return text
        card = card_for(node.title)
        if card is None:
            return node.title
        # An internal function the evaluator did not create: 1/x for ReciprocalBackward0.
        slots = [self.text(source) for source in self.sources(node_id)]
        names = {rule.wrt: name for rule, name in zip(card.rules, slots, strict=False)}
        return _fill(card.computes, names, _bracket)

    def value(self, node_id: str) -> Number | None:
        node = self.nodes.get(node_id)
        return None if node is None else node.value

    def _output_name(self, node_id: str) -> str:
        """Return the output's name if ``node_id`` produced the output, else ""."""
        for dst in self.out_of.get(node_id, []):
            if self.nodes[dst].kind == "output":
                return self.nodes[dst].title
        return ""


def _sent(
    slot: int, run: _Run, packed: tuple[tuple[str, Number, str], ...], operands: _Operands
) -> Sent:
    """Fill in one slot of a step: what the hook saw sent, and what its card needs."""
    to = operands.sources[slot] if slot < len(operands.sources) else ""
    wrt = operands.slots[slot] if slot < len(operands.slots) else ""
    grad = run.sent[slot] if slot < len(run.sent) else None
    received = run.received[0] if run.received else None
    if operands.nexts[slot][0] is None:
        node = operands.texts.nodes.get(to)
        if node is not None and node.detached:
            return Sent(slot, to, wrt, None, received, "detached: the gradient stops here", True)
        return Sent(slot, to, wrt, None, received, f"{wrt or 'it'} needs no gradient")
    if operands.card is None:
        return Sent(slot, to, wrt, grad, received)
    function = type(run.fn).__name__
    return Sent(slot, to, wrt, grad, received, "", False, function, operands.names, packed)


def _names(
    card: Card, slots: Sequence[str], packed: tuple[tuple[str, Number, str], ...]
) -> tuple[tuple[str, str], ...]:
    """Return each placeholder of a card with its operand's text, else the number it saved."""
    names = {rule.wrt: name for rule, name in zip(card.rules, slots, strict=False) if name}
    names.update({key: number(v) for key, v, _ in packed if key in "ab" and key not in names})
    return tuple(names.items())


@dataclass(frozen=True, slots=True)
class _Operands:
    """The operands of one backward node: source ids and texts in slot order, and its card."""

    sources: list[str]
    slots: list[str]
    texts: _Texts
    card: Card | None
    names: tuple[tuple[str, str], ...]  # the card's placeholders -> operand texts
    nexts: Sequence[tuple[Any, int]]  # the function's next_functions


def _pack(saved: Saved) -> tuple[tuple[str, Number, str], ...]:
    """Keep the saved numbers as plain (field, value, dtype) triples."""
    packed = []
    for key in _FIELDS:
        value = getattr(saved, key)
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            packed.append((key, value.item(), _dtype_name(value.dtype)))
        elif isinstance(value, (int, float)):
            packed.append((key, value, ""))
    return tuple(packed)


@cache
def _dtype_name(dtype: torch.dtype) -> str:
    """Return ``float32`` for torch.float32: the name _unpack finds on torch."""
    return str(dtype).removeprefix("torch.")


def _unpack(packed: tuple[tuple[str, Number, str], ...]) -> Saved:
    """Rebuild the saved tensors (exactly: a float32's value is a float64 too)."""
    fields = {
        key: torch.tensor(value, dtype=getattr(torch, dtype)) if dtype else value
        for key, value, dtype in packed
    }
    return Saved(**fields)


def _local(local: Any, saved: Saved) -> float | None:
    """Compute a card's local derivative, or None when the numbers it needs were not saved."""
    try:
        value = local(saved)
    except (TypeError, AttributeError, RuntimeError, ValueError, ArithmeticError):
        return None
    return float(value.item() if isinstance(value, torch.Tensor) else value)


def _fill(template: str, names: Mapping[str, str], bracket: Any) -> str:
    """Put names into a template, bracketing those that would read wrongly unbracketed."""

    def one(match: re.Match[str]) -> str:
        text = names.get(match[1], match[1])
        start, end = match.span()
        alone = template == match[0]
        enclosed = template[start - 1 : start] == "(" and template[end : end + 1] == ")"
        return text if alone or enclosed else bracket(text)

    return _PLACEHOLDER.sub(one, template)


def _bracket(text: str) -> str:
    """Bracket an operand's text unless it is a single name or number: ``(w*x)``."""
    base = text.removesuffix(".detach()")
    # isidentifier() alone would take "w·x" for one name: the middle dot may continue a name.
    name = base.isidentifier() and all(char.isalnum() or char == "_" for char in base)
    simple = name or re.fullmatch(r"[0-9.]+(e[-+]?[0-9]+)?", base) is not None
    return text if simple or (base.startswith("(") and base.endswith(")")) else f"({text})"


def _bracket_number(text: str) -> str:
    return f"({text})" if text.startswith("-") else text


def _floats(grads: Sequence[Any]) -> tuple[float | None, ...]:
    return tuple(None if grad is None else float(grad.item()) for grad in grads)


def _leaf_grad(fn: Any) -> float | None:
    """Return the .grad of an AccumulateGrad's leaf now (read as a number: it changes in place)."""
    leaf = getattr(fn, "variable", None)
    grad = None if leaf is None else leaf.grad
    return None if grad is None else float(grad.item())


def number(value: Number | None) -> str:
    """Write a number for a card: ``108``, ``88.99``, ``0.99998``, ``-3``, ``1e-05``, ``nan``.

    Four significant digits, more when four would make a fraction look whole (0.99998 is not 1).
    """
    if value is None:
        return "None"
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value) or (value == int(value) and abs(value) < 1e15):
        return str(int(value)) if math.isfinite(value) else str(value)
    for digits in range(4, 10):
        text = f"{value:.{digits}g}"
        if float(text) != int(float(text)):
            return text
    return repr(value)


def _signed(value: Number | None) -> str:
    """Write a number as a factor or a term: negative ones in brackets, ``1·(-3)``."""
    return _bracket_number(number(value))


def step_view(graph: Graph, steps: Sequence[Step], shown: int) -> tuple[dict[str, str], set]:
    """Return ``(marks, carried)`` for to_dot when the first ``shown`` steps have run.

    0 is the picture after the forward pass: nothing marked, no gradient on any edge. Step k marks
    the node of step k "running" (or "warning" if PyTorch raised there), the nodes before it
    "done", and carries every gradient sent so far (a node's gradient flows backward along the
    edges that end in it).
    """
    marks: dict[str, str] = {}
    carried: set[tuple[str, str]] = set()
    if shown <= 0:
        return marks, carried
    ran = steps[:shown]
    output = [node.id for node in graph.nodes if node.kind == "output"]
    marks.update(dict.fromkeys(output, "done"))
    marks.update({step.node: "done" for step in ran if step.node})
    if ran:
        last = ran[-1]
        marks[last.node] = "running" if last.finished else "warning"
    reached = set(output) | {step.node for step in ran}
    carried.update((edge.src, edge.dst) for edge in graph.edges if edge.dst in reached)
    return marks, carried


def step_text(step: Step) -> str:
    """Return one step as a numbered block of plain text, as ``--steps`` prints it."""
    head = f"Step {step.index}"
    if step.call > 1:
        head += f" (backward call {step.call})"
    head += f": {step.function}"
    if step.function == ACCUMULATE:
        lines = [f"{head} for {step.tensor}", f"  receives {_received(step)}"]
        lines += [f"  {step.accumulates}"] if step.finished else []
    else:
        shown = f"{step.tensor} = {number(step.value)}" if step.value is not None else step.tensor
        lines = [f"{head} ({shown})", f"  receives {_received(step)}"]
        lines += [f"  {_sent_line(step, sent)}" for sent in step.sends]
    if not step.finished:
        lines.append("  PyTorch raised an error in this node: it sent nothing")
    return "\n".join(lines)


def steps_text(steps: Sequence[Step]) -> str:
    """Return every step as numbered blocks separated by blank lines, ready to paste."""
    return "\n\n".join(step_text(step) for step in steps) + ("\n" if steps else "")


def _received(step: Step) -> str:
    total = number(step.received)
    if step.parts:
        parts = " + ".join(_signed(part) for part in step.parts)
        return f"{parts} = {total} (one part per use)"
    if step.first and step.received == 1:
        return f"{total} (backward() starts here: ∂{step.tensor}/∂{step.tensor} = 1)"
    return total


def _sent_line(step: Step, sent: Sent) -> str:
    towards = f"towards {sent.wrt}" if sent.wrt else f"into slot {sent.slot}"
    formula = sent.formula
    if not formula and sent.grad is None:
        return f"{towards}: nothing" + (f" ({sent.why_none})" if sent.why_none else "")
    derivative = f"∂{_bracket(step.tensor)}/∂{_bracket(sent.wrt)}"
    if not formula:
        return f"{towards}: sends {number(sent.grad)}"
    local, blocked = _worked(sent)
    chain = [derivative]
    for part in (formula, sent.numbers, number(local)):
        if part != chain[-1]:  # "= 1 = 1 = 1" says no more than "= 1"
            chain.append(part)
    sends = f"; sends {_product(sent, local, blocked)}" if sent.grad is not None else ""
    return f"{towards}: {' = '.join(chain)}{sends}"


def _worked(sent: Sent) -> tuple[float | None, bool]:
    """Return ``(sent.local, sent.blocked)``, rebuilding the saved tensors once for both."""
    rule = sent.rule
    if rule is None:
        return None, False
    saved = _unpack(sent.saved)
    blocked = bool(rule.blocked and _local(rule.blocked, saved))
    return _local(rule.local, saved), blocked


def _product(sent: Sent, local: float | None, blocked: bool) -> str:
    """Write the chain rule's product ``received·local = sent`` (see Sent.product)."""
    if sent.grad is None:
        return ""
    note = " (PyTorch sends 0 here, whatever arrives)" if blocked else ""
    return f"{_signed(sent.received)}·{_signed(local)} = {number(sent.grad)}{note}"


def card_markdown(step: Step) -> str:
    """Return a step's chain-rule card as Markdown for the app, worded for a student.

    Every text that comes from the formula is escaped: ``w*x*b`` must not turn italic, nor
    ``$`` into LaTeX, in Streamlit's Markdown.
    """
    card = card_for(step.function)
    name, received = _md(step.tensor), _md(_received(step))
    title = f"**Step {step.index}: {step.function}**"
    if step.function == ACCUMULATE:
        lines = [
            f"{title}, the end of the path into the leaf **{name}**.",
            "",
            f"It receives **{received}** and adds it to {name}.grad:",
            "",
            f"- {_md(step.accumulates)}" if step.finished else "- (it did not finish)",
        ]
        if step.grad_before is None:
            lines.append(f"- {name}.grad was None, which counts as 0")
    else:
        value = f" = {_md(number(step.value))}" if step.value is not None else ""
        lines = [
            f"{title} belongs to **{name}**{value}.",
            "",
            f"It receives **{received}**, the gradient of the output with respect to {name}, "
            "and multiplies it by each local derivative:",
            "",
        ]
        lines += [f"- {_md(_sent_line(step, sent))}" for sent in step.sends]
    if card is not None:
        lines += ["", f"*{card.rule.capitalize()}.* {_md(card.explain)}"]
    if any(sent.detached for sent in step.sends):
        lines += ["", _md(DETACHED)]
    if not step.finished:
        lines += ["", "PyTorch raised an error in this node, so it sent nothing."]
    return "\n".join(lines)


_MARKDOWN = re.compile(r"([\\`*_{}\[\]<>#|~$])")


def _md(text: str) -> str:
    """Escape the characters Markdown (and Streamlit's $...$ LaTeX) would read as markup."""
    return _MARKDOWN.sub(r"\\\1", text)
