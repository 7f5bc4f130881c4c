"""One panel alone, for an iframe in a blog post or a slide: ``?view=graph`` (or plot, transcript).

The link holds the whole view as usual; ``view`` drops the sidebar and everything else, and the
panel fills the frame. Streamlit's own ``embed=true`` removes its toolbar as well.
"""

from __future__ import annotations

import streamlit as st

from explorer.core import Exploration
from explorer.ui.cache import Backward, Inputs, cached_chart
from explorer.ui.layout import Sizes
from explorer.ui.panels import transcript_panel
from explorer.ui.plot_panel import plot_chart

__all__ = ["embedded"]

# The sidebar and page padding go; the panel's box takes the frame's height.
_CSS = """
<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], header { display: none; }
[data-testid="stMainBlockContainer"] { padding: 0.5rem; max-width: none; }
.st-key-embed [data-testid="stElementContainer"],
.st-key-embed [data-testid="stFullScreenFrame"] > div { height: calc(100vh - 1.5rem) !important; }
.st-key-embed [data-testid="stGraphVizChart"] svg { width: 100% !important; height: 100%; }
</style>
"""


def embedded(
    panel: str, ex: Exploration, size: Sizes, *, text: str, inputs: Inputs, backward: Backward
) -> None:
    """Draw ``panel`` alone, filling the frame."""
    st.html(_CSS)
    with st.container(key="embed"):
        if panel == "graph":
            st.graphviz_chart(
                cached_chart(text, inputs, backward, font=size.graph_font).dot,
                width="stretch",
                height=400,  # the style sheet above makes it the frame's height
            )
        elif panel == "plot":
            plot_chart(ex, inputs, size, stretch=True)
        else:
            transcript_panel(ex)
