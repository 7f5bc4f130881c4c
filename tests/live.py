"""Start the real app and Debian's Chromium: for the browser test, the benchmark and screenshots.

Playwright's own browser download does not work here, so Chromium is launched from /usr/bin with
flags that keep it from reaching for the network. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
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


def free_port() -> int:
    """Return a TCP port on the loopback interface that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def serve(script: Path = ROOT / "app.py", timeout: float = 60.0) -> Iterator[str]:
    """Run ``streamlit run script`` on a free loopback port; yield its base URL, then stop it."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(script),
        "--server.headless",
        "true",
        "--server.address",
        "127.0.0.1",
        "--server.port",
        str(port),
        "--browser.gatherUsageStats",
        "false",
    ]
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"streamlit exited: {process.stderr.read()[-2000:]}")
            with contextlib.suppress(OSError):
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            time.sleep(0.2)
        else:
            raise RuntimeError(f"streamlit did not answer on {url} within {timeout:g} s")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@contextlib.contextmanager
def chromium() -> Iterator[object]:
    """Yield a Playwright Browser running Debian's Chromium headless."""
    # Imported here so that a machine without playwright can still import this module.
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


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
    """Wait until the graph and the plot are drawn."""
    wait_for_rerun(page, timeout)
    page.wait_for_selector("[data-testid=stGraphVizChart] svg g.node", timeout=timeout)
    page.wait_for_selector("[data-testid=stPlotlyChart] .main-svg", timeout=timeout)
