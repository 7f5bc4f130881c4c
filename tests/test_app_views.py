"""The app's new views through AppTest: the tabs, the 2nd derivative, the check, the surface,
backward's settings and backward step by step, each driven by key and restored from a link.
"""

from __future__ import annotations

import math
import re

import pytest
from apptest import healthy, numbers, plot, start, transcript
from conftest import GOLDEN
from streamlit.testing.v1 import AppTest

from explorer.dot import MARKS
from explorer.presets import PRESETS
from explorer.ui.panels import plain


def link(formula: str, **values: str) -> dict[str, str]:
    """Return a link as the app writes it: the formula, then each float input requiring grad."""
    params = {"formula": formula}
    for name, value in values.items():
        params |= {f"value_{name}": value, f"grad_{name}": "true", f"dtype_{name}": "float"}
    return params


EXAMPLE1 = link("y = x**2 + 1", x="2.0")
EXAMPLE3 = link("z = x**y", x="3.0", y="4.0")
PROGRAM = link("h = w*x + b\ny = sigmoid(h)", w="1.0", x="2.0", b="0.5")
SADDLE = link("z = x**2 - y**2", x="1.0", y="0.5")
RUNNING, WARNING = MARKS["running"][0], MARKS["warning"][0]


def open_backward(at: AppTest) -> AppTest:
    """Open the backward() expander: its switches are drawn only while it is open."""
    at.session_state["backward_settings"] = True
    return at.run()


def link_warnings(at: AppTest) -> list[str]:
    return [w.value for w in at.warning if w.value.startswith("In the link")]


def dots(at: AppTest) -> list[str]:
    """Return the DOT of every graph on the page."""
    return [chart.proto.spec for chart in at.get("graphviz_chart")]


def page_dot(at: AppTest) -> str:
    return dots(at)[-1]


def grad(at: AppTest, name: str) -> float:
    """Return ``name.grad`` as the transcript prints it, read back as a number."""
    match = re.search(rf"^{name}\.grad : tensor\(([^)]*)\)$", transcript(at), re.MULTILINE)
    assert match, transcript(at)
    return float(match[1])


def open_tab(at: AppTest) -> str:
    """Return the label of the view the left column shows (only that one is computed)."""
    return at.segmented_control(key="panel").value


def marked(dot: str, colour: str) -> list[str]:
    """Return the DOT lines of the nodes filled with ``colour``."""
    return [line for line in dot.splitlines() if f'fillcolor="{colour}"' in line]


def texts(at: AppTest) -> str:
    """Return every message, caption and markdown on the page, one per line."""
    kinds = ("info", "warning", "error", "success", "caption", "markdown")
    return "\n".join(e.value for kind in kinds for e in at.get(kind))


# --- links: every new key restores its widget and is written back -----------------------------

ROUND_TRIPS = {
    "second tab, gradient graph": (
        {**EXAMPLE1, "plot_var": "x", "panel": "second", "grad_graph": "true"},
        {"panel": "2nd derivative", "grad_graph": True},
    ),
    "check tab": ({**EXAMPLE1, "panel": "check"}, {"panel": "Check"}),
    "steps tab": ({**EXAMPLE3, "panel": "steps"}, {"panel": "Steps"}),
    "surface": (
        {**SADDLE, "plot_var": "y", "plot_var2": "x", "plot_mode": "surface"},
        {"plot_mode": "surface", "plot_var": "y", "plot_var2": "x"},
    ),
    "contour": (
        {**SADDLE, "plot_var": "x", "plot_var2": "y", "plot_mode": "contour"},
        {"plot_mode": "contour", "plot_var": "x", "plot_var2": "y"},
    ),
    "backward settings": (
        {
            **PROGRAM,
            "plot_var": "w",
            "retain_h": "true",
            "backward_calls": "2",
            "retain_graph": "true",
        },
        {"retain_h": True, "backward_calls": 2, "retain_graph": True},
    ),
}


