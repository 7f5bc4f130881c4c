"""Render the graph's DOT to SVG or PNG for downloads, within bounds that a busy server can afford.

Every render is bounded three ways: in time (Graphviz is stopped after ``TIMEOUT`` seconds; the
layout plan keeps every accepted formula far below it), in concurrency (at most
``MAX_RENDERS`` ``dot`` processes per server; a request waits ``WAIT`` seconds for a free slot,
then is refused with a message), and in memory (results are cached by DOT text in an LRU of at
most ``CACHE_BYTES``). Two requests for the same picture at once share one render. A failure is
cached too, for ``ERROR_TTL`` seconds, so clicking again cannot restart a render that just failed;
"busy" is never cached.

No streamlit here: the app calls ``render`` from its download buttons, and tests call it directly.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from explorer.dot import FORMATS
from explorer.dot import render as run_dot
from explorer.errors import RenderError

__all__ = [
    "CACHE_BYTES",
    "ERROR_TTL",
    "MAX_RENDERS",
    "TIMEOUT",
    "WAIT",
    "Exporter",
    "render",
]

TIMEOUT = 10.0  # seconds for one dot run; the slowest accepted formula takes under 1 s
MAX_RENDERS = 2  # dot processes at once per server: two tabs cannot take every core
WAIT = 3.0  # seconds a request waits for a free render slot before it is told to retry
CACHE_BYTES = 32 * 2**20  # rendered pictures kept, in total
ERROR_TTL = 60.0  # seconds a failed render is remembered


@dataclass(frozen=True, slots=True)
class _Outcome:
    """A finished render: the picture, or the message of why there is none."""

    data: bytes = b""
    error: str = ""
    when: float = 0.0  # time.monotonic() when it finished
    keep: bool = True  # False for "busy", which says nothing about the picture itself

    def result(self) -> bytes:
        """Return the picture, or raise the failure as a RenderError."""
        if self.error:
            raise RenderError(self.error)
        return self.data


class Exporter:
    """Render DOT text with bounded time, concurrency and memory, sharing and caching results."""

    def __init__(
        self,
        *,
        max_renders: int = MAX_RENDERS,
        wait: float = WAIT,
        timeout: float = TIMEOUT,
        cache_bytes: int = CACHE_BYTES,
        error_ttl: float = ERROR_TTL,
        draw: Callable[..., bytes] = run_dot,
    ) -> None:
        self.draw = draw  # (dot, fmt, *, timeout) -> bytes; the dot program unless a test says
        self.wait, self.timeout = wait, timeout
        self.cache_bytes, self.error_ttl = cache_bytes, error_ttl
        self._slots = threading.BoundedSemaphore(max_renders)
        self._lock = threading.Lock()
        self._done: OrderedDict[tuple[str, bytes], _Outcome] = OrderedDict()
        self._size = 0
        self._running: dict[tuple[str, bytes], Future[_Outcome]] = {}

    def render(self, dot: str, fmt: str) -> bytes:
        """Return ``dot`` drawn as ``fmt`` ("svg" or "png"), or raise RenderError saying why not."""
        if fmt not in FORMATS:
            raise RenderError(f"Cannot render {fmt!r}; choose one of {', '.join(FORMATS)}.")
        key = (fmt, hashlib.sha256(dot.encode()).digest())
        with self._lock:
            cached = self._cached(key)
            if cached is not None:
                return cached.result()
            running = self._running.get(key)
            if running is None:
                running = self._running[key] = Future()
                owner = True
            else:
                owner = False
        if not owner:
            return self._join(running)
        outcome = _Outcome(error="The graph could not be drawn.", keep=False)
        try:
            outcome = self._render(dot, fmt)
        finally:
            with self._lock:
                del self._running[key]
                if outcome.keep:
                    self._keep(key, outcome)
            running.set_result(outcome)
        return outcome.result()

    def _join(self, running: Future[_Outcome]) -> bytes:
        """Wait for the same picture that another request is drawing."""
        try:
            return running.result(timeout=self.wait + self.timeout).result()
        except FutureTimeout:
            raise RenderError(_busy(self.wait)) from None

    def _render(self, dot: str, fmt: str) -> _Outcome:
        """Run dot in a free slot, or say that none came free in time."""
        if not self._slots.acquire(timeout=self.wait):
            return _Outcome(error=_busy(self.wait), keep=False)
        try:
            return _Outcome(data=self.draw(dot, fmt, timeout=self.timeout), when=_now())
        except RenderError as error:
            return _Outcome(error=error.message, when=_now())
        finally:
            self._slots.release()

    def _cached(self, key: tuple[str, bytes]) -> _Outcome | None:
        """Return a remembered outcome (most recently used last), dropping a stale failure."""
        outcome = self._done.get(key)
        if outcome is None:
            return None
        if outcome.error and _now() - outcome.when > self.error_ttl:
            self._forget(key)
            return None
        self._done.move_to_end(key)
        return outcome

    def _keep(self, key: tuple[str, bytes], outcome: _Outcome) -> None:
        """Remember an outcome, evicting the least recently used beyond the byte budget."""
        if len(outcome.data) > self.cache_bytes // 4:
            return  # one huge picture must not flush everything else
        self._done[key] = outcome
        self._size += len(outcome.data)
        while self._size > self.cache_bytes:
            self._forget(next(iter(self._done)))

    def _forget(self, key: tuple[str, bytes]) -> None:
        self._size -= len(self._done.pop(key).data)


def _busy(wait: float) -> str:
    return (
        f"The server is drawing other graphs and had no free slot within {wait:g} s. "
        "Try again in a moment, or download the DOT."
    )


def _now() -> float:
    return time.monotonic()


_EXPORTER = Exporter()


def render(dot: str, fmt: str) -> bytes:
    """Render with the server's one shared Exporter: ``render(ex.dot, "svg")``."""
    return _EXPORTER.render(dot, fmt)
