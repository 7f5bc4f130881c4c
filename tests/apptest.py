"""Helpers for driving the app through AppTest: open it by link, read what the page shows."""

from __future__ import annotations

import base64
import json
import re
import struct

from conftest import ROOT
from streamlit.testing.v1 import AppTest

from explorer.plot import place

__all__ = ["APP", "chart", "healthy", "moves", "numbers", "plot", "start", "transcript"]

APP = str(ROOT / "app.py")

# The placement the page sends beside the chart (explorer/ui/plot_panel.py, _MOVE_HTML).
_MOVE = re.compile(r"window\.__explorerPlace\((\{.*\}), \"[0-9a-f]+\"\);")


def start(**params: str) -> AppTest:
    """Open the app, optionally with URL query parameters, and run it once."""
    at = AppTest.from_file(APP, default_timeout=60)
    for key, value in params.items():
        at.query_params[key] = value
    return at.run()


def healthy(at: AppTest) -> None:
    """Fail on any exception the run showed."""
    assert not at.exception, [e.value for e in at.exception]


def transcript(at: AppTest) -> str:
    """Return the transcript panel's text (the first code block), with the newline st.code drops."""
    return at.code[0].value + "\n"


def chart(at: AppTest) -> dict:
    """Return the figure the plot's chart receives."""
    return json.loads(at.get("plotly_chart")[0].proto.spec)


def moves(at: AppTest) -> list[dict]:
    """Return the page's placements of the plot's point (one while it has a scrubber, else none)."""
    found = (_MOVE.search(html.proto.body) for html in at.get("html"))
    return [json.loads(match[1]) for match in found if match]


def plot(at: AppTest) -> dict:
    """Return the plot as the browser shows it: the chart's figure with the page's move applied."""
    placed = moves(at)
    return place(chart(at), placed[0]) if placed else chart(at)


def numbers(data: object) -> list[float | None]:
    """Decode a plotly array, which may come base64-encoded."""
    if isinstance(data, dict) and "bdata" in data:
        raw = base64.b64decode(data["bdata"])
        fmt = {"f8": "d", "f4": "f", "i1": "b", "i2": "h", "i4": "i"}[data["dtype"]]
        return list(struct.unpack(f"<{len(raw) // struct.calcsize(fmt)}{fmt}", raw))
    return list(data)  # type: ignore[arg-type]
