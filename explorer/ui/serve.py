"""Serve the app with torch and the pipeline loaded before the first visitor arrives.

``python -m explorer.ui.serve [streamlit options]`` is ``streamlit run app.py [options]``, except
that torch, plotly and the pipeline are imported, and run once, when the server starts (otherwise
the first visitor's page waits ~2 s for ``import torch``), and that the objects they create are
then moved out of the garbage collector's sight with ``gc.freeze()``.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["APP", "main", "warm_up"]

APP = Path(__file__).resolve().parent.parent.parent / "app.py"


def warm_up() -> None:
    """Import and run once what a page run needs: the pipeline, torch, plotly's validators."""
    # Imported here so that importing this module has no side effects. explorer.ui itself is left
    # to the first run: its st.cache_data functions would warn if defined before the runtime.
    import plotly.graph_objects as go  # noqa: PLC0415

    import explorer.plot  # noqa: F401, PLC0415
    from explorer.core import explore  # noqa: PLC0415

    explore("y = x**2 + 1", {"x": 2.0})
    # st.plotly_chart validates a figure dict through go.Figure; plotly builds each validator the
    # first time it is used (a generic figure here, so this does not depend on plot.py's details).
    scatter = {"type": "scatter", "x": [0.0, 1.0], "y": [1.0, 2.0], "mode": "lines+markers"}
    axis = {"title": {"text": "x"}, "range": [0, 1], "gridcolor": "#E5E5E5"}
    go.Figure({"data": [scatter], "layout": {"xaxis": axis, "yaxis": axis}}).to_json()


def main(argv: Sequence[str] | None = None) -> None:
    """Warm up, then hand over to ``streamlit run app.py`` with the given options."""
    from streamlit.web import cli  # noqa: PLC0415

    warm_up()
    # torch, plotly and streamlit leave ~220k objects that live as long as the process. Frozen,
    # the full collections Python still runs now and then (.streamlit/config.toml turns off
    # Streamlit's own after every run) skip them: measured ~20 ms instead of ~150 ms, a pause
    # every session would feel. Collect first so that no garbage is frozen for good.
    gc.collect()
    gc.freeze()
    args = sys.argv[1:] if argv is None else list(argv)
    cli.main(["run", str(APP), *args], prog_name="streamlit")


if __name__ == "__main__":
    main()
