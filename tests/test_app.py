"""The Streamlit app through AppTest, driving widgets by key."""

from __future__ import annotations

import json
import math
import random

import plotly.io
import pytest
from apptest import chart, healthy, moves, numbers, plot, start, transcript
from conftest import GOLDEN
from streamlit.testing.v1 import AppTest

from explorer.formula import parse
from explorer.plot import grid, staged
from explorer.presets import PRESETS


def open_range(at: AppTest, name: str) -> AppTest:
    """Open the "Range of <name>" expander: its number inputs are drawn only while it is open."""
    at.session_state[f"range_{name}"] = True
    return at.run()


def dot(at: AppTest) -> str:
    return at.get("graphviz_chart")[0].proto.spec


def trace(at: AppTest, prefix: str) -> dict:
    return next(t for t in plot(at)["data"] if t.get("name", "").startswith(prefix))


@pytest.mark.parametrize(
    ("label", "name"), [(p.label, f"example{i}") for i, p in enumerate(PRESETS[:3], start=1)]
)
def test_each_seed_preset_prints_its_exact_transcript(label: str, name: str) -> None:
    """Choosing a seed preset shows the seed's Output block, byte for byte."""
    at = start()
    at.selectbox(key="preset").select(label).run()
    healthy(at)
    assert transcript(at) == (GOLDEN / f"seed_{name}.txt").read_text()


def test_first_visit_shows_example_1() -> None:
    """A fresh page shows the tutorial's first example, with its lesson."""
    at = start()
    healthy(at)
    assert transcript(at) == (GOLDEN / "seed_example1.txt").read_text()
    assert "What to notice" in at.info[0].value


def test_moving_a_slider_changes_transcript_dot_and_plot_and_the_tangent_is_the_grad() -> None:
    """value_x moves: new transcript, new DOT, new point; the tangent's slope equals x.grad."""
    at = start()
    before = (transcript(at), dot(at), plot(at))
    at.slider(key="value_x").set_value(3.0).run()
    healthy(at)
    after = (transcript(at), dot(at), plot(at))
    assert all(b != a for b, a in zip(before, after, strict=True))
    assert "x.grad : tensor(6.)" in transcript(at)
    tangent = trace(at, "tangent")
    xs, ys = numbers(tangent["x"]), numbers(tangent["y"])
    slope = (ys[1] - ys[0]) / (xs[1] - xs[0])
    assert slope == pytest.approx(6.0)
    point = trace(at, "(x, y)")
    assert numbers(point["y"]) == [10.0]


@pytest.mark.parametrize(
    ("link", "derivative"),
    [
        ({}, lambda x: 2 * x),
        (
            {"formula": "z = x**y", "value_x": "3.0", "value_y": "4.0"},
            lambda x: 4 * x**3,
        ),
    ],
)
def test_the_scrubber_has_101_frames_whose_slopes_are_autograds(link, derivative) -> None:
    """Every frame moves the point and the tangent; the tangent's slope is the derivative there."""
    at = start(**link)
    healthy(at)
    figure = plot(at)
    assert len(figure["frames"]) >= 101
    names = [t["name"] for t in figure["data"]]
    for frame in figure["frames"]:
        moved = dict(zip([names[i] for i in frame["traces"]], frame["data"], strict=True))
        (point,) = [trace for name, trace in moved.items() if name.startswith("(x, ")]
        (x,) = numbers(point["x"])
        xs, ys = numbers(moved["tangent"]["x"]), numbers(moved["tangent"]["y"])
        slope = (ys[1] - ys[0]) / (xs[1] - xs[0])
        assert slope == pytest.approx(derivative(x), rel=1e-4, abs=1e-4)


def test_the_chart_receives_the_figure_exactly_as_built() -> None:
    """The plot skips plotly's re-validation, so Streamlit must still send our dict unchanged.

    It is the staged figure, the same wherever x is: moving x must not redraw the chart.
    """
    at = start()
    sent = chart(at)
    base = grid(parse("y = x**2 + 1"), {"x": 2.0}, "x", -5.0, 5.0)
    layout = sent["layout"]
    built = staged(base, font_size=layout["font"]["size"], height=layout["height"])
    assert sent == json.loads(plotly.io.to_json(built, validate=False))
    at.slider(key="value_x").set_value(3.0).run()
    assert chart(at) == sent


