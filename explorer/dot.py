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

from explorer.chart import MAX_DRAWN_NODES, chart_plan, ranks
from explorer.errors import RenderError
from explorer.graph import Graph, Node

__all__ = [
    "FORMATS",
    "GRADIENT_CAPTION",
    "LEGEND",
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
}
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


def _label(node: Node) -> str:
    """Return an HTML-like label: bold title, then what the node computed and received."""
    rows = [f"<B>{html.escape(node.title)}</B>"]
    value = None if node.value is None else format_number(node.value)
    if node.kind == "backward":
        detail = node.brief or node.detail
        rows.append(" = ".join(part for part in (detail, value) if part))
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
        rows.append(f'<FONT COLOR="{GRAD_COLOR}">grad {grad}</FONT>')
    body = "<BR/>".join(row if row.startswith("<") else html.escape(row) for row in rows if row)
    return f"<{body}>"


def _spells(title: str, value: float | None) -> bool:
    """Tell whether a constant's title already is its value (``2``, ``0.5``), not ``pi``."""
    try:
        return float(title) == value
    except ValueError:
        return False


def _node_line(node: Node) -> str:
    fill, border, style = STYLES[node.kind if node.tracked else "constant"]
    colours = f'fillcolor="{fill}", color="{border}", style="{style}"'
    return f"  {node.id} [label={_label(node)}, {colours}];"


def _legend(note: str = "") -> list[str]:
    rows = "".join(
        f'<TR><TD BGCOLOR="{STYLES[kind][0]}" BORDER="1" COLOR="{STYLES[kind][1]}" WIDTH="14">'
        f'</TD><TD ALIGN="LEFT">{html.escape(text)}</TD></TR>'
        for kind, text in LEGEND
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
) -> str:
    """Return DOT text for ``graph``, read from the inputs to the output (across, or downwards).

    The app leaves the legend out (it draws one beside the chart) and raises the font size on a
    projector; exports keep the legend, so a saved picture explains itself. ``direction`` is
    ``rankdir(graph)`` when not given. What is drawn follows ``chart_plan(graph, max_nodes)``:
    leaves used in many places are drawn once per use, and a graph of more than ``max_nodes``
    boxes becomes a message (the page passes ``PAGE_NODES``).
    """
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
    lines += [_node_line(node) for node in drawn.nodes]
    for edge in drawn.edges:
        attrs = [] if edge.needs_grad else ["style=dashed", 'color="#8C8C8C"']
        if edge.grad is not None:
            attrs.insert(0, f'label="{format_number(edge.grad)}"')
        suffix = f" [{', '.join(attrs)}]" if attrs else ""
        lines.append(f"  {edge.src} -> {edge.dst}{suffix};")
    if legend:
        lines += _legend(plan.note)
    lines.append("}")
    return "\n".join(lines) + "\n"


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
