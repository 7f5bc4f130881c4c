"""Command line: a formula's transcript, DOT, script, steps, second derivative or check; images.

python -m explorer "y = w*x + b" x=3 w=2.0 b=5.0
python -m explorer "z = x**y" x=3.0 y=4.0 --dot
python -m explorer "z = x**y" x=3.0 y=4.0 --svg graph.svg --force
python -m explorer "h = w*x + b; y = sigmoid(h)" w=2.0 x=3.0 b=0.5 --retain h
python -m explorer "y = x**2 + 1" x=2.0 --backward 2 --retain-graph
python -m explorer "z = x**y" x=3.0 y=4.0 --steps
python -m explorer "y = x**3" x=2.0 --second x
python -m explorer "y = x**3" x=2.0 --grad-graph x
python -m explorer "y = abs(x)" x=0.0 --check

One document goes to stdout (the transcript unless an option picks another); errors, notes,
lessons and "wrote FILE" lines go to stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import NoReturn

from explorer.check import check_explored, check_text
from explorer.core import Exploration, explore
from explorer.dot import render, to_dot
from explorer.errors import ExplorerError, InputError
from explorer.evaluate import MAX_BACKWARD_CALLS
from explorer.formula import MAX_CHARS, MAX_OPERATIONS, MAX_STATEMENTS, MAX_VARIABLES
from explorer.higher import second_explored, second_text
from explorer.notes import unused_note
from explorer.steps import steps_text
from explorer.values import parse_assignment

__all__ = ["main"]

USAGE_ERROR = 2  # bad input, as argparse uses
RENDER_ERROR = 1  # the input was fine; the machine lacks or fails at Graphviz
_NO_STEPS = "backward() did not run (nothing on the output's path requires grad), so no steps."
_ONE_CALL = (
    "--check compares the gradients of one backward() call; after {} calls .grad holds their sum."
)


class _Parser(argparse.ArgumentParser):
    """argparse, but errors read ``error: ...`` on stderr and exit 2, with no usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, escape(f"error: {message}\n(see {self.prog} --help)") + "\n")


def escape(text: str) -> str:
    """Show control characters as escapes (``\\x1b``), so user text cannot drive the terminal.

    Line breaks stay: messages use them for the caret line and the hint.
    """
    return "".join(
        char if char.isprintable() or char == "\n" else char.encode("unicode_escape").decode()
        for char in text
    )


