"""Lesson notes stay true: every number a preset's note states is the one the Exploration shows."""

from __future__ import annotations

import math
import re

import pytest
from oracle import central_difference, value64

from explorer import explore, parse
from explorer.presets import PRESETS, Preset, by_label, what_to_notice

# "w.grad = x = tensor(3.)", "w.grad = tensor(-0.1884)" or "x.grad is None (x is an integer tensor)"
_FACT = re.compile(r"(\w+)\.grad (?:= (?:(.+?) = )?(tensor\([^()]*\))|is None \(([^()]*)\))")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def moved(preset: Preset, shift: float) -> dict[str, int | float]:
    """Move every input of a preset, keeping each one's dtype."""
    return {
        name: round(value + shift) if isinstance(value, int) else value + shift
        for name, value in preset.values.items()
    }


SETTINGS = [
    pytest.param(preset, values, preset.requires_grad, id=f"{preset.label} {tag}")
    for preset in PRESETS
    for tag, values in [
        ("default", preset.values),
        ("+0.7", moved(preset, 0.7)),
        ("-1.3", moved(preset, -1.3)),
        ("+2.25", moved(preset, 2.25)),
    ]
]
# The page also lets a student flip requires_grad and the dtype; the note must follow.
SETTINGS += [
    pytest.param(
        preset, preset.values, dict.fromkeys(preset.values, False), id=f"{preset.label} off"
    )
    for preset in PRESETS
]
SETTINGS += [
    pytest.param(
        by_label("Example 2: y = w*x + b"), {"x": 3.0, "w": 2.0, "b": 5.0}, {}, id="x float"
    ),
    pytest.param(by_label("Example 3: z = x**y"), {"x": 3, "y": 4.0}, {}, id="x int"),
    pytest.param(by_label("A constant blocks a gradient"), {"c": 3.0, "x": -2.0}, {}, id="c grad"),
    pytest.param(
        by_label("Neuron: (sigmoid(w*x + b) - t)**2"),
        {"w": 0.5, "x": 1.5, "b": 0.1, "t": 1.0},
        {},
        id="neuron all grads",
    ),
]


@pytest.mark.parametrize(("preset", "values", "requires_grad"), SETTINGS)
def test_every_number_in_the_note_is_the_one_pytorch_printed(
    preset: Preset, values: dict[str, int | float], requires_grad: dict[str, bool]
) -> None:
    """Each input gets one fact: its .grad as the transcript prints it, or None with the reason."""
    ex = explore(preset.formula, values, requires_grad)
    note = what_to_notice(preset, ex)
    live = note.removeprefix(f"{preset.notice} Here ")
    assert live != note
    assert live.endswith(".")
    facts = [_FACT.fullmatch(fact) for fact in live.removesuffix(".").split("; ")]
    assert all(facts), live
    assert [fact[1] for fact in facts] == [item.name for item in ex.inputs]
    for item, fact in zip(ex.inputs, facts, strict=True):
        name, closed_form, printed, reason = fact.group(1, 2, 3, 4)
        if item.grad is None:
            assert printed is None
            assert reason
        else:
            assert printed == item.grad_repr
            assert f"{name}.grad : {printed}" in ex.transcript
            assert closed_form == (preset.gradients[name] or None)


@pytest.mark.parametrize(("preset", "values", "requires_grad"), SETTINGS)
def test_each_gradient_in_the_note_is_right_by_an_independent_oracle(
    preset: Preset, values: dict[str, int | float], requires_grad: dict[str, bool]
) -> None:
    """The closed form the note writes, evaluated in float64, equals PyTorch's gradient.

    Where the note shows only PyTorch's number, a float64 central difference checks it instead.
    """
    ex = explore(preset.formula, values, requires_grad)
    env = {name: float(value) for name, value in values.items()}
    for name, grad in ex.grads.items():
        if grad is None:
            continue
        closed_form = preset.gradients[name]
        try:
            expected = _oracle(preset.formula, closed_form, env, name)
        except (ZeroDivisionError, ArithmeticError):  # math refuses where float32 says inf/nan
            assert not math.isfinite(grad), (name, grad)
            continue
        except ValueError:  # math domain error, e.g. sqrt of a negative number
            assert math.isnan(grad), (name, grad)
            continue
        assert grad == pytest.approx(expected, rel=1e-3, abs=1e-4), (name, closed_form)


def _oracle(formula: str, closed_form: str, env: dict[str, float], name: str) -> float:
    """Evaluate the note's closed form in float64, or differentiate numerically without one."""
    if not closed_form:
        return central_difference(formula, env, name)
    if _NUMBER.fullmatch(closed_form):
        return float(closed_form)
    return value64(parse(closed_form).expr, env)


def test_example_3_after_moving_x_no_longer_says_108() -> None:
    """The issue's case: x moved to 3.5, and the note follows the page."""
    preset = by_label("Example 3: z = x**y")
    note = what_to_notice(preset, explore(preset.formula, {"x": 3.5, "y": 4.0}))
    assert "108" not in note
    assert "x.grad = y*x**(y - 1) = tensor(171.5000)" in note
    assert "y.grad = x**y*log(x) = tensor(187.9928)" in note


def test_default_notes_print_numbers_as_pytorch_does() -> None:
    """At the defaults, the numbers read as the transcript shows them: 4 decimals, or 108."""
    example3 = by_label("Example 3: z = x**y")
    note = what_to_notice(example3, explore(example3.formula, example3.values))
    assert note.endswith(
        "Here x.grad = y*x**(y - 1) = tensor(108.); y.grad = x**y*log(x) = tensor(88.9876)."
    )


@pytest.mark.parametrize("preset", PRESETS, ids=lambda preset: preset.label)
def test_lessons_state_no_computed_numbers(preset: Preset) -> None:
    """The fixed lesson text holds only small constants of the maths (0, 1, 2, -1), no results."""
    assert set(_NUMBER.findall(preset.notice)) <= {"0", "1", "2"}


@pytest.mark.parametrize("preset", PRESETS, ids=lambda preset: preset.label)
def test_gradients_are_listed_for_every_input_in_order(preset: Preset) -> None:
    """Each preset names a gradient for each input, in the order the transcript prints them."""
    assert list(preset.gradients) == list(preset.values)
    assert set(preset.values) == set(parse(preset.formula).variables)


def test_another_formula_gets_the_lesson_alone() -> None:
    """For an edited formula the live part is left out rather than describe the wrong thing."""
    preset = PRESETS[0]
    assert what_to_notice(preset, explore("y = x**3", {"x": 2.0})) == preset.notice
    assert what_to_notice(preset, explore("y=x**2+1", {"x": 2.0})).startswith(preset.notice + " ")
