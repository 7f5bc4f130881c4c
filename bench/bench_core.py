"""Time explore() against the same job done with plain torch + torchviz, in one run.

The baseline does what the seed tutorial's script does plus a torchviz drawing: create the tensors,
run forward, ``make_dot(...).source``, backward, and repr every tensor and gradient. explore() does
all of that and also parses the formula, records values and hooks, notes and the script, and the
steps of backward (pre-hooks, saved tensors, chain-rule cards). The "+ steps text" rows also write
the steps out as ``--steps`` prints them.

The last table lays the DOT out with Graphviz's ``dot -Tsvg`` (when installed): ours, where a leaf
used in many places is drawn once per use, against torchviz's, which draws the shared leaf once
and makes dot route an arrow across every rank (cut off after ``--layout-timeout`` seconds).

Each pair of jobs is timed in ``--rounds`` rounds, the two sides taking turns to go first; a
round's time is the median of its runs, a ratio the median of the rounds' ratios (the rounds'
lowest and highest ratios are printed beside it: the spread on a shared machine).

    python bench/bench_core.py [--repeat N] [--rounds R] [--layout-timeout S]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable

import torch
from torchviz import make_dot

from explorer import explore
from explorer.chart import chart_plan
from explorer.dot import to_dot
from explorer.evaluate import (
    _Forward,  # the drawing-only row needs the evaluator's records
    forward,
)
from explorer.formula import parse
from explorer.graph import graph_and_ids, walk
from explorer.steps import Recorder, steps_text

CHAIN_TERMS = 25  # 25 terms sin(w*x + i), 24 + between them, and + x: 100 operations


def _seed1() -> str:
    x = torch.tensor(2.0, requires_grad=True)
    y = x**2 + 1
    return _finish(y, {"x": x})


def _seed2() -> str:
    x = torch.tensor(3)
    w = torch.tensor(2.0, requires_grad=True)
    b = torch.tensor(5.0, requires_grad=True)
    y = w * x + b
    return _finish(y, {"x": x, "w": w, "b": b})


def _seed3() -> str:
    x = torch.tensor(3.0, requires_grad=True)
    y = torch.tensor(4.0, requires_grad=True)
    z = x**y
    return _finish(z, {"x": x, "y": y})


def _chain(*, draw: bool = True) -> str:
    """The 100-operation job; without ``draw``, the part both sides must do anyway."""
    x = torch.tensor(0.5, requires_grad=True)
    w = torch.tensor(1.5, requires_grad=True)
    y = torch.sin(w * x + 0)
    for i in range(1, CHAIN_TERMS):
        y = y + torch.sin(w * x + i)
    y = y + x
    return _finish(y, {"x": x, "w": w}, draw=draw)


def _chain_floor() -> str:
    """Forward, backward and PyTorch's reprs: the part of the job both sides must do."""
    return _chain(draw=False)


def _finish(out: torch.Tensor, leaves: dict[str, torch.Tensor], *, draw: bool = True) -> str:
    """Draw with torchviz, run backward and repr every tensor, as the seed script prints them."""
    params = {name: t for name, t in leaves.items() if t.requires_grad}
    dot = make_dot(out, params=params).source if draw else ""
    out.backward()
    lines = [repr(t) for t in leaves.values()] + [repr(out)]
    lines += [repr(t.grad) for t in leaves.values()]
    return dot + "\n".join(lines)


CHAIN = "y = " + " + ".join(f"sin(w*x + {i})" for i in range(CHAIN_TERMS)) + " + x"
CASES: list[tuple[str, Callable[[], object], Callable[[], object]]] = [
    ("seed example 1", lambda: explore("y = x**2 + 1", {"x": 2.0}), _seed1),
    ("seed example 2", lambda: explore("y = w*x + b", {"x": 3, "w": 2.0, "b": 5.0}), _seed2),
    ("seed example 3", lambda: explore("z = x**y", {"x": 3.0, "y": 4.0}), _seed3),
    ("100 operations", lambda: explore(CHAIN, {"x": 0.5, "w": 1.5}), _chain),
]
SEEDS = (
    ("y = x**2 + 1", {"x": 2.0}),
    ("y = w*x + b", {"x": 3, "w": 2.0, "b": 5.0}),
    ("z = x**y", {"x": 3.0, "y": 4.0}),
)
STEPS_CASES: list[tuple[str, Callable[[], object], Callable[[], object]]] = [
    (f"seed {k} + steps text", lambda f=f, v=v: steps_text(_steps(explore(f, v))), baseline)
    for k, ((f, v), baseline) in enumerate(zip(SEEDS, (_seed1, _seed2, _seed3), strict=True), 1)
]


