"""Draw a Graph as Graphviz DOT text, and render DOT with the ``dot`` program.

No torch here: the drawing depends on the neutral Graph only, so the same Graph always gives the
same bytes. Colours come from the Okabe-Ito palette, which stays distinct for colour-blind readers,
and every kind also differs by border style, so the picture reads in greyscale too.
"""

from __future__ import annotations

import html
import math
import shutil
import struct
import subprocess
import textwrap
from collections import Counter
from collections.abc import Collection, Mapping

from explorer.chart import MAX_DRAWN_NODES, chart_plan, ranks
from explorer.errors import RenderError
from explorer.graph import Graph, Node

__all__ = [
    "DETACHED_LEGEND",
    "FORMATS",
    "GRADIENT_CAPTION",
    "LEGEND",
    "MARKS",
    "STYLES",
    "format_number",
    "rankdir",
    "render",
    "to_dot",
]

FORMATS = ("svg", "png")
GRAD_COLOR = "#A63D00"  # dark vermillion: gradients, everywhere in the drawing

# kind -> (fill, border, style); the app draws its legend from these too. No "rounded" style:
# the browser's graphviz redraws rounded boxes slowly (150 ms a rerun, measured with bench_app.py).
STYLES = {
    "output": ("#FBE3CF", "#D55E00", "filled,bold"),
    "backward": ("#EFEFEF", "#4D4D4D", "filled"),
    "accumulate": ("#D3EFE6", "#009E73", "filled"),
    "input": ("#D5EAF6", "#0072B2", "filled,bold"),
    "constant": ("#FFFFFF", "#8C8C8C", "filled,dashed"),
    "detached": ("#FFFFFF", "#CC79A7", "filled,dashed,bold"),
}
# mark -> (fill, border, style, pen width): the step view paints the node running now, and the
# NaN trace the node where inf or nan first appeared. The pen width tells them apart in greyscale.
MARKS = {
    "running": ("#FFE0A3", "#E69F00", "filled,bold", 3.5),
    "warning": ("#F8D4D4", "#B2182B", "filled,bold,dashed", 3.5),
    "done": (),
}
# A row for the legend, drawn only when the graph has a detached tensor (keeps older legends).
DETACHED_LEGEND = ("detached", "detached tensor: gradient stops here")
LEGEND = (
    ("input", "input leaf (requires_grad=True)"),
    ("constant", "constant or input without grad"),
    ("backward", "backward function (grad_fn)"),
    ("accumulate", "AccumulateGrad: writes .grad"),
    ("output", "output"),
)
GRADIENT_CAPTION = "numbers on arrows: gradient flowing back"
_FONT = "Helvetica,Arial,sans-serif"


def format_number(value: float | None) -> str:
    """Write a value as PyTorch prints a 0-d tensor: ``3``, ``3.``, ``167.9616``, ``1.0000e-05``.

    Ints are int64 tensors; floats are rounded to float32 first, as ``torch.tensor(value)`` does.
    The rules are torch's own (``torch/_tensor_str.py``, default print options) for one value:
    scientific above 1e8 or below 1e-4, a bare point for whole numbers, else 4 decimals.
    """
    if value is None:
        return "None"
    if isinstance(value, int):
        return str(value)
    number = _float32(value)
    if not math.isfinite(number):
        return str(number)
    size = abs(number)
    if size != 0 and (size > 1e8 or size < 1e-4):
        return f"{number:.4e}"
    if number == math.ceil(number):
        return f"{number:.0f}."
    return f"{number:.4f}"


def _float32(value: float) -> float:
    """Round a Python float to the nearest float32, or to inf past float32's range."""
    try:
        return struct.unpack("f", struct.pack("f", value))[0]
    except OverflowError:
        return math.copysign(math.inf, value)


def _label(node: Node, show_grad: bool = True) -> str:
    """Return an HTML-like label: bold title, then what the node computed and received.

    Without ``show_grad`` the gradient row is written in transparent ink: the box keeps its size,
    so stepping through backward changes colours only, never the layout.
    """
    rows = [f"<B>{html.escape(_title(node))}</B>"]
    value = None if node.value is None else format_number(node.value)
    if node.kind == "backward":
        detail = node.brief or node.detail
        # "h = w*x + b = 2.5000": the named tensor this backward function belongs to.
        rows.append(" = ".join(part for part in (node.name, detail, value) if part))
    elif node.kind == "constant":
        if value is not None and not _spells(node.title, node.value):
            rows.append(f"= {value}")
        rows.append(node.detail or "needs no gradient")
    else:
        if value is not None:
            # "w = 0.5000" on the title's line: one row less per leaf keeps a deep graph legible.
            rows[0] += f" = {html.escape(value)}"
        if node.detail:
            rows.append(node.detail)
    if node.use is not None:
        rows.append(f"use {node.use[0]} of {node.use[1]}")
    if node.kind != "constant" and (node.grad is not None or node.kind == "input"):
        grad = format_number(node.grad)
        ink = GRAD_COLOR if show_grad else "transparent"
        rows.append(f'<FONT COLOR="{ink}">grad {grad}</FONT>')
    body = "<BR/>".join(row if row.startswith("<") else html.escape(row) for row in rows if row)
    return f"<{body}>"


