"""Lesson notes stay true: every number a preset's note states is the one the Exploration shows."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
from oracle import central_difference, value64

from explorer import explore, parse
from explorer.core import Exploration
from explorer.presets import PLOT_MODES, PRESETS, Preset, by_label, what_to_notice
from explorer.surface import contour_figure, grid, point, surface_figure
from explorer.ui.state import PANELS
from explorer.ui.state import _defaults as page_defaults

# (formula, input, value) -> the slope PyTorch gives at a kink, where a central difference cannot.
KINKS = {("y = relu(x)", "x", 0.0): 0.0}
# "w.grad = x = tensor(3.)", "w.grad = tensor(-0.1884)", "x.grad is None (x is an integer tensor)"
# or, with several backward() calls, "x.grad = 2*x = tensor(4.) after backward() #1, tensor(8.)
# after #2"
_TENSOR = r"tensor\([^()]*\)"
_FACT = re.compile(
    rf"(\w+)\.grad (?:= (?:(.+?) = )?({_TENSOR})"
    rf"(?: after backward\(\) #1((?:, {_TENSOR} after #\d)*))?"
    r"|is None \(([^()]*)\))"
)
_LATER = re.compile(rf"({_TENSOR}) after #(\d)")
_FAILED = re.compile(r"(\w+)\.backward\(\) (#\d(?: and #\d)*) raised RuntimeError")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
NEW = PRESETS[-5:]  # the issue 7 lessons: programs, retain_grad, detach, backward twice, steps


def run(
    preset: Preset,
    values: dict[str, int | float] | None = None,
    requires_grad: dict[str, bool] | None = None,
    **controls: Any,
) -> Exploration:
    """Explore a preset as the page opens it, with some values, flags or controls changed."""
    settings = {
        "retain": preset.retain,
        "backward_calls": preset.backward_calls,
        "retain_graph": preset.retain_graph,
    }
    return explore(
        preset.formula,
        preset.values if values is None else values,
        preset.requires_grad if requires_grad is None else requires_grad,
        **(settings | controls),
    )


def moved(preset: Preset, shift: float) -> dict[str, int | float]:
    """Move every input of a preset, keeping each one's dtype."""
    return {
        name: round(value + shift) if isinstance(value, int) else value + shift
        for name, value in preset.values.items()
    }


SETTINGS = [
    pytest.param(preset, values, preset.requires_grad, {}, id=f"{preset.label} {tag}")
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
        preset, preset.values, dict.fromkeys(preset.values, False), {}, id=f"{preset.label} off"
    )
    for preset in PRESETS
]
# ... and the retain_grad switches, the number of backward() calls and retain_graph.
SETTINGS += [
    pytest.param(preset, preset.values, {}, {"retain": retain}, id=f"{preset.label} {tag}")
    for preset in PRESETS
    if parse(preset.formula).names
    for tag, retain in [("retain none", ()), ("retain all", parse(preset.formula).names)]
]
SETTINGS += [
    pytest.param(
        preset,
        preset.values,
        preset.requires_grad,
        {"backward_calls": calls, "retain_graph": keep},
        id=f"{preset.label} x{calls} {'kept' if keep else 'freed'}",
    )
    for preset in NEW
    for calls in (1, 2, 3)
    for keep in (False, True)
]
SETTINGS += [
    pytest.param(
        by_label("Example 2: y = w*x + b"), {"x": 3.0, "w": 2.0, "b": 5.0}, {}, {}, id="x float"
    ),
    pytest.param(by_label("Example 3: z = x**y"), {"x": 3, "y": 4.0}, {}, {}, id="x int"),
    pytest.param(
        by_label("A constant blocks a gradient"), {"c": 3.0, "x": -2.0}, {}, {}, id="c grad"
    ),
    pytest.param(
        by_label("Neuron: (sigmoid(w*x + b) - t)**2"),
        {"w": 0.5, "x": 1.5, "b": 0.1, "t": 1.0},
        {},
        {},
        id="neuron all grads",
    ),
    pytest.param(by_label("detach cuts a path"), {"w": 0.0, "x": -1.5}, {}, {}, id="detach at 0"),
]
ARGS = ("preset", "values", "requires_grad", "controls")


