"""The command line: seed outputs exactly, DOT/code/exports, exit 2 with 'error:' on bad input."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import GOLDEN, ROOT

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
    ],
)
def test_cli_bad_input_exits_2_with_error_and_no_traceback(args: list[str], fragment: str) -> None:
    """Bad input: exit status 2, 'error: ...' on stderr, never a traceback."""
    done = run(*args)
    assert done.returncode == 2
    assert done.stderr.startswith("error: ")
    assert fragment in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
