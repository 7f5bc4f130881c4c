"""Parse the text a person typed into a validated Formula, safely.

The text goes through Python's ``ast`` parser and then through an allow-list: each accepted node
type has a handler in ``_HANDLERS``; every other node is rejected with a message from ``_REJECTED``.
Nothing is ever evaluated here, and no attribute, subscript or call of anything but a listed
function exists in the result.

    >>> parse("y = w*x + b").variables
    ('w', 'x', 'b')

A formula may also be a small program, statements separated by ``;`` or new lines, each naming
its result: ``h = w*x + b; y = sigmoid(h)``. Every name is assigned once, before it is read; the
last statement is the output.
"""

from __future__ import annotations

import ast
import itertools
import keyword
import re
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from explorer.diagnose import diagnose
from explorer.errors import FormulaError, LimitError
from explorer.values import MAX_MAGNITUDE, MAX_NAME_LENGTH, NAME

__all__ = [
    "CONSTANTS",
    "FUNCTIONS",
    "MAX_CHARS",
    "MAX_NESTING",
    "MAX_OPERATIONS",
    "MAX_STATEMENTS",
    "MAX_VARIABLES",
    "METHODS",
    "WARNINGS_LOCK",
    "Binary",
    "Call",
    "Const",
    "Expr",
    "Formula",
    "Num",
    "Statement",
    "Unary",
    "Var",
    "children",
    "is_number",
    "name_problem",
    "parse",
    "spell",
    "unparse",
    "walk",
]

MAX_CHARS = 1000
MAX_NESTING = 30  # brackets; checked before ast.parse, which itself crashes near 200
MAX_OPERATIONS = 200  # operators and function calls; also bounds the depth of every recursion below
MAX_VARIABLES = 12
MAX_STATEMENTS = 12

# Each function of the language and how PyTorch spells it; evaluate.py and code.py both read this.
FUNCTIONS: dict[str, str] = {
    "sin": "torch.sin",
    "cos": "torch.cos",
    "tan": "torch.tan",
    "asin": "torch.asin",
    "acos": "torch.acos",
    "atan": "torch.atan",
    "sinh": "torch.sinh",
    "cosh": "torch.cosh",
    "tanh": "torch.tanh",
    "exp": "torch.exp",
    "expm1": "torch.expm1",
    "log": "torch.log",
    "log1p": "torch.log1p",
    "log2": "torch.log2",
    "log10": "torch.log10",
    "sqrt": "torch.sqrt",
    "abs": "torch.abs",
    "sigmoid": "torch.sigmoid",
    "relu": "torch.relu",
    "softplus": "torch.nn.functional.softplus",
    "erf": "torch.erf",
}
# Calls the script spells as a tensor method: detach(h) is h.detach(), which cuts the graph.
METHODS: dict[str, str] = {"detach": "detach"}
# Constants fold to Python floats, exactly as ``math.pi`` does in the generated script.
CONSTANTS: dict[str, str] = {"pi": "math.pi", "e": "math.e"}
# Names the generated script itself needs; a variable may not shadow them.
RESERVED = frozenset({"torch", "math", "print"})
OUTPUT_DEFAULTS = ("y", "z", "f", "out")


@dataclass(frozen=True, slots=True)
class Num:
    """A literal number, kept as typed (``2e3``) and as its Python value."""

    value: int | float
    text: str
    column: int


@dataclass(frozen=True, slots=True)
class Const:
    """A named constant: ``pi`` or ``e``."""

    name: str
    column: int


@dataclass(frozen=True, slots=True)
class Var:
    """A variable: an input tensor of the formula."""

    name: str
    column: int


@dataclass(frozen=True, slots=True)
class Unary:
    """A unary ``-`` or ``+``."""

    op: str
    operand: Expr
    column: int


@dataclass(frozen=True, slots=True)
class Binary:
    """One of ``+ - * / **`` between two expressions."""

    op: str
    left: Expr
    right: Expr
    column: int  # of the operator itself, for error carets


