"""The command line: seed outputs exactly, DOT/code/exports, exit 2 with 'error:' on bad input."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import GOLDEN, ROOT

from explorer import explore
from explorer.__main__ import main


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "explorer", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "name"),
    [
        (["y = x**2 + 1", "x=2.0"], "example1"),
        (["y = w*x + b", "x=3", "w=2.0", "b=5.0"], "example2"),
        (["z = x**y", "x=3.0", "y=4.0"], "example3"),
    ],
)
def test_cli_prints_each_seed_output_exactly(args: list[str], name: str) -> None:
    """python -m explorer prints the seed's Output block and exits 0."""
    done = run(*args)
    assert (done.returncode, done.stdout, done.stderr) == (
        0,
        (GOLDEN / f"seed_{name}.txt").read_text(),
        "",
    )


def test_cli_dot_and_code(capsys: pytest.CaptureFixture[str]) -> None:
    """--dot prints the golden DOT; --code prints the script."""
    assert main(["z = x**y", "x=3.0", "y=4.0", "--dot"]) == 0
    assert capsys.readouterr().out == (GOLDEN / "example3.dot").read_text()
    assert main(["z = x**y", "x=3.0", "y=4.0", "--code"]) == 0
    assert "z.backward()" in capsys.readouterr().out


def test_cli_no_grad_turns_requires_grad_off(capsys: pytest.CaptureFixture[str]) -> None:
    """--no-grad NAME creates that input without requires_grad."""
    assert main(["y = w*x + b", "x=3.0", "w=2.0", "b=5.0", "--no-grad", "x", "--no-grad", "b"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "x: tensor(3.)"
    assert lines[-3:] == ["x.grad : None", "w.grad : tensor(3.)", "b.grad : None"]


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_cli_renders_svg_and_png_with_dot(tmp_path: Path) -> None:
    """--svg and --png write real Graphviz output containing the backward node names."""
    svg, png = tmp_path / "g.svg", tmp_path / "g.png"
    assert main(["y = w*x + b", "x=3", "w=2.0", "b=5.0", "--svg", str(svg), "--png", str(png)]) == 0
    assert "MulBackward0" in svg.read_text()
    assert png.read_bytes().startswith(b"\x89PNG")


def test_cli_without_dot_says_how_to_install_graphviz(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """When dot is missing, the message says how to install Graphviz."""
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(["x**2", "x=1.0", "--svg", str(tmp_path / "g.svg")]) == 1
    assert "apt-get install graphviz" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["x^2", "x=1.0"], "'^' is not a power"),
        (["x**2", "x=nan"], "'nan' is not a number"),
        (["x**2", "x=inf"], "not a number"),
        (["x**2", "x=1_000"], "not a number"),
        (["x**2", "x=\u0663"], "not a number"),
        (["x**2", "x"], "not NAME=VALUE"),
        (["x**2"], "No value for x"),
        (["x**2", "x=3", "--no-grad", "q"], "has no value"),
        (["__import__('os').system('true')", "x=1.0"], "Only the listed functions"),
        (["x**2", "x=1.0", "--dot", "--code"], "not allowed with"),
        (["x**2", "x=1.0", "--bogus"], "unrecognized arguments"),
        ([], "required"),
        (["x**2", "x=1.0", "x=2.0"], "given twice"),
        (["x**2", "x=1.0", "math=2.0"], "reserved"),
        (["x**2", "x=12345678901234567"], "x is too large"),
        (["y = x +* 2", "x=1.0"], "Two operators in a row: '+' and then '*'. (column 8)"),
        (["1or x", "x=1.0"], "'and' and 'or' are not allowed"),
    ],
)
def test_cli_bad_input_exits_2_with_error_and_no_traceback(args: list[str], fragment: str) -> None:
    """Bad input: exit status 2, 'error: ...' on stderr, never a traceback nor Python's warnings."""
    done = run(*args)
    assert done.returncode == 2
    assert done.stderr.startswith("error: ")
    assert fragment in done.stderr
    assert "Traceback" not in done.stderr
    assert "Warning" not in done.stderr
    assert done.stdout == ""