def test_a_value_between_frames_is_shown_exactly_with_its_own_readout() -> None:
    """x = 2.05 is no frame (they are 0.1 apart): the point, tangent and readout are exact."""
    at = start(step_x="0.05")
    at.slider(key="value_x").set_value(2.05).run()
    healthy(at)
    assert len(moves(at)) == 1
    point = trace(at, "(x, y)")
    assert numbers(point["x"]) == [2.05]
    assert numbers(point["y"]) == [pytest.approx(2.05**2 + 1, rel=1e-6)]
    tangent = trace(at, "tangent")
    xs, ys = numbers(tangent["x"]), numbers(tangent["y"])
    assert (ys[1] - ys[0]) / (xs[1] - xs[0]) == pytest.approx(4.1, rel=1e-6)
    slider = plot(at)["layout"]["sliders"][0]
    assert slider["steps"][slider["active"]]["label"] == "x = 2.05   slope dy/dx = 4.1000"


@pytest.mark.parametrize(
    "link",
    [
        {"formula": "y = w*x + b", "value_x": "3", "value_w": "2.0", "plot_var": "x"},  # int
        {"formula": "y = x**2", "value_x": "2.0", "grad_x": "false"},  # no gradient
    ],
)
def test_a_plot_without_a_scrubber_is_sent_whole_with_its_point(link: dict[str, str]) -> None:
    """No scrubber: no placement script, and the chart's own figure has the point drawn in."""
    at = start(**link)
    healthy(at)
    assert not moves(at)
    assert "meta" not in chart(at)["layout"]
    (x,) = numbers(trace(at, "(x, ")["x"])
    assert x == float(link["value_x"])


def test_turning_grad_w_off_gives_none() -> None:
    """grad_w off: w.grad : None, and the plot along w has no tangent and says why."""
    at = start(formula="y = w*x + b", value_x="3", value_w="2.0", value_b="5.0", plot_var="w")
    at.toggle(key="grad_w").set_value(False).run()
    healthy(at)
    assert "w.grad : None" in transcript(at)
    assert not [t for t in plot(at)["data"] if t.get("name", "").startswith("tangent")]
    assert any("No tangent" in caption.value for caption in at.caption)


def test_int_dtype_shows_pytorchs_integer_tensor() -> None:
    """dtype_x int: tensor(3), no gradient possible, requires_grad switch disabled."""
    at = start(formula="y = w*x + b", value_x="3.0", value_w="2.0", value_b="5.0")
    at.segmented_control(key="dtype_x").set_value("int").run()
    healthy(at)
    assert transcript(at).splitlines()[0] == "x: tensor(3)"
    assert at.toggle(key="grad_x").disabled


def test_variable_keeps_its_value_when_the_formula_changes() -> None:
    """x keeps its value and settings through an edit of the formula, even a broken one."""
    at = start()
    at.slider(key="value_x").set_value(1.5).run()
    at.text_area(key="formula").input("y = x^2").run()
    at.text_area(key="formula").input("y = x**3 + w").run()
    healthy(at)
    assert transcript(at).splitlines()[0] == "x: tensor(1.5000, requires_grad=True)"


def test_bad_formula_shows_an_error_with_caret_and_no_exception() -> None:
    """A bad formula: st.error under the formula box, the caret line as code, no traceback."""
    at = start()
    at.text_area(key="formula").input("y = x^2").run()
    healthy(at)
    assert "is not a power" in at.sidebar.error[0].value
    assert at.sidebar.code[0].value == "y = x^2\n     ^"
    at.text_area(key="formula").input("y = x**2").run()
    healthy(at)
    assert not at.error


@pytest.mark.parametrize("typed", ["y =", "y = sin(x) * x**", "y = x +* 2", "y = (x + 1"])
def test_an_incomplete_formula_keeps_the_last_view(typed: str) -> None:
    """While a formula does not parse, transcript, graph, plot and controls stay as they were."""
    at = start()
    before = (transcript(at), dot(at), plot(at))
    at.text_area(key="formula").input(typed).run()
    healthy(at)
    assert at.sidebar.error
    assert (transcript(at), dot(at), plot(at)) == before
    assert at.slider(key="value_x").value == 2.0
    assert any("last formula that worked" in c.value for c in at.sidebar.caption)