@dataclass(frozen=True, slots=True)
class Call:
    """A call of one listed elementwise function on one argument."""

    func: str
    arg: Expr
    column: int


Expr = Num | Const | Var | Unary | Binary | Call


@dataclass(frozen=True, slots=True)
class Statement:
    """One assignment ``name = expr`` of a formula; the last one computes the output."""

    name: str
    expr: Expr
    column: int  # where the statement starts in its line, for error carets
    line: int | None = None  # its line, 1-based, in a formula of several lines; else None
    source: str = ""  # the text of its line, for error carets

    def __str__(self) -> str:
        return f"{self.name} = {unparse(self.expr)}"


@dataclass(frozen=True, slots=True)
class Formula:
    """A validated formula: its statements, the output's name and expression, and its inputs.

    ``variables`` are the inputs: the names read but never assigned, in reading order. ``names``
    are the intermediates: the names assigned before the last statement, in order.
    """

    text: str
    output: str
    expr: Expr  # the output's expression: the last statement's
    variables: tuple[str, ...]
    operations: int  # in the whole program
    statements: tuple[Statement, ...] = ()
    names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # A Formula built by hand from one expression is a program of one statement.
        if not self.statements:
            statement = Statement(self.output, self.expr, 1, source=self.text)
            object.__setattr__(self, "statements", (statement,))

    @property
    def expression(self) -> str:
        """Return the output's expression in canonical spelling, e.g. ``w*x + b``."""
        return unparse(self.expr)

    def __str__(self) -> str:
        return "; ".join(map(str, self.statements))


# ---------------------------------------------------------------------------------------------
# Checks on the raw text, before ast.parse sees it

# Hints for characters people paste from textbooks and slides.
_UNICODE_HINTS = {
    "\u2212": "-",
    "\u2013": "-",
    "\u2014": "-",
    "\u00d7": "*",
    "\u00b7": "*",
    "\u22c5": "*",
    "\u2219": "*",
    "\u2217": "*",
    "\u00f7": "/",
    "\u2044": "/",
    "\u00b2": "**2",
    "\u00b3": "**3",
    "\u00b9": "**1",
    "\u03c0": "pi",
    "\u221a": "sqrt(...)",
    "\u212f": "e",
    "\u03b8": "theta",
    "\u03b1": "alpha",
    "\u03b2": "beta",
    "\u03c3": "sigmoid(...) or sigma",
    "\u03bb": "lam",
    "\u03bc": "mu",
    "\u201c": "nothing: strings are not allowed",
    "\u201d": "nothing: strings are not allowed",
}


def _check_length(text: str) -> None:
    """Reject text longer than MAX_CHARS (the whole program counts)."""
    if len(text) > MAX_CHARS:
        raise LimitError(
            f"The formula is {len(text)} characters long; the limit is {MAX_CHARS}.",
            hint="Split it into smaller formulas.",
        )


def _check_line(text: str, line: int | None) -> None:
    """Reject a line that is not ASCII, holds a control character or a comment, or nests deep."""
    for index, char in enumerate(text):
        if not char.isascii():
            use = _UNICODE_HINTS.get(char)
            hint = f"Type {use} instead of {char}." if use else "Use plain ASCII: + - * / ** ( )."
            raise FormulaError(
                f"The character {char!r} (U+{ord(char):04X}) is not allowed.",
                source=text,
                column=index + 1,
                hint=hint,
                line=line,
            )
        if not char.isprintable():
            raise FormulaError(
                f"The control character U+{ord(char):04X} is not allowed.",
                source=text.encode("unicode_escape").decode(),
                column=None,
                line=line,
            )
    if "#" in text:
        raise FormulaError(
            "A formula cannot hold a comment (#).",
            source=text,
            column=text.index("#") + 1,
            line=line,
        )
    depth = 0
    for index, char in enumerate(text):
        depth += (char in "([{") - (char in ")]}")
        if depth > MAX_NESTING:
            raise LimitError(
                f"The brackets are nested more than {MAX_NESTING} deep.",
                source=text,
                column=index + 1,
                line=line,
            )