def _widget_value(at: AppTest, key: str) -> object:
    if key == "panel":
        return open_tab(at)
    for kind in ("toggle", "segmented_control", "selectbox", "slider"):
        found = [w for w in at.get(kind) if w.key == key]
        if found:
            return found[0].value
    raise AssertionError(f"no widget with key {key!r} is drawn")


@pytest.mark.parametrize(("link", "widgets"), ROUND_TRIPS.values(), ids=ROUND_TRIPS)
def test_a_link_with_a_new_key_restores_its_widget_and_is_written_back(link, widgets) -> None:
    """Open the link: the widgets show it, no warning; the next run writes the same URL back."""
    at = start(**link)
    healthy(at)
    assert not at.warning, [w.value for w in at.warning]
    assert {key: _widget_value(at, key) for key in widgets} == widgets
    at.run()
    assert dict(at.query_params) == link


def test_a_link_with_second_shows_f_second_beside_f_prime_on_the_plot() -> None:
    """second=true: a switch with key ``second``, on, and a curve of f'' = 2 for x**2 + 1."""
    at = start(**EXAMPLE1, second="true")
    healthy(at)
    assert [t.value for t in at.toggle if t.key == "second"] == [True]
    constant_two = [
        trace
        for trace in plot(at)["data"]
        if len(ys := numbers(trace.get("y", []))) > 10 and ys == pytest.approx([2.0] * len(ys))
    ]
    assert constant_two, "no curve of d2y/dx2 on the plot"


def visit(at: AppTest, *views: str) -> None:
    """Choose each view in turn, as a student clicking the switch; the page stays healthy."""
    for view in views:
        at.session_state["panel"] = view
        at.run()
    healthy(at)


def test_a_view_chosen_by_hand_is_written_to_the_url_and_its_switches_survive_other_views() -> None:
    """Open the check view and come back: grad_graph is still on, the input to differentiate by
    is still the one chosen, and the surface is still a surface."""
    at = start(**EXAMPLE1, panel="second", grad_graph="true")
    at.session_state["panel"] = "Check"
    at.run()
    healthy(at)
    assert open_tab(at) == "Check"
    assert at.query_params["panel"] == "check"
    at.session_state["panel"] = "2nd derivative"
    at.run()
    assert at.toggle(key="grad_graph").value
    # The input to differentiate by, when the plotted one cannot be (an int): its own choice.
    ints = {"value_n": "3", "dtype_n": "int", "grad_n": "false"}
    at = start(**link("y = a*b*n", a="1.0", b="2.0"), **ints, plot_var="n", panel="second")
    at.selectbox(key="second_var").select("b").run()
    visit(at, "Check", "2nd derivative")
    assert at.selectbox(key="second_var").value == "b"
    at = start(**SADDLE, plot_mode="surface")
    visit(at, "Steps", "Plot")
    assert at.segmented_control(key="plot_mode").value == "surface"
    assert plot(at)["data"][0]["type"] == "surface"


BAD_LINKS = {
    "panel": "graph",
    "plot_mode": "3d",
    "plot_var2": "__class__",
    "second": "maybe",
    "grad_graph": "yes please",
    "retain_graph": "2",
    "retain_h": "sure",
    "backward_calls": "4",
    "step": "-1",
}


@pytest.mark.parametrize(("key", "value"), BAD_LINKS.items(), ids=BAD_LINKS)
def test_a_bad_value_for_a_new_key_is_a_link_warning_not_a_crash(key: str, value: str) -> None:
    """Each bad value gives one "In the link:" warning naming its key, and a working page."""
    at = start(**PROGRAM, **{key: value})
    healthy(at)
    (warning,) = link_warnings(at)
    assert key.replace("_", "\\_") in warning
    assert "h: tensor(2.5000, grad_fn=<AddBackward0>)" in transcript(at)