def _title(node: Node) -> str:
    """Return the box's title; a detached tensor reads as PyTorch spells it, ``h.detach()``."""
    if not node.detached:
        return node.title
    source = node.detached if node.detached.isidentifier() else f"({node.detached})"
    spelled = f"{source}.detach()"
    return spelled if node.title == f"detach({node.detached})" else f"{node.title} = {spelled}"


def _spells(title: str, value: float | None) -> bool:
    """Tell whether a constant's title already is its value (``2``, ``0.5``), not ``pi``."""
    try:
        return float(title) == value
    except ValueError:
        return False


def _node_line(node: Node, mark: str | None = None, show_grad: bool = True) -> str:
    kind = "detached" if node.detached else node.kind if node.tracked else "constant"
    fill, border, style = STYLES[kind]
    width = ""
    if MARKS.get(mark or "done"):
        fill, border, style, pen = MARKS[mark or "done"]
        width = f", penwidth={pen}"
    colours = f'fillcolor="{fill}", color="{border}", style="{style}"{width}'
    return f"  {node.id} [label={_label(node, show_grad)}, {colours}];"


def _legend(note: str = "", *, detached: bool = False) -> list[str]:
    legend = (*LEGEND, DETACHED_LEGEND) if detached else LEGEND
    rows = "".join(
        f'<TR><TD BGCOLOR="{STYLES[kind][0]}" BORDER="1" COLOR="{STYLES[kind][1]}" WIDTH="14">'
        f'</TD><TD ALIGN="LEFT">{html.escape(text)}</TD></TR>'
        for kind, text in legend
    )
    arrows = (
        f'<TR><TD COLSPAN="2" ALIGN="LEFT"><FONT COLOR="{GRAD_COLOR}">{GRADIENT_CAPTION}'
        "</FONT></TD></TR>"
    )
    if note:
        # Wrapped, so the note does not stretch the legend's first column.
        lines = '<BR ALIGN="LEFT"/>'.join(html.escape(line) for line in textwrap.wrap(note, 48))
        arrows += f'<TR><TD COLSPAN="2" ALIGN="LEFT">{lines}<BR ALIGN="LEFT"/></TD></TR>'
    table = (
        f'<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="2" CELLPADDING="2">{rows}{arrows}</TABLE>'
    )
    return [
        f'  legend [shape=plaintext, style="", fontsize=10, label=<{table}>];',
        "  { rank=sink; legend; }",
    ]


# Rough box sizes in points, enough to tell which direction keeps the text larger on a page.
_NODE_W, _NODE_H, _RANK_GAP, _NODE_GAP = 150, 55, 50, 18
_PAGE_W, _PAGE_H = 1000, 650


def _depth_and_breadth(graph: Graph) -> tuple[int, int]:
    """Return the number of ranks (longest input-to-output path) and the most nodes in one rank."""
    counts = Counter(ranks(graph).values())
    return len(counts), max(counts.values(), default=1)


def rankdir(graph: Graph, page: tuple[float, float] = (_PAGE_W, _PAGE_H)) -> str:
    """Choose left-to-right or top-to-bottom, whichever shows the graph larger on ``page``.

    ``page`` is the space the drawing gets, width and height in points; the default is a wide page.
    """
    return _rankdir(chart_plan(graph).graph, page)


def _rankdir(drawn: Graph, page: tuple[float, float] = (_PAGE_W, _PAGE_H)) -> str:
    depth, breadth = _depth_and_breadth(drawn)

    def scale(width: float, height: float) -> float:
        return min(1.0, page[0] / width, page[1] / height)

    across = scale(depth * (_NODE_W + _RANK_GAP), breadth * (_NODE_H + _NODE_GAP))
    down = scale(breadth * (_NODE_W + _NODE_GAP), depth * (_NODE_H + _RANK_GAP))
    return "LR" if across >= down else "TB"