@pytest.mark.parametrize(ARGS, SETTINGS)
def test_every_number_in_the_note_is_the_one_pytorch_printed(
    preset: Preset,
    values: dict[str, int | float],
    requires_grad: dict[str, bool],
    controls: dict[str, Any],
) -> None:
    """Each listed tensor gets one fact: its .grad as the transcript prints it (after each call of
    backward() when there are several), or None with the reason; then the calls that failed."""
    ex = run(preset, values, requires_grad, **controls)
    note = what_to_notice(preset, ex)
    live = note.removeprefix(f"{preset.notice} Here ")
    assert live != note
    assert live.endswith(".")
    parts = live.removesuffix(".").split("; ")
    failed = [call.number for call in ex.calls if call.error]
    if failed:
        said = _FAILED.fullmatch(parts.pop())
        assert said, live
        assert said[1] == ex.output
        assert said[2] == " and ".join(f"#{number}" for number in failed)
        for number in failed:
            assert f"{ex.output}.backward() #{number} raised RuntimeError: " in ex.transcript
    facts = [_FACT.fullmatch(fact) for fact in parts]
    assert all(facts), live
    tensors = [*ex.inputs, *ex.intermediates]
    listed = [item for item in tensors if item.name in preset.gradients]
    assert [fact[1] for fact in facts] == [item.name for item in listed]
    for item, fact in zip(listed, facts, strict=True):
        name, closed_form, printed, later, reason = fact.group(1, 2, 3, 4, 5)
        if item.grad is None:
            assert printed is None
            assert reason
            assert f"{name}.grad : None" in ex.transcript
            continue
        assert closed_form == (preset.gradients[name] or None)
        if len(ex.calls) < 2:
            assert later is None
            assert printed == item.grad_repr
            assert f"{name}.grad : {printed}" in ex.transcript
            continue
        # One print per call that worked, each under that call's heading in the transcript.
        shown = [(printed, "1"), *_LATER.findall(later or "")]
        assert shown[-1][0] == item.grad_repr
        assert [int(number) for _, number in shown] == [
            call.number for call in ex.calls if not call.error
        ]
        for text, number in shown:
            block = ex.transcript.split(f"after {ex.output}.backward() #{number}:\n")[1]
            assert f"{name}.grad : {text}\n" in block.split("after ")[0]


def test_why_an_intermediate_grad_is_none() -> None:
    """The reason follows the switches: not a leaf without retain_grad, no grad with no input's."""
    preset = by_label("Program: h.grad, retain_grad")
    kept = what_to_notice(preset, run(preset))
    assert "h.grad = 2*(y - t)*y*(1 - y) = tensor(-0.1256)" in kept
    assert "y.grad is None (y is not a leaf tensor and retain_grad is off)" in kept
    off = what_to_notice(preset, run(preset, retain=()))
    assert "h.grad is None (h is not a leaf tensor and retain_grad is off)" in off
    nothing = what_to_notice(preset, run(preset, requires_grad=dict.fromkeys("wxbt", False)))
    assert "h.grad is None (h does not require grad)" in nothing


@pytest.mark.parametrize(ARGS, SETTINGS)
def test_each_gradient_in_the_note_is_right_by_an_independent_oracle(
    preset: Preset,
    values: dict[str, int | float],
    requires_grad: dict[str, bool],
    controls: dict[str, Any],
) -> None:
    """The closed form the note writes, evaluated in float64, equals PyTorch's gradient.

    Where the note shows only PyTorch's number, a float64 central difference checks it instead.
    With several backward() calls, .grad holds one gradient for each call that worked.
    """
    ex = run(preset, values, requires_grad, **controls)
    env = {name: float(value) for name, value in values.items()}
    worked = sum(not call.error for call in ex.calls) or 1
    grads = {**ex.grads, **{item.name: item.grad for item in ex.intermediates}}
    for name, grad in grads.items():
        if grad is None or name not in preset.gradients:
            continue
        closed_form = preset.gradients[name]
        try:
            expected = worked * _oracle(preset.formula, closed_form, env, name)
        except (ZeroDivisionError, ArithmeticError):  # math refuses where float32 says inf/nan
            assert not math.isfinite(grad), (name, grad)
            continue
        except ValueError:  # math domain error, e.g. sqrt of a negative number
            assert math.isnan(grad), (name, grad)
            continue
        assert grad == pytest.approx(expected, rel=1e-3, abs=1e-4), (name, closed_form)


