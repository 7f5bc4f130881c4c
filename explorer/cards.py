"""Chain-rule cards: the local derivatives of every backward function the formula language makes.

A card is keyed by the backward function's name, as the formula's ``_HANDLERS`` are keyed by node
type. For each input slot of the function (``grad_fn.next_functions``), in PyTorch's order, it gives
the local derivative three ways: as a formula in the operands' names (``y·x^(y-1)``), as the same
formula with the numbers the node saved (``4·3^(4-1)``), and as its value, computed with the
operations PyTorch's own backward formula uses (``tools/autograd/derivatives.yaml``), so that
``local * received`` is what the node sent, to float32 rounding.

Placeholders: ``{a}`` is the function's first operand (PyTorch's ``self``), ``{b}`` its second
(``other`` or ``exponent``), ``{r}`` its result. Values come from the node's saved tensors
(``_saved_self``, ``_saved_other``/``_saved_exponent``, ``_saved_result``), read by steps.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

__all__ = [
    "ACCUMULATE",
    "CARDS",
    "DETACHED",
    "Card",
    "Rule",
    "Saved",
    "card_for",
]

# What detach leaves in the graph: nothing. PyTorch records None where a detached tensor is used.
DETACHED = (
    "detach() leaves no backward function: PyTorch records None where the detached tensor is "
    "used, so no gradient flows back through it and nothing before it is reached from here."
)
ACCUMULATE = "AccumulateGrad"


@dataclass(frozen=True, slots=True)
class Saved:
    """What a backward function saved during the forward pass, detached from the graph."""

    a: Any = None  # _saved_self: a tensor, or a Python number for 2**x
    b: Any = None  # _saved_other or _saved_exponent
    r: Any = None  # _saved_result
    alpha: Any = 1  # _saved_alpha of add/sub/rsub
    beta: Any = 1  # _saved_beta of softplus
    threshold: Any = 20  # _saved_threshold of softplus


@dataclass(frozen=True, slots=True)
class Rule:
    """The local derivative of one input slot."""

    wrt: str  # the placeholder this slot stands for: "a" or "b"
    formula: str  # in the operands' names, e.g. the power rule's b·a^(b-1)
    numbers: str  # the same with the saved values; {r} is the result's value
    local: Callable[[Saved], Any]  # the value, computed as PyTorch's backward formula does
    # Where PyTorch selects 0 (torch.where) instead of multiplying: nothing passes then, not even
    # an inf or nan that arrives. None: the gradient is always multiplied by the local derivative.
    blocked: Callable[[Saved], Any] | None = None


@dataclass(frozen=True, slots=True)
class Card:
    """The chain-rule card of one backward function."""

    computes: str  # the forward operation, in placeholders: "{a}**{b}"
    rule: str  # the rule's name, for a student: "power rule"
    rules: tuple[Rule, ...]  # one per slot of next_functions, in PyTorch's order
    explain: str  # one or two sentences, worded for a student


def _const(value: float) -> Callable[[Saved], Any]:
    return lambda _saved: value


def _same(formula: str) -> tuple[str, str]:
    """Use one template for names and numbers."""
    return formula, formula


def _rule(
    wrt: str,
    texts: tuple[str, str],
    local: Callable[[Saved], Any],
    blocked: Callable[[Saved], Any] | None = None,
) -> Rule:
    return Rule(wrt, texts[0], texts[1], local, blocked)


def _exponent_zero(s: Saved) -> Any:
    return s.b == 0


def _pow_self(s: Saved) -> Any:
    """d(a**b)/da: zero for b == 0, else b*a^(b-1) (PyTorch's pow_backward)."""
    if isinstance(s.b, torch.Tensor):
        return torch.where(s.b == 0, 0.0, s.b * s.a.pow(s.b - 1))
    return torch.zeros_like(s.a) if s.b == 0 else s.b * s.a.pow(s.b - 1)


def _pow_exponent(s: Saved) -> Any:
    """d(a**b)/db: a^b·ln a, zero where a == 0 and b >= 0 (PyTorch's pow_backward_exponent)."""
    if isinstance(s.a, torch.Tensor):
        return torch.where((s.a == 0) & (s.b >= 0), 0.0, s.r * s.a.log())
    # A number as the base (2**x): C++'s log of that number, nan for a negative one.
    log = math.log(s.a) if s.a > 0 else -math.inf if s.a == 0 else math.nan
    local = s.r * log
    return torch.where(s.b >= 0, 0.0, local) if s.a == 0 else local


def _softplus(s: Saved) -> Any:
    """Above the threshold softplus is taken as linear: slope 1; else e^(βa)/(e^(βa) + 1)."""
    z = (s.a * s.beta).exp()
    return torch.where(s.a * s.beta > s.threshold, 1.0, z / (z + 1))


_LN2, _LN10 = 0.6931471805599453, 2.3025850929940456
_ONE = _const(1.0)

_FUNCTION_CARDS: dict[str, tuple[str, str, tuple[str, str], Callable[[Saved], Any], str]] = {
    # name: (function, rule, (formula, numbers), local, explanation)
    "SinBackward0": ("sin", "derivative of sin", ("cos({a})", "cos({a})"), lambda s: s.a.cos(), ""),
    "CosBackward0": (
        "cos",
        "derivative of cos",
        ("−sin({a})", "−sin({a})"),
        lambda s: -s.a.sin(),
        "",
    ),
    "TanBackward0": (
        "tan",
        "derivative of tan",
        ("1 + tan²({a})", "1 + {r}²"),
        lambda s: 1 + s.r.pow(2),
        "It saved its result tan(a), so the derivative 1 + tan²(a) needs no new tan.",
    ),
    "AsinBackward0": (
        "asin",
        "derivative of asin",
        _same("1/√(1 − {a}²)"),
        lambda s: (-s.a * s.a + 1).rsqrt(),
        "",
    ),
    "AcosBackward0": (
        "acos",
        "derivative of acos",
        _same("−1/√(1 − {a}²)"),
        lambda s: -((-s.a * s.a + 1).rsqrt()),
        "",
    ),
    "AtanBackward0": (
        "atan",
        "derivative of atan",
        _same("1/(1 + {a}²)"),
        lambda s: 1 / (s.a * s.a + 1),
        "",
    ),
    "SinhBackward0": ("sinh", "derivative of sinh", _same("cosh({a})"), lambda s: s.a.cosh(), ""),
    "CoshBackward0": ("cosh", "derivative of cosh", _same("sinh({a})"), lambda s: s.a.sinh(), ""),
    "TanhBackward0": (
        "tanh",
        "derivative of tanh",
        ("1 − tanh²({a})", "1 − {r}²"),
        # PyTorch's kernel fuses 1 - r*r (one rounding); in float64, then float32, matches it.
        lambda s: (1 - s.r.double() * s.r.double()).to(s.r.dtype),
        "It saved its result tanh(a): the derivative 1 − tanh²(a) is made from it.",
    ),
    "ExpBackward0": (
        "exp",
        "exp is its own derivative",
        ("exp({a})", "{r}"),
        lambda s: s.r,
        "exp is its own derivative, so the node saved its result and reuses it.",
    ),
    "Expm1Backward0": (
        "expm1",
        "derivative of exp(a) − 1",
        ("exp({a})", "{r} + 1"),
        lambda s: s.r + 1,
        "It saved its result exp(a) − 1; adding 1 gives the derivative exp(a).",
    ),
    "LogBackward0": ("log", "derivative of ln", _same("1/{a}"), lambda s: 1 / s.a, ""),
    "Log1PBackward0": (
        "log1p",
        "derivative of ln(1 + a)",
        _same("1/(1 + {a})"),
        lambda s: 1 / (s.a + 1),
        "",
    ),
    "Log2Backward0": (
        "log2",
        "derivative of log2",
        _same("1/({a}·ln 2)"),
        lambda s: 1 / (s.a * _LN2),
        "",
    ),
    "Log10Backward0": (
        "log10",
        "derivative of log10",
        _same("1/({a}·ln 10)"),
        lambda s: 1 / (s.a * _LN10),
        "",
    ),
    "SqrtBackward0": (
        "sqrt",
        "derivative of √",
        ("1/(2·√{a})", "1/(2·{r})"),
        lambda s: 1 / (2 * s.r),
        "It saved its result √a and divides by twice that.",
    ),
    "AbsBackward0": (
        "abs",
        "derivative of |a|",
        _same("sign({a})"),
        lambda s: s.a.sgn(),
        "The slope of |a| is −1 left of 0 and 1 right of it; at 0 PyTorch takes 0.",
    ),
    "SigmoidBackward0": (
        "sigmoid",
        "derivative of σ",
        ("σ({a})·(1 − σ({a}))", "{r}·(1 − {r})"),
        lambda s: (1 - s.r) * s.r,
        "It saved its result σ(a): the derivative σ(a)·(1 − σ(a)) is made from it.",
    ),
    "ReluBackward0": (
        "relu",
        "derivative of relu",
        ("1 if {a} > 0 else 0", "1 if {r} > 0 else 0"),
        lambda s: (~(s.r <= 0)).to(s.r.dtype),  # as threshold_backward: nan passes
        "relu passes the gradient where its result is positive and blocks it elsewhere (at 0 too).",
    ),
    "SoftplusBackward0": (
        "softplus",
        "derivative of softplus",
        ("σ({a}) = e^{a}/(e^{a} + 1)", "e^{a}/(e^{a} + 1)"),
        _softplus,
        "Above 20 PyTorch computes softplus as a itself, so the slope there is exactly 1.",
    ),
    "ErfBackward0": (
        "erf",
        "derivative of erf",
        _same("2/√π·e^(−{a}²)"),
        lambda s: 2.0 / math.sqrt(math.pi) * (-s.a.pow(2)).exp(),
        "",
    ),
}


def _function_card(entry: tuple[str, str, tuple[str, str], Callable[[Saved], Any], str]) -> Card:
    func, rule, texts, local, explain = entry
    blocked = (lambda s: s.r <= 0) if func == "relu" else None
    # The card's title already names the rule (card_markdown writes it first).
    chain = f"The gradient that arrives is multiplied by the slope of {func} at its input."
    rules = (_rule("a", texts, local, blocked),)
    return Card(f"{func}({{a}})", rule, rules, f"{chain} {explain}".strip())


CARDS: dict[str, Card] = {
    "AddBackward0": Card(
        "{a} + {b}",
        "sum rule",
        (_rule("a", _same("1"), _ONE), _rule("b", _same("1"), lambda s: s.alpha)),
        "A sum passes the gradient it receives unchanged to both operands.",
    ),
    "AddBackward1": Card(
        "{a} + {b}",
        "sum rule",
        (_rule("a", _same("1"), _ONE),),
        "Adding a number passes the gradient on unchanged.",
    ),
    "SubBackward0": Card(
        "{a} − {b}",
        "difference rule",
        (_rule("a", _same("1"), _ONE), _rule("b", _same("−1"), lambda s: -s.alpha)),
        "A difference passes the gradient to the first operand and its negative to the second.",
    ),
    "SubBackward1": Card(
        "{a} − {b}",
        "difference rule",
        (_rule("a", _same("1"), _ONE),),
        "Subtracting a number passes the gradient on unchanged.",
    ),
    "RsubBackward0": Card(
        "{b} − {a}",
        "difference rule",
        (_rule("a", _same("−1"), lambda s: -s.alpha), _rule("b", _same("1"), _ONE)),
        "rsub computes b − a: the gradient goes to b as it is and to a negated.",
    ),
    "RsubBackward1": Card(
        "{b} − {a}",
        "difference rule",
        (_rule("a", _same("−1"), lambda s: -s.alpha),),
        "A number minus a tensor (2 − x, which Python runs as x.__rsub__(2)) sends the negated "
        "gradient to the tensor.",
    ),
    "MulBackward0": Card(
        "{a}·{b}",
        "product rule",
        (_rule("a", _same("{b}"), lambda s: s.b), _rule("b", _same("{a}"), lambda s: s.a)),
        "Each factor's local derivative is the other factor, which the node saved for this.",
    ),
    "DivBackward0": Card(
        "{a}/{b}",
        "quotient rule",
        (
            _rule("a", _same("1/{b}"), lambda s: 1 / s.b),
            _rule("b", _same("−{a}/{b}²"), lambda s: -(s.a / s.b) / s.b),
        ),
        "The numerator's local derivative is 1/b; the denominator's is −a/b².",
    ),
    "PowBackward0": Card(
        "{a}^{b}",
        "power rule",
        (_rule("a", _same("{b}·{a}^({b}−1)"), _pow_self, _exponent_zero),),
        "A power with a fixed exponent: bring the exponent down and lower it by one.",
    ),
    "PowBackward1": Card(
        "{a}^{b}",
        "power rule and exponential rule",
        (
            _rule("a", _same("{b}·{a}^({b}−1)"), _pow_self, _exponent_zero),
            _rule("b", ("{a}^{b}·ln {a}", "{r}·ln {a}"), _pow_exponent),
        ),
        "Both base and exponent are tensors: the base gets the power rule, the exponent the "
        "exponential rule a^b·ln a (PyTorch takes 0 there when a = 0 and b ≥ 0).",
    ),
    "PowBackward2": Card(
        "{a}^{b}",
        "exponential rule",
        (_rule("b", ("{a}^{b}·ln {a}", "{r}·ln {a}"), _pow_exponent),),
        "A number to a tensor power (2**x): the derivative is the result times ln of the base.",
    ),
    "NegBackward0": Card(
        "−{a}",
        "negation",
        (_rule("a", _same("−1"), _const(-1.0)),),
        "Negation sends the gradient on with its sign flipped.",
    ),
    "ReciprocalBackward0": Card(
        "1/{a}",
        "derivative of 1/a",
        (_rule("a", ("−1/{a}²", "−{r}²"), lambda s: -(s.r * s.r)),),
        "PyTorch runs a number divided by a tensor (2/x) as 2·(1/x): this node is the 1/x. "
        "It saved its result 1/a and squares it.",
    ),
    ACCUMULATE: Card(
        "{a}",
        "accumulate into .grad",
        (),
        "A leaf's AccumulateGrad adds the gradient it receives to the leaf's .grad (None counts "
        "as 0). That is why a second backward() adds to the first one's gradients.",
    ),
}
CARDS.update({name: _function_card(entry) for name, entry in _FUNCTION_CARDS.items()})


def card_for(function: str) -> Card | None:
    """Return the card of a backward function by its name, or None for one without a card."""
    return CARDS.get(function)