def _steps(exploration: object) -> tuple:
    """Return the steps explore() recorded (none before evaluate.py records them)."""
    return getattr(exploration, "steps", ())


def _recording_jobs(text: str, values: dict) -> tuple[Callable[[], object], ...]:
    """Return (with, without) the step recorder: forward, backward and the Graph on fresh tensors.

    Their difference is what recording the steps adds to explore(): reading saved tensors, the
    pre-hooks and hooks, and building the Step data.
    """
    formula = parse(text)

    def run(record: bool) -> object:
        tensors = {
            name: torch.tensor(value, requires_grad=isinstance(value, float))
            for name, value in values.items()
        }
        out = forward(formula, tensors)
        functions = walk(out.grad_fn)
        recorder = Recorder(functions)
        if record:
            recorder.install()
        out.backward()
        recorder.remove()
        graph, ids = graph_and_ids(
            formula.output,
            out,
            inputs=tensors,
            records={},
            hooked=recorder.hooked,
            functions=functions,
            used=formula.variables,
        )
        return recorder.steps(ids, graph)

    return lambda: run(True), lambda: run(False)


def _drawing_jobs(text: str, values: dict[str, float]) -> tuple[Callable[[], object], ...]:
    """Return (ours, torchviz's) drawing of one live graph: walk + Graph + DOT, or make_dot."""
    formula = parse(text)
    tensors = {name: torch.tensor(v, requires_grad=True) for name, v in values.items()}
    run = _Forward(formula, tensors)
    out = run.program()

    def ours() -> str:
        functions = walk(out.grad_fn)
        graph, _ = graph_and_ids(
            formula.output,
            out,
            inputs=tensors,
            records=run.records,
            hooked={},
            functions=functions,
            used=formula.variables,
        )
        return to_dot(graph)

    return ours, lambda: make_dot(out, params=tensors).source


LAYOUT_CASES = {
    "seed example 3": ("z = x**y", {"x": 3.0, "y": 4.0}),
    "100 operations": (CHAIN, {"x": 0.5, "w": 1.5}),
    "80 additions x+x+...": ("y = " + "+".join(["x"] * 81), {"x": 0.5}),
    "200 additions, 12 inputs": (
        "y = " + "+".join("abcdfghkmnpq"[i % 12] for i in range(201)),
        dict.fromkeys("abcdfghkmnpq", 0.5),
    ),
}