def name_problem(name: object) -> str | None:
    """Say why ``name`` cannot name an input or output (it ends up in the script), or None."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        return "must start with a letter and hold only letters, digits and _"
    if len(name) > MAX_NAME_LENGTH:
        return f"is longer than {MAX_NAME_LENGTH} characters"
    if keyword.iskeyword(name):
        return "is a Python keyword"
    if name in RESERVED:
        return "is reserved for the generated script; pick another name"
    if name in FUNCTIONS or name in METHODS or name in CONSTANTS:
        return "is a function or constant of the formula language"
    return None


# catch_warnings swaps the process-wide filter list and showwarning; holding this lock around
# every catch_warnings in the process keeps the app's concurrent sessions from restoring each
# other's filters or recording each other's warnings.
WARNINGS_LOCK = threading.Lock()


def _parse_quietly(text: str) -> ast.Module:
    """Run ast.parse without letting Python print warnings about the text.

    Python warns about text like ``1or x`` (SyntaxWarning: invalid decimal literal) before parsing
    it as ``1 or x``; the allow-list then refuses it with its own message, and the person should
    see only that one.
    """
    with WARNINGS_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)
        warnings.simplefilter("ignore", DeprecationWarning)  # invalid escapes in 3.11's strings
        return ast.parse(text, mode="exec")


def _syntax_error(text: str, error: SyntaxError, line: int | None) -> FormulaError:
    """Turn Python's SyntaxError on one line into a message a student can act on."""
    if found := _empty_statement(text, line) or _diagnose_statements(text, line):
        return found
    column = error.offset if error.offset and error.lineno == 1 else None
    column = min(column, len(text) + 1) if column else None
    message = error.msg or "invalid syntax"
    hint = None
    if "decimal literal" in message:
        hint = "Put * between a number and a name: write 2*x, not 2x."
    elif "never closed" in message or "unmatched" in message or "does not match" in message:
        hint = "Check that every ( has a matching )" + (" on the same line." if line else ".")
    elif message in ("invalid syntax", "invalid syntax. Perhaps you forgot a comma?"):
        message = "This is not a complete formula"
        hint = "A formula looks like y = w*x + b; write * for every product."
    return FormulaError(
        f"Syntax error: {message}.", source=text, column=column, hint=hint, line=line
    )


def _empty_statement(text: str, line: int | None) -> FormulaError | None:
    """Find a ';' with nothing before it: ``a = x;; y = a`` or a line that starts with ';'."""
    found = _EMPTY.search(text)
    if found is None:
        return None
    return FormulaError(
        "An empty statement: there is nothing before this ';'.",
        source=text,
        column=found.end(),
        hint="Remove the extra ';', or write a statement like h = w*x before it.",
        line=line,
    )


def _diagnose_statements(text: str, line: int | None) -> FormulaError | None:
    """Run diagnose() on each ';'-separated part of a line, with columns in the whole line."""
    start = 0
    for part in text.split(";"):
        found = diagnose(part, (*FUNCTIONS, *METHODS))
        if found is not None:
            column = None if found.column is None else start + found.column
            return FormulaError(
                found.message, source=text, column=column, hint=found.hint, line=line
            )
        start += len(part) + 1
    return None


_EMPTY = re.compile(r"^\s*;|;\s*;")


# ---------------------------------------------------------------------------------------------
# The allow-list: one handler per accepted node type, one message per rejected node type