def test_runtime_error_from_pytorch_is_a_message() -> None:
    """PyTorch refusing an operation (int to a negative power) is an error box too."""
    at = start(formula="y = x**-1", value_x="2")
    healthy(at)
    assert "negative integer powers" in at.sidebar.error[0].value


def test_url_parameters_restore_the_state() -> None:
    """The issue's example link opens z = x**y at (3, 4), as example 3."""
    at = start(formula="z = x**y", value_x="3.0", value_y="4.0")
    healthy(at)
    assert transcript(at) == (GOLDEN / "seed_example3.txt").read_text()
    at = start(
        formula="y = w*x + b",
        value_x="3",
        value_w="2.0",
        value_b="5.0",
        plot_var="w",
        projector="true",
    )
    healthy(at)
    assert transcript(at) == (GOLDEN / "seed_example2.txt").read_text()
    assert at.selectbox(key="plot_var").value == "w"
    assert at.toggle(key="projector").value


def test_state_is_written_back_to_the_url() -> None:
    """After a slider move the URL holds the new value, so the link reproduces the view."""
    at = start()
    at.slider(key="value_x").set_value(2.5).run()
    assert dict(at.query_params) == {
        "formula": "y = x**2 + 1",
        "value_x": "2.5",
        "grad_x": "true",
        "dtype_x": "float",
        "plot_var": "x",
        "preset": PRESETS[0].label,
    }


def test_every_view_key_round_trips_through_the_url() -> None:
    """A link with every key restores every widget, and the app writes the same link back."""
    link = {
        "formula": "z = x**y",
        "preset": PRESETS[2].label,
        "plot_var": "y",
        "derivative": "true",
        "projector": "true",
        "value_x": "2.5",
        "grad_x": "false",
        "dtype_x": "float",
        "min_x": "-1.0",
        "max_x": "4.0",
        "step_x": "0.5",
        "value_y": "2",
        "grad_y": "false",
        "dtype_y": "int",
    }
    at = start(**link)
    healthy(at)
    assert not at.warning
    slider = at.slider(key="value_x")
    assert (slider.value, slider.min, slider.max, slider.step) == (2.5, -1.0, 4.0, 0.5)
    assert not at.toggle(key="grad_x").value
    assert at.segmented_control(key="dtype_y").value == "int"
    assert at.selectbox(key="plot_var").value == "y"
    assert at.toggle(key="derivative").value
    assert at.toggle(key="projector").value
    assert at.selectbox(key="preset").value == PRESETS[2].label
    assert any("What to notice" in info.value for info in at.sidebar.info)
    at.run()
    assert dict(at.query_params) == link


def test_a_link_with_a_range_that_misses_its_value_is_widened_with_a_warning() -> None:
    """min_x/max_x that leave out value_x, or an empty range, never break the slider."""
    at = start(formula="y = x**2", value_x="3.0", min_x="5.0", max_x="1.0")
    healthy(at)
    assert any("widened" in w.value for w in at.warning)
    slider = at.slider(key="value_x")
    assert slider.min < slider.max
    assert slider.min <= slider.value <= slider.max


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"value_x": "nan"}, "not a number"),
        ({"value_x": "1e400"}, "too large"),
        ({"value_x": "1_0"}, "not a number"),
        ({"grad_x": "maybe"}, "true or false"),
        ({"dtype_x": "complex"}, "int or float"),
        ({"value_x": "2", "grad_x": "true"}, "cannot require grad"),
        ({"plot_var": "__class__"}, "not a variable name"),
    ],
)
def test_bad_url_values_give_a_message_not_a_crash(params: dict[str, str], fragment: str) -> None:
    """An untrusted URL value is parsed strictly; a bad one gives a warning and a usable page."""
    at = start(formula="y = x**2", **params)
    healthy(at)
    assert any(fragment in warning.value for warning in at.warning)
    assert transcript(at).startswith("x: tensor(")


def test_bad_url_formula_is_an_error_box() -> None:
    """A hostile formula in the link is refused like a typed one."""
    at = start(formula="__import__('os').system('echo hi')")
    healthy(at)
    assert at.error


