"""Shared fixtures: the --update-golden flag and the seed's three examples."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"

# The seed tutorial's three examples: formula, values (order matters), requires_grad overrides.
SEEDS = {
    "example1": ("y = x**2 + 1", {"x": 2.0}),
    "example2": ("y = w*x + b", {"x": 3, "w": 2.0, "b": 5.0}),
    "example3": ("z = x**y", {"x": 3.0, "y": 4.0}),
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden", action="store_true", help="rewrite tests/golden/* from the current code"
    )


@pytest.fixture
def golden(request: pytest.FixtureRequest):
    """Compare text with tests/golden/NAME, or rewrite the file under --update-golden."""
    update = request.config.getoption("--update-golden")

    def check(name: str, text: str) -> None:
        path = GOLDEN / name
        if update:
            path.write_text(text)
        assert path.exists(), f"missing golden file {path}; run pytest --update-golden"
        assert text == path.read_text(), f"{name} differs; run pytest --update-golden if intended"

    return check
