"""Command line: print the transcript, DOT or script for a formula, or render the graph.

python -m explorer "y = w*x + b" x=3 w=2.0 b=5.0
python -m explorer "z = x**y" x=3.0 y=4.0 --dot
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NoReturn

from explorer.core import explore
from explorer.dot import render
from explorer.errors import ExplorerError, InputError
from explorer.formula import MAX_CHARS, MAX_OPERATIONS, MAX_VARIABLES
from explorer.values import parse_assignment

__all__ = ["main"]

USAGE_ERROR = 2  # bad input, as argparse uses
RENDER_ERROR = 1  # the input was fine; the machine lacks or fails at Graphviz


class _Parser(argparse.ArgumentParser):
    """argparse, but errors read ``error: ...`` on stderr and exit 2, with no usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"error: {message}\n(see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m explorer",
        description="See PyTorch autograd on a formula: its transcript, graph and equivalent code.",
        epilog=(
            "Formulas use numbers, variables, + - * / **, ( ), pi, e and functions like sin(x). "
            f"Limits: {MAX_CHARS} characters, {MAX_OPERATIONS} operations, "
            f"{MAX_VARIABLES} variables. A formula that starts with - goes after --: "
            "python -m explorer -- -x x=1.0"
        ),
    )
    parser.add_argument("formula", help='e.g. "y = w*x + b"')
    parser.add_argument(
        "inputs", nargs="*", metavar="NAME=VALUE", help="x=3 is an int tensor, x=3.0 a float tensor"
    )
    parser.add_argument(
        "--no-grad",
        action="append",
        default=[],
        metavar="NAME",
        help="create NAME without requires_grad (repeat for several)",
    )
    show = parser.add_mutually_exclusive_group()
    show.add_argument("--dot", action="store_true", help="print the graph as Graphviz DOT")
    show.add_argument("--code", action="store_true", help="print the equivalent PyTorch script")
    parser.add_argument("--svg", type=Path, metavar="FILE", help="render the graph to an SVG file")
    parser.add_argument("--png", type=Path, metavar="FILE", help="render the graph to a PNG file")
    return parser


def _values(assignments: list[str]) -> dict[str, int | float]:
    """Read NAME=VALUE arguments in order; a name given twice is a mistake, not an override."""
    values: dict[str, int | float] = {}
    for text in assignments:
        name, value = parse_assignment(text)
        if name in values:
            raise InputError(f"{name} is given twice.")
        values[name] = value
    return values


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status (0 ok, 1 rendering failed, 2 bad input)."""
    args = _parser().parse_args(argv)
    try:
        values = _values(args.inputs)
        flags = dict.fromkeys(args.no_grad, False)
        exploration = explore(args.formula, values, flags)
    except ExplorerError as error:
        print(f"error: {error}", file=sys.stderr)
        return USAGE_ERROR
    for fmt, path in (("svg", args.svg), ("png", args.png)):
        if path is None:
            continue
        try:
            path.write_bytes(render(exploration.dot, fmt))
        except ExplorerError as error:
            print(f"error: {error}", file=sys.stderr)
            return RENDER_ERROR
        except OSError as error:
            print(f"error: cannot write {path}: {error.strerror}", file=sys.stderr)
            return RENDER_ERROR
    text = (
        exploration.dot if args.dot else exploration.code if args.code else exploration.transcript
    )
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