def test_inf_and_nan_do_not_break_the_plot() -> None:
    """log at 0: y is -inf and x.grad inf, with warnings, and the chart shows inf as gaps."""
    at = start(formula="y = log(x)", value_x="0.0")
    healthy(at)
    assert "x.grad : tensor(inf)" in transcript(at)
    assert any("inf" in w.value for w in at.warning)
    curve = trace(at, "y(x)")
    ys = numbers(curve["y"])
    assert any(y is None or (isinstance(y, float) and math.isnan(y)) for y in ys)


def test_derivative_toggle_adds_the_autograd_derivative_curve() -> None:
    """The derivative curve of x**2 + 1 is 2x over the whole range."""
    at = start()
    at.toggle(key="derivative").set_value(True).run()
    healthy(at)
    derivative = trace(at, "dy/dx")
    xs, ys = numbers(derivative["x"]), numbers(derivative["y"])
    assert ys == pytest.approx([2 * x for x in xs], abs=1e-5)


def test_every_preset_runs_cleanly() -> None:
    """Each preset produces a transcript, a graph and its tab (plot or steps) without errors."""
    at = start()
    for preset in PRESETS:
        at.selectbox(key="preset").select(preset.label).run()
        healthy(at)
        assert not at.error, preset.label
        assert transcript(at).splitlines()[0].startswith(f"{next(iter(preset.values))}: tensor(")
        assert "digraph autograd" in dot(at)
        if preset.panel == "plot":
            assert plot(at)["data"], preset.label
        elif preset.panel == "steps":
            assert any("Step" in block.value for block in at.markdown), preset.label
        else:
            assert preset.panel == "check"
            assert at.table, preset.label


def test_user_text_is_never_rendered_as_markdown() -> None:
    """A link's text quoted in a message is escaped, so Markdown shows as typed, not as markup."""
    at = start(formula="y = x**2", value_x="[a](http://e.co)**b**")
    healthy(at)
    (warning,) = [w.value for w in at.warning if "not a number" in w.value]
    assert "](http" not in warning
    assert "\\[a\\]\\(http" in warning


def test_typing_a_new_variable_then_moving_a_slider_keeps_the_page_working() -> None:
    """A variable that appears while typing gets one set of controls, and the page keeps working."""
    at = start()
    at.text_area(key="formula").input("y = x**2 + q").run()
    at.slider(key="value_x").set_value(2.5).run()
    at.slider(key="value_q").set_value(0.5).run()
    healthy(at)
    assert transcript(at).splitlines()[2] == "y: tensor(6.7500, grad_fn=<AddBackward0>)"


def test_a_link_with_only_a_formula_works_and_keeps_working() -> None:
    """?formula=... alone gives default inputs, and later reruns do not break."""
    at = start(formula="y = x**2")
    at.run()
    at.slider(key="value_x").set_value(2.0).run()
    healthy(at)
    assert "x.grad : tensor(4.)" in transcript(at)


def test_a_link_the_app_wrote_reopens_the_same_view_without_warnings() -> None:
    """The URL written for example 2 (with an int input) restores it exactly, silently."""
    at = start()
    at.selectbox(key="preset").select(PRESETS[1].label).run()
    link = dict(at.query_params)
    assert link["dtype_x"] == "int"
    again = start(**link)
    healthy(again)
    assert not again.warning
    assert transcript(again) == (GOLDEN / "seed_example2.txt").read_text()


@pytest.mark.parametrize(
    ("field", "value"),
    [("min", 1e12), ("max", -1e12), ("min", 4.95), ("step", 1e-6), ("max", 0.0)],
)
def test_range_inputs_never_break_the_slider(field: str, value: float) -> None:
    """Any range the number inputs accept leaves a working slider holding the value."""
    at = open_range(start(), "x")
    at.number_input(key=f"{field}_x").set_value(value).run()
    healthy(at)
    slider = at.slider(key="value_x")
    assert slider.min < slider.max
    assert slider.min <= slider.value <= slider.max