_BINARY_OPS: dict[type[ast.operator], str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.Pow: "**",
}
_REJECTED_OPS: dict[type[ast.AST], tuple[str, str | None]] = {
    ast.BitXor: ("'^' is not a power in Python (it is bitwise xor).", "Use ** for powers: x**2."),
    ast.Mod: ("'%' (remainder) is not supported.", None),
    ast.FloorDiv: ("'//' (floor division) is not supported.", "Use / for division."),
    ast.MatMult: ("'@' (matrix product) is not supported: inputs are single numbers.", "Use *."),
    ast.LShift: ("Bit shifts are not supported.", None),
    ast.RShift: ("Bit shifts are not supported.", None),
    ast.BitOr: ("'|' (bitwise or) is not supported.", None),
    ast.BitAnd: ("'&' (bitwise and) is not supported.", None),
    ast.Invert: ("'~' (bitwise not) is not supported.", None),
    ast.Not: ("'not' is not supported: a formula computes a number.", None),
}
# How each binary operator is written, so an error's caret can point at it.
_SYMBOLS: dict[type[ast.operator], str] = {
    **_BINARY_OPS,
    ast.BitXor: "^",
    ast.Mod: "%",
    ast.FloorDiv: "//",
    ast.MatMult: "@",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitAnd: "&",
}
_UNARY_OPS: dict[type[ast.unaryop], str] = {ast.USub: "-", ast.UAdd: "+"}

_REJECTED: dict[type[ast.AST], str] = {
    ast.Attribute: "Attribute access (the '.' in a.b) is not allowed in a formula.",
    ast.Subscript: "Indexing with [...] is not allowed in a formula.",
    ast.Compare: "Comparisons (<, >, ==) are not allowed: a formula computes a number.",
    ast.BoolOp: "'and' and 'or' are not allowed: a formula computes a number.",
    ast.IfExp: "'if ... else' is not allowed in a formula.",
    ast.Lambda: "'lambda' is not allowed in a formula.",
    ast.ListComp: "Comprehensions are not allowed in a formula.",
    ast.SetComp: "Comprehensions are not allowed in a formula.",
    ast.DictComp: "Comprehensions are not allowed in a formula.",
    ast.GeneratorExp: "Comprehensions are not allowed in a formula.",
    ast.JoinedStr: "Strings are not allowed in a formula.",
    ast.NamedExpr: "':=' is not allowed in a formula.",
    ast.Tuple: "A formula is one expression; remove the comma.",
    ast.List: "Lists are not allowed: inputs are single numbers.",
    ast.Set: "Sets are not allowed in a formula.",
    ast.Dict: "Dicts are not allowed in a formula.",
    ast.Starred: (
        "'*' has nothing on its left to multiply (Python would read *x as unpacking, "
        "which a formula does not allow)."
    ),
    ast.Await: "'await' is not allowed in a formula.",
    ast.Yield: "'yield' is not allowed in a formula.",
    ast.YieldFrom: "'yield' is not allowed in a formula.",
    ast.Slice: "Slices are not allowed in a formula.",
}
_ALLOWED_SUMMARY = (
    "A formula may use numbers, variables, + - * / **, ( ), pi, e and functions like sin(x)."
)
_DECIMAL = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)


