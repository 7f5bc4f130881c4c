"""trace(): the first node where inf or nan appeared, forward or backward, and PyTorch's message."""

from __future__ import annotations

import math
import pickle
import threading
import warnings

import pytest
import torch

import explorer.trace
from explorer.core import explore
from explorer.errors import ExplorerError
from explorer.evaluate import ANOMALY_GATE, AnomalyGate, evaluate
from explorer.formula import WARNINGS_LOCK, parse
from explorer.trace import Origin, Trace, forward_order, trace

# formula, values, the node that must be painted (title, stage), the sentence, detect_anomaly's
# message ("" when backward finishes: detect_anomaly looks for nan only, not inf).
TABLE = [
    ("y = log(x)", {"x": 0.0}, "LogBackward0", "forward", "log(0) = -inf at LogBackward0", ""),
    (
        "y = sqrt(x)",
        {"x": 0.0},
        "SqrtBackward0",
        "backward",
        "1 * inf = inf at SqrtBackward0 during backward",
        "",
    ),
    (
        "y = sqrt(x)",
        {"x": -1.0},
        "SqrtBackward0",
        "forward",
        "sqrt(-1) = nan at SqrtBackward0",
        "Function 'SqrtBackward0' returned nan values in its 0th output.",
    ),
    # 0 * inf: log(0) is the origin; the product's nan only follows from it.
    (
        "y = x*log(x)",
        {"x": 0.0},
        "LogBackward0",
        "forward",
        "log(0) = -inf at LogBackward0",
        "Function 'LogBackward0' returned nan values in its 0th output.",
    ),
    # 0 * inf during backward: the gradient arriving at sqrt is 0, its slope at 0 infinite.
    (
        "y = sqrt(x)*0",
        {"x": 0.0},
        "SqrtBackward0",
        "backward",
        "0 * inf = nan at SqrtBackward0 during backward",
        "Function 'SqrtBackward0' returned nan values in its 0th output.",
    ),
    # inf - inf: the first exp computed overflows float32.
    ("y = exp(x) - exp(2*x)", {"x": 100.0}, "ExpBackward0", "forward", "exp(100) = inf", ""),
    ("y = x/x", {"x": 0.0}, "DivBackward0", "forward", "0/0 = nan at DivBackward0", "DivBackward0"),
    ("y = x**4", {"x": 1e12}, "PowBackward0", "forward", "1.0000e+12**4 = inf at PowBackward0", ""),
    (
        "y = sqrt(x**2)",
        {"x": 0.0},
        "SqrtBackward0",
        "backward",
        "1 * inf = inf at SqrtBackward0",
        "Function 'PowBackward0' returned nan values in its 0th output.",
    ),
    ("y = x + sqrt(-1)", {"x": 1.0}, "sqrt(-1)", "forward", "sqrt(-1) = nan, a constant", ""),
]


@pytest.mark.parametrize("case", TABLE, ids=[f"{case[0]} at {case[1]}" for case in TABLE])
def test_table_names_the_first_node(case) -> None:
    """Each formula's first non-finite node, its stage, its sentence and PyTorch's message."""
    formula, values, title, stage, sentence, anomaly = case
    evaluation = evaluate(parse(formula), values)
    found = trace(evaluation)
    first = found.first
    assert first is not None
    node = next(node for node in evaluation.graph.nodes if node.id == first.node)
    assert (node.title, first.title, first.stage) == (title, title, stage)
    assert sentence in first.sentence
    assert anomaly in found.anomaly
    assert bool(found.anomaly) == bool(anomaly)


def test_exp_minus_exp_names_the_first_overflow_in_computation_order() -> None:
    """inf - inf: both exps overflow; the left one, computed first, is the origin."""
    evaluation = evaluate(parse("y = exp(x) - exp(2*x)"), {"x": 100.0})
    first = trace(evaluation).first
    assert first is not None
    assert first.sentence == "exp(100) = inf at ExpBackward0"
    left_exp = next(node for node in evaluation.graph.nodes if node.detail == "exp(x)")
    assert first.node == left_exp.id


def test_finite_formulas_have_no_origin() -> None:
    """Nothing is traced, and no anomaly run is made, when every number is finite."""
    found = trace(explore("y = w*x + b", {"x": 3, "w": 2.0, "b": 5.0}))
    assert found == Trace((), "")
    assert found.first is None