@pytest.fixture
def renders(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """Replace Graphviz with a fake that returns 12345 bytes, and work in an empty folder."""
    calls: list[str] = []

    def fake_render(dot: str, fmt: str) -> bytes:
        calls.append(fmt)
        return b"%" * 12345

    monkeypatch.setattr("explorer.__main__.render", fake_render)
    monkeypatch.chdir(tmp_path)
    return calls


@pytest.mark.parametrize(
    ("option", "name", "message"),
    [
        ("--png", "nope/graph.png", "Cannot write nope/graph.png: the folder nope does not exist."),
        (
            "--svg",
            "file.txt/g.svg",
            "Cannot write file.txt/g.svg: file.txt is a file, not a folder.",
        ),
        ("--svg", ".", "Cannot write .: it is a folder."),
        ("--svg", "", "The file name for --svg is empty."),
        ("--png", "", "The file name for --png is empty."),
        ("--svg", "old.svg", "old.svg already exists.\nUse --force to overwrite it."),
    ],
)
def test_cli_checks_output_files_before_rendering(
    renders: list[str], capsys: pytest.CaptureFixture[str], option: str, name: str, message: str
) -> None:
    """A file that cannot or must not be written is bad input (exit 2), found before any work."""
    Path("file.txt").write_text("keep")
    Path("old.svg").write_text("keep")
    assert main(["x**2", "x=1.0", option, name]) == 2
    out, err = capsys.readouterr()
    assert (out, renders) == ("", [])
    assert err.startswith(f"error: {message}")
    assert Path("old.svg").read_text() == "keep"


def test_cli_force_overwrites_and_says_what_it_wrote(
    renders: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """--force replaces an existing file; stderr says which file and its size; stdout is as ever."""
    Path("g.svg").write_text("old")
    assert main(["x**2", "x=1.0", "--svg", "g.svg", "--png", "g.png", "--force"]) == 0
    out, err = capsys.readouterr()
    assert err == "wrote g.svg (12.3 kB)\nwrote g.png (12.3 kB)\n"
    assert out.startswith("x: tensor(1., requires_grad=True)")
    assert Path("g.svg").read_bytes() == Path("g.png").read_bytes() == b"%" * 12345


@pytest.mark.parametrize(
    ("args", "warning"),
    [
        (
            ["--png", "out.svg"],
            "warning: out.svg will hold PNG data, but its name does not end in .png.",
        ),
        (
            ["--svg", "graph"],
            "warning: graph will hold SVG data, but its name does not end in .svg.",
        ),
        (["--svg", "G.SVG"], None),
        (["--png", "g.png"], None),
    ],
)
def test_cli_warns_when_the_extension_is_not_the_format(
    renders: list[str], capsys: pytest.CaptureFixture[str], args: list[str], warning: str | None
) -> None:
    """The file is still written, with a warning on stderr when its name says another format."""
    assert main(["x**2", "x=1.0", *args]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[:-1] == ([warning] if warning else [])
    assert err[-1] == f"wrote {args[1]} (12.3 kB)"


def test_cli_refuses_one_file_for_both_formats(
    renders: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """--svg and --png naming the same file would overwrite one with the other."""
    assert main(["x**2", "x=1.0", "--svg", "g", "--png", "./g"]) == 2
    assert "both name g" in capsys.readouterr().err
    assert renders == []


def test_cli_notes_an_unused_input_in_the_apps_words(capsys: pytest.CaptureFixture[str]) -> None:
    """NAME=VALUE for a name the formula does not use: a note on stderr, the same as the app's."""
    assert main(["y = w*x", "w=2.0", "x=1.0", "b=5.0"]) == 0
    out, err = capsys.readouterr()
    app_notes = explore("y = w*x", {"w": 2.0, "x": 1.0, "b": 5.0}).notes
    assert err == "note: b is not used by the formula, so no gradient reaches it: b.grad is None.\n"
    assert err.removeprefix("note: ").rstrip("\n") in app_notes
    assert out.splitlines()[-1] == "b.grad : None"


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        (["x**2", "x=1.0", "--no-grad", "\x1b[31mred"], "\\x1b[31mred"),
        (["x**2", "x=1.0", "--\x1b[2Jz"], "--\\x1b[2Jz"),
        (["x**2", "x\a=1.0"], "x\\x07=1.0"),
        (["x**2", "x=1.0", "--svg", "nope\u202e/g.svg"], "nope\\u202e/g.svg"),
    ],
)
def test_cli_shows_control_characters_as_escapes(
    args: list[str], shown: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """User text in a message cannot drive the terminal: \\x1b is printed, not ESC."""
    with contextlib.suppress(SystemExit):
        assert main(args) == 2
    err = capsys.readouterr().err
    assert shown in err
    assert all(char.isprintable() or char == "\n" for char in err), repr(err)


EXAMPLE3 = ["z = x**y", "x=3.0", "y=4.0"]


def test_cli_steps_prints_the_engines_steps_as_numbered_blocks(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--steps: PowBackward1 sends 4·3³ = 108 and 81·ln 3 = 88.99; each AccumulateGrad adds."""
    assert main([*EXAMPLE3, "--steps"]) == 0
    out, err = capsys.readouterr()
    blocks = out.split("\n\n")
    assert err == ""
    assert [block.splitlines()[0] for block in blocks] == [
        "Step 1: PowBackward1 (z = 81)",
        "Step 2: AccumulateGrad for x",
        "Step 3: AccumulateGrad for y",
    ]
    assert "towards x: ∂z/∂x = y·x^(y−1) = 4·3^(4−1) = 108; sends 1·108 = 108" in blocks[0]
    assert "towards y: ∂z/∂y = x^y·ln x = 81·ln 3 = 88.99; sends 1·88.99 = 88.99" in blocks[0]
    assert blocks[1].splitlines()[1:] == ["  receives 108", "  x.grad = 0 + 108 = 108"]
    assert out.endswith("y.grad = 0 + 88.99 = 88.99\n")


def test_cli_steps_with_backward_twice_shows_the_second_call(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--backward 2 --retain-graph: the second call's steps follow, and .grad goes 108 + 108."""
    assert main([*EXAMPLE3, "--steps", "--backward", "2", "--retain-graph"]) == 0
    out, err = capsys.readouterr()
    heads = [block.splitlines()[0] for block in out.split("\n\n")]
    assert heads[3:] == [
        "Step 4 (backward call 2): PowBackward1 (z = 81)",
        "Step 5 (backward call 2): AccumulateGrad for x",
        "Step 6 (backward call 2): AccumulateGrad for y",
    ]
    assert "  x.grad = 108 + 108 = 216\n" in out
    assert err.startswith("lesson: Each backward() call adds its gradients")


def test_cli_steps_without_backward_says_why_there_are_none(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Nothing requires grad: no steps on stdout, and a note on stderr saying why."""
    assert main(["y = 2*x", "x=1.0", "--no-grad", "x", "--steps"]) == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("note: backward() did not run")


def test_cli_second_prints_the_gradient_tensor_and_its_derivative(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--second x for y = x**3 at 2: dy/dx = 3x² = 12 with a grad_fn, d2y/dx2 = 6x = 12."""
    assert main(["y = x**3", "x=2.0", "--second", "x"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "x: tensor(2., requires_grad=True)",
        "y: tensor(8., grad_fn=<PowBackward0>)",
        "dy/dx: tensor(12., grad_fn=<MulBackward0>)",
        "d2y/dx2: tensor(12.)",
    ]
    assert err == ""


def test_cli_second_puts_the_notes_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    """Through relu's kink the note says what PyTorch does; stdout keeps only what it prints."""
    assert main(["y = relu(x)**2", "x=0.0", "--second", "x"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[-1] == "d2y/dx2: tensor(0.)"
    assert err.startswith("note: relu has a kink at 0")


def test_cli_grad_graph_prints_the_gradients_graph_as_dot(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--grad-graph x prints the double-backward graph, the same DOT as test_higher's golden."""
    assert main([*EXAMPLE3, "--grad-graph", "x"]) == 0
    assert capsys.readouterr().out == (GOLDEN / "example3_gradgraph.dot").read_text()


def test_cli_check_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    """--check: smooth gradients agree; relu at its kink disagrees and the reason says why."""
    assert main([*EXAMPLE3, "--check"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["input", "value"]
    assert [line.split()[0] for line in lines[1:]] == ["x", "y"]
    assert all(line.endswith("agree") for line in lines[1:])
    assert main(["y = relu(x)", "x=0.0", "--check"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].endswith("disagree (kink)")
    assert lines[2].startswith("x: relu has a kink at 0")


def test_cli_check_after_backward_twice_checks_one_call(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """With .grad summed over two calls (216), --check compares one call's 108, and says so."""
    assert main([*EXAMPLE3, "--check", "--backward", "2", "--retain-graph"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[1].split()[:4] == ["x", "3", "108", "108"]
    assert "note: --check compares the gradients of one backward() call" in err
    assert main([*EXAMPLE3, "--check", "--backward", "2"]) == 0  # the second call raised
    out, err = capsys.readouterr()
    assert out.splitlines()[1].split()[:4] == ["x", "3", "108", "108"]
    assert "note: --check" not in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--second", "q"], "error: q is not an input of the formula"),
        (["--grad-graph", "q"], "error: q is not an input of the formula"),
        (["--second", ""], "error: The input name for --second is empty."),
        (["--second", "y", "--no-grad", "y"], "error: y was created without requires_grad=True"),
        (["--grad-graph", "x", "--svg", "g.svg"], None),
    ],
)
def test_cli_second_refuses_a_name_it_cannot_differentiate_by(
    renders: list[str], capsys: pytest.CaptureFixture[str], args: list[str], message: str | None
) -> None:
    """A bad NAME: exit 2 with 'error:' and nothing written; a good one still writes --svg."""
    status = main([*EXAMPLE3, *args])
    out, err = capsys.readouterr()
    if message is None:
        assert (status, renders, err) == (0, ["svg"], "wrote g.svg (12.3 kB)\n")
        return
    assert (status, out, renders) == (2, "", [])
    assert err.startswith(message)


@pytest.mark.parametrize(
    "pair", [["--steps", "--dot"], ["--check", "--code"], ["--second", "x", "--grad-graph", "x"]]
)
def test_cli_prints_one_document_at_a_time(
    pair: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """stdout holds one document: two options that each pick one are refused, exit 2."""
    with pytest.raises(SystemExit) as exited:
        main([*EXAMPLE3, *pair])
    assert exited.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err
