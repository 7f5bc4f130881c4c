"""Build a lesson: Markdown whose ``autograd`` blocks become pictures of the app and transcripts.

A block holds one view as ``key = value`` lines, with the link's keys, and says what to show::

    ```autograd
    formula = y = w*x + b
    value_x = 3
    value_w = 2.0
    value_b = 5.0
    panels = graph, plot
    ```

Besides the link's keys (formula, value_x, grad_x, dtype_x, min_x, max_x, step_x, plot_var,
derivative, projector, preset, view) a block takes ``panels`` (page, transcript, graph, plot, code;
default page), ``size`` (default 1280x720) and ``name`` (the pictures' file names; default
step01, step02...). Lines starting with # are comments. ``build`` writes DIR/index.md, with each
block replaced by its pictures and the transcript the CLI prints for that view, the PNGs beside
it, and DIR/index.html with the pictures inlined. A file whose bytes would not change is not
written. Every block is checked before the browser starts; an error names the lesson's line.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from explorer.core import explore
from explorer.errors import ExplorerError, FormulaError, InputError
from explorer.tutorial import markdown
from explorer.tutorial.files import write_if_changed
from explorer.tutorial.shot import Studio, studio
from explorer.tutorial.view import (
    DEFAULT_SIZE,
    PANELS,
    View,
    ViewError,
    check_keys,
    cli_inputs,
    parse_size,
)

__all__ = ["Block", "Built", "LessonError", "build", "index_markdown", "read_lesson"]

_OPEN = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*autograd\s*$")
_ANY_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,40}", re.ASCII)
_BLOCK_KEYS = ("panels", "size", "name")
_ESCAPED = re.compile(r"([\\`*_\[\]])")


class LessonError(InputError):
    """Reject a lesson, naming the line of the problem (1-based) and the block it is in."""

    def __init__(self, line: int, message: str, *, block: int | None = None) -> None:
        self.line = line
        self.block = block
        where = f" (in the autograd block at line {block})" if block not in (None, line) else ""
        super().__init__(f"line {line}{where}: {message}")


@dataclass(frozen=True, slots=True)
class Block:
    """One autograd block: where it is, the view, what to show, and the CLI's transcript."""

    first: int  # index of the opening fence in the lesson's lines
    last: int  # index of the closing fence
    view: View
    panels: tuple[str, ...]
    size: tuple[int, int]
    name: str
    formula: str
    transcript: str

    @property
    def line(self) -> int:
        """Return the opening fence's line number, 1-based."""
        return self.first + 1

    def files(self) -> dict[str, str]:
        """Return each panel's PNG file name."""
        return {panel: f"{self.name}-{panel}.png" for panel in self.panels}


def read_lesson(text: str) -> tuple[list[str], list[Block]]:
    """Return the lesson's lines and its checked blocks; raise LessonError at the first problem."""
    lines = text.splitlines()
    blocks = []
    for first, last in _fences(lines):
        number = len(blocks) + 1
        blocks.append(_block(lines, first, last, number))
    names = [block.name for block in blocks]
    for block in blocks:
        if names.count(block.name) > 1:
            raise LessonError(block.line, f"name {block.name} is used by another block too.")
    return lines, blocks


def _fences(lines: list[str]) -> Iterator[tuple[int, int]]:
    """Yield (opening, closing) line indices of each autograd block, skipping other code."""
    index = 0
    while index < len(lines):
        fence = _ANY_FENCE.match(lines[index])
        if not fence:
            index += 1
            continue
        marker = fence[1]
        end = index + 1
        while end < len(lines) and not _closes(lines[end], marker):
            end += 1
        if _OPEN.match(lines[index]):
            if end == len(lines):
                raise LessonError(index + 1, f"this autograd block is never closed with {marker}.")
            yield index, end
        index = end + 1


def _closes(line: str, marker: str) -> bool:
    stripped = line.strip()
    return len(stripped) >= len(marker) and set(stripped) == {marker[0]}


def _block(lines: list[str], first: int, last: int, number: int) -> Block:
    """Read and check one block; every problem is a LessonError at its line."""
    where = first + 1
    pairs, at = [], {}
    for index in range(first + 1, last):
        text = lines[index].strip()
        if not text or text.startswith("#"):
            continue
        key, sep, value = text.partition("=")
        key = key.strip()
        if not sep or not key:
            raise LessonError(index + 1, f"{text[:60]!r} is not key = value.", block=where)
        if key in at:
            raise LessonError(index + 1, f"{key} is given twice.", block=where)
        at[key] = index + 1
        pairs.append((key, value.strip()))
    settings = {key: value for key, value in pairs if key in _BLOCK_KEYS}
    view = tuple((key, value) for key, value in pairs if key not in _BLOCK_KEYS)
    try:
        check_keys(key for key, _ in view)
        formula, values, grads = cli_inputs(view)
        transcript = explore(formula, values, grads).transcript
        panels, size, name = _settings(settings, number)
    except ExplorerError as error:
        raise LessonError(_line_of(error, at, where), error.describe(), block=where) from None
    return Block(first, last, view, panels, size, name, formula, transcript)