@pytest.mark.parametrize("value", ["two", "0", "1.5", "٢", "99999999999999999999"])
def test_backward_calls_accepts_only_1_to_3(value: str) -> None:
    """Words, 0, fractions, non-ASCII digits and huge numbers are refused with a warning."""
    at = start(**EXAMPLE1, backward_calls=value)
    healthy(at)
    assert any("backward\\_calls" in w for w in link_warnings(at))
    assert open_backward(at).segmented_control(key="backward_calls").value == 1


def test_retain_for_a_name_that_is_not_an_intermediate_is_a_link_warning() -> None:
    """retain_q for a program without q is said, like value_w for a formula without w."""
    at = start(**PROGRAM, retain_q="true")
    healthy(at)
    assert any("retain\\_q" in w for w in link_warnings(at))


@pytest.mark.parametrize(
    "link",
    [
        {"formula": "graph = 2*x\ny = graph**2", "value_x": "1.0"},
        {"formula": "y = graph**2", "value_graph": "1.0", "panel": "second"},
    ],
    ids=["intermediate named graph", "input named graph"],
)
def test_names_that_spell_a_page_key_do_not_crash_the_page(link: dict[str, str]) -> None:
    """retain_<name> and grad_<name> must not clash with retain_graph and grad_graph."""
    at = start(**link)
    healthy(at)


# --- the 2nd derivative tab ---------------------------------------------------------------------


def test_the_second_derivative_tab_prints_what_pytorch_prints() -> None:
    """Example 1: dy/dx is a tensor with its own grad_fn; d2y/dx2 is 2; the Hessian is [[2]]."""
    at = start(**EXAMPLE1, panel="second")
    healthy(at)
    # The printed lines, and the script that prints them (in an expander, as Python).
    (lines,) = [c.value for c in at.code if "d2y/dx2" in c.value and c.language != "python"]
    (script,) = [c.value for c in at.code if "d2y/dx2" in c.value and c.language == "python"]
    assert "create_graph=True" in script
    assert "dy/dx: tensor(4., grad_fn=<MulBackward0>)" in lines.splitlines()
    assert "d2y/dx2: tensor(2.)" in lines.splitlines()
    (table,) = at.table
    assert float(table.value.loc["x", "x"]) == 2.0
    assert len(dots(at)) == 1


def test_grad_graph_draws_the_gradients_own_graph_in_the_graphs_place() -> None:
    """The switch puts the double-backward graph of dy/dx where the formula's graph was."""
    at = start(**EXAMPLE1, panel="second")
    (page,) = dots(at)
    assert "<B>y</B>" in page
    at.toggle(key="grad_graph").set_value(True).run()
    healthy(at)
    (gradient,) = dots(at)
    assert "<B>dy/dx</B> = 4." in gradient
    assert "MulBackward0" in gradient
    assert any("Graph of dy/dx" in header.value for header in at.subheader)
    assert at.query_params["grad_graph"] == "true"
    at.toggle(key="grad_graph").set_value(False).run()
    assert dots(at) == [page]


def test_second_derivative_of_a_program_differentiates_the_output() -> None:
    """For a program the output is the last statement; the tab still works."""
    at = start(**PROGRAM, panel="second")
    healthy(at)
    (lines,) = [c.value for c in at.code if "d2y/d" in c.value and c.language != "python"]
    assert lines.splitlines()[-1].startswith("d2y/dw2: tensor(")
    assert "grad_fn=" in lines


# --- the check tab ------------------------------------------------------------------------------


@pytest.mark.parametrize("formula", ["y = relu(x)", "y = abs(x)"])
def test_the_check_tab_compares_autograd_with_the_difference_and_names_the_kink(formula) -> None:
    """At the kink the table has both columns and the reason is said in words."""
    at = start(formula=formula, value_x="0.0", panel="check")
    healthy(at)
    (table,) = at.table
    rows = set(table.value.index) | set(table.value.columns)
    assert {"autograd", "difference", "verdict"} <= rows
    assert "kink" in texts(at)


