"""Plan how a Graph is drawn so that Graphviz lays it out in bounded time.

A formula is a tree except at its leaves: an input used in several places has one
AccumulateGrad (or, without requires_grad, one input node) with an arrow to every use. Graphviz's
``dot`` ranks the drawing in layers; an arrow that skips layers becomes a chain of invisible
"virtual" nodes, and a leaf that feeds uses far apart (``x + x + ... + x``) makes thousands of
them: 80 uses took dot over a minute. So a leaf whose arrows are long or many is drawn once per use
(marked "use k of n"), which makes the drawing a tree that dot lays out in well under a second
(``tests/test_chart.py`` checks every worst case it can generate). Short sharing, as in
``x**2 * sin(x)``, stays drawn as PyTorch has it: one AccumulateGrad adding up both gradients.

    >>> plan = chart_plan(graph)  # doctest: +SKIP
    >>> plan.too_large, plan.split, plan.note  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from explorer.graph import Edge, Graph, Node

__all__ = [
    "MAX_DRAWN_NODES",
    "MAX_SHARED_USES",
    "MAX_SLACK",
    "PAGE_NODES",
    "ChartPlan",
    "chart_plan",
    "ranks",
]

# Layers that the arrows of shared leaves may skip in total. 20 uses of x in a chain skip ~190
# layers and dot needs 0.1 s; 40 uses skip ~780 and need 0.5 s; 60 uses need 27 s.
MAX_SLACK = 120
# Arrows from shared leaves, in total: each may cross the others, and crossings cost dot time.
MAX_SHARED_USES = 16
# Past these many boxes a message is drawn instead of the graph. Every formula the parser accepts
# gives at most ~610 boxes, which native dot lays out in under 1 s: exports always draw them.
MAX_DRAWN_NODES = 800
# The page's graphviz (WebAssembly, then d3 building the SVG) holds the browser's main thread
# for ~1 s at 300-400 boxes and 2.5-4 s at 600 (tests/test_chart_browser.py measures it).
PAGE_NODES = 300
_LEAVES = ("accumulate", "input", "constant")


@dataclass(frozen=True, slots=True)
class ChartPlan:
    """What will be drawn for a Graph, and why."""

    graph: Graph  # the Graph to draw: the real one, or with some leaves drawn once per use
    split: tuple[str, ...]  # names of the inputs drawn once per use, in walk order
    nodes: int  # boxes in the drawing (copies included)
    edges: int
    limit: int  # the most boxes drawn
    too_large: bool  # True: draw a message instead (the transcript and plot still work)

    @property
    def message(self) -> str:
        """Say why the graph is not drawn, or "" when it is."""
        if not self.too_large:
            return ""
        whole = ", and the SVG download draws it whole" if self.nodes <= MAX_DRAWN_NODES else ""
        return (
            f"This graph has {self.nodes} boxes and {self.edges} arrows: too large to draw "
            f"here (up to {self.limit} boxes). The transcript and the plot still work{whole}."
        )

    @property
    def note(self) -> str:
        """Say which inputs are drawn once per use, or "" when none are."""
        if not self.split:
            return ""
        names = ", ".join(self.split)
        verb, each = ("is", "it is") if len(self.split) == 1 else ("are", "each is")
        return (
            f"{names} {verb} drawn once per use (use k of n), so that the graph stays quick to "
            f"lay out; in PyTorch {each} one leaf, and the gradients of all uses add up in .grad."
        )


def ranks(graph: Graph) -> dict[str, int]:
    """Return each node's layer counted from the output (0), as dot ranks a tree.

    A node sits one layer below the highest layer among the nodes it feeds, so an arrow's length
    is the difference of its two ranks (1 for a tight arrow).
    """
    rank = dict.fromkeys((node.id for node in graph.nodes), 0)
    waiting = dict.fromkeys(rank, 0)
    before: dict[str, list[str]] = {}
    for edge in graph.edges:
        waiting[edge.src] += 1
        before.setdefault(edge.dst, []).append(edge.src)
    # Kahn's order from the output backwards (the graph is acyclic): a node's rank is final once
    # every node it feeds is ranked.
    ready = [node for node, count in waiting.items() if count == 0]
    while ready:
        node = ready.pop()
        for src in before.get(node, ()):
            rank[src] = max(rank[src], rank[node] + 1)
            waiting[src] -= 1
            if waiting[src] == 0:
                ready.append(src)
    return rank


def chart_plan(graph: Graph, max_nodes: int = MAX_DRAWN_NODES) -> ChartPlan:
    """Decide which leaves to draw once per use, and whether the graph is drawn at all.

    ``max_nodes`` is the most boxes drawn: ``PAGE_NODES`` for the page, the default for exports.
    """
    uses: dict[str, list[Edge]] = {}
    for edge in graph.edges:
        uses.setdefault(edge.src, []).append(edge)
    chosen = _costly_leaves(graph, uses)
    drawn = _split(graph, chosen, uses) if chosen else graph
    names = tuple(_leaf_name(graph, node.id) for node in graph.nodes if node.id in chosen)
    nodes, edges = len(drawn.nodes), len(drawn.edges)
    return ChartPlan(drawn, names, nodes, edges, max_nodes, too_large=nodes > max_nodes)


def _costly_leaves(graph: Graph, uses: dict[str, list[Edge]]) -> set[str]:
    """Pick the shared leaves to split, costliest first, until the rest is cheap to lay out."""
    shared = [
        node.id for node in graph.nodes if node.kind in _LEAVES and len(uses.get(node.id, ())) > 1
    ]
    rank = ranks(graph)
    slack = {leaf: sum(rank[leaf] - rank[edge.dst] - 1 for edge in uses[leaf]) for leaf in shared}
    total_slack = sum(slack.values())
    total_uses = sum(len(uses[leaf]) for leaf in shared)
    chosen: set[str] = set()
    # Ties go to the leaf first in walk order (sorted() is stable): the same graph, the same pick.
    for leaf in sorted(shared, key=lambda leaf: (-slack[leaf], -len(uses[leaf]))):
        if total_slack <= MAX_SLACK and total_uses <= MAX_SHARED_USES:
            break
        chosen.add(leaf)
        total_slack -= slack[leaf]
        total_uses -= len(uses[leaf])
    return chosen


def _leaf_name(graph: Graph, leaf: str) -> str:
    """Return the name of the input a leaf stands for."""
    node = next(node for node in graph.nodes if node.id == leaf)
    if node.kind != "accumulate":
        return node.title
    source = next(edge.src for edge in graph.edges if edge.dst == leaf)
    return next(node.title for node in graph.nodes if node.id == source)


def _split(graph: Graph, chosen: set[str], uses: dict[str, list[Edge]]) -> Graph:
    """Draw each chosen leaf, with the input feeding it, once per use.

    Copy k of node ``n7`` is ``n7_k``: ids stay deterministic and in walk order, and each copy
    takes the original's place in the node list, so dot sees the same order every time.
    """
    feeders = {edge.src: edge.dst for edge in graph.edges if edge.dst in chosen}
    count = {leaf: len(uses[leaf]) for leaf in chosen}
    count.update({feeder: count[leaf] for feeder, leaf in feeders.items()})
    nodes: list[Node] = []
    for node in graph.nodes:
        if node.id not in count:
            nodes.append(node)
            continue
        total = count[node.id]
        nodes += [replace(node, id=f"{node.id}_{k}", use=(k, total)) for k in range(1, total + 1)]
    edges: list[Edge] = []
    used = dict.fromkeys(chosen, 0)  # uses drawn so far: the k-th arrow goes from copy k
    for edge in graph.edges:
        if edge.src in feeders:  # input -> AccumulateGrad: one arrow per copy
            total = count[edge.src]
            edges += [
                replace(edge, src=f"{edge.src}_{k}", dst=f"{edge.dst}_{k}")
                for k in range(1, total + 1)
            ]
        elif edge.src in chosen:
            used[edge.src] += 1
            edges.append(replace(edge, src=f"{edge.src}_{used[edge.src]}"))
        else:
            edges.append(edge)
    return Graph(tuple(nodes), tuple(edges))
