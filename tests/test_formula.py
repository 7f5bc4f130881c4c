"""The formula language: what it accepts, what it refuses, and where it says the problem is."""

from __future__ import annotations

import ast
import warnings
from pathlib import Path

import pytest

from explorer import FormulaError, LimitError, explore, parse
from explorer.formula import MAX_CHARS, MAX_NESTING, MAX_OPERATIONS, MAX_VARIABLES, unparse

ACCEPTED = [
    # text, output, variables, canonical spelling
    ("y = x**2 + 1", "y", ("x",), "x**2 + 1"),
    ("y=w*x+b", "y", ("w", "x", "b"), "w*x + b"),
    ("z = x**y", "z", ("x", "y"), "x**y"),
    ("x**y", "z", ("x", "y"), "x**y"),
    ("loss = (w1*x - t)**2", "loss", ("w1", "x", "t"), "(w1*x - t)**2"),
    ("2e3*x + .5 - 3.", "y", ("x",), "2e3*x + .5 - 3."),
    ("-x + +x", "y", ("x",), "-x + +x"),
    ("-x**2", "y", ("x",), "-x**2"),
    ("(-x)**2", "y", ("x",), "(-x)**2"),
    ("a - (b - c)", "y", ("a", "b", "c"), "a - (b - c)"),
    ("a/(b*c)", "y", ("a", "b", "c"), "a/(b*c)"),
    ("(a**b)**c", "y", ("a", "b", "c"), "(a**b)**c"),
    ("a**b**c", "y", ("a", "b", "c"), "a**b**c"),
    ("2**-x", "y", ("x",), "2**(-x)"),
    ("sin(pi*x) * e", "y", ("x",), "sin(pi*x)*e"),
    ("f = sigmoid(w*x + b)", "f", ("w", "x", "b"), "sigmoid(w*x + b)"),
    (
        "relu(x) + softplus(x) + abs(x) + sqrt(x) + log(x) + exp(x) + tanh(x) + cos(x) + tan(x)",
        "y",
        ("x",),
        "relu(x) + softplus(x) + abs(x) + sqrt(x) + log(x) + exp(x) + tanh(x) + cos(x) + tan(x)",
    ),
    (
        "sinh(x) + cosh(x) + log1p(x) + expm1(x)",
        "y",
        ("x",),
        "sinh(x) + cosh(x) + log1p(x) + expm1(x)",
    ),
    ("  y  =  x  ", "y", ("x",), "x"),
    ("lambda_ = x", "lambda_", ("x",), "x"),
    ("match = case", "match", ("case",), "case"),
]


@pytest.mark.parametrize(("text", "output", "variables", "canonical"), ACCEPTED)
def test_accepted_forms_parse_with_their_output_variables_and_spelling(
    text: str, output: str, variables: tuple[str, ...], canonical: str
) -> None:
    """Every accepted form parses, and its canonical spelling is the same Python tree."""
    formula = parse(text)
    assert (formula.output, formula.variables, formula.expression) == (output, variables, canonical)
    original = text.split("=", 1)[1] if "=" in text else text
    assert ast.dump(ast.parse(canonical.strip(), mode="eval")) == ast.dump(
        ast.parse(original.strip(), mode="eval")
    )


