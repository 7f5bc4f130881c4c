"""An independent float64 evaluator of the Formula tree, for values and finite differences.

It uses only the ``math`` module, so a mistake in how explorer drives PyTorch cannot hide in it.
"""

from __future__ import annotations

import math

from explorer.formula import Call, Const, Expr, Num, Unary, Var, parse

_F = {
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "asin": math.asin,
    "acos": math.acos,
    "atan": math.atan,
    "sinh": math.sinh,
    "cosh": math.cosh,
    "tanh": math.tanh,
    "exp": math.exp,
    "expm1": math.expm1,
    "log": math.log,
    "log1p": math.log1p,
    "log2": math.log2,
    "log10": math.log10,
    "sqrt": math.sqrt,
    "abs": abs,
    "erf": math.erf,
    "sigmoid": lambda v: 1 / (1 + math.exp(-v)),
    "relu": lambda v: max(v, 0.0),
    "softplus": lambda v: math.log1p(math.exp(v)),
    "detach": lambda v: v,  # the same value; only the gradient is cut
}


def value64(expr: Expr, env: dict[str, float]) -> float:
    """Evaluate ``expr`` in float64 with the math module."""
    if isinstance(expr, Num):
        return float(expr.value)
    if isinstance(expr, Const):
        return {"pi": math.pi, "e": math.e}[expr.name]
    if isinstance(expr, Var):
        return float(env[expr.name])
    if isinstance(expr, Unary):
        operand = value64(expr.operand, env)
        return -operand if expr.op == "-" else operand
    if isinstance(expr, Call):
        return _F[expr.func](value64(expr.arg, env))
    left, right = value64(expr.left, env), value64(expr.right, env)
    match expr.op:
        case "+":
            return left + right
        case "-":
            return left - right
        case "*":
            return left * right
        case "/":
            return left / right
    return left**right


def central_difference(text: str, env: dict[str, float], name: str, h: float = 1e-6) -> float:
    """Return (f(v+h) - f(v-h)) / 2h for the variable ``name``, in float64."""
    expr = parse(text).expr
    up, down = dict(env), dict(env)
    up[name] += h
    down[name] -= h
    return (value64(expr, up) - value64(expr, down)) / (2 * h)