class _Converter:
    """Convert an ``ast`` expression into the Formula's own node types, or raise FormulaError."""

    def __init__(self, text: str, line: int | None = None) -> None:
        self.text = text  # one line: ast's offsets index it directly
        self.line = line

    def error(
        self, message: str, node: ast.AST | int | None, hint: str | None = None
    ) -> FormulaError:
        column = node if isinstance(node, int) or node is None else node.col_offset + 1
        return FormulaError(message, source=self.text, column=column, hint=hint, line=self.line)

    def convert(self, node: ast.expr) -> Expr:
        handler = _HANDLERS.get(type(node))
        if isinstance(node, ast.Tuple) and not node.elts:
            raise self.error("The brackets ( ) are empty: put a number or expression inside.", node)
        if handler is None:
            message = _REJECTED.get(type(node), "This kind of Python expression is not allowed.")
            raise self.error(message, node, hint=_ALLOWED_SUMMARY)
        return handler(self, node)

    def constant(self, node: ast.Constant) -> Expr:
        value = node.value
        kind = type(value)
        if kind is bool or value is None or value is Ellipsis:
            raise self.error(f"{value!r} is not a number.", node, hint=_ALLOWED_SUMMARY)
        if kind in (str, bytes):
            raise self.error("Strings are not allowed in a formula.", node, hint=_ALLOWED_SUMMARY)
        if kind is complex:
            raise self.error("Complex numbers (the j suffix) are not supported.", node)
        # One line of ASCII, so ast's offsets index the text directly (get_source_segment is slow).
        text = self.text[node.col_offset : node.end_col_offset]
        if kind not in (int, float) or not _DECIMAL.fullmatch(text):
            raise self.error(
                f"Write numbers in plain decimal, like 3, 0.5 or 2e3 (not {text!r}).", node
            )
        if abs(value) > MAX_MAGNITUDE:  # also catches 1e400, which Python reads as inf
            raise LimitError(
                f"The number {text} is too large; the limit is {MAX_MAGNITUDE:g}.",
                source=self.text,
                column=node.col_offset + 1,
                line=self.line,
            )
        return Num(value, text, node.col_offset + 1)

    def name(self, node: ast.Name) -> Expr:
        name = node.id
        if name in FUNCTIONS or name in METHODS:
            raise self.error(f"{name} is a function: call it like {name}(x).", node)
        if name in CONSTANTS:
            return Const(name, node.col_offset + 1)
        self.check_name(name, node.col_offset + 1, "A variable")
        return Var(name, node.col_offset + 1)

    def check_name(self, name: str, column: int, what: str) -> None:
        if NAME.fullmatch(name) and len(name) > MAX_NAME_LENGTH:
            raise LimitError(
                f"{what} name is longer than {MAX_NAME_LENGTH} characters.",
                source=self.text,
                column=column,
                line=self.line,
            )
        if problem := name_problem(name):
            raise self.error(f"{what} name {name!r} {problem}.", column)

    def binop(self, node: ast.BinOp) -> Expr:
        column = self.operator_column(node)
        op = _BINARY_OPS.get(type(node.op))
        if op is None:
            message, hint = _REJECTED_OPS[type(node.op)]
            raise self.error(message, column, hint=hint)
        return Binary(op, self.convert(node.left), self.convert(node.right), column)

    def operator_column(self, node: ast.BinOp) -> int:
        """Find the operator between the operands, so the caret points at it."""
        start, stop = node.left.end_col_offset or 0, node.right.col_offset
        offset = self.text[start:stop].find(_SYMBOLS[type(node.op)])
        return start + offset + 1 if offset >= 0 else node.col_offset + 1

    def unaryop(self, node: ast.UnaryOp) -> Expr:
        op = _UNARY_OPS.get(type(node.op))
        if op is None:
            message, hint = _REJECTED_OPS[type(node.op)]
            raise self.error(message, node, hint=hint)
        return Unary(op, self.convert(node.operand), node.col_offset + 1)

    def call(self, node: ast.Call) -> Expr:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in METHODS:
            raise self.error(
                f"Write {func.attr}(h) for h.{func.attr}(): a formula calls functions, "
                "not methods.",
                func,
            )
        if not isinstance(func, ast.Name):
            raise self.error("Only the listed functions can be called, like sin(x).", func)
        name = func.id
        if name not in FUNCTIONS and name not in METHODS:
            product = NAME.fullmatch(name) and name not in RESERVED
            raise self.error(
                f"Unknown function {name!r}. Available: {', '.join((*FUNCTIONS, *METHODS))}.",
                func,
                hint=f"For a product write {name}*(...)." if product else None,
            )
        if node.keywords:
            raise self.error(f"{name}() takes no keyword arguments.", node.keywords[0].value)
        if len(node.args) != 1:
            raise self.error(f"{name}() takes exactly one argument, e.g. {name}(x).", node)
        return Call(name, self.convert(node.args[0]), node.col_offset + 1)


