"""Numbers typed as text (CLI and URL) are read strictly."""

from __future__ import annotations

import pytest

from explorer import InputError
from explorer.values import check_value, parse_assignment, parse_number


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("3", 3),
        ("-3", -3),
        ("+3", 3),
        ("3.0", 3.0),
        ("-1.5e0", -1.5),
        ("2e3", 2000.0),
        (".5", 0.5),
        ("5.", 5.0),
        ("1E-3", 0.001),
    ],
)
def test_numbers_parse_as_int_or_float(text: str, value: float) -> None:
    """Integers stay int (an integer tensor); a point or exponent makes a float."""
    parsed = parse_number(text)
    assert parsed == value
    assert type(parsed) is type(value)


@pytest.mark.parametrize(
    "text",
    [
        "nan",
        "inf",
        "-inf",
        "1_000",
        "0x10",
        "\u0663",
        "1e400",
        "",
        " 3",
        "3 ",
        "1e",
        "--1",
        "3j",
        "1e13",
    ],
)
def test_bad_numbers_are_refused(text: str) -> None:
    """float() would accept several of these; we do not."""
    with pytest.raises(InputError):
        parse_number(text, "x")


def test_assignments_split_name_and_value() -> None:
    """NAME=VALUE gives the name and the strictly parsed number."""
    assert parse_assignment("w=2.0") == ("w", 2.0)
    for bad in ("w", "=2", "2w=1", "w=two", "w:=2"):
        with pytest.raises(InputError):
            parse_assignment(bad)


@pytest.mark.parametrize("value", [True, "3", None, float("nan"), float("inf"), 1e13, [1]])
def test_check_value_refuses_non_numbers_and_huge_values(value: object) -> None:
    """explore() values must be finite ints or floats within the limit."""
    with pytest.raises(InputError):
        check_value("x", value)