def test_the_check_tab_agrees_on_a_smooth_program() -> None:
    """Every input's gradient agrees with its central difference."""
    at = start(**PROGRAM, panel="check")
    healthy(at)
    (table,) = at.table
    frame = table.value
    verdicts = frame.loc["verdict"] if "verdict" in frame.index else frame["verdict"]
    assert set(verdicts) == {"agree"}


# --- the surface and the level lines ------------------------------------------------------------


def test_surface_has_a_tangent_plane_whose_slopes_are_the_transcripts_grads() -> None:
    """plot_mode=surface: a 41x41+ surface, and a plane z0 + gx(x-x0) + gy(y-y0)."""
    at = start(**SADDLE, plot_mode="surface")
    healthy(at)
    data = plot(at)["data"]
    assert data[0]["type"] == "surface"
    assert len(numbers(data[0]["x"])) >= 41
    assert len(numbers(data[0]["y"])) >= 41
    (plane,) = [t for t in data if t["type"] == "surface" and t.get("name") == "tangent plane"]
    xs, ys = numbers(plane["x"]), numbers(plane["y"])
    z = [numbers(row) for row in plane["z"]]
    slope_x = (z[0][1] - z[0][0]) / (xs[1] - xs[0])
    slope_y = (z[1][0] - z[0][0]) / (ys[1] - ys[0])
    assert (slope_x, slope_y) == pytest.approx((grad(at, "x"), grad(at, "y")))
    assert (grad(at, "x"), grad(at, "y")) == (2.0, -1.0)


def test_contour_arrow_points_along_the_normalised_gradient() -> None:
    """plot_mode=contour: level lines, and the arrow's direction is the gradient's."""
    at = start(**SADDLE, plot_mode="contour")
    healthy(at)
    data = plot(at)["data"]
    assert data[0]["type"] == "contour"
    (arrow,) = [t for t in data if t.get("name", "").startswith("gradient")]
    xs, ys = numbers(arrow["x"]), numbers(arrow["y"])
    dx, dy = xs[1] - xs[0], ys[1] - ys[0]
    norm = math.hypot(dx, dy)
    gx, gy = grad(at, "x"), grad(at, "y")
    length = math.hypot(gx, gy)
    assert (dx / norm, dy / norm) == pytest.approx((gx / length, gy / length))


def test_a_one_input_formula_has_no_surface_switch() -> None:
    """plot_mode=surface on x**2 + 1 still draws the curve (one float input)."""
    at = start(**EXAMPLE1, plot_mode="surface")
    healthy(at)
    assert not [w for w in at.segmented_control if w.key == "plot_mode"]
    assert plot(at)["data"][0]["type"] != "surface"


def test_moving_a_slider_moves_the_tangent_plane_with_the_transcript() -> None:
    """After value_x moves, the plane's x slope is the new x.grad."""
    at = start(**SADDLE, plot_mode="surface")
    at.slider(key="value_x").set_value(-1.5).run()
    healthy(at)
    (plane,) = [t for t in plot(at)["data"] if t.get("name") == "tangent plane"]
    xs, z = numbers(plane["x"]), [numbers(row) for row in plane["z"]]
    assert (z[0][1] - z[0][0]) / (xs[1] - xs[0]) == pytest.approx(grad(at, "x"))
    assert grad(at, "x") == -3.0


# --- inf and nan ----------------------------------------------------------------------------------


def test_log_at_zero_paints_the_node_where_inf_appeared() -> None:
    """The LogBackward0 box is filled with the warning colour, and only it."""
    at = start(formula="y = log(x)", value_x="0.0")
    healthy(at)
    (line,) = marked(page_dot(at), WARNING)
    assert "LogBackward0" in line