def test_a_range_is_drawn_only_while_open_and_kept_when_closed() -> None:
    """Closed, the range costs no widgets; a range set while open survives closing and moves."""
    at = start(formula="y = x**2", value_x="1.0")
    assert not at.number_input
    open_range(at, "x").number_input(key="min_x").set_value(-3.0).run()
    at.session_state["range_x"] = False
    at.run()
    assert not at.number_input
    at.slider(key="value_x").set_value(2.0).run()
    at.run()
    healthy(at)
    assert at.slider(key="value_x").min == -3.0
    assert at.query_params["min_x"] == "-3.0"
    assert open_range(at, "x").number_input(key="min_x").value == -3.0


def test_downloads_are_drawn_only_when_their_menu_is_open() -> None:
    """A slider move sends no download buttons; the open menu offers graph, plot and script."""
    at = start(formula="z = x**y", value_x="3.0", value_y="4.0")
    assert not at.get("download_button")
    at.session_state["downloads"] = True
    at.run()
    healthy(at)
    keys = [button.proto.id.split("-")[-1] for button in at.get("download_button")]
    assert keys == [
        "download_dot",
        "download_svg",
        "download_png",
        "download_plot",
        "download_code",
    ]
    assert at.query_params["value_x"] == "3.0"


def test_the_copy_link_popover_holds_the_link_of_this_view_when_open() -> None:
    """Closed it sends nothing; open, it shows the query string the URL has."""
    at = start(formula="y = x**2", value_x="1.5")
    link = "formula=y+%3D+x%2A%2A2&plot_var=x&value_x=1.5&grad_x=true&dtype_x=float"
    assert not [code for code in at.code if link in code.value]
    at.session_state["copy_link"] = True
    at.run()
    healthy(at)
    assert [code for code in at.code if code.value.endswith("?" + link)]


def _random_action(at: AppTest, rng: random.Random) -> None:
    """Apply one random change to x's value, range, step, dtype or requires_grad."""
    slider = at.slider(key="value_x")
    is_int = at.segmented_control(key="dtype_x").value == "int"
    kind = rng.choice(["value", "min", "max", "step", "dtype", "grad"])
    extremes = [-1e12, 1e12, 999999999999.5, -999999999999.5, 0.0, 0.5, -2.5, 2.5]
    if kind == "value":
        low, high = slider.min, slider.max
        value = rng.choice([low, high, low + (high - low) * rng.random()])
        slider.set_value(round(value) if is_int else value)
    elif kind in ("min", "max"):
        value = rng.choice([*extremes, rng.uniform(-1e3, 1e3)])
        at.number_input(key=f"{kind}_x").set_value(round(value) if is_int else value)
    elif kind == "step":
        value = rng.choice([1e-6, 0.1, 7.0, 1e12, rng.uniform(1e-6, 10)])
        at.number_input(key="step_x").set_value(max(1, round(value)) if is_int else value)
    elif kind == "dtype":
        at.segmented_control(key="dtype_x").set_value("float" if is_int else "int")
    elif not at.toggle(key="grad_x").disabled:
        at.toggle(key="grad_x").set_value(not at.toggle(key="grad_x").value)


@pytest.mark.parametrize("seed", range(6))
def test_random_value_range_step_and_dtype_changes_never_raise(seed: int) -> None:
    """Any sequence of value, range, step and dtype changes keeps a working slider, no exception."""
    rng = random.Random(seed)
    start_value = ["1e12", "999999999999.5", "-1e12", "2.5", "-2.5", "0.0"][seed]
    at = open_range(start(formula="y = x**2", value_x=start_value), "x")
    for _ in range(14):
        _random_action(at, rng)
        at.run()
        healthy(at)
        slider = at.slider(key="value_x")
        assert slider.min < slider.max
        assert slider.min <= slider.value <= slider.max
        assert abs(slider.min) <= 1e12
        assert abs(slider.max) <= 1e12


def test_int_at_the_limit_keeps_its_controls() -> None:
    """The issue's case: value_x=1e12, then int: no error box, the slider is still there."""
    at = start(formula="y = x**2", value_x="1e12")
    at.segmented_control(key="dtype_x").set_value("int").run()
    healthy(at)
    assert transcript(at).splitlines()[0] == "x: tensor(1000000000000)"
    assert at.slider(key="value_x").max == 10**12