REJECTED = [
    # text, message fragment, column (None: no column)
    ("x^2", "'^' is not a power", 2),
    ("x % 2", "remainder", 3),
    ("x // 2", "floor division", 3),
    ("x @ y", "matrix product", 3),
    ("x << 1", "Bit shifts", 3),
    ("x | y", "bitwise or", 3),
    ("x & y", "bitwise and", 3),
    ("~x", "bitwise not", 1),
    ("not x", "'not'", 1),
    ("x.grad", "Attribute access", 1),
    ("x[0]", "Indexing", 1),
    ("x < 1", "Comparisons", 1),
    ("x and y", "'and' and 'or'", 1),
    ("x if x else 1", "'if ... else'", 1),
    ("lambda: x", "'lambda'", 1),
    ("[x for x in y]", "Comprehensions", 1),
    ("{x for x in y}", "Comprehensions", 1),
    ("(x for x in y)", "Comprehensions", 1),
    ("{x: 1 for x in y}", "Comprehensions", 1),
    ("f'{x}'", "Strings", 1),
    ("'x'", "Strings", 1),
    ("(y := x)", "':='", 2),
    ("x, y", "one expression", 1),
    ("[x]", "Lists", 1),
    ("{x}", "Sets", 1),
    ("{x: 1}", "Dicts", 1),
    ("True*x", "True is not a number", 1),
    ("None*x", "None is not a number", 1),
    ("2j*x", "Complex numbers", 1),
    ("0x10*x", "plain decimal", 1),
    ("1_000*x", "plain decimal", 1),
    ("foo(x)", "Unknown function 'foo'", 1),
    ("sin(x, x)", "exactly one argument", 1),
    ("sin()", "exactly one argument", 1),
    ("sin(x=1)", "no keyword arguments", 7),
    ("sin(*x)", "unpacking", 5),
    ("y = *x", "nothing on its left", 5),
    ("y = ()", "brackets ( ) are empty", 5),
    ("sin", "sin is a function", 1),
    ("x.__class__", "Attribute access", 1),
    ("(x).sin()", "Only the listed functions", 1),
    ("__import__('os')", "Unknown function '__import__'", 1),
    ("_x + 1", "must start with a letter", 1),
    ("torch + x", "reserved", 1),
    ("y = y + 1", "also the name of an input", 1),
    ("sin = x", "function or constant", 1),
    ("y += x", "looks like y = w*x + b", 1),
    ("a = b = x", "Name the output once", 5),
    ("y[0] = x", "plain name", 1),
    ("x; y", "Only the last statement may leave its result unnamed", 1),
    ("import os", "looks like y = w*x + b", 1),
    ("2x", "write 2*x, not 2x", 2),
    ("sin(x", "never closed", 4),
    ("x)", "unmatched", 2),
    ("y = ", "Nothing after '='", 4),
    ("3 + 4", "no variables", 1),
    ("", "empty", None),
    ("   ", "empty", None),
    ("x\n+1", "Only the last statement may leave its result unnamed", 1),
    ("x\t+\x001", "control character", None),
    ("x \u2212 1", "Type - instead", 3),
    ("2\u00d7x", "Type * instead", 2),
    ("x\u00b2", "Type **2 instead", 2),
    ("\u03c0*x", "Type pi instead", 1),
    ("\u221ax", "sqrt", 1),
    ("\u0661*x", "plain ASCII", 1),
    ("1e400*x", "too large", 1),
    ("y = x # visit example.com", "comment", 7),
    ("if = x", "not a complete formula", None),
    ("print = x", "reserved", 1),
]


@pytest.mark.parametrize(("text", "fragment", "column"), REJECTED)
def test_rejected_forms_say_what_and_where(text: str, fragment: str, column: int | None) -> None:
    """Each refused construct raises FormulaError naming the problem at the right column."""
    with pytest.raises(FormulaError) as caught:
        parse(text)
    error = caught.value
    assert fragment in str(error)
    if column is not None:
        assert error.column == column
        assert error.caret().splitlines()[1] == " " * (column - 1) + "^"


INCOMPLETE = [
    # what people type mid-edit: text, the message's first line (with its column)
    ("y = x +* 2", "Two operators in a row: '+' and then '*'. (column 8)"),
    ("y = x */ 2", "Two operators in a row: '*' and then '/'. (column 8)"),
    ("y = x ** * 2", "Two operators in a row: '**' and then '*'. (column 10)"),
    ("y = x***2", "Two operators in a row: '**' and then '*'. (column 8)"),
    ("y =", "Nothing after '=': write what to compute. (column 4)"),
    ("= x", "Nothing before '=': name the output, or leave out the '='. (column 1)"),
    ("y = sin(x) * x**", "The formula ends with '**', which has nothing on its right. (column 15)"),
    ("y = x +", "The formula ends with '+', which has nothing on its right. (column 7)"),
    ("y = (x + )", "'+' has nothing on its right. (column 8)"),
    ("y = (* x)", "'*' has nothing on its left. (column 6)"),
    ("y = (x + 1", "Syntax error: '(' was never closed. (column 5)"),
    ("y = 2x", "Missing * between 2 and x: write 2*x, not 2x. (column 6)"),
    ("y = 1.5e3w + 1", "Missing * between 1.5e3 and w: write 1.5e3*w, not 1.5e3w. (column 10)"),
    ("y = x 2", "Missing operator between x and 2. (column 7)"),
    ("y = (x + 1) x", "Missing operator between (...) and x. (column 13)"),
    ("y = sin x", "sin is a function: put what it takes in brackets, sin(x). (column 9)"),
    ("y = x + 0123", "A whole number cannot start with 0: write 123, not 0123. (column 9)"),
]


