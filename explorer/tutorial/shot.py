"""Photograph a view of the running app, panel by panel, the same way every time.

A ``Studio`` is one app server and one Chromium, shared by every view of one command. For each
view it opens a fresh session at a fixed viewport and device scale factor 1, with a style sheet in
place before the page's first paint that turns off animations, transitions and the caret and hides
Streamlit's toolbar, header and status widget. It waits until the script has finished, the graph's
SVG and the plot are drawn, the plot's point is placed and the fonts are loaded, and only then
takes the pictures. No mouse event is ever sent, so nothing is hovered (plotly's modebar stays
hidden). Two runs of the same code on the same machine give byte-identical PNGs.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from explorer.errors import InputError
from explorer.tutorial.browser import APP, PLACE_STATE_JS, PLACED_JS, SetupError, chromium, serve
from explorer.tutorial.view import View, query

__all__ = ["SELECTORS", "Pictures", "Studio", "studio"]

# What each panel's picture holds; "page" is the whole viewport.
SELECTORS = {
    "transcript": ".st-key-transcript",
    "graph": ".st-key-graph",
    "plot": "[data-testid=stPlotlyChart]",
    "code": ".st-key-code",
}
_DRAWN = {  # for each chart on the page, what exists once the browser has drawn it
    "[data-testid=stGraphVizChart]": "[data-testid=stGraphVizChart] svg g.node",
    "[data-testid=stPlotlyChart]": "[data-testid=stPlotlyChart] .main-svg",
}
_HIDDEN = (
    "[data-testid=stToolbar]",
    "[data-testid=stHeader]",
    "[data-testid=stElementToolbar]",
    "[data-testid=stStatusWidget]",
    "[data-testid=stDecoration]",
    "[data-testid=stSidebarCollapseButton]",
    ".modebar-container",
)
_CSS = (
    "*, *::before, *::after { animation: none !important; transition: none !important;"
    " caret-color: transparent !important; }\n"
    f"{', '.join(_HIDDEN)} {{ visibility: hidden !important; }}"
)
# Runs before the page's own scripts, so not even the first paint is animated.
_INIT_SCRIPT = f"""
(() => {{
  const add = () => {{
    const style = document.createElement("style");
    style.textContent = {json.dumps(_CSS)};
    document.documentElement.appendChild(style);
  }};
  if (document.documentElement) add();
  else document.addEventListener("DOMContentLoaded", add);
}})();
"""
_LOADED_JS = """
() => !document.querySelector(
  "[data-testid=stSkeleton], [data-testid=stSkeletonElement], [data-stale=true]")