def _line_of(error: ExplorerError, at: dict[str, int], where: int) -> int:
    """Return the line of the key at fault: the key named by the error, or the formula's."""
    key = getattr(error, "key", None)
    if key is None and isinstance(error, FormulaError):
        key = "formula"
    return at.get(key, where) if key else where


def _settings(
    settings: dict[str, str], number: int
) -> tuple[tuple[str, ...], tuple[int, int], str]:
    """Read a block's panels, size and name."""
    panels = tuple(item.strip() for item in settings.get("panels", "page").split(","))
    for panel in panels:
        if panel not in PANELS:
            raise ViewError(
                f"{panel!r} is not a panel; the panels are {', '.join(PANELS)}.", key="panels"
            )
    if len(set(panels)) < len(panels):
        raise ViewError("a panel is named twice.", key="panels")
    size = parse_size(settings["size"]) if "size" in settings else DEFAULT_SIZE
    name = settings.get("name", f"step{number:02d}")
    if not _NAME.fullmatch(name):
        raise ViewError(f"name {name[:50]!r} must be lower-case letters, digits and -.", key="name")
    return panels, size, name


def _photographs(
    blocks: list[Block], open_studio: Callable[[], AbstractContextManager[Studio]]
) -> dict[str, bytes]:
    """Take every block's pictures in one server and browser; return PNG bytes by file name."""
    pictures: dict[str, bytes] = {}
    with open_studio() as session:
        for block in blocks:
            try:
                taken = session.photograph(block.view, block.panels, block.size)
            except InputError as error:
                raise LessonError(block.line, error.describe()) from None
            # The same tensors in the app and the CLI, unless the view hides the transcript.
            if taken.transcript and taken.transcript != block.transcript.rstrip("\n"):
                raise LessonError(
                    block.line, "the app shows another transcript for this view than the CLI."
                )
            pictures.update((block.files()[panel], png) for panel, png in taken.png.items())
    return pictures


def _alt(panel: str, formula: str) -> str:
    """Return an image's alt text, with Markdown's special characters escaped."""
    what = "the page" if panel == "page" else f"the {panel}"
    return _ESCAPED.sub(r"\\\1", f"{what} of {formula}")


def index_markdown(lines: list[str], blocks: list[Block]) -> str:
    """Return the lesson's text with each block replaced by its images and transcript."""
    out: list[str] = []
    position = 0
    for block in blocks:
        out += lines[position : block.first]
        out += [f"![{_alt(panel, block.formula)}]({file})" for panel, file in block.files().items()]
        out.append("")
        out += ["```text", *block.transcript.rstrip("\n").split("\n"), "```"]
        position = block.last + 1
    out += lines[position:]
    return "\n".join(out) + "\n"


def _title(lines: list[str], default: str) -> str:
    """Return the text of the first level-1 heading, or ``default``."""
    for line in lines:
        if line.startswith("# "):
            return line[2:].strip()
    return default


@dataclass(frozen=True, slots=True)
class Built:
    """What a build did: files written, files left as they were, and PNGs no block makes now."""

    written: list[Path]
    unchanged: list[Path]
    stale: list[Path]


def build(
    lesson: Path,
    out: Path,
    open_studio: Callable[[], AbstractContextManager[Studio]] | None = None,
) -> Built:
    """Build ``lesson`` into the folder ``out``; say which files were written and which not.

    ``open_studio`` gives the server and browser to use (default: start both for this build).
    Raises LessonError (bad lesson), InputError (unreadable lesson) or SetupError (no browser).
    """
    try:
        text = lesson.read_text(encoding="utf-8")
    except OSError as error:
        raise InputError(f"Cannot read {lesson}: {error.strerror}.") from None
    except UnicodeDecodeError:
        raise InputError(f"Cannot read {lesson}: it is not UTF-8 text.") from None
    lines, blocks = read_lesson(text)
    pictures = _photographs(blocks, open_studio or studio) if blocks else {}
    index = index_markdown(lines, blocks)
    html = markdown.page(index, pictures, _title(lines, lesson.stem))
    out.mkdir(parents=True, exist_ok=True)
    files = {**pictures, "index.md": index.encode(), "index.html": html.encode()}
    written, unchanged = [], []
    for name, data in files.items():
        (written if write_if_changed(out / name, data) else unchanged).append(out / name)
    stale = [path for path in sorted(out.glob("*.png")) if path.name not in files]
    return Built(written, unchanged, stale)