@pytest.mark.parametrize(("text", "first_line"), INCOMPLETE)
def test_incomplete_formulas_name_the_real_problem(text: str, first_line: str) -> None:
    """Half-typed formulas get a message about what is missing, with the caret on the spot."""
    with pytest.raises(FormulaError) as caught:
        parse(text)
    error = caught.value
    assert str(error).splitlines()[0] == first_line
    assert error.caret().splitlines() == [text, " " * (error.column - 1) + "^"]


@pytest.mark.parametrize(
    "text", ["x + -2", "x * -2", "x ** -1", "x + +2", "-x", "x - -x", "sin(-x)*-(x)", "2*(x)"]
)
def test_signs_after_operators_are_not_two_operators_in_a_row(text: str) -> None:
    """A sign after an operator is a unary minus or plus, which the language accepts."""
    parse(text)


@pytest.mark.parametrize("text", ["1or x", "1if x else 2", "x + 1in x", "x + '\\d'", "0x1for"])
def test_python_syntax_warnings_never_reach_the_person(text: str) -> None:
    """Python warns about text like 1or x before parsing it; the person sees only our message."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(FormulaError):
            parse(text)
    assert [str(warning.message) for warning in caught] == []


def test_syntax_errors_come_with_a_caret_line() -> None:
    """A syntax error shows the formula and a caret under the spot."""
    with pytest.raises(FormulaError) as caught:
        parse("y = (x + 1")
    assert str(caught.value).splitlines()[1:3] == ["y = (x + 1", "    ^"]


def test_errors_are_value_errors() -> None:
    """ExplorerError is a ValueError, so generic callers can catch it."""
    with pytest.raises(ValueError, match="Unknown function"):
        parse("foo(x)")


@pytest.mark.parametrize(
    "attack",
    [
        "__import__('pathlib').Path(CANARY).touch()",
        "().__class__.__base__.__subclasses__()",
        "(lambda: __import__('pathlib').Path(CANARY).touch())()",
        "[__import__('pathlib').Path(CANARY).touch() for _ in [1]]",
        "open(CANARY, 'w')",
        "exec(\"open(CANARY, 'w')\")",
        "eval(\"open(CANARY, 'w')\")",
        "x.new_ones(1)",
        "globals()['__builtins__']",
        "breakpoint()",
    ],
)
def test_injection_attempts_are_refused_and_never_run(attack: str, tmp_path: Path) -> None:
    """Code hidden in a formula is refused, and the canary file it would create stays absent."""
    canary = tmp_path / "canary"
    text = attack.replace("CANARY", repr(str(canary)))
    with pytest.raises(FormulaError):
        explore(text, {"x": 1.0})
    assert not canary.exists()


def test_limits_accept_what_the_readme_promises() -> None:
    """500 characters, 100 operations and 8 variables (9 here) are accepted."""
    names = [f"v{i}" for i in range(8)]
    formula = parse(" + ".join(names) + " + x" * 93)
    assert formula.operations == 100
    assert len(formula.variables) == 9
    long = "y = x" + " + 1.000000" * 45
    assert len(long) >= 500
    parse(long)
    parse("(" * MAX_NESTING + "x" + ")" * MAX_NESTING)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("x+" * (MAX_OPERATIONS + 1) + "x", "operations"),
        ("x" + " " * MAX_CHARS, "characters"),
        ("(" * (MAX_NESTING + 1) + "x" + ")" * (MAX_NESTING + 1), "nested"),
        ("-" * 900 + "x", "operations"),
        (" + ".join(f"v{i}" for i in range(MAX_VARIABLES + 1)), "variables"),
        ("x" * 41, "longer than 40"),
        ("1e13*x", "too large"),
    ],
)
def test_limits_are_named_when_hit(text: str, fragment: str) -> None:
    """Going over a limit raises LimitError that names the limit."""
    with pytest.raises(LimitError, match=fragment):
        parse(text)


def test_default_output_avoids_inputs() -> None:
    """The output is y, or z when y is an input, and avoids inputs the formula does not use."""
    assert parse("x + 1").output == "y"
    assert parse("x + y").output == "z"
    assert parse("x + 1", taken=("x", "y", "z")).output == "f"
    assert parse("y + z + f + out + x").output == "out1"


def test_unparse_for_torch_spells_functions_constants_and_number_arguments() -> None:
    """The script's spelling uses torch functions, math constants and tensors for plain numbers."""
    formula = parse("softplus(x) + sin(pi/2)*x + e")
    assert unparse(formula.expr, torch=True) == (
        "torch.nn.functional.softplus(x) + torch.sin(torch.tensor(math.pi/2))*x + math.e"
    )