def _layout_seconds(dot: str, timeout: float) -> float:
    """Return how long ``dot -Tsvg`` takes on ``dot``, or inf past ``timeout``."""
    start = time.perf_counter()
    try:
        subprocess.run(
            ["dot", "-Tsvg"], input=dot.encode(), capture_output=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return float("inf")
    return time.perf_counter() - start


def _torchviz_dot(text: str, values: dict[str, float]) -> str:
    """Return torchviz's DOT for the same live graph."""
    formula = parse(text)
    tensors = {name: torch.tensor(v, requires_grad=True) for name, v in values.items()}
    out = forward(formula, tensors)
    return make_dot(out, params=tensors).source


def _layout_table(timeout: float) -> None:
    """Print dot's layout time for our DOT (median of 3) and torchviz's (once, bounded)."""
    if shutil.which("dot") is None:
        print("\nlayout: Graphviz's dot is not installed; skipped")
        return
    print(f"\nlayout, dot -Tsvg (s){'':<10} {'boxes':>6} {'ours':>7} {'torchviz':>9}")
    for name, (text, values) in LAYOUT_CASES.items():
        ex = explore(text, values)
        ours = statistics.median(_layout_seconds(ex.dot, timeout) for _ in range(3))
        theirs = _layout_seconds(_torchviz_dot(text, values), timeout)
        shown = f"{theirs:.2f}" if theirs < timeout else f">{timeout:g}"
        boxes = chart_plan(ex.graph).nodes
        print(f"{name:<32} {boxes:>6} {ours:>7.2f} {shown:>9}")


def _paired(
    ours: Callable[[], object], theirs: Callable[[], object], repeat: int, rounds: int
) -> list[tuple[float, float]]:
    """Return (ours, theirs) median ms per round, the two taking turns to go first."""
    pairs = []
    per_round = max(repeat // rounds, 1)
    for number in range(rounds):
        if number % 2:
            theirs_ms = _median_ms(theirs, per_round)
            pairs.append((_median_ms(ours, per_round), theirs_ms))
        else:
            pairs.append((_median_ms(ours, per_round), _median_ms(theirs, per_round)))
    return pairs


def _median_ms(job: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        job()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main() -> None:
    """Print the median of each case and its ratio to the baseline, measured interleaved."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=300, help="runs of each job in all")
    parser.add_argument("--rounds", type=int, default=10, help="rounds the runs are split into")
    parser.add_argument("--layout-timeout", type=float, default=5.0)
    args = parser.parse_args()
    operations = explore(CHAIN, {"x": 0.5, "w": 1.5}).formula.operations
    print(f"the long formula has {operations} operations")
    torch.set_num_threads(1)  # tiny tensors: threads only add noise
    recorded = [len(_steps(explore(f, v))) for f, v in SEEDS]
    print(f"steps recorded by explore() for the seed examples: {recorded}")
    print(
        f"{'case':<22} {'explore() ms':>13} {'torch+torchviz ms':>18} {'ratio':>7} {'rounds':>12}"
    )
    for name, ours, baseline in CASES + STEPS_CASES:
        ours(), baseline()  # warm up
        pairs = _paired(ours, baseline, args.repeat, args.rounds)
        mine = statistics.median(p[0] for p in pairs)
        theirs = statistics.median(p[1] for p in pairs)
        ratios = [p[0] / p[1] for p in pairs]
        spread = f"{min(ratios):.2f}-{max(ratios):.2f}x"
        print(
            f"{name:<22} {mine:>13.3f} {theirs:>18.3f} "
            f"{statistics.median(ratios):>6.2f}x {spread:>12}"
        )
    print(
        "\nrecording the steps alone (forward + backward + Graph, with and without the recorder):"
    )
    for k, (text, values) in enumerate(SEEDS, 1):
        with_steps, without = _recording_jobs(text, values)
        pairs = _paired(with_steps, without, args.repeat, args.rounds)
        extra = statistics.median(p[0] - p[1] for p in pairs)
        whole = _median_ms(lambda t=text, v=values: explore(t, v), args.repeat // args.rounds)
        print(
            f"seed example {k}: +{extra:.3f} ms, {extra / whole:.0%} of explore()'s {whole:.3f} ms"
        )
    pairs = _paired(_chain_floor, _chain, args.repeat, args.rounds)
    floor, base = (statistics.median(p[side] for p in pairs) for side in (0, 1))
    print(f"\nfloor, 100 operations: forward + backward + reprs alone take {floor:.3f} ms,")
    print(f"{floor / base:.2f}x of the baseline: no complete job can be faster than that.")
    ours, theirs = _drawing_jobs(CHAIN, {"x": 0.5, "w": 1.5})
    mine, base = _median_ms(ours, args.repeat), _median_ms(theirs, args.repeat)
    boxes = chart_plan(explore(CHAIN, {"x": 0.5, "w": 1.5}).graph).nodes
    print(f"\ndrawing only, 100 operations (walk + Graph + plan + DOT of {boxes} boxes")
    print("vs make_dot(...).source, which draws x and w once each):")
    print(f"{'':<22} {mine:>13.3f} {base:>18.3f} {mine / base:>6.2f}x")
    _layout_table(args.layout_timeout)


if __name__ == "__main__":
    main()
