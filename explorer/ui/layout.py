"""The page's frame: sizes for normal and projector mode, the style sheet, browser history, typing.

Streamlit sizes its text in rem, so the root font size scales the whole page for a projector; the
other sizes here are what must still fit one 1280x720 screen.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

__all__ = ["Sizes", "apply", "sizes"]


@dataclass(frozen=True, slots=True)
class Sizes:
    """What one mode draws at: root font, transcript font, graph font and the panels' heights."""

    root_px: int
    code_px: int  # the transcript, in px: it must fit its column in both modes
    graph_font: int  # points, in the DOT
    plot_font: int
    plot_height: int  # pixels
    graph_height: int  # pixels


_NORMAL = Sizes(
    root_px=16, code_px=14, graph_font=14, plot_font=13, plot_height=310, graph_height=440
)
_PROJECTOR = Sizes(
    root_px=18, code_px=14, graph_font=16, plot_font=16, plot_height=310, graph_height=440
)


def sizes(projector: bool) -> Sizes:
    """Return the sizes of normal or projector mode."""
    return _PROJECTOR if projector else _NORMAL


# Padding is trimmed so the four panels fit one screen; transcript lines wrap instead of being cut.
_CSS = """
<style>
html { font-size: %(root)spx; }
[data-testid="stMainBlockContainer"] { padding: 2.6rem 1.5rem 2rem 1.5rem; }
[data-testid="stSidebarUserContent"] { padding-top: 0.5rem; }
[data-testid="stSidebarHeader"] { height: 2.2rem; margin-bottom: 0; }
.st-key-transcript [data-testid="stCode"] code {
  font-size: %(code)spx !important; line-height: 1.4 !important;
}
/* A program prints many lines: past this height they scroll, so the plot below stays in view. */
.st-key-transcript [data-testid="stCode"] pre { max-height: 33vh; overflow-y: auto; }
.st-key-graph [data-testid="stElementToolbar"] { opacity: 1; }
/* The graph takes the screen's height left under its heading (the server cannot know it). */
.st-key-graph [data-testid="stElementContainer"],
.st-key-graph [data-testid="stFullScreenFrame"] > div {
  height: max(%(graph)spx, calc(100vh - 140px)) !important;
}
.st-key-graph [data-testid="stGraphVizChart"] svg {
  width: 100%% !important; height: 100%% !important;
}
[data-testid="stMainBlockContainer"] h3 {
  font-size: 1.15rem; padding: 0 0 0.15rem 0 !important;
}
</style>
"""

# Streamlit writes a changed URL with history.pushState, so every slider move would become a Back
# step. Same-page URL changes are turned into replaceState: one Back press leaves the app. Constant
# text, never user input.
_HISTORY_JS = """
<script>
if (!window.__explorerHistory) {
  window.__explorerHistory = true;
  const push = window.history.pushState.bind(window.history);
  window.history.pushState = function (state, title, url) {
    const next = new URL(url, window.location.href);
    if (next.pathname === window.location.pathname) {
      return window.history.replaceState(state, title, url);
    }
    return push(state, title, url);
  };
}
</script>
"""


# A text area applies its text on Ctrl+Enter or when it loses focus; students expect the page to
# follow their typing, as the one-line box did (text_input's live=True). A short pause in typing
# sends the same Ctrl+Enter Streamlit listens for, so the box keeps its focus and caret.
# Constant text, never user input.
_LIVE_JS = """
<script>
if (!window.__explorerLiveFormula) {
  window.__explorerLiveFormula = true;
  let pause = null;
  document.addEventListener('input', (event) => {
    const box = event.target;
    if (!(box instanceof HTMLTextAreaElement) || !box.closest('.st-key-formula')) return;
    clearTimeout(pause);
    pause = setTimeout(() => box.dispatchEvent(new KeyboardEvent('keydown', {
      key: 'Enter', code: 'Enter', ctrlKey: true, bubbles: true,
    })), 350);
  }, true);
}
</script>
"""


def apply(projector: bool, scripts: str = "") -> None:
    """Send the style sheet for this mode, the history fix, live typing and ``scripts``.

    One element rather than several: each element is a message the server sends on every run.
    """
    size = sizes(projector)
    css = _CSS % {"root": size.root_px, "code": size.code_px, "graph": size.graph_height}
    st.html(css + _HISTORY_JS + _LIVE_JS + scripts, unsafe_allow_javascript=True)