_HANDLERS: dict[type[ast.AST], Callable[[_Converter, ast.expr], Expr]] = {
    ast.Constant: _Converter.constant,
    ast.Name: _Converter.name,
    ast.BinOp: _Converter.binop,
    ast.UnaryOp: _Converter.unaryop,
    ast.Call: _Converter.call,
}


# ---------------------------------------------------------------------------------------------
# The statements around the expressions: [NAME =] expression, separated by ';' or new lines


def _split_statement(
    statement: ast.stmt, converter: _Converter, *, last: bool
) -> tuple[ast.Name | None, ast.expr]:
    """Return the statement's name node (None if not given) and its expression node."""
    if isinstance(statement, ast.Expr):
        if not last:
            raise converter.error(
                "Only the last statement may leave its result unnamed.",
                statement,
                hint="Name this one, like h = w*x + b.",
            )
        return None, statement.value
    if isinstance(statement, ast.Assign):
        if len(statement.targets) != 1:
            raise converter.error("Name the output once: y = ...", statement.targets[1])
        target = statement.targets[0]
        if not isinstance(target, ast.Name):
            raise converter.error("The output must be a plain name, like y.", target)
        return target, statement.value
    raise converter.error("A formula looks like y = w*x + b.", statement, hint=_ALLOWED_SUMMARY)


def _count_operations(tree: ast.AST) -> int:
    """Count operators and calls without recursion (ast.walk is iterative)."""
    return sum(isinstance(node, ast.BinOp | ast.UnaryOp | ast.Call) for node in ast.walk(tree))


def children(expr: Expr) -> tuple[Expr, ...]:
    """Return the operands of a node, left to right (none for numbers, constants, variables)."""
    if isinstance(expr, Binary):
        return (expr.left, expr.right)
    if isinstance(expr, Unary):
        return (expr.operand,)
    if isinstance(expr, Call):
        return (expr.arg,)
    return ()


def walk(expr: Expr) -> Iterator[Expr]:
    """Yield every node of an expression in reading order (pre-order, left to right)."""
    stack = [expr]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(children(node)))


def parse(text: str, taken: Iterable[str] = ()) -> Formula:
    """Parse ``[NAME =] expression``, or several separated by ';' or new lines, into a Formula.

    Raise FormulaError saying where and why when the text is not one. ``taken`` lists other names
    in use (inputs the formula does not use): no statement may assign them, and the output's
    default name avoids them.

    >>> str(parse("z=x**y"))
    'z = x**y'
    >>> parse("h = w*x; y = sigmoid(h)").names
    ('h',)
    """
    if not isinstance(text, str):
        raise FormulaError(f"A formula is text, not {type(text).__name__}.")
    _check_length(text)
    # Surrounding spaces mean nothing, but Python would call a leading one an indent.
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        raise FormulaError("The formula is empty.", hint="Type a formula like y = x**2 + 1.")
    lines = [line.strip() for line in text.split("\n")]
    several = len(lines) > 1
    trees = [
        _parse_line(line, number if several else None)
        for number, line in enumerate(lines, 1)
        if line
    ]
    operations = sum(_count_operations(tree) for tree, _ in trees)
    if operations > MAX_OPERATIONS:
        raise LimitError(
            f"The formula has {operations} operations; the limit is {MAX_OPERATIONS}.",
            hint="Split it into smaller formulas.",
        )
    nodes = [(node, converter) for tree, converter in trees for node in tree.body]
    if len(nodes) > MAX_STATEMENTS:
        node, converter = nodes[MAX_STATEMENTS]
        raise LimitError(
            f"The formula has {len(nodes)} statements; the limit is {MAX_STATEMENTS}.",
            source=converter.text,
            column=node.col_offset + 1,
            line=converter.line,
        )
    statements, variables = _Program(nodes, tuple(taken)).build()
    if len(variables) > MAX_VARIABLES:
        raise LimitError(
            f"The formula has {len(variables)} variables; the limit is {MAX_VARIABLES}.",
            source=text,
        )
    output = statements[-1]
    names = tuple(statement.name for statement in statements[:-1])
    return Formula(text, output.name, output.expr, variables, operations, statements, names)