def _oracle(formula: str, closed_form: str, env: dict[str, float], name: str) -> float:
    """Evaluate the note's closed form in float64, or differentiate numerically without one.

    At a kink the two one-sided slopes differ and the central difference is their average; there
    the oracle is the slope PyTorch documents for the kink (0 for relu), which a lesson shows.
    """
    if (formula, name, env.get(name)) in KINKS:
        return KINKS[formula, name, env[name]]
    if not closed_form:
        return central_difference(formula, env, name)
    if _NUMBER.fullmatch(closed_form):
        return float(closed_form)
    return value64(parse(closed_form).expr, program64(formula, env))


def program64(formula: str, env: dict[str, float]) -> dict[str, float]:
    """Return the inputs with every intermediate of the program computed in float64."""
    env = dict(env)
    for statement in parse(formula).statements[:-1]:
        env[statement.name] = value64(statement.expr, env)
    return env


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
    """Each preset names a gradient for each input, then for some intermediates, in the order the
    transcript prints them; an intermediate's comes with its closed form."""
    formula = parse(preset.formula)
    assert set(preset.values) == set(formula.variables)
    names = list(preset.gradients)
    assert names[: len(preset.values)] == list(preset.values)
    intermediates = names[len(preset.values) :]
    assert intermediates == [name for name in formula.names if name in intermediates]
    assert all(preset.gradients[name] for name in intermediates)


def test_another_formula_gets_the_lesson_alone() -> None:
    """For an edited formula the live part is left out rather than describe the wrong thing."""
    preset = PRESETS[0]
    assert what_to_notice(preset, explore("y = x**3", {"x": 2.0})) == preset.notice
    assert what_to_notice(preset, explore("y=x**2+1", {"x": 2.0})).startswith(preset.notice + " ")


def slider_range(preset: Preset, name: str) -> tuple[float, float]:
    """Return the range an input's slider opens with: the preset's own, else the page's default."""
    if name in preset.ranges:
        return preset.ranges[name]
    settings = page_defaults(preset.values[name], preset.requires_grad.get(name))
    return settings["min"], settings["max"]


ENDS = [
    pytest.param(preset, name, end, id=f"{preset.label} {name} {end}")
    for preset in PRESETS
    for name in preset.values
    for end in ("low", "high")
]


@pytest.mark.parametrize(("preset", "name", "end"), ENDS)
def test_every_preset_runs_at_the_ends_of_its_sliders(preset: Preset, name: str, end: str) -> None:
    """Dragging any slider of a preset to either end gives a page, not an error box."""
    low, high = slider_range(preset, name)
    values = {**preset.values, name: low if end == "low" else high}
    ex = run(preset, values)
    assert ex.transcript
    assert what_to_notice(preset, ex).startswith(preset.notice)


@pytest.mark.parametrize("preset", PRESETS, ids=lambda preset: preset.label)
def test_presets_open_with_a_plot_they_can_draw(preset: Preset) -> None:
    """The mode is known, the plotted inputs are the formula's, and each value is in its range."""
    assert preset.plot_mode in PLOT_MODES
    plotted = [preset.plot_var, preset.plot_var2]
    if preset.plot_mode == "curve":
        assert preset.plot_var2 is None
    else:  # a surface needs two different float inputs that require grad
        assert preset.plot_var != preset.plot_var2
        for name in plotted:
            assert isinstance(preset.values[name], float)
            assert preset.requires_grad.get(name, True)
    assert set(preset.ranges) <= set(preset.values)
    for name, value in preset.values.items():
        low, high = slider_range(preset, name)
        assert low <= value <= high


@pytest.mark.parametrize("preset", PRESETS, ids=lambda preset: preset.label)
def test_presets_open_with_controls_the_page_has(preset: Preset) -> None:
    """Retained names are intermediates, calls number 1 to 3, and the tab is one of the page's."""
    assert set(preset.retain) <= set(parse(preset.formula).names)
    assert preset.backward_calls in (1, 2, 3)
    assert isinstance(preset.retain_graph, bool)
    assert preset.panel in PANELS


def test_labels_fit_the_sidebar() -> None:
    """Labels are unique and short, for a selectbox in a narrow sidebar."""
    labels = [preset.label for preset in PRESETS]
    assert len(set(labels)) == len(labels)
    assert all(len(label) <= 34 for label in labels)


TWO_INPUTS = [preset for preset in PRESETS if preset.plot_mode != "curve"]


