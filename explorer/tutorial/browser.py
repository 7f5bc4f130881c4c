"""Start the real app and Debian's Chromium, both on this machine, for screenshots.

The app runs as ``python -m streamlit run app.py`` in a subprocess on a free loopback port, so
nothing here imports streamlit. Chromium is launched from /usr/bin (or $CHROMIUM) through
Playwright, with flags that keep it from reaching for the network: nothing leaves 127.0.0.1.
Playwright is a dev dependency and is imported only when a browser is wanted.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "APP",
    "CHROMIUM_ARGS",
    "PLACED_JS",
    "PLACE_STATE_JS",
    "SetupError",
    "check_browser",
    "chromium",
    "chromium_path",
    "free_port",
    "missing_browser",
    "serve",
]

ROOT = Path(__file__).resolve().parent.parent.parent
APP = ROOT / "app.py"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# True once the plot shows the page's own point. A chart with a scrubber gets a figure without
# the point (its layout.meta names it) and a hidden script places the point on it, then writes
# which move it showed in the chart's data-placed (explorer/ui/plot_panel.py): a picture or a
# test taken before that would show the curve with no point.
PLACED_JS = """
() => {
  const chart = document.querySelector(".st-key-plot_chart .js-plotly-plot");
  if (!chart || !chart.layout || !chart.layout.meta) return true;
  const move = document.querySelector(".st-key-plot_place [data-move]");
  return Boolean(move) && chart.dataset.placed === move.dataset.move;
}
"""


# What the plot's placement shows, for a message when it does not finish.
PLACE_STATE_JS = """
() => {
  const chart = document.querySelector(".st-key-plot_chart .js-plotly-plot");
  const move = document.querySelector(".st-key-plot_place [data-move]");
  const slider = chart && chart.layout && chart.layout.sliders && chart.layout.sliders[0];
  const point = chart && chart.data && chart.data.find((trace) => trace.meta === "point");
  return JSON.stringify({
    plotly: Boolean(window.Plotly), placer: Boolean(window.__explorerPlace),
    chartMeta: chart && chart.layout && chart.layout.meta, move: move && move.dataset.move,
    placed: chart && chart.dataset.placed, active: slider && slider.active,
    pointX: point && point.x && point.x[0], busy: chart && chart.__explorerBusy,
    attempts: chart && chart.__explorerAttempt, seq: window.__explorerPlaceSeq,
  });
}
"""


class SetupError(RuntimeError):
    """Report that this machine cannot take the pictures: no Chromium, no Playwright, no server."""


def chromium_path() -> Path:
    """Return the Chromium to launch: $CHROMIUM, else Debian's /usr/bin/chromium."""
    return Path(os.environ.get("CHROMIUM") or "/usr/bin/chromium")


def missing_browser() -> list[str]:
    """Name what is missing to drive a browser, each with how to install it; [] when ready."""
    missing = []
    if not chromium_path().exists():
        missing.append(
            f"Chromium at {chromium_path()} (apt-get install chromium, "
            "or set CHROMIUM to a Chromium binary)"
        )
    if importlib.util.find_spec("playwright") is None:
        missing.append("the playwright package (pip install -e '.[dev]')")
    return missing


def check_browser() -> None:
    """Raise SetupError naming what to install when Chromium or Playwright is missing."""
    if missing := missing_browser():
        raise SetupError("Screenshots need " + " and ".join(missing) + ".")


def free_port() -> int:
    """Return a TCP port on the loopback interface that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def serve(script: Path = APP, timeout: float = 60.0) -> Iterator[str]:
    """Run ``streamlit run script`` on a free loopback port; yield its base URL, then stop it."""
    port = free_port()
    command = [
        sys.executable,
        # The app itself starts through the launcher, as `make run` does: torch loads first.
        *(
            ["-m", "explorer.ui.serve"]
            if script == APP
            else ["-m", "streamlit", "run", str(script)]
        ),
        "--server.headless",
        "true",
        "--server.address",
        "127.0.0.1",
        "--server.port",
        str(port),
        "--browser.gatherUsageStats",
        "false",
        # A full garbage collection after every run costs ~120 ms of CPU with torch loaded.
        "--runner.postScriptGC",
        "false",
    ]
    process = subprocess.Popen(
        command, cwd=script.parent, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(process, url, timeout)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stderr.close()


def _wait_healthy(process: subprocess.Popen[str], url: str, timeout: float) -> None:
    """Poll the server's health endpoint until it answers ok; raise SetupError if it never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SetupError(f"The app's server exited: {process.stderr.read()[-2000:]}")
        with contextlib.suppress(OSError):
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                return
        time.sleep(0.2)
    raise SetupError(f"The app's server did not answer on {url} within {timeout:g} s.")


@contextlib.contextmanager
def chromium(extra_args: Sequence[str] = ()) -> Iterator[Any]:
    """Yield a Playwright Browser running Chromium headless; SetupError if it cannot start."""
    check_browser()
    # Imported here: playwright is a dev dependency, and the rest of the package works without it.
    from playwright.sync_api import Error, sync_playwright  # noqa: PLC0415

    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(
                executable_path=str(chromium_path()), args=[*CHROMIUM_ARGS, *extra_args]
            )
        except Error as error:
            first = str(error).strip().splitlines()[0]
            raise SetupError(f"Chromium at {chromium_path()} did not start: {first}") from None
        try:
            yield browser
        finally:
            browser.close()
