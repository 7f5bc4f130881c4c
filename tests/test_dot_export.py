"""SVG/PNG exports: bounded concurrency, one render per picture, a cache, and a message on failure.

Most tests give the Exporter a fake ``draw`` that records how many renders run at once, so that
they test the bounds themselves rather than Graphviz's speed.
"""

from __future__ import annotations

import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from streamlit.testing.v1 import AppTest

from explorer import explore, export
from explorer.errors import RenderError
from explorer.export import Exporter
from explorer.ui import panels


class FakeDot:
    """A stand-in for the dot program: slow on request, counting calls and overlap."""

    def __init__(self, seconds: float = 0.0, error: str = "") -> None:
        self.seconds, self.error = seconds, error
        self.calls = 0
        self.running = self.most = 0
        self.lock = threading.Lock()

    def __call__(self, dot: str, fmt: str, *, timeout: float) -> bytes:
        with self.lock:
            self.calls += 1
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            time.sleep(self.seconds)
            if self.error:
                raise RenderError(self.error)
            return f"{fmt}:{dot}".encode()
        finally:
            with self.lock:
                self.running -= 1


def _many(exporter: Exporter, dots: list[str]) -> list[bytes | str]:
    """Render each DOT in its own thread at once; return the bytes, or the error message."""

    def one(dot: str) -> bytes | str:
        try:
            return exporter.render(dot, "svg")
        except RenderError as error:
            return error.message

    with ThreadPoolExecutor(len(dots)) as pool:
        return list(pool.map(one, dots))


def test_a_second_request_for_the_same_picture_is_served_from_the_cache() -> None:
    """Same DOT and format: one render; another format is another picture."""
    fake = FakeDot()
    exporter = Exporter(draw=fake)
    assert exporter.render("digraph {a}", "svg") == exporter.render("digraph {a}", "svg")
    assert fake.calls == 1
    assert exporter.render("digraph {a}", "png") == b"png:digraph {a}"
    assert fake.calls == 2


def test_at_most_two_renders_run_at_once_and_the_rest_are_told_to_wait() -> None:
    """Six different pictures at once: two render, the others wait, then hear the server is busy."""
    fake = FakeDot(seconds=0.5)
    exporter = Exporter(draw=fake, max_renders=2, wait=0.1)
    results = _many(exporter, [f"digraph {{n{i}}}" for i in range(6)])
    assert fake.most == 2
    busy = [result for result in results if isinstance(result, str)]
    assert len(busy) == 4
    assert all("drawing other graphs" in message for message in busy)
    assert "Try again in a moment" in busy[0]


def test_a_request_that_waits_gets_its_turn() -> None:
    """With a wait longer than a render, every request is served, still two at a time."""
    fake = FakeDot(seconds=0.1)
    exporter = Exporter(draw=fake, max_renders=2, wait=5.0)
    results = _many(exporter, [f"digraph {{n{i}}}" for i in range(5)])
    assert all(isinstance(result, bytes) for result in results)
    assert fake.most == 2


def test_requests_for_one_picture_at_once_share_one_render() -> None:
    """Two tabs (or the download and the page's check) asking at once run dot once."""
    fake = FakeDot(seconds=0.3)
    exporter = Exporter(draw=fake)
    results = _many(exporter, ["digraph {a}"] * 4)
    assert fake.calls == 1
    assert results == [b"svg:digraph {a}"] * 4


def test_busy_is_not_remembered() -> None:
    """A picture refused for lack of a slot renders on the next request."""
    fake = FakeDot(seconds=0.4)
    exporter = Exporter(draw=fake, max_renders=1, wait=0.05)
    results = _many(exporter, ["digraph {a}", "digraph {b}"])
    assert sorted(type(result).__name__ for result in results) == ["bytes", "str"]
    refused = "digraph {b}" if isinstance(results[1], str) else "digraph {a}"
    assert exporter.render(refused, "svg") == f"svg:{refused}".encode()


def test_a_failure_is_remembered_for_a_while_then_retried() -> None:
    """Clicking again right after a failed render does not start dot again; later it does."""
    fake = FakeDot(error="Graphviz took longer than 10 s to lay out the graph.")
    exporter = Exporter(draw=fake, error_ttl=0.2)
    for _ in range(3):
        with pytest.raises(RenderError, match="longer than 10 s"):
            exporter.render("digraph {a}", "svg")
    assert fake.calls == 1
    time.sleep(0.25)
    with pytest.raises(RenderError):
        exporter.render("digraph {a}", "svg")
    assert fake.calls == 2


def test_the_cache_stays_within_its_byte_budget() -> None:
    """Old pictures are evicted first; a picture over a quarter of the budget is not kept."""
    fake = FakeDot()
    exporter = Exporter(draw=fake, cache_bytes=56)
    for name in "abcde":
        exporter.render(f"digraph {name}", "svg")  # 13 bytes each: the fifth evicts the first
    assert fake.calls == 5
    exporter.render("digraph e", "svg")
    exporter.render("digraph b", "svg")
    assert fake.calls == 5
    exporter.render("digraph a", "svg")
    assert fake.calls == 6  # a was evicted
    exporter.render("digraph " + "x" * 20, "svg")
    exporter.render("digraph " + "x" * 20, "svg")
    assert fake.calls == 8  # 32 bytes, over a quarter of the budget: never kept


def test_an_unknown_format_is_refused_with_a_message() -> None:
    """Only svg and png exist."""
    with pytest.raises(RenderError, match="choose one of svg, png"):
        Exporter(draw=FakeDot()).render("digraph {a}", "pdf")


def test_real_dot_renders_the_seed_graph_to_svg_and_png() -> None:
    """With Graphviz installed, the export of example 3 is an SVG and a PNG."""
    if not shutil.which("dot"):
        pytest.skip("Graphviz's dot is not installed")
    dot = explore("z = x**y", {"x": 3.0, "y": 4.0}).dot
    exporter = Exporter()
    assert exporter.render(dot, "svg").rstrip().endswith(b"</svg>")
    assert exporter.render(dot, "png").startswith(b"\x89PNG")


def _graph_panel_app() -> None:
    """A page with only the graph panel of example 3 (AppTest runs this function's source)."""
    from explorer import explore  # noqa: PLC0415 (AppTest runs the body as a script)
    from explorer.dot import to_dot  # noqa: PLC0415
    from explorer.ui.cache import Chart  # noqa: PLC0415
    from explorer.ui.panels import graph_downloads, graph_panel  # noqa: PLC0415

    ex = explore("z = x**y", {"x": 3.0, "y": 4.0})
    graph_panel(ex, Chart(to_dot(ex.graph, legend=False), "", ""), height=400)
    graph_downloads(ex)


def test_a_failed_export_is_explained_below_the_buttons(monkeypatch) -> None:
    """Clicking SVG when the render fails shows why, in words; a later success clears it."""
    failing = Exporter(draw=FakeDot(error="Graphviz took longer than 10 s to lay out the graph."))
    monkeypatch.setattr(export, "_EXPORTER", failing)
    monkeypatch.setattr(panels, "_has_dot", lambda: True)
    app = AppTest.from_function(_graph_panel_app, default_timeout=30).run()
    assert not app.warning
    assert not app.download_button(key="download_svg").disabled
    app.download_button(key="download_svg").click().run()
    (warning,) = app.warning
    assert warning.value.replace("\\", "") == (
        "The SVG could not be made. Graphviz took longer than 10 s to lay out the graph."
    )
    assert not app.exception
    monkeypatch.setattr(export, "_EXPORTER", Exporter(draw=FakeDot()))
    app.download_button(key="download_svg").click().run()
    assert not app.warning