@pytest.mark.parametrize("preset", TWO_INPUTS, ids=lambda preset: preset.label)
def test_surface_presets_draw_the_plane_and_the_arrow(preset: Preset) -> None:
    """At the preset's values the plane and the arrow are drawn, over the whole slider range."""
    x_var, y_var = preset.plot_var, preset.plot_var2
    ex = explore(preset.formula, preset.values, preset.requires_grad)
    values = {**preset.values, x_var: 0.0, y_var: 0.0}  # the grid ignores the pair's values
    ranges = {"x_range": slider_range(preset, x_var), "y_range": slider_range(preset, y_var)}
    surface = grid(parse(preset.formula), values, x_var, y_var, **ranges)
    here = point(ex, x_var, y_var)
    assert surface.masked == 0
    names = [trace["name"] for trace in surface_figure(surface, here)["data"]]
    assert "tangent plane" in names
    assert len(contour_figure(surface, here)["layout"]["annotations"]) == 1  # the arrow


def test_saddle_and_bowl_gradients_point_as_the_lessons_say() -> None:
    """The saddle's gradient is (2x, -2y), 0 at the origin; the bowl's points away from it."""
    saddle, bowl = by_label("Saddle: z = x**2 - y**2"), by_label("Bowl: z = x**2 + y**2")
    assert explore(saddle.formula, {"x": 0.0, "y": 0.0}).grads == {"x": 0.0, "y": 0.0}
    for x, y in [(1.0, 0.5), (-1.5, 2.0), (0.3, -1.1)]:
        assert explore(saddle.formula, {"x": x, "y": y}).grads == pytest.approx(
            {"x": 2 * x, "y": -2 * y}
        )
        grads = explore(bowl.formula, {"x": x, "y": y}).grads
        # Straight away from the centre: the gradient is a positive multiple of (x, y).
        assert grads["x"] * y == pytest.approx(grads["y"] * x)
        assert grads["x"] * x + grads["y"] * y > 0


@pytest.mark.parametrize("x", [-4.0, -1.0, 0.0, 1.0, 2.5, 3.0])
def test_newtons_step_on_the_parabola_lands_on_the_bottom(x: float) -> None:
    """x - f'(x)/f''(x), with f' by autograd and f'' by a float64 second difference, is 1."""
    preset = by_label("Newton's step on a parabola")
    slope = explore(preset.formula, {"x": x}).grads["x"]

    def slope64(at: float) -> float:
        return central_difference(preset.formula, {"x": at}, "x")

    h = 1e-3
    curvature = (slope64(x + h) - slope64(x - h)) / (2 * h)
    assert curvature == pytest.approx(2.0, rel=1e-4)
    assert x - slope / curvature == pytest.approx(1.0, abs=1e-4)


def test_domain_edge_lessons_show_inf_and_nan_without_an_error() -> None:
    """sqrt(x**2) at 0 gives a nan gradient; log at 0 gives -inf and an inf slope; no error."""
    sqrt_ex = explore("y = sqrt(x**2)", {"x": 0.0})
    assert sqrt_ex.value == 0.0
    assert math.isnan(sqrt_ex.grads["x"])
    log_ex = explore("y = log(x)", {"x": 0.0})
    assert log_ex.value == -math.inf
    assert log_ex.grads["x"] == math.inf
    below = explore("y = log(x)", {"x": -2.0})
    assert math.isnan(below.value)
    assert below.grads["x"] == pytest.approx(-0.5)  # 1/x, though log(x) itself is nan


def test_autograd_and_finite_differences_disagree_at_relus_kink_only() -> None:
    """At 0 PyTorch says 0 and the central difference one half; elsewhere they agree."""
    preset = by_label("Finite differences at relu's kink")
    assert explore(preset.formula, {"x": 0.0}).grads["x"] == 0.0
    assert central_difference(preset.formula, {"x": 0.0}, "x") == pytest.approx(0.5)
    for x in (-1.3, -0.1, 0.1, 2.25):
        grad = explore(preset.formula, {"x": x}).grads["x"]
        assert grad == pytest.approx(central_difference(preset.formula, {"x": x}, "x"))


