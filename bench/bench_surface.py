"""Time the two-input views: the grid (cached by the page) and the figures (built every rerun).

For the seed examples with two float inputs, and the neuron: one vectorised forward and backward
over a 41x41 and an 81x81 grid, then each figure dict, then the figure as the JSON a page sends
(plotly.io.to_json without validation, as st.plotly_chart does with a prebuilt figure).

    python bench/bench_surface.py [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import plotly.io

from explorer import explore, parse
from explorer.surface import contour_figure, grid, point, surface_figure

CASES = [
    ("z = x**y", {"x": 3.0, "y": 4.0}, ("x", "y")),
    ("y = w*x + b", {"x": 3.0, "w": 2.0, "b": 5.0}, ("w", "b")),
    ("loss = (sigmoid(w*x + b) - t)**2", {"w": 0.5, "x": 1.5, "b": 0.1, "t": 1.0}, ("w", "b")),
]
RANGE = (-5.0, 5.0)


def median_ms(job: Callable[[], object], repeat: int) -> float:
    """Return the median wall time of ``job`` in milliseconds, after one warm-up run."""
    job()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        job()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def timings(text: str, values: dict[str, float], pair: tuple[str, str], points: int, repeat: int):
    """Return the median times (ms) of the grid, both figures and the surface's JSON; its kB."""
    formula, here = parse(text), point(explore(text, values), *pair)

    def compute() -> object:
        return grid(formula, values, *pair, x_range=RANGE, y_range=RANGE, points=points)

    surface = compute()

    def as_json() -> str:
        return plotly.io.to_json(surface_figure(surface, here), validate=False)

    times = [
        median_ms(compute, repeat),
        median_ms(lambda: surface_figure(surface, here), repeat),
        median_ms(lambda: contour_figure(surface, here), repeat),
        median_ms(as_json, repeat),
    ]
    return times, len(as_json()) / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    repeat = parser.parse_args().repeat
    header = ("grid", "surface", "contour", "+json")
    print(f"{'formula':34} {'points':>6} " + " ".join(f"{h:>8}" for h in header) + "  JSON kB")
    for text, values, pair in CASES:
        for points in (41, 81):
            times, size = timings(text, values, pair, points, repeat)
            cells = " ".join(f"{ms:6.2f}ms" for ms in times)
            print(f"{text:34} {points:>6} {cells} {size:8.0f}")


if __name__ == "__main__":
    main()