def _say(text: str) -> None:
    """Write one message line to stderr, escaped."""
    print(escape(text), file=sys.stderr)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m explorer",
        description="See PyTorch autograd on a formula: its transcript, graph and equivalent code.",
        epilog=(
            "Formulas use numbers, variables, + - * / **, ( ), pi, e and functions like sin(x); "
            "several statements go in one argument, separated by ';': \"h = w*x; y = sin(h)\". "
            f"Limits: {MAX_CHARS} characters, {MAX_OPERATIONS} operations, "
            f"{MAX_STATEMENTS} statements, {MAX_VARIABLES} variables. "
            "Exit status: 0 done, 1 Graphviz failed, 2 bad input. "
            "A formula that starts with - goes after --: python -m explorer -- -x x=1.0"
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
    parser.add_argument(
        "--retain",
        action="append",
        default=[],
        metavar="NAME",
        help="call NAME.retain_grad() before backward, for an intermediate NAME (repeatable)",
    )
    parser.add_argument(
        "--backward",
        type=int,
        default=1,
        metavar="N",
        help=f"call backward() N times, 1 to {MAX_BACKWARD_CALLS} (default 1)",
    )
    parser.add_argument(
        "--retain-graph",
        action="store_true",
        help="keep the graph between backward() calls, so the gradients accumulate",
    )
    # stdout holds one document, so that it can be pasted or piped whole: these pick which.
    show = parser.add_mutually_exclusive_group()
    show.add_argument("--dot", action="store_true", help="print the graph as Graphviz DOT")
    show.add_argument("--code", action="store_true", help="print the equivalent PyTorch script")
    show.add_argument(
        "--steps",
        action="store_true",
        help="print backward step by step, in the order PyTorch's engine ran it (every call)",
    )
    show.add_argument(
        "--second",
        metavar="NAME",
        help="print the gradient by input NAME as a tensor (create_graph=True) and its derivative",
    )
    show.add_argument(
        "--grad-graph",
        metavar="NAME",
        help="print the graph of the gradient by input NAME (the double-backward graph) as DOT",
    )
    show.add_argument(
        "--check",
        action="store_true",
        help="print each gradient beside its finite-difference estimate, with a verdict",
    )
    parser.add_argument("--svg", metavar="FILE", help="render the graph to an SVG file")
    parser.add_argument("--png", metavar="FILE", help="render the graph to a PNG file")
    parser.add_argument(
        "--force", action="store_true", help="overwrite the --svg/--png FILE if it exists"
    )
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


def _targets(args: argparse.Namespace) -> list[tuple[str, Path]]:
    """Check the --svg/--png names before any work: each must be a new file in a folder."""
    targets = [
        (fmt, name) for fmt, name in (("svg", args.svg), ("png", args.png)) if name is not None
    ]
    for fmt, name in targets:
        _check_target(fmt, name, args.force)
    if len(targets) == 2 and _same_file(targets[0][1], targets[1][1]):
        raise InputError(f"--svg and --png both name {targets[0][1]}; give each its own file.")
    return [(fmt, Path(name)) for fmt, name in targets]


def _check_target(fmt: str, name: str, force: bool) -> None:
    """Refuse an empty name, a missing folder, a folder as the file, or an existing file."""
    if not name:
        raise InputError(
            f"The file name for --{fmt} is empty.", hint=f"Give one, like graph.{fmt}."
        )
    path = Path(name)
    folder = path.parent
    if not folder.is_dir():
        problem = (
            f"{folder} is a file, not a folder"
            if folder.exists()
            else f"the folder {folder} does not exist"
        )
        raise InputError(f"Cannot write {name}: {problem}.")
    if path.is_dir():
        raise InputError(
            f"Cannot write {name}: it is a folder.",
            hint=f"Name a file in it, like {path / f'graph.{fmt}'}.",
        )
    if not force and (path.exists() or path.is_symlink()):
        raise InputError(f"{name} already exists.", hint="Use --force to overwrite it.")


def _same_file(first: str, second: str) -> bool:
    return os.path.realpath(first) == os.path.realpath(second)


def _warn_extensions(targets: list[tuple[str, Path]]) -> None:
    """Warn when a file's extension says another format than the data it will hold."""
    for fmt, path in targets:
        if path.suffix.lower() != f".{fmt}":
            _say(
                f"warning: {path} will hold {fmt.upper()} data, but its name does not end "
                f"in .{fmt}."
            )


def _notes(exploration: Exploration) -> None:
    """Note each NAME=VALUE the formula does not use, in the app's own words; then the lessons."""
    for item in exploration.inputs:
        if not item.used:
            _say(f"note: {unused_note(item.name)}")
    for lesson in exploration.lessons:
        _say(f"lesson: {lesson}")


def _document(
    args: argparse.Namespace,
    exploration: Exploration,
    values: dict[str, int | float],
    flags: dict[str, bool],
) -> tuple[str, list[str]]:
    """Return what stdout shows (the transcript, or what an option asked for) and its notes."""
    variable = args.second if args.second is not None else args.grad_graph
    if variable == "":
        option = "--second" if args.second is not None else "--grad-graph"
        raise InputError(f"The input name for {option} is empty.", hint=f"Give one: {option} x.")
    if variable is not None:
        second = second_explored(exploration, variable)
        text = second_text(second) if args.second is not None else to_dot(second.graph)
        return text, list(second.notes)
    if args.steps:
        silent = [] if exploration.steps else [_NO_STEPS]
        return steps_text(exploration.steps), silent
    if args.check:
        summed = any(not call.error for call in exploration.calls[1:])
        if not summed:
            return check_text(check_explored(exploration)), []
        # After several calls that ran, .grad holds their sum, which the finite difference would
        # contradict for a reason that has nothing to do with the derivative.
        once = explore(args.formula, values, flags)
        return check_text(check_explored(once)), [_ONE_CALL.format(exploration.backward_calls)]
    if args.dot:
        return exploration.dot, []
    return (exploration.code if args.code else exploration.transcript), []


def _write(targets: list[tuple[str, Path]], exploration: Exploration, force: bool) -> int:
    """Render every file first, then write them; say what was written. Return the exit status."""
    try:
        images = [(path, render(exploration.dot, fmt)) for fmt, path in targets]
    except ExplorerError as error:
        _say(f"error: {error}")
        return RENDER_ERROR
    for path, data in images:
        try:
            # "x" refuses a file that appeared since the check, rather than overwrite it.
            with path.open("wb" if force else "xb") as file:
                file.write(data)
        except FileExistsError:
            _say(f"error: {path} already exists.\nUse --force to overwrite it.")
            return USAGE_ERROR
        except OSError as error:
            _say(f"error: cannot write {path}: {error.strerror}")
            return RENDER_ERROR
        _say(f"wrote {path} ({_size(len(data))})")
    return 0


def _size(count: int) -> str:
    """Spell a byte count the way file managers do: 812 B, 12.3 kB, 1.4 MB."""
    if count < 1000:
        return f"{count} B"
    if count < 1_000_000:
        return f"{count / 1000:.1f} kB"
    return f"{count / 1_000_000:.1f} MB"


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status (0 ok, 1 rendering failed, 2 bad input)."""
    args = _parser().parse_args(argv)
    try:
        targets = _targets(args)
        values = _values(args.inputs)
        flags = dict.fromkeys(args.no_grad, False)
        exploration = explore(
            args.formula,
            values,
            flags,
            retain=args.retain,
            backward_calls=args.backward,
            retain_graph=args.retain_graph,
        )
        # Worked out before anything is written, so that a bad NAME leaves no file behind.
        text, notes = _document(args, exploration, values, flags)
    except ExplorerError as error:
        _say(f"error: {error}")
        return USAGE_ERROR
    _notes(exploration)
    for note in notes:
        _say(f"note: {note}")
    _warn_extensions(targets)
    if status := _write(targets, exploration, args.force):
        return status
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
