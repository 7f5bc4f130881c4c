"""Start the real app and Debian's Chromium: for the browser tests, the benchmark and screenshots.

The server and the browser are started by explorer.tutorial.browser (the tutorial's screenshots
use them too); this module adds what the tests need: skip or fail without a browser, and waiting
for a rerun as Streamlit's own tests do.
"""

from __future__ import annotations

import os

from explorer.tutorial.browser import (
    CHROMIUM_ARGS,
    PLACED_JS,
    chromium,
    free_port,
    missing_browser,
    serve,
)

__all__ = [
    "CHROMIUM_ARGS",
    "chromium",
    "free_port",
    "require_browser",
    "serve",
    "wait_for_page",
    "wait_for_rerun",
]


def require_browser() -> None:
    """Skip when Chromium or Playwright is missing; under CI=true, fail instead."""
    import pytest  # noqa: PLC0415 (only the tests need pytest; the bench and screenshots do not)

    missing = missing_browser()
    if not missing:
        return
    message = "the browser test needs " + " and ".join(missing)
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


def wait_for_rerun(page: object, timeout: float = 30_000) -> None:
    """Wait until Streamlit has started and finished the rerun a widget change asked for."""
    page.wait_for_timeout(155)
    page.wait_for_selector(
        "[data-testid=stApp][data-test-connection-state=CONNECTED]", timeout=timeout
    )
    page.wait_for_selector(
        "[data-testid=stApp][data-test-script-state=notRunning]", timeout=timeout
    )


def wait_for_page(page: object, timeout: float = 60_000) -> None:
    """Wait until the graph and the plot are drawn, the plot's point placed."""
    wait_for_rerun(page, timeout)
    page.wait_for_selector("[data-testid=stGraphVizChart] svg g.node", timeout=timeout)
    page.wait_for_selector("[data-testid=stPlotlyChart] .main-svg", timeout=timeout)
    page.wait_for_function(PLACED_JS, timeout=timeout)