@pytest.mark.parametrize(("value", "expected"), [(2.5, 3), (3.5, 4), (-2.5, -3), (2.4, 2)])
def test_float_to_int_rounds_halves_away_from_zero(value: float, expected: int) -> None:
    """Switching to int rounds one documented way: halves away from zero."""
    at = start(formula="y = x**2", value_x=repr(value))
    at.segmented_control(key="dtype_x").set_value("int").run()
    healthy(at)
    assert at.slider(key="value_x").value == expected


def test_the_lesson_note_follows_the_sliders() -> None:
    """After x moves in example 3, the note quotes the new x.grad exactly as the transcript does."""
    at = start()
    at.selectbox(key="preset").select(PRESETS[2].label).run()
    at.slider(key="value_x").set_value(3.5).run()
    healthy(at)
    grad_line = next(line for line in transcript(at).splitlines() if line.startswith("x.grad"))
    printed = grad_line.split(" : ")[1]
    (note,) = [info.value for info in at.sidebar.info if "What to notice" in info.value]
    assert printed.replace(".", "\\.").replace("(", "\\(").replace(")", "\\)") in note
    assert "108" not in note


@pytest.mark.parametrize(
    ("panel", "element"), [("graph", "graphviz_chart"), ("plot", "plotly_chart")]
)
def test_view_link_shows_one_panel_alone(panel: str, element: str) -> None:
    """?view=graph (or plot) draws that panel alone: no sidebar, no other chart."""
    at = start(formula="z = x**y", value_x="3.0", value_y="4.0", view=panel)
    healthy(at)
    assert len(at.get(element)) == 1
    other = "plotly_chart" if element == "graphviz_chart" else "graphviz_chart"
    assert not at.get(other)
    assert not at.sidebar.children


@pytest.mark.parametrize(
    "link",
    [
        {"value_x": "3", "dtype_x": "int", "step_x": "0.5"},
        {"value_x": "2", "step_x": "0.9"},
        {"value_x": "2.0", "step_x": "1e-320"},
    ],
)
def test_a_fractional_or_tiny_step_in_a_link_still_gives_a_slider(link: dict[str, str]) -> None:
    """An int input's step is whole and at least 1; a float's at least 1e-6."""
    at = start(formula="y = x**2", **link)
    healthy(at)
    slider = at.slider(key="value_x")
    assert slider.step >= (1 if isinstance(slider.value, int) else 1e-6)


def test_a_tiny_value_survives_other_changes() -> None:
    """1e-10 is not rounded to 0 when another control of x changes."""
    at = start(formula="y = log(x)", value_x="1e-10")
    at.toggle(key="grad_x").set_value(False).run()
    healthy(at)
    assert transcript(at).splitlines()[0] == "x: tensor(1.0000e-10)"


def test_switching_to_int_while_typing_keeps_the_controls() -> None:
    """A broken formula, then an input switched to int: the page and the controls stay."""
    at = start(formula="y = x**-1", value_x="2.0")
    at.text_area(key="formula").input("y = x**-1 +").run()
    at.segmented_control(key="dtype_x").set_value("int").run()
    healthy(at)
    assert at.segmented_control(key="dtype_x").value == "int"
    assert "y: tensor(0.5000, grad_fn=<PowBackward0>)" in transcript(at)


def test_a_link_with_only_a_preset_opens_that_preset_with_its_switches() -> None:
    """?preset=...&projector=true opens the preset, with projector mode on."""
    at = start(preset=PRESETS[2].label, projector="true")
    healthy(at)
    assert transcript(at) == (GOLDEN / "seed_example3.txt").read_text()
    assert at.toggle(key="projector").value


def test_the_url_while_typing_restores_the_view_shown() -> None:
    """While the box has an error, the URL names the formula that the page still shows."""
    at = start()
    at.slider(key="value_x").set_value(2.5).run()
    at.text_area(key="formula").input("y = x**2 +").run()
    assert at.query_params["formula"] == "y = x**2 + 1"
    assert at.query_params["value_x"] == "2.5"


def test_a_link_names_an_input_the_formula_does_not_use() -> None:
    """value_w for a formula without w: a note in the link's warnings, and w gets no controls."""
    at = start(formula="y = x**2", value_x="2.0", value_w="3.0")
    healthy(at)
    assert any("w is not used by the formula" in w.value for w in at.warning)
    assert not [s for s in at.slider if s.key == "value_w"]