@pytest.mark.parametrize(
    ("formula", "sentence"),
    [
        ("y = log(x)", "log(0) = -inf at LogBackward0"),
        ("y = sqrt(x)*0", "0 * inf = nan at SqrtBackward0 during backward"),
    ],
)
def test_the_page_names_the_node_where_inf_or_nan_appeared(formula: str, sentence: str) -> None:
    """The trace's sentence, as the issue words it, is on the page."""
    at = start(formula=formula, value_x="0.0")
    healthy(at)
    assert plain(sentence) in texts(at)


def test_detect_anomaly_message_is_shown_as_the_lesson() -> None:
    """sqrt(x)*0 at 0: 0 * inf = nan in backward; PyTorch's anomaly message is on the page."""
    at = start(formula="y = sqrt(x)*0", value_x="0.0")
    healthy(at)
    assert "SqrtBackward0" in "\n".join(line for line in marked(page_dot(at), WARNING))
    assert plain("Function 'SqrtBackward0' returned nan values in its 0th output.") in texts(at)


# --- programs, retain_grad and backward twice -----------------------------------------------------


def test_retain_h_shows_the_intermediates_gradient() -> None:
    """Without retain_grad h.grad is None and PyTorch's warning is the lesson; with it, a tensor."""
    at = start(**PROGRAM)
    healthy(at)
    assert "h.grad : None" in transcript(at)
    assert any(".grad attribute of a Tensor that is not a leaf" in i.value for i in at.info)
    at.toggle(key="retain_h").set_value(True).run()
    healthy(at)
    assert "h.grad : tensor(0.0701)" in transcript(at)
    assert at.query_params["retain_h"] == "true"


def test_backward_twice_with_retain_graph_doubles_the_grad() -> None:
    """Example 1 called twice keeps accumulating: x.grad 4 after the first call, 8 after both."""
    at = open_backward(start(**EXAMPLE1))
    at.segmented_control(key="backward_calls").set_value(2)
    at.toggle(key="retain_graph").set_value(True).run()
    healthy(at)
    lines = transcript(at).splitlines()
    assert lines[-1] == "x.grad : tensor(8.)"
    assert "x.grad : tensor(4.)" in lines
    assert at.query_params["backward_calls"] == "2"


def test_backward_twice_without_retain_graph_shows_pytorchs_error_as_a_lesson() -> None:
    """No retain_graph: PyTorch's RuntimeError from the real second call, as info, not a crash."""
    at = start(**EXAMPLE1, backward_calls="2")
    healthy(at)
    assert not at.error
    lesson = "Trying to backward through the graph a second time"
    assert any(lesson in i.value for i in at.info)
    assert lesson in transcript(at)


def test_a_preset_opens_with_its_own_backward_settings() -> None:
    """Backward three times, then example 3: it opens as the seed shows it, backward run once."""
    at = start(**EXAMPLE1, backward_calls="3", retain_graph="true")
    at.selectbox(key="preset").select(PRESETS[2].label).run()
    healthy(at)
    assert transcript(at) == (GOLDEN / "seed_example3.txt").read_text()
    open_backward(at)
    assert at.segmented_control(key="backward_calls").value == 1
    assert not at.toggle(key="retain_graph").value


def test_the_backward_expander_says_its_settings_and_opens_for_a_lesson_about_them() -> None:
    """Closed for one plain backward(); titled with the settings; open when a link brings some."""
    at = start(**EXAMPLE1)
    (box,) = [e for e in at.expander if "backward" in e.label]
    assert box.label == "backward\\(\\)"
    with pytest.raises(KeyError):  # not drawn while closed
        at.segmented_control(key="backward_calls")
    at = start(**EXAMPLE1, backward_calls="2", retain_graph="true")
    (box,) = [e for e in at.expander if "backward" in e.label]
    assert box.label.replace("\\", "") == "backward() ×2 · retain_graph"
    assert at.segmented_control(key="backward_calls").value == 2
    assert at.toggle(key="retain_graph").value