"""
# Resolves after the fonts are loaded and two more frames have been painted.
_SETTLE_JS = """
async () => {
  await document.fonts.ready;
  for (let i = 0; i < 2; i++) await new Promise((done) => requestAnimationFrame(done));
}
"""
_SCROLL_TOP_JS = """
() => {
  window.scrollTo(0, 0);
  document.querySelectorAll("[data-testid=stMain], [data-testid=stSidebarContent]")
    .forEach((element) => element.scrollTo(0, 0));
}
"""
# The app's own words about a bad link or formula (the alerts' text, without their icons' names,
# and the caret line), an uncaught exception, and the red boxes in the main area.
_PROBLEMS_JS = """
() => {
  const texts = (selector) => Array.from(document.querySelectorAll(selector),
    (element) => element.innerText.trim()).filter((text) => text);
  const message = "[data-testid=stAlert] [data-testid=stMarkdownContainer]";
  return {
    link: texts(`[data-testid=stSidebar] ${message}`)
      .filter((text) => text.startsWith("In the link:")),
    formula: texts(`.st-key-formula_error ${message}, .st-key-formula_error [data-testid=stCode]`),
    exception: texts("[data-testid=stException]"),
    main: texts("[data-testid=stMain] [data-testid=stAlertContentError] "
      + "[data-testid=stMarkdownContainer]"),
  };
}
"""
_SETTLE_MS = 200  # after the fonts and two frames: graphviz and plotly finish their last paint


@dataclass(frozen=True, slots=True)
class Pictures:
    """What one view gave: a PNG per panel asked for, and the transcript the page shows."""

    png: dict[str, bytes]
    transcript: str


class Studio:
    """One app server and one Chromium: photograph views, each in a fresh session."""

    def __init__(self, url: str, browser: Any, timeout_s: float = 90.0) -> None:
        self.url = url
        self.browser = browser
        self.timeout_ms = timeout_s * 1000
        self._contexts: dict[tuple[int, int], Any] = {}
        # A view is photographed once per studio: a lesson may show one view in several places.
        self._taken: dict[tuple[str, tuple[int, int]], Pictures] = {}

    def photograph(self, view: View, panels: Sequence[str], size: tuple[int, int]) -> Pictures:
        """Open ``view`` at ``size`` (width, height) and return a PNG of each panel.

        A view already photographed by this studio is not opened again for the same panels.
        Raises InputError with the app's own words when the link or the formula is bad, or when
        a panel is not shown for this view; SetupError when the page does not finish drawing.
        """
        key = (query(view), size)
        known = self._taken.get(key, Pictures({}, ""))
        if not all(panel in known.png for panel in panels):
            taken = self._open(view, panels, size)
            known = Pictures({**known.png, **taken.png}, taken.transcript)
            self._taken[key] = known
        return Pictures({panel: known.png[panel] for panel in panels}, known.transcript)

    def _open(self, view: View, panels: Sequence[str], size: tuple[int, int]) -> Pictures:
        """Open ``view`` in a new page (a new app session) and photograph ``panels``."""
        page = self._context(size).new_page()
        try:
            page.set_default_timeout(self.timeout_ms)
            page.goto(f"{self.url}/?{query(view)}")
            self._wait(page)
            _check(page, panels)
            return Pictures(
                {panel: _picture(page, panel, size) for panel in panels}, _transcript(page)
            )
        finally:
            page.close()

    def _context(self, size: tuple[int, int]) -> Any:
        """Return the browser context for a viewport size, made on first use.

        Views of one size share a context, and with it the browser's cache of the app's scripts
        and fonts; each view still gets its own page, and so its own app session.
        """
        if size not in self._contexts:
            width, height = size
            context = self.browser.new_context(
                viewport={"width": width, "height": height},
                device_scale_factor=1,
                color_scheme="light",
                reduced_motion="reduce",
                locale="en-US",
                timezone_id="UTC",
            )
            context.add_init_script(_INIT_SCRIPT)
            self._contexts[size] = context
        return self._contexts[size]

    def _wait(self, page: Any) -> None:
        """Wait until the script has run to its end and every chart on the page is drawn."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout  # noqa: PLC0415

        what = "the app's first run"
        try:
            # A new session's state goes initial -> running -> notRunning: the first run is over.
            page.wait_for_selector("[data-testid=stApp][data-test-connection-state=CONNECTED]")
            page.wait_for_selector("[data-testid=stApp][data-test-script-state=notRunning]")
            # Charts are loaded lazily: until their code arrives, a skeleton holds their place.
            what = "the charts' code"
            page.wait_for_function(_LOADED_JS)
            for chart, drawn in _DRAWN.items():
                if page.locator(chart).count():
                    what = f"a drawing in {chart}"
                    page.wait_for_selector(drawn)
            what = "the plot's point"
            page.wait_for_function(PLACED_JS)  # the plot's point, placed by the page's script
            page.evaluate(_SETTLE_JS)
            page.wait_for_timeout(_SETTLE_MS)
            page.wait_for_function(PLACED_JS)  # still: a late redraw would have it placed again
        except PlaywrightTimeout:
            seconds = self.timeout_ms / 1000
            state = page.evaluate(PLACE_STATE_JS) if what == "the plot's point" else ""
            raise SetupError(
                f"The view did not finish drawing within {seconds:g} s: no {what}. {state}"
            ) from None


@contextlib.contextmanager
def studio(app: Path = APP, timeout_s: float = 90.0) -> Iterator[Studio]:
    """Start the app (``app``, a Streamlit script) and Chromium; stop both afterwards."""
    # Chromium repaints only the changed part of a tile; the edge of a rounded corner drawn
    # across such a border came out one colour level apart in one run of three (the view
    # switch's selected button). Whole tiles, repainted, are the same every time.
    with chromium(["--disable-partial-raster"]) as browser, serve(app) as url:
        yield Studio(url, browser, timeout_s)


def _check(page: Any, panels: Sequence[str]) -> None:
    """Raise InputError with the app's words if it refused the view or lacks a panel."""
    problems = page.evaluate(_PROBLEMS_JS)
    if problems["exception"]:
        raise SetupError("The app failed on this view: " + " ".join(problems["exception"]))
    if messages := problems["link"] + problems["formula"]:
        raise InputError("The app says:\n" + "\n".join(messages))
    for panel in panels:
        if panel != "page" and not page.locator(SELECTORS[panel]).count():
            why = " ".join(problems["main"])
            raise InputError(
                f"The {panel} panel is not shown for this view" + (f": {why}" if why else ".")
            )


def _picture(page: Any, panel: str, size: tuple[int, int]) -> bytes:
    """Return a PNG of the viewport or of one panel, scrolled into view from the top."""
    page.evaluate(_SCROLL_TOP_JS)
    if panel == "page":
        return page.screenshot(animations="disabled", caret="hide")
    element = page.locator(SELECTORS[panel]).first
    box = element.bounding_box()
    if box is None or box["width"] < 1 or box["height"] < 1:
        raise InputError(f"The {panel} panel is not shown for this view.")
    if box["height"] > size[1] or box["width"] > size[0]:
        raise InputError(
            f"The {panel} panel ({box['width']:.0f}x{box['height']:.0f}) does not fit in a "
            f"{size[0]}x{size[1]} window.",
            hint="Give a larger --size (or size in a lesson).",
        )
    element.scroll_into_view_if_needed()
    page.evaluate(_SETTLE_JS)
    return element.screenshot(animations="disabled", caret="hide")


def _transcript(page: Any) -> str:
    """Return the transcript the page shows, or '' when it shows none."""
    code = page.locator(".st-key-transcript [data-testid=stCode]")
    return code.first.inner_text() if code.count() else ""
