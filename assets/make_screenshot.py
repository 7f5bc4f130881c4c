"""Regenerate assets/screenshot.png, the README's picture: the app in Chromium on a fixed link.

    make screenshot     (or: python assets/make_screenshot.py)

The link fixes every input, so the same code gives the same picture.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from live import chromium, serve, wait_for_page  # noqa: E402

LINK = (
    "/?formula=loss+%3D+(sigmoid(w*x+%2B+b)+-+t)**2"
    "&value_w=0.5&grad_w=true&dtype_w=float"
    "&value_x=1.5&grad_x=false&dtype_x=float"
    "&value_b=0.1&grad_b=true&dtype_b=float"
    "&value_t=1.0&grad_t=false&dtype_t=float&plot_var=w"
    "&preset=Neuron%3A+(sigmoid(w*x+%2B+b)+-+t)**2"
)
OUTPUT = ROOT / "assets" / "screenshot.png"


def main() -> None:
    """Open the link at 1280x720, a classroom projector's size, and save the screen."""
    with serve() as url, chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 720}, device_scale_factor=1)
        page.goto(url + LINK)
        wait_for_page(page)
        page.wait_for_timeout(1500)  # plotly and graphviz finish their drawing
        page.screenshot(path=str(OUTPUT))
    print(f"wrote {OUTPUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
