"""Command line for tutorial authors: screenshots of any view, and lessons built from Markdown.

python -m explorer.tutorial shot "formula=z = x**y&value_x=3.0&value_y=4.0" --out page.png
python -m explorer.tutorial shot VIEW --panel graph --out g.png --panel plot --out p.png
python -m explorer.tutorial lesson assets/lessons/seed.md --out build/seed

Messages go to stderr. Exit status: 0 done, 1 this machine cannot take the pictures (no Chromium,
no Playwright, the app did not start or finish drawing, a file could not be written), 2 bad input.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import NoReturn

from explorer.__main__ import escape
from explorer.errors import ExplorerError, InputError
from explorer.tutorial.browser import SetupError, check_browser
from explorer.tutorial.files import check_target, write_if_changed
from explorer.tutorial.lesson import LessonError, build
from explorer.tutorial.shot import studio
from explorer.tutorial.view import DEFAULT_SIZE, PANELS, cli_inputs, parse_size, parse_view

__all__ = ["main"]

USAGE_ERROR = 2
SETUP_ERROR = 1


class _Parser(argparse.ArgumentParser):
    """argparse, but errors read ``error: ...`` on stderr and exit 2, with no usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, escape(f"error: {message}\n(see {self.prog} --help)") + "\n")


def _say(text: str) -> None:
    print(escape(text), file=sys.stderr)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m explorer.tutorial",
        description="Pixel-identical screenshots of the app, and lessons built from Markdown.",
        epilog="Exit status: 0 done, 1 no browser or the app failed, 2 bad input.",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    shot = commands.add_parser(
        "shot",
        help="photograph panels of one view",
        description="Open a view of the app in Chromium and write a PNG of each panel asked for.",
    )
    shot.add_argument(
        "view", help='the link\'s query string, e.g. "formula=z = x**y&value_x=3.0&value_y=4.0"'
    )
    shot.add_argument(
        "--panel",
        action="append",
        default=[],
        choices=PANELS,
        help="what to photograph (default page); give one per --out, in the same order",
    )
    shot.add_argument("--out", action="append", default=[], metavar="FILE", help="a PNG to write")
    shot.add_argument(
        "--size", default="x".join(map(str, DEFAULT_SIZE)), help="window WxH (default %(default)s)"
    )
    lesson = commands.add_parser(
        "lesson",
        help="build a lesson into index.md, index.html and PNGs",
        description="Build a Markdown lesson with autograd blocks into DIR.",
    )
    lesson.add_argument("lesson", type=Path, help="the lesson's Markdown file")
    lesson.add_argument("--out", required=True, type=Path, metavar="DIR", help="folder to build in")
    return parser


def _pairs(args: argparse.Namespace) -> list[tuple[str, Path]]:
    """Pair each --panel with its --out; check that every file can be written."""
    panels = args.panel or ["page"] * min(len(args.out), 1)
    if not args.out:
        raise InputError("Give a file to write with --out.", hint="Like --out view.png.")
    if len(panels) != len(args.out):
        raise InputError(
            f"{len(panels)} --panel but {len(args.out)} --out: give one --out per --panel."
        )
    outs = [Path(name) for name in args.out]
    for path in outs:
        if problem := check_target(path):
            raise InputError(f"Cannot write {path}: {problem}.")
    if len({path.resolve() for path in outs}) < len(outs):
        raise InputError("Two --out name the same file; give each panel its own.")
    return list(zip(panels, outs, strict=True))


def _shot(args: argparse.Namespace) -> int:
    pairs = _pairs(args)
    view = parse_view(args.view)
    if "view" in dict(view):
        # One panel alone has no sidebar to warn in: check the link by the app's rules here.
        cli_inputs(view)
    size = parse_size(args.size)
    check_browser()
    with studio() as session:
        taken = session.photograph(view, [panel for panel, _ in pairs], size)
    for panel, path in pairs:
        changed = write_if_changed(path, taken.png[panel])
        _say(f"{'wrote' if changed else 'unchanged'} {path} ({panel})")
    return 0


def _lesson(args: argparse.Namespace) -> int:
    if args.out.exists() and not args.out.is_dir():
        raise InputError(f"Cannot build in {args.out}: it is a file, not a folder.")
    started = time.monotonic()
    try:
        built = build(args.lesson, args.out)
    except LessonError as error:
        raise InputError(f"{args.lesson}, {error}") from None
    for path in built.written:
        _say(f"wrote {path}")
    for path in built.stale:
        _say(f"note: {path} is not made by the lesson any more; delete it if it is not yours.")
    _say(
        f"built {args.out} in {time.monotonic() - started:.1f} s: "
        f"{len(built.written)} written, {len(built.unchanged)} unchanged"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status (0 ok, 1 no browser or app, 2 bad input)."""
    args = _parser().parse_args(argv)
    try:
        return _shot(args) if args.command == "shot" else _lesson(args)
    except ExplorerError as error:
        _say(f"error: {error}")
        return USAGE_ERROR
    except SetupError as error:
        _say(f"error: {error}")
        return SETUP_ERROR
    except OSError as error:  # a file that could not be written: the disk, not the input
        _say(f"error: cannot write {error.filename}: {error.strerror}.")
        return SETUP_ERROR


if __name__ == "__main__":
    sys.exit(main())