def _parse_line(text: str, line: int | None) -> tuple[ast.Module, _Converter]:
    """Check and parse one line of statements; return its tree and a converter for it."""
    _check_line(text, line)
    try:
        tree = _parse_quietly(text)
    except SyntaxError as error:
        raise _syntax_error(text, error, line) from None
    except (MemoryError, RecursionError):
        raise LimitError("The formula is too deeply nested.", source=text, line=line) from None
    return tree, _Converter(text, line)


class _Program:
    """Convert statements in order, checking that each name is assigned once, before it is read."""

    def __init__(self, nodes: list[tuple[ast.stmt, _Converter]], taken: tuple[str, ...]) -> None:
        self.nodes = nodes
        self.taken = taken
        self.assigned: dict[str, int] = {}  # name -> the statement (1-based) that assigned it
        self.inputs: dict[str, None] = {}  # names read but never assigned, in reading order
        # The first statement assigning each name, to tell "used before assigned" apart.
        self.first: dict[str, int] = {}
        for number, (node, _) in enumerate(nodes, 1):
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
                self.first.setdefault(node.targets[0].id, number)

    def build(self) -> tuple[tuple[Statement, ...], tuple[str, ...]]:
        """Return the statements and the inputs, or raise FormulaError at the first problem."""
        statements = []
        for number, (node, converter) in enumerate(self.nodes, 1):
            last = number == len(self.nodes)
            target, value = _split_statement(node, converter, last=last)
            expr = converter.convert(value)
            self.read(expr, value, target, converter, last)
            name = self.name(target, converter, last=last)
            self.assigned[name] = number
            column = (target or value).col_offset + 1
            statements.append(Statement(name, expr, column, converter.line, converter.text))
        return tuple(statements), tuple(self.inputs)

    def read(
        self,
        expr: Expr,
        value: ast.expr,
        target: ast.Name | None,
        converter: _Converter,
        last: bool,
    ) -> None:
        """Sort the names ``expr`` reads into intermediates and inputs; refuse early reads."""
        variables = [node for node in walk(expr) if isinstance(node, Var)]
        if not variables and len(self.nodes) == 1:
            raise converter.error(
                "The formula has no variables, so there is nothing to differentiate.",
                value,
                hint="Use a variable, e.g. y = 2*x + 1.",
            )
        if not variables:
            raise converter.error(
                "This statement uses no variable, so its result would be a plain number, "
                "not a tensor.",
                target or value,
                hint="Write the number where it is used, or compute it from an input.",
            )
        own = target.id if target is not None else None
        for var in variables:
            name = var.name
            if name in self.assigned:
                continue
            if name == own and target is not None:
                raise self.input_name(name, target.col_offset + 1, converter, last=last)
            if name in self.first:
                raise converter.error(
                    f"{name!r} is used before it is assigned (statement {self.first[name]} "
                    "assigns it).",
                    var.column,
                    hint=f"Assign {name} in an earlier statement; or, if {name} is an input, "
                    "give the statement that assigns it another name.",
                )
            self.inputs.setdefault(name)

    def name(self, target: ast.Name | None, converter: _Converter, *, last: bool) -> str:
        """Return the statement's name: the one given, or for the output the first free default."""
        if target is None:
            used = (*self.inputs, *self.taken, *self.assigned)
            candidates = itertools.chain(OUTPUT_DEFAULTS, (f"out{n}" for n in itertools.count(1)))
            return next(name for name in candidates if name not in used)
        name, column = target.id, target.col_offset + 1
        converter.check_name(name, column, "The output" if last else "The name")
        if name in self.assigned:
            raise converter.error(
                f"{name!r} is already assigned by statement {self.assigned[name]}; "
                "each name is assigned only once.",
                column,
                hint=f"Give this result a new name, like {name}2 = ...",
            )
        if name in self.taken:
            raise self.input_name(name, column, converter, last=last)
        return name

    @staticmethod
    def input_name(name: str, column: int, converter: _Converter, *, last: bool) -> FormulaError:
        """Refuse assigning to a name that is an input."""
        if last:
            return converter.error(
                f"The output {name!r} is also the name of an input.",
                column,
                hint="Give the output another name, e.g. z = ...",
            )
        return converter.error(
            f"The name {name!r} is also the name of an input.",
            column,
            hint="Give this result another name.",
        )