def test_retain_grad_keeps_the_gradient_of_h_and_nothing_else() -> None:
    """Without retain_grad h.grad is None and PyTorch warned; with it, h.grad is dloss/dh.

    dloss/dh is checked by a float64 central difference in h, the rest of the program run on it.
    """
    preset = by_label("Program: h.grad, retain_grad")
    assert preset.retain == ("h",)
    off = run(preset, retain=())
    assert [item.grad for item in off.intermediates] == [None, None]
    assert "not a leaf" in off.lessons[0]
    assert "retain_grad" in off.lessons[0]
    kept = run(preset)
    h, y = kept.intermediates
    assert (h.retained, y.retained) == (True, False)
    assert y.grad is None
    assert kept.grads == off.grads  # keeping h.grad changes no other gradient
    step = 1e-6

    def loss(at: float) -> float:
        return (1 / (1 + math.exp(-at)) - preset.values["t"]) ** 2

    assert h.grad == pytest.approx((loss(h.value + step) - loss(h.value - step)) / (2 * step))


@pytest.mark.parametrize(("w", "x"), [(1.5, 2.0), (-0.7, 3.1), (0.0, -1.5), (2.25, -0.4)])
def test_detach_gives_half_the_slope_of_h_squared(w: float, x: float) -> None:
    """Each gradient is half the one of (w*x)**2, since detach cut one of its two paths."""
    ex = run(by_label("detach cuts a path"), {"w": w, "x": x})
    full = explore("y = (w*x)**2", {"w": w, "x": x})
    assert ex.value == pytest.approx(full.value)
    assert ex.grads == pytest.approx({name: grad / 2 for name, grad in full.grads.items()})


@pytest.mark.parametrize("calls", [1, 2, 3])
def test_with_retain_graph_each_backward_adds_2x(calls: int) -> None:
    """After k calls x.grad is k*2*x; at the preset's x = 2 the issue's tensor(8.) for two calls."""
    preset = by_label("backward twice: grads add up")
    for x in (2.0, -1.3, 0.7):
        ex = run(preset, {"x": x}, backward_calls=calls)
        assert [call.grads["x"] for call in ex.calls] == pytest.approx(
            [k * 2 * x for k in range(1, calls + 1)]
        )
        assert not any(call.error for call in ex.calls)
    assert "x.grad : tensor(8.)" in run(preset).transcript


@pytest.mark.parametrize("x", [2.0, -1.3, 0.0])
def test_without_retain_graph_the_second_backward_is_the_lesson(x: float) -> None:
    """PyTorch's RuntimeError comes back as data (no ExplorerError), and x.grad stays 2*x."""
    preset = by_label("backward twice: the error")
    ex = run(preset, {"x": x})
    first, second = ex.calls
    assert not first.error
    assert second.error.startswith("Trying to backward through the graph a second time")
    assert ex.grads["x"] == pytest.approx(2 * x)
    assert any("RuntimeError" in lesson and "retain_graph=True" in lesson for lesson in ex.lessons)


@pytest.mark.parametrize(("w", "b"), [(0.5, 0.1), (-2.0, 1.0), (1.3, -0.8)])
def test_stepping_through_the_neuron_shows_the_factors_the_lesson_names(w: float, b: float) -> None:
    """The engine runs the square, the subtraction, sigmoid, the add and w*x in that order, with
    the local derivatives 2*(y - t), 1, y*(1 - y), 1 and x (towards w), computed in float64."""
    preset = by_label("Step through a neuron")
    assert preset.panel == "steps"
    values = {**preset.values, "w": w, "b": b}
    ex = run(preset, values)
    env = program64(preset.formula, {name: float(value) for name, value in values.items()})
    factors = {
        "PowBackward0": 2 * (env["y"] - env["t"]),
        "SubBackward0": 1.0,
        "SigmoidBackward0": env["y"] * (1 - env["y"]),
        "AddBackward0": 1.0,
        "MulBackward0": env["x"],
    }
    order = [step.function for step in ex.steps if step.function in factors]
    assert order == list(factors)
    product = 1.0
    for step in ex.steps:
        if step.function in factors:
            local = step.sends[0].local  # towards y - t, y, h, w*x and w: the path to w
            assert local == pytest.approx(factors[step.function], rel=1e-4, abs=1e-6)
            product *= local
    accumulated = [step for step in ex.steps if step.function == "AccumulateGrad"]
    assert [step.tensor for step in accumulated] == ["b", "w"]
    assert accumulated[-1].grad_after == pytest.approx(product, rel=1e-4, abs=1e-7)
    assert ex.grads["w"] == accumulated[-1].grad_after