def test_the_backward_expander_stays_open_while_its_title_changes() -> None:
    """Its title is part of its identity: back to one plain backward(), an open one stays open."""
    at = open_backward(start(**EXAMPLE1))
    at.segmented_control(key="backward_calls").set_value(2).run()
    at.segmented_control(key="backward_calls").set_value(1).run()
    healthy(at)
    assert at.segmented_control(key="backward_calls").value == 1
    assert not at.toggle(key="retain_graph").value


# --- backward, step by step ---------------------------------------------------------------------


def _card(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown if m.value.startswith("**Step "))


def _button(at: AppTest, label: str):
    """Return the Previous or Next button (keys step_previous and step_next)."""
    (button,) = [b for b in at.button if b.label == label]
    return button


def test_the_steps_tab_opens_on_the_full_view_and_steps_back_to_the_forward_pass() -> None:
    """Example 3: three steps; Previous walks back, highlighting each running node, to step 0."""
    at = start(**EXAMPLE3, panel="steps")
    healthy(at)
    slider = at.slider(key="step")
    assert (slider.value, slider.min, slider.max) == (3, 0, 3)
    assert _button(at, "Next").disabled
    assert "Step 3: AccumulateGrad" in _card(at)
    assert not marked(page_dot(at), RUNNING)
    _button(at, "Previous").click().run()
    healthy(at)
    assert at.slider(key="step").value == 2
    assert "Step 2: AccumulateGrad" in _card(at)
    (running,) = marked(page_dot(at), RUNNING)
    assert "AccumulateGrad" in running
    _button(at, "Previous").click().run()
    (running,) = marked(page_dot(at), RUNNING)
    assert "PowBackward1" in running
    card = _card(at)
    assert "Step 1: PowBackward1" in card
    assert "108" in card
    assert "88.99" in card
    assert at.query_params["step"] == "1"
    _button(at, "Previous").click().run()
    healthy(at)
    assert at.slider(key="step").value == 0
    assert _button(at, "Previous").disabled
    assert not marked(page_dot(at), RUNNING)
    assert any("After the forward pass" in i.value for i in at.info)
    _button(at, "Next").click().run()
    assert at.slider(key="step").value == 1


def test_a_link_with_step_restores_the_step_and_the_slider_moves_it() -> None:
    """step=1 opens on PowBackward1; the slider to 2 shows x's AccumulateGrad; the URL follows."""
    link = {**EXAMPLE3, "panel": "steps", "step": "1"}
    at = start(**link)
    healthy(at)
    assert not at.warning
    assert at.slider(key="step").value == 1
    assert "Step 1: PowBackward1" in _card(at)
    at.run()
    assert dict(at.query_params) == link
    at.slider(key="step").set_value(2).run()
    healthy(at)
    assert "Step 2: AccumulateGrad" in _card(at)
    assert "0 + 108" in _card(at)
    assert at.query_params["step"] == "2"


def test_a_step_past_the_last_shows_the_full_view() -> None:
    """step=9 for three steps is clamped to the last step, the full view, without a crash."""
    at = start(**EXAMPLE3, panel="steps", step="9")
    healthy(at)
    assert at.slider(key="step").value == 3
    assert not marked(page_dot(at), RUNNING)


def test_backward_twice_steps_show_the_accumulation() -> None:
    """With backward twice and retain_graph, the last card adds 108 to 108."""
    at = start(**EXAMPLE3, panel="steps", backward_calls="2", retain_graph="true")
    healthy(at)
    assert at.slider(key="step").max == 6
    assert "y.grad = 88.99 + 88.99" in _card(at)
    at.slider(key="step").set_value(5).run()
    healthy(at)
    assert "x.grad = 108 + 108" in _card(at)


@pytest.mark.parametrize("name", ["previous", "next", "card", "controls"])
def test_an_input_named_like_a_step_control_does_not_crash_the_steps_tab(name: str) -> None:
    """step_<name> is the range step of an input: it must not clash with step_next and co."""
    at = start(formula=f"y = {name}**2", **{f"value_{name}": "2.0"}, panel="steps")
    healthy(at)
