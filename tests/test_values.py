"""Numbers typed as text (CLI and URL) are read strictly."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal

import pytest

from explorer import InputError
from explorer.values import check_value, parse_assignment, parse_number, to_int


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


@pytest.mark.parametrize(
    "text",
    ["12345678901234567", "-12345678901234567", "9" * 5000, "1000000000001", "1e400", "-1e13"],
)
def test_well_formed_numbers_past_the_limit_are_too_large(text: str) -> None:
    """A 17-digit value is a number, only too large; the message says so."""
    with pytest.raises(InputError, match="x is too large"):
        parse_number(text, "x")


def test_the_limit_itself_and_leading_zeros_are_accepted() -> None:
    """1e12 is allowed; zeros in front do not make a number large."""
    assert parse_number("1000000000000") == 10**12
    assert parse_number("-000000000000000000007") == -7


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (2.5, 3),
        (-2.5, -3),
        (3.5, 4),
        (-3.5, -4),
        (0.5, 1),
        (-0.5, -1),
        (2.4999999999999996, 2),
        (0.49999999999999994, 0),
        (-0.49999999999999994, 0),
        (-0.0, 0),
        (7.0, 7),
        (1e12, 10**12),
        (-999999999999.5, -1000000000000),
        (4503599627370495.5, 4503599627370496),
    ],
)
def test_to_int_rounds_halves_away_from_zero(value: float, expected: int) -> None:
    """One documented rule: the nearest integer, and a half goes away from zero."""
    assert to_int(value) == expected
    assert type(to_int(value)) is int


def test_to_int_agrees_with_decimal_half_up_everywhere() -> None:
    """Agree with Decimal's ROUND_HALF_UP (away from zero) on halves and their neighbours."""
    values = [k / 4 for k in range(-400, 401)] + [k / 10 for k in range(-100, 101)]
    values += [math.nextafter(k + 0.5, 0.0) for k in range(-20, 20)]
    for value in values:
        oracle = int(Decimal(value).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        assert to_int(value) == oracle, value


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_to_int_refuses_what_has_no_nearest_integer(value: float) -> None:
    """inf and nan have no nearest integer: a message, not OverflowError."""
    with pytest.raises(InputError):
        to_int(value)
