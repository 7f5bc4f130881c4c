"""Serve the app with torch and the pipeline loaded before the first visitor arrives.

``python -m explorer.ui.serve [streamlit options]`` is ``streamlit run app.py [options]``, except
that torch, plotly and the pipeline are imported, and run once, when the server starts (otherwise
the first visitor's page waits ~2 s for ``import torch``), and that the objects they create are
then moved out of the garbage collector's sight with ``gc.freeze()``; and that the server's
connections send each message at once (``TCP_NODELAY``, see ``send_at_once``).
"""

from __future__ import annotations

import functools
import gc
import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["APP", "main", "send_at_once", "warm_up"]

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


def send_at_once() -> None:
    """Make the server's listening socket give its connections ``TCP_NODELAY``.

    Streamlit 1.67 binds the socket itself, with protocol 0, and asyncio sets TCP_NODELAY only on
    sockets whose protocol is TCP: the WebSocket keeps Nagle's algorithm. A run's small messages
    then wait for the client's delayed ACK: moving a slider back to back over Streamlit's protocol
    took 48 ms instead of 16 from request to last message (up to 200 ms with Windows' ACK timer).
    Accepted connections inherit the option from the listening socket (Linux).
    """
    from streamlit.web.server.starlette import starlette_server  # noqa: PLC0415

    bind = starlette_server._bind_socket
    if not getattr(bind, "sends_at_once", False):
        starlette_server._bind_socket = _with_nodelay(bind)


def _with_nodelay(bind: Callable[..., socket.socket]) -> Callable[..., socket.socket]:
    """Return ``bind`` whose TCP sockets have TCP_NODELAY set."""

    @functools.wraps(bind)
    def bind_at_once(*args: object, **kwargs: object) -> socket.socket:
        sock = bind(*args, **kwargs)
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    bind_at_once.sends_at_once = True  # type: ignore[attr-defined]
    return bind_at_once


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
    send_at_once()
    args = sys.argv[1:] if argv is None else list(argv)
    cli.main(["run", str(APP), *args], prog_name="streamlit")


if __name__ == "__main__":
    main()