def to_dot(
    graph: Graph,
    *,
    legend: bool = True,
    font_size: int = 12,
    direction: str | None = None,
    max_nodes: int = MAX_DRAWN_NODES,
    marks: Mapping[str, str] | None = None,
    carried: Collection[tuple[str, str]] | None = None,
) -> str:
    """Return DOT text for ``graph``, read from the inputs to the output (across, or downwards).

    The app leaves the legend out (it draws one beside the chart) and raises the font size on a
    projector; exports keep the legend, so a saved picture explains itself. ``direction`` is
    ``rankdir(graph)`` when not given. What is drawn follows ``chart_plan(graph, max_nodes)``:
    leaves used in many places are drawn once per use, and a graph of more than ``max_nodes``
    boxes becomes a message (the page passes ``PAGE_NODES``).

    ``marks`` paints nodes by id: "running" (the step of backward shown), "warning" (where inf or
    nan appeared) or "done" (drawn as usual). ``carried``, when given, is the step view: only these
    edges ``(src, dst)`` show their gradient, and only nodes marked or sending along a carried
    edge show theirs; the others keep their place with the number in transparent ink.
    """
    if unknown := sorted(set((marks or {}).values()) - set(MARKS)):
        raise ValueError(f"unknown marks {unknown}; use one of {', '.join(MARKS)}")
    plan = chart_plan(graph, max_nodes)
    drawn = plan.graph
    lines = [
        "digraph autograd {",
        f"  graph [rankdir={direction or _rankdir(drawn)}, "
        f'fontname="{_FONT}", bgcolor="white", nodesep=0.2, ranksep=0.3];',
        f'  node [shape=box, fontname="{_FONT}", fontsize={font_size}, margin="0.1,0.05", '
        "penwidth=1.4];",
        f'  edge [fontname="{_FONT}", fontsize={font_size - 1}, fontcolor="{GRAD_COLOR}", '
        'color="#4D4D4D"];',
    ]
    if plan.too_large:
        fill, border, style = STYLES["constant"]
        text = html.escape(plan.message).replace(". ", ".<BR/>")
        lines.append(
            f'  message [label=<{text}>, fillcolor="{fill}", color="{border}", style="{style}"];'
        )
        lines.append("}")
        return "\n".join(lines) + "\n"
    marks = {_original(node): mark for node, mark in (marks or {}).items()}
    shown = None if carried is None else {(_original(s), _original(d)) for s, d in carried}
    senders = None if shown is None else {src for src, _ in shown} | set(marks)
    for node in drawn.nodes:
        show_grad = senders is None or _original(node.id) in senders
        lines.append(_node_line(node, marks.get(_original(node.id)), show_grad))
    for edge in drawn.edges:
        attrs = [] if edge.needs_grad else ["style=dashed", 'color="#8C8C8C"']
        if edge.grad is not None:
            attrs.insert(0, f'label="{format_number(edge.grad)}"')
            if shown is not None and (_original(edge.src), _original(edge.dst)) not in shown:
                attrs.insert(1, 'fontcolor="transparent"')
        suffix = f" [{', '.join(attrs)}]" if attrs else ""
        lines.append(f"  {edge.src} -> {edge.dst}{suffix};")
    if legend:
        lines += _legend(plan.note, detached=any(node.detached for node in drawn.nodes))
    lines.append("}")
    return "\n".join(lines) + "\n"


def _original(node_id: str) -> str:
    """Return the id of the node a drawn copy stands for: ``n7`` for ``n7_2`` (see chart.py)."""
    return node_id.split("_", 1)[0]


def render(dot: str, fmt: str, *, timeout: float = 20.0) -> bytes:
    """Render DOT text to SVG or PNG bytes with Graphviz's ``dot`` program."""
    if fmt not in FORMATS:
        raise RenderError(f"Cannot render {fmt!r}; choose one of {', '.join(FORMATS)}.")
    program = shutil.which("dot")
    if program is None:
        raise RenderError(
            "The Graphviz program 'dot' is not installed, so the graph cannot be rendered.",
            hint="Install Graphviz: apt-get install graphviz (Debian/Ubuntu), "
            "brew install graphviz (macOS), conda install graphviz, "
            "or see https://graphviz.org/download/.",
        )
    try:
        done = subprocess.run(
            [program, f"-T{fmt}"],
            input=dot.encode(),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise RenderError(
            f"Graphviz took longer than {timeout:g} s to lay out the graph."
        ) from None
    if done.returncode != 0:
        reason = done.stderr.decode(errors="replace").strip().splitlines()
        raise RenderError(
            f"Graphviz could not render the graph: {reason[0] if reason else 'unknown'}"
        )
    return done.stdout
