"""Tutorial screenshots and lessons: views read as the app reads them, lessons checked line by line,
and, in real Chromium, byte-identical PNGs across two separate runs and a lesson that rebuilds
without rewriting a file.

The browser work is done once, in one module fixture: two runs, each with its own app server and
Chromium, each photographing every panel of the seed's three examples and building the shipped
lesson. Under CI=true a missing Chromium or Playwright fails these tests instead of skipping them.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
from conftest import GOLDEN, ROOT, SEEDS
from live import require_browser
from PIL import Image

from explorer.errors import InputError
from explorer.tutorial import __main__ as cli
from explorer.tutorial import markdown, shot
from explorer.tutorial.files import write_if_changed
from explorer.tutorial.lesson import build, read_lesson
from explorer.tutorial.view import PANELS, ViewError, cli_inputs, parse_size, parse_view

LESSON = ROOT / "assets" / "lessons" / "seed.md"
ARTIFACTS = ROOT / "tests" / "artifacts" / "tutorial"
SIZE = (1280, 720)
# The seed's examples as the app's links, values written as the CLI takes them (3 is an int).
SEED_VIEWS = {
    name: "&".join([f"formula={formula}", *(f"value_{k}={v!r}" for k, v in values.items())])
    for name, (formula, values) in SEEDS.items()
}


def snapshot(folder: Path) -> Path:
    """Copy the app's code to ``folder`` and return its app.py: both runs serve the same code.

    Others may edit the app while this test runs; a picture that changed with the code says
    nothing about determinism.
    """
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "explorer", folder / "explorer", ignore=ignore)
    shutil.copytree(ROOT / ".streamlit", folder / ".streamlit")
    shutil.copy(ROOT / "app.py", folder / "app.py")
    return folder / "app.py"


def png_size(data: bytes) -> tuple[int, int]:
    """Return a PNG's width and height, read from its IHDR chunk."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


# ---- views: the link's keys, read strictly -------------------------------------------------------


def test_a_view_reads_the_same_typed_or_url_encoded() -> None:
    """The app's own encoded link and the text as typed give the same pairs, in order."""
    typed = parse_view("formula=y = w*x + b&value_x=3&value_w=2.0")
    encoded = parse_view("formula=y+%3D+w%2Ax+%2B+b&value_x=3&value_w=2.0")
    link = parse_view("http://127.0.0.1:8501/?formula=y+%3D+w%2Ax+%2B+b&value_x=3&value_w=2.0")
    assert typed == encoded == link
    assert typed == (("formula", "y = w*x + b"), ("value_x", "3"), ("value_w", "2.0"))
    assert parse_view("formula=x+1&value_x=2.0")[0] == ("formula", "x+1")  # typed: + stays


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("formula=x&valu_x=2.0", "'valu_x' is not a key the app reads"),
        ("formula=x&value_x=1.0&value_x=2.0", "value_x is given twice"),
        ("formula=x&value_x", "'value_x' is not key=value"),
        ("formula=x&value_x-1=2.0", "is not a key the app reads"),
    ],
)
def test_a_view_with_an_unknown_or_repeated_key_is_refused(text: str, fragment: str) -> None:
    """A typo in a key is an error, not a setting the app silently ignores."""
    with pytest.raises(ViewError) as caught:
        parse_view(text)
    assert fragment in caught.value.message


def test_the_cli_inputs_of_a_view_follow_the_links_rules() -> None:
    """3 is an int tensor without grad, dtype and grad keys apply, unnamed inputs start at 1.0."""
    assert cli_inputs(parse_view(SEED_VIEWS["example2"])) == (
        "y = w*x + b",
        {"x": 3, "w": 2.0, "b": 5.0},
        {"x": False, "w": True, "b": True},
    )
    _, values, grads = cli_inputs(
        parse_view("formula=z = x**y + a&value_y=3.0&dtype_y=int&grad_x=false")
    )
    assert values == {"y": 3, "x": 1.0, "a": 1.0}  # the link's order, then the formula's
    assert type(values["y"]) is int
    assert grads == {"y": False, "x": False, "a": True}


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("formula=y = x**2&value_x=abc", "value_x"),
        ("formula=y = x**2&value_x=2.5&dtype_x=int", "value_x"),
        ("formula=y = x**2&value_x=2&grad_x=true", "grad_x"),
        ("formula=y = x**2&value_q=2.0", "value_q"),
        ("formula=y = x**2&value_x=2.0&min_x=3.0", "min_x"),
        ("formula=y = x**2&value_x=2.0&step_x=0", "step_x"),
        ("formula=y = x**2&value_x=2.0&plot_var=q", "plot_var"),
        ("formula=y = x**2&value_x=2.0&projector=yes", "projector"),
        ("formula=y = x**2&preset=Example 1: y = x**2 + 1", "preset"),
    ],
)
def test_a_value_the_app_would_warn_about_is_refused_with_its_key(text: str, key: str) -> None:
    """Every value the app would replace or ignore (with a warning) is an error naming the key."""
    with pytest.raises(ViewError) as caught:
        cli_inputs(parse_view(text))
    assert caught.value.key == key