# ---------------------------------------------------------------------------------------------
# Printing an expression back: the canonical spelling, and PyTorch's for the generated script

_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "unary": 3, "**": 4, "atom": 5}


def _precedence(expr: Expr) -> int:
    if isinstance(expr, Binary):
        return _PRECEDENCE[expr.op]
    if isinstance(expr, Unary):
        return _PRECEDENCE["unary"]
    return _PRECEDENCE["atom"]


def is_number(expr: Expr) -> bool:
    """Tell whether an expression is plain Python arithmetic: no variable and no function call."""
    return not any(isinstance(node, Var | Call) for node in walk(expr))


def unparse(expr: Expr, *, torch: bool = False) -> str:
    """Spell an expression with minimal brackets: ``w*x + b``; with torch=True as the script does.

    The script wraps a function's plain-number argument in ``torch.tensor`` because torch functions
    take tensors only; the evaluator does exactly the same, so both compute the same thing.
    """
    parts = tuple(unparse(child, torch=torch) for child in children(expr))
    return spell(expr, parts, torch=torch)


def spell(expr: Expr, parts: tuple[str, ...], *, torch: bool = False) -> str:
    """Spell one node from its children's spellings, so callers can build text bottom-up."""
    if isinstance(expr, Num):
        return expr.text
    if isinstance(expr, Var):
        return expr.name
    if isinstance(expr, Const):
        return CONSTANTS[expr.name] if torch else expr.name
    if isinstance(expr, Call):
        (arg,) = parts
        if not torch:
            return f"{expr.func}({arg})"
        if expr.func in METHODS:
            return _method(expr, arg)
        return (
            f"{FUNCTIONS[expr.func]}(torch.tensor({arg}))"
            if is_number(expr.arg)
            else (f"{FUNCTIONS[expr.func]}({arg})")
        )
    if isinstance(expr, Unary):
        (operand,) = parts
        if _precedence(expr.operand) < _PRECEDENCE["unary"]:
            operand = f"({operand})"
        return f"{expr.op}{operand}"
    left, right = parts
    mine = _PRECEDENCE[expr.op]
    # ** groups to the right, the others to the left: brackets keep the tree exactly as parsed.
    if _precedence(expr.left) < mine or (expr.op == "**" and _precedence(expr.left) == mine):
        left = f"({left})"
    if _precedence(expr.right) < mine or (expr.op != "**" and _precedence(expr.right) == mine):
        right = f"({right})"
    space = " " if mine == 1 else ""
    return f"{left}{space}{expr.op}{space}{right}"


def _method(expr: Call, arg: str) -> str:
    """Spell ``detach(h)`` as PyTorch does, ``h.detach()``, bracketing what needs it."""
    if is_number(expr.arg):
        arg = f"torch.tensor({arg})"
    elif _precedence(expr.arg) < _PRECEDENCE["atom"]:
        arg = f"({arg})"
    return f"{arg}.{METHODS[expr.func]}()"