def test_anomaly_message_is_pytorchs_own() -> None:
    """The message is the first line of the RuntimeError PyTorch raises under detect_anomaly."""
    x = torch.tensor(-1.0, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # detect_anomaly's own warnings
        with torch.autograd.detect_anomaly(), pytest.raises(RuntimeError) as raised:
            torch.sqrt(x).backward()
    expected = str(raised.value).splitlines()[0]
    assert trace(explore("y = sqrt(x)", {"x": -1.0})).anomaly == expected


def test_anomaly_mode_is_off_afterwards_and_nothing_leaks() -> None:
    """After the anomaly run, anomaly mode is off again and no warning reached the caller."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trace(explore("y = sqrt(x)*0", {"x": 0.0}))
    assert not torch.is_anomaly_enabled()
    assert [str(w.message) for w in caught] == []


def test_concurrent_traces_agree() -> None:
    """Threads tracing at once each get the same answer (the anomaly runs are serialised)."""
    ex = explore("y = sqrt(x)*0", {"x": 0.0})
    expected = trace(ex)
    results: list[Trace] = []

    def work() -> None:
        results.extend(trace(ex) for _ in range(5))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert results == [expected] * 20


def test_a_backward_waits_while_an_anomaly_run_is_on() -> None:
    """Anomaly mode is process-wide: another session's backward waits, then runs as without it.

    Without the gate its nan would make PyTorch raise "Function 'SqrtBackward0' returned nan".
    """
    formula = parse("y = sqrt(x)*0")
    inside, release = threading.Event(), threading.Event()
    results: list[object] = []

    def anomaly_run() -> None:
        with ANOMALY_GATE.anomaly(), WARNINGS_LOCK, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with torch.autograd.detect_anomaly():
                inside.set()
                release.wait(timeout=60)

    def session() -> None:
        try:
            results.append(evaluate(formula, {"x": 0.0}).inputs[0].grad)
        except ExplorerError as error:
            results.append(error)

    runner = threading.Thread(target=anomaly_run)
    runner.start()
    assert inside.wait(timeout=60)
    other = threading.Thread(target=session)
    other.start()
    other.join(timeout=1.0)
    waited = other.is_alive()
    release.set()
    runner.join(timeout=60)
    other.join(timeout=60)
    assert waited
    assert len(results) == 1
    assert isinstance(results[0], float)
    assert math.isnan(results[0])


def test_the_gate_lets_an_anomaly_run_in_only_alone() -> None:
    """An anomaly run waits for the backward in flight; a backward arriving meanwhile waits too."""
    gate = AnomalyGate()
    log: list[str] = []

    def run(kind: str) -> None:
        with gate.anomaly() if kind == "anomaly" else gate.backward():
            log.append(kind)

    with gate.backward():
        anomaly = threading.Thread(target=run, args=("anomaly",))
        anomaly.start()
        while not gate._waiting:  # the anomaly run is queued: new backward passes now wait
            threading.Event().wait(0.001)
        later = threading.Thread(target=run, args=("backward",))
        later.start()
        later.join(timeout=0.5)
        log.append("first backward done")
    anomaly.join(timeout=60)
    later.join(timeout=60)
    assert log == ["first backward done", "anomaly", "backward"]


def test_orders_follow_computation_and_the_engine_in_programs() -> None:
    """Forward: what was computed first; backward: what PyTorch's engine ran first (ex.steps)."""
    ex = explore("h = log(x); y = 1/x + h", {"x": 0.0})
    assert trace(ex).origins[0].sentence == "log(0) = -inf at LogBackward0"
    ex = explore("h = sqrt(x); y = log(x) + h", {"x": 0.0})
    engine = [step.function for step in ex.steps]
    assert engine.index("LogBackward0") < engine.index("SqrtBackward0")  # both send inf here
    (backward,) = [o for o in trace(ex).origins if o.stage == "backward"]
    assert backward.title == "LogBackward0"
    graph = explore("y = exp(x) - exp(2*x)", {"x": 1.0}).graph
    titles = {node.id: node.detail or node.title for node in graph.nodes}
    fwd = [titles[node] for node in forward_order(graph)]
    assert fwd.index("exp(x)") < fwd.index("2*x") < fwd.index("exp(2*x)") < fwd.index("y")


def test_program_intermediates_are_traced() -> None:
    """A program's intermediate is named by its operation, as in a single formula."""
    first = trace(explore("h = log(x); y = h*2", {"x": 0.0})).first
    assert first is not None
    assert first.sentence == "log(0) = -inf at LogBackward0"


def test_results_are_plain_and_picklable() -> None:
    """A Trace survives pickling unchanged."""
    found = trace(explore("y = sqrt(x)", {"x": -1.0}))
    assert pickle.loads(pickle.dumps(found)) == found
    assert all(isinstance(origin, Origin) for origin in found.origins)


def test_all_lists_the_public_names() -> None:
    """__all__ is exactly the module's public names."""
    public = {
        name
        for name, value in vars(explorer.trace).items()
        if not name.startswith("_")
        and getattr(value, "__module__", None) == "explorer.trace"
        and callable(value)
    }
    assert public <= set(explorer.trace.__all__)