@pytest.mark.parametrize("text", ["1280", "10x10", "5000x700", "axb", "1280x720x3"])
def test_a_size_is_width_x_height_within_limits(text: str) -> None:
    """Sizes are WxH with each side 200 to 4000 pixels."""
    assert parse_size(" 900X600 ") == (900, 600)
    with pytest.raises(ViewError):
        parse_size(text)


# ---- lessons: checked before any browser starts --------------------------------------------------


def test_the_shipped_lesson_reads_as_the_seed_story() -> None:
    """The lesson's blocks are the seed's three examples plus requires_grad off, with names."""
    _, blocks = read_lesson(LESSON.read_text())
    assert [block.name for block in blocks] == ["parabola", "integer-input", "no-grad", "power"]
    transcripts = {block.name: block.transcript for block in blocks}
    for name, block in (("example1", "parabola"), ("example2", "integer-input")):
        assert transcripts[block] == (GOLDEN / f"seed_{name}.txt").read_text()
    assert transcripts["power"] == (GOLDEN / "seed_example3.txt").read_text()
    assert "w.grad : None" in transcripts["no-grad"]


BAD_LESSON = "# A lesson\n\nSome text.\n\n```autograd\n{body}\n```\n"  # the block is at line 5


@pytest.mark.parametrize(
    ("body", "line", "fragment"),
    [
        ("formula = y = x**2 + 1\nvalu_x = 2.0", 7, "'valu_x' is not a key the app reads"),
        ("formula = y = x**2 + 1\nvalue_x = abc", 7, "'abc' is not a number for value_x"),
        ("formula = y = x**\nvalue_x = 2.0", 6, "The formula ends with '**'"),
        ("formula = y = x**2\nvalue_x = 2\ngrad_x = true", 8, "x is an integer, which cannot"),
        ("formula = y = x**2\npanels = graph, picture", 7, "'picture' is not a panel"),
        ("formula = y = x**2\nsize = 100x100", 7, "'100x100' is not a size"),
        ("value_x = 2.0", 5, "A view needs a formula"),
    ],
)
def test_a_bad_lesson_fails_with_the_line_and_exit_2(
    body: str, line: int, fragment: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Unknown key, bad value, bad formula...: exit 2 with the key's and the block's line."""
    lesson = tmp_path / "bad.md"
    lesson.write_text(BAD_LESSON.format(body=body))
    with mock.patch.object(shot, "chromium", side_effect=AssertionError("no browser needed")):
        status = cli.main(["lesson", str(lesson), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith(f"error: {lesson}, line {line}")
    assert line == 5 or f"line {line} (in the autograd block at line 5)" in err
    assert fragment in err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_an_unclosed_block_fails_at_its_opening_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A block that is never closed is named by the line of its opening fence."""
    lesson = tmp_path / "open.md"
    lesson.write_text("# A\n\n```autograd\nformula = y = x\n")
    assert cli.main(["lesson", str(lesson), "--out", str(tmp_path / "out")]) == 2
    assert "line 3: this autograd block is never closed" in capsys.readouterr().err


# ---- the command line without a browser ----------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--panel", "graph", "--out", "a.png", "--out", "b.png"], "1 --panel but 2 --out"),
        ([], "Give a file to write with --out"),
        (["--out", "missing/a.png"], "the folder missing does not exist"),
        (["--out", "a.png", "--size", "10x10"], "'10x10' is not a size"),
        (["--panel", "graph", "--out", "a.png", "--panel", "plot", "--out", "a.png"], "same file"),
    ],
)
def test_shot_refuses_bad_arguments_before_starting_anything(
    args: list[str],
    fragment: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Mismatched --panel/--out, a missing folder or a bad size: exit 2, no browser started."""
    monkeypatch.chdir(tmp_path)
    with mock.patch.object(cli, "studio", side_effect=AssertionError("no browser needed")):
        status = cli.main(["shot", "formula=y = x**2&value_x=2.0", *args])
    assert status == 2
    assert fragment in capsys.readouterr().err


def test_shot_without_chromium_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing browser is the machine's problem: exit 1 with the apt-get line."""
    monkeypatch.setenv("CHROMIUM", str(tmp_path / "no-chromium"))
    status = cli.main(["shot", "formula=y = x**2&value_x=2.0", "--out", str(tmp_path / "a.png")])
    err = capsys.readouterr().err
    assert status == 1
    assert "apt-get install chromium" in err
    assert not (tmp_path / "a.png").exists()


class _FakePage:
    """Just enough of a Playwright page for shot._check: the app's alerts and which panels exist."""

    def __init__(self, problems: dict[str, list[str]], shown: set[str]) -> None:
        self.problems = {"link": [], "formula": [], "exception": [], "main": [], **problems}
        self.shown = shown

    def evaluate(self, _script: str) -> dict[str, list[str]]:
        return self.problems

    def locator(self, selector: str) -> mock.Mock:
        return mock.Mock(count=mock.Mock(return_value=int(selector in self.shown)))


def test_a_panel_the_view_does_not_show_is_named_with_the_apps_reason() -> None:
    """A missing plot is reported as "not shown for this view", with the app's own message."""
    page = _FakePage({"main": ["The plot cannot be drawn: ..."]}, {shot.SELECTORS["graph"]})
    shot._check(page, ["graph"])
    with pytest.raises(InputError, match="The plot panel is not shown for this view: The plot"):
        shot._check(page, ["graph", "plot"])
    with pytest.raises(InputError, match="The app says:\nIn the link: grad_x must be"):
        shot._check(_FakePage({"link": ["In the link: grad_x must be true or false"]}, set()), [])


def test_the_package_imports_neither_streamlit_nor_playwright() -> None:
    """Only explorer/ui imports streamlit; playwright is loaded only to launch a browser."""
    code = (
        "import sys, explorer.tutorial, explorer.tutorial.__main__;"
        "print('streamlit' in sys.modules, 'playwright' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["False", "False"]


# ---- files and HTML ------------------------------------------------------------------------------


def test_an_unchanged_file_is_not_rewritten(tmp_path: Path) -> None:
    """Same bytes: no write, the modification time stays; new bytes replace the file."""
    path = tmp_path / "a.png"
    assert write_if_changed(path, b"one")
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    assert not write_if_changed(path, b"one")
    assert path.stat().st_mtime_ns == 1_000_000_000
    assert write_if_changed(path, b"two")
    assert path.read_bytes() == b"two"
    assert [item.name for item in tmp_path.iterdir()] == ["a.png"]  # no temporary file left


def test_the_html_inlines_images_and_never_passes_html_through() -> None:
    """Images become data: URIs; raw HTML is shown as text; javascript: links lose their link."""
    html = markdown.page(
        "# T\n\n![the graph of w\\*x](g.png)\n\n<script>x</script> [a](javascript:x) [b](b.html)"
        "\n\n```text\nx.grad : None\n```\n- one\n- `two`\n",
        {"g.png": b"\x89PNG"},
        "T",
    )
    assert '<img src="data:image/png;base64,iVBORw==" alt="the graph of w*x">' in html
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert 'href="javascript' not in html
    assert '<a href="b.html">b</a>' in html
    assert '<pre><code class="language-text">x.grad : None\n</code></pre>' in html
    assert "<li><code>two</code></li>" in html


# ---- in real Chromium: two runs, each its own server and browser ---------------------------------


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    """Run twice: every panel of the seed examples, the shipped lesson, and `shot` once."""
    require_browser()
    app = snapshot(tmp_path_factory.mktemp("app"))
    lesson_dir = tmp_path_factory.mktemp("lesson")
    results = []
    for run in (1, 2):
        with shot.studio(app) as session:
            result: dict = {
                "shots": {
                    name: session.photograph(parse_view(view), PANELS, SIZE)
                    for name, view in SEED_VIEWS.items()
                },
            }
            # The lesson's seed blocks are the views above, so only its new view is opened.
            result["lesson"] = build(
                LESSON, lesson_dir, open_studio=lambda: contextlib.nullcontext(session)
            )
            result["mtimes"] = {p.name: p.stat().st_mtime_ns for p in lesson_dir.iterdir()}
            if run == 1:
                result["cli"] = _cli_shot(session, tmp_path_factory.mktemp("cli"))
        results.append(result)
    return results


def _cli_shot(session: shot.Studio, folder: Path) -> tuple[int, dict[str, bytes]]:
    """Run `shot` with two --panel/--out pairs through the command line, in this run's studio."""
    outs = {panel: folder / f"{panel}.png" for panel in ("page", "graph")}
    args = ["shot", "formula=z+%3D+x%2A%2Ay&value_x=3.0&value_y=4.0"]  # as the app's link has it
    for panel, path in outs.items():
        args += ["--panel", panel, "--out", str(path)]
    with mock.patch.object(cli, "studio", return_value=contextlib.nullcontext(session)):
        status = cli.main(args)
    return status, {panel: path.read_bytes() for panel, path in outs.items() if path.exists()}


@pytest.mark.browser
def test_two_runs_give_byte_identical_pngs_for_every_panel(runs: list[dict]) -> None:
    """Each seed example's page, transcript, graph, plot and code are byte for byte the same."""
    first, second = (run["shots"] for run in runs)
    differ = []
    for name in SEED_VIEWS:
        for panel in PANELS:
            pair = first[name].png[panel], second[name].png[panel]
            if pair[0] != pair[1]:
                differ.append(f"{name}-{panel}")
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                for run, data in enumerate(pair, 1):
                    (ARTIFACTS / f"{name}-{panel}-run{run}.png").write_bytes(data)
    assert not differ, f"these differ (both runs are in {ARTIFACTS}): {differ}"
    pictures = [first[name].png[panel] for name in SEED_VIEWS for panel in PANELS]
    assert len(set(pictures)) == len(pictures)  # and they are fifteen different pictures


def black_pixels(data: bytes) -> int:
    """Count the pure black pixels of a PNG: on the plot, only its point is drawn in black."""
    with Image.open(io.BytesIO(data)) as image:
        colors = image.convert("RGB").getcolors(maxcolors=1 << 24) or []
    return {color: count for count, color in colors}.get((0, 0, 0), 0)


@pytest.mark.browser
def test_every_plot_picture_shows_its_point(runs: list[dict]) -> None:
    """The page places the plot's point with a script after drawing: pictures wait for it."""
    for name, pictures in runs[0]["shots"].items():
        assert black_pixels(pictures.png["plot"]) >= 30, name


@pytest.mark.browser
def test_a_page_picture_is_exactly_the_size_asked_for(runs: list[dict]) -> None:
    """--size is the PNG's size for the page panel; panels fit inside it."""
    for pictures in runs[0]["shots"].values():
        assert png_size(pictures.png["page"]) == SIZE
        for panel in ("transcript", "graph", "plot", "code"):
            width, height = png_size(pictures.png[panel])
            assert 100 < width < SIZE[0], panel
            assert 50 < height <= SIZE[1], panel


@pytest.mark.browser
def test_the_page_shows_the_seed_transcripts(runs: list[dict]) -> None:
    """The transcript read from the page is the seed's, as the CLI prints it."""
    for name, pictures in runs[0]["shots"].items():
        assert pictures.transcript + "\n" == (GOLDEN / f"seed_{name}.txt").read_text()


@pytest.mark.browser
def test_shot_on_the_command_line_writes_each_pair(runs: list[dict]) -> None:
    """Two --panel/--out pairs in one call (an encoded link): exit 0, each file its panel."""
    status, pictures = runs[0]["cli"]
    assert status == 0
    assert pictures["page"] == runs[0]["shots"]["example3"].png["page"]
    assert pictures["graph"] == runs[0]["shots"]["example3"].png["graph"]


@pytest.mark.browser
def test_the_shipped_lesson_builds_with_the_seed_transcripts(runs: list[dict]) -> None:
    """index.md holds the seed transcripts and links each picture; index.html inlines them."""
    folder = runs[0]["lesson"].written[0].parent
    index = (folder / "index.md").read_text()
    for name in SEED_VIEWS:
        assert f"```text\n{(GOLDEN / f'seed_{name}.txt').read_text()}```" in index
    pngs = sorted(path.name for path in folder.glob("*.png"))
    assert len(pngs) == 6
    for name in pngs:
        assert f"]({name})" in index
    assert png_size((folder / "no-grad-page.png").read_bytes()) == (1200, 675)  # its size line
    html = (folder / "index.html").read_text()
    assert "```autograd" not in index
    sources = re.findall(r'src="([^"]*)"', html)
    assert len(sources) == 6
    assert all(src.startswith("data:image/png;base64,") for src in sources)


@pytest.mark.browser
def test_a_second_build_rewrites_nothing(runs: list[dict]) -> None:
    """Built again by a new server and browser, the lesson's files are all unchanged."""
    built = runs[1]["lesson"]
    assert built.written == []
    assert len(built.unchanged) == 8  # six pictures, index.md and index.html
    assert built.stale == []
    assert runs[1]["mtimes"] == runs[0]["mtimes"]
