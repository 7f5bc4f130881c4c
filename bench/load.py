"""Load the app as a class does: N sessions speak Streamlit's own protocol and move a slider.

Each session opens the WebSocket ``/_stcore/stream`` (subprotocol ``streamlit``), loads a link with
``BackMsg.rerun_script``, finds the slider's widget id in the first run's deltas (ids end in
``-<key>``), then moves it every ~0.5 s and reads ``ForwardMsg``s until ``script_finished``. Every
rerun is checked: the transcript it sends must print the value sent (``x: tensor(2.5000...``), and
the URL it writes, if any, must hold it. A rerun that fails a check, shows an exception or an error,
or does not finish in 30 s is an error. One line sums up the run; server CPU and RSS come from
/proc/<pid> of the server process(es).

    python bench/load.py                        # starts its own server on a free loopback port
    python bench/load.py --sessions 20 --duration 30 --server-arg=--runner.postScriptGC=true
    python bench/load.py --url http://127.0.0.1:8080 --server-pid 1234 --server-pid 1235
    python bench/load.py --soak                 # 20 sessions for 5 minutes, RSS every minute
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from explorer.tutorial.browser import free_port

__all__ = ["DEFAULT_LINK", "Report", "ServerStats", "run_load", "start_server"]

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_LINK = "/?formula=y+%3D+x**2+%2B+1&value_x=2.0"
RUN_TIMEOUT = 30.0  # seconds for one script run before it counts as an error
_CACHE_AGE = 2  # Streamlit's global.maxCachedMessageAge
_TICK = os.sysconf("SC_CLK_TCK")
_EARLY = ForwardMsg.ScriptFinishedStatus.FINISHED_EARLY_FOR_RERUN
_OK = {
    ForwardMsg.ScriptFinishedStatus.FINISHED_SUCCESSFULLY,
    ForwardMsg.ScriptFinishedStatus.FINISHED_FRAGMENT_RUN_SUCCESSFULLY,
}


class ServerStats:
    """Read CPU seconds and resident memory of server processes from /proc."""

    def __init__(self, pids: Sequence[int]) -> None:
        self.pids = list(pids)

    def cpu(self) -> tuple[float, float]:
        """Return the user and the system CPU seconds the processes have used so far."""
        user = system = 0
        for pid in self.pids:
            # Fields after the ")" of the command name: utime and stime are the 12th and 13th.
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            user += int(fields[11])
            system += int(fields[12])
        return user / _TICK, system / _TICK

    def rss_mb(self) -> float:
        """Return the processes' total resident set size in MB."""
        total = 0
        for pid in self.pids:
            status = Path(f"/proc/{pid}/status").read_text()
            total += int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)[1])
        return total / 1024


@dataclass
class Report:
    """What one load run measured; ``summary()`` is the one-line form."""

    sessions: int
    reruns: int = 0
    errors: int = 0
    wall: float = 0.0
    latencies: list[float] = field(default_factory=list)
    first_loads: list[float] = field(default_factory=list)
    health: list[float] = field(default_factory=list)
    cpu: float | None = None
    cpu_system: float = 0.0
    rss: list[float] = field(default_factory=list)
    messages: int = 0
    references: int = 0  # messages sent as a hash because this client had them cached
    handed_on: int = 0  # fragment reruns that asked for a full run (st.rerun)
    kbytes: float = 0.0
    problems: list[str] = field(default_factory=list)

    def error(self, message: str) -> None:
        """Count an error and keep its first few messages."""
        self.errors += 1
        if len(self.problems) < 10:
            self.problems.append(message)

    def summary(self) -> str:
        """Return p50/p95/max latency, errors, reruns/s, CPU per rerun and RSS on one line."""
        parts = [f"sessions {self.sessions}", f"reruns {self.reruns}", f"errors {self.errors}"]
        if self.latencies:
            parts.append(
                f"latency p50 {_ms(_pct(self.latencies, 50))} p95 {_ms(_pct(self.latencies, 95))}"
                f" max {_ms(max(self.latencies))}"
            )
        parts.append(f"{self.reruns / self.wall if self.wall else 0:.1f} reruns/s")
        if self.cpu is not None and self.reruns:
            share = self.cpu_system / self.cpu if self.cpu else 0.0
            parts.append(
                f"server CPU {self.cpu / self.reruns * 1e3:.1f} ms/rerun ({share:.0%} system)"
            )
        if self.reruns:
            parts.append(
                f"{self.messages / self.reruns:.0f} msgs {self.kbytes / self.reruns:.1f} kB/rerun"
                f" ({self.references} cached)"
            )
        if self.handed_on:
            parts.append(f"{self.handed_on} handed on to a full run")
        if self.rss:
            parts.append(f"RSS {self.rss[-1]:.0f} MB")
        if self.health:
            parts.append(f"health p95 {_ms(_pct(self.health, 95))} max {_ms(max(self.health))}")
        if self.first_loads:
            parts.append(f"first page max {_ms(max(self.first_loads))}")
        return " | ".join(parts)


def _unseen() -> dict[str, object]:
    """Return what a run's checks collect, before its first message."""
    return {
        "codes": [],
        "faults": [],
        "alerts": [],
        "status": None,
        "query": None,
        "kinds": [],
        "html": [],
    }


def _pct(values: Sequence[float], percent: float) -> float:
    """Return the nearest-rank percentile of values."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(percent / 100 * len(ordered)) - 1)]


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.0f} ms"


class Session:
    """One browser tab: a WebSocket, its widget ids, its URL and its message cache."""

    def __init__(self, url: str, link: str, key: str, source: str | None) -> None:
        self.ws_url = url.replace("http", "ws", 1).rstrip("/") + "/_stcore/stream"
        self.page_url = url.rstrip("/") + link
        self.query = urlsplit(link).query
        self.key = key
        self.name = key.removeprefix("value_")
        self.source = source
        self.page_hash = ""
        self.slider: dict[str, object] = {}
        # Large messages are cached by hash and may come back as a reference, as in a browser,
        # which forgets those unused for more than global.maxCachedMessageAge (2) runs.
        self.cache: dict[str, tuple[ForwardMsg, int]] = {}
        self.runs = 0
        self.socket = None
        self.last: dict[str, object] = {}  # what the last run sent, as the checks saw it

    async def open(self) -> None:
        """Load the page as a browser does (keeping its cookies), then open the WebSocket.

        With a source address set (127.0.x.y), both come from it: that spreads clients over an
        ip_hash balancer. The cookies carry a cookie-based balancer's affinity.
        """
        extra = {"local_addr": (self.source, 0)} if self.source else {}
        cookies = await _get_cookies(self.page_url, self.source)
        headers = {"Cookie": cookies} if cookies else None
        self.socket = await websockets.connect(
            self.ws_url,
            subprotocols=["streamlit"],
            additional_headers=headers,
            max_size=None,
            proxy=None,
            open_timeout=RUN_TIMEOUT,
            **extra,
        )

    async def close(self) -> None:
        """Close the WebSocket."""
        if self.socket is not None:
            with contextlib.suppress(Exception):
                await self.socket.close()

    async def run(self, value: float | None, report: Report) -> float:
        """Ask for a rerun, moving the slider to ``value`` unless None; check it; return seconds."""
        message = BackMsg()
        state = message.rerun_script
        state.query_string = self.query
        state.page_script_hash = self.page_hash
        state.cached_message_hashes.extend(self.cache)
        if value is not None:
            widget = state.widget_states.widgets.add()
            widget.id = str(self.slider["id"])
            widget.double_array_value.data.append(value)
            if self.slider["fragment"]:
                state.fragment_id = str(self.slider["fragment"])
        start = time.perf_counter()
        await self.socket.send(message.SerializeToString())
        seen = await asyncio.wait_for(self._read_run(report), RUN_TIMEOUT)
        elapsed = time.perf_counter() - start
        self.runs += 1
        self.cache = {k: v for k, v in self.cache.items() if self.runs - v[1] <= _CACHE_AGE}
        report.handed_on += bool(seen.get("early"))
        self.last = seen
        self._check(seen, value, report)
        return elapsed

    async def _read_run(self, report: Report) -> dict[str, object]:
        """Read ForwardMsgs until script_finished; return what the checks need."""
        seen = _unseen()
        while seen["status"] is None:
            data = await self.socket.recv()
            report.messages += 1
            report.kbytes += len(data) / 1024
            message = ForwardMsg()
            message.ParseFromString(data)
            report.references += message.WhichOneof("type") == "ref_hash"
            self._take(self._resolve(message), seen)
        return seen

    def _resolve(self, message: ForwardMsg) -> ForwardMsg:
        """Swap a reference to a cached message for the message; cache cacheable ones."""
        if message.WhichOneof("type") == "ref_hash":
            cached = self.cache.get(message.ref_hash)
            if cached is None:
                raise RuntimeError(f"reference to an unknown message {message.ref_hash}")
            message = cached[0]
        if message.metadata.cacheable and message.hash:
            self.cache[message.hash] = (message, self.runs)
        return message

    def _take(self, message: ForwardMsg, seen: dict[str, object]) -> None:
        """Note the parts of one message that the checks use."""
        kind = message.WhichOneof("type")
        if kind == "new_session":
            self.page_hash = message.new_session.page_script_hash
        elif kind == "page_info_changed":
            seen["query"] = self.query = message.page_info_changed.query_string
        elif kind == "script_finished" and message.script_finished == _EARLY:
            # A fragment's rerun that needs the whole page calls st.rerun(): the full run that
            # follows answers the move, so the reading starts again with it.
            seen.update(_unseen(), early=True)
        elif kind == "script_finished":
            seen["status"] = message.script_finished
        elif kind == "delta" and message.delta.WhichOneof("type") == "new_element":
            self._take_element(message.delta, seen)

    def _take_element(self, delta: object, seen: dict[str, object]) -> None:
        element = delta.new_element
        kind = element.WhichOneof("type")
        seen["kinds"].append(kind)
        if kind == "html":
            seen["html"].append(element.html.body)
        elif kind == "code":
            seen["codes"].append(element.code.code_text)
        elif kind == "exception":
            seen["faults"].append(f"exception: {element.exception.message[:200]}")
        elif kind == "alert" and element.alert.format == element.alert.ERROR:
            seen["faults"].append(f"error box: {element.alert.body[:200]}")
        elif kind == "alert":
            seen["alerts"].append(element.alert.body[:200])
        elif kind == "slider" and element.slider.id.endswith(f"-{self.key}"):
            slider = element.slider
            self.slider = {
                "id": slider.id,
                "fragment": delta.fragment_id,
                "min": slider.min,
                "max": slider.max,
                "step": slider.step,
            }

    def _check(self, seen: dict[str, object], value: float | None, report: Report) -> None:
        """Count an error unless the run finished cleanly and shows ``value`` when one was sent."""
        faults = list(seen["faults"])
        if seen["status"] not in _OK:
            faults.append(f"script_finished status {seen['status']}")
        if not self.slider:
            faults.append(f"no slider with key {self.key} in the page")
        if value is not None:
            shown = _transcript_value(seen["codes"], self.name)
            if shown is None or not _close(shown, value):
                notes = "; ".join(seen["alerts"]) or "no message"
                faults.append(f"sent {self.key}={value}, transcript shows {shown} ({notes})")
            if seen["query"] is not None:
                linked = parse_qs(str(seen["query"])).get(self.key, [None])[0]
                if linked is None or not _close(float(linked), value):
                    faults.append(f"sent {self.key}={value}, URL holds {linked}")
        for fault in faults:
            report.error(fault)

    def values(self, seed: int) -> Iterator[float]:
        """Yield slider positions across the range, each different from the one before."""
        low, high, step = (float(self.slider[k]) for k in ("min", "max", "step"))
        count = max(1, round((high - low) / step))
        rng = random.Random(seed)
        index = rng.randrange(count + 1)
        while True:
            index = (index + rng.choice((-3, -2, -1, 1, 2, 3))) % (count + 1)
            yield round(low + index * step, 10)


async def _get_cookies(url: str, source: str | None) -> str:
    """GET ``url`` (from ``source``); return its Set-Cookie values as a Cookie header, or ''."""
    parts = urlsplit(url)
    extra = {"local_addr": (source, 0)} if source else {}
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(parts.hostname, parts.port, **extra), RUN_TIMEOUT
    )
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    writer.write(f"GET {target} HTTP/1.0\r\nHost: {parts.netloc}\r\n\r\n".encode())
    response = await asyncio.wait_for(reader.read(), RUN_TIMEOUT)
    writer.close()
    head = response.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    if not head.startswith("HTTP/1.1 200") and not head.startswith("HTTP/1.0 200"):
        raise RuntimeError(f"GET {target} answered {head.splitlines()[0]!r}")
    cookies = re.findall(r"^set-cookie:\s*([^;\r\n]+)", head, re.I | re.M)
    return "; ".join(cookies)


def _transcript_value(codes: Sequence[str], name: str) -> float | None:
    """Return the number in the transcript line ``name: tensor(<number>...``, if any."""
    pattern = re.compile(rf"^{re.escape(name)}: tensor\((-?[0-9.]+(?:e[-+]?[0-9]+)?)", re.M)
    for text in codes:
        if match := pattern.search(text):
            return float(match[1])
    return None


def _close(shown: float, sent: float) -> bool:
    # torch prints float32 with 4 decimals by default: 2.7 shows as 2.7000.
    return abs(shown - sent) <= 1e-4 * max(1.0, abs(sent))


async def _health(url: str, report: Report, stop: asyncio.Event, every: float = 0.5) -> None:
    """Time GET /_stcore/health every ``every`` seconds until stopped."""
    parts = urlsplit(url)
    while not stop.is_set():
        start = time.perf_counter()
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(parts.hostname, parts.port), RUN_TIMEOUT
            )
            writer.write(f"GET /_stcore/health HTTP/1.0\r\nHost: {parts.netloc}\r\n\r\n".encode())
            body = await asyncio.wait_for(reader.read(), RUN_TIMEOUT)
            writer.close()
            if not body.endswith(b"ok"):
                report.error(f"health answered {body[-60:]!r}")
        except (OSError, TimeoutError) as error:
            report.error(f"health: {error!r}")
        report.health.append(time.perf_counter() - start)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)


async def _sample_rss(stats: ServerStats, report: Report, stop: asyncio.Event, every: float):
    """Record the servers' RSS now and every ``every`` seconds until stopped."""
    while True:
        report.rss.append(stats.rss_mb())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
        if stop.is_set():
            report.rss.append(stats.rss_mb())
            return


async def _drive(
    session: Session, report: Report, *, seed: int, until: float, reruns: int, think: float
) -> None:
    """Move the slider with think time until the deadline or the rerun count, whichever first."""
    rng = random.Random(seed)
    positions = session.values(seed)
    for _ in range(reruns):
        await asyncio.sleep(rng.uniform(0.5, 1.5) * think)
        if time.monotonic() >= until:
            return
        try:
            report.latencies.append(await session.run(next(positions), report))
        except (TimeoutError, websockets.ConnectionClosed, RuntimeError) as error:
            report.error(f"rerun: {error!r}")
            return
        report.reruns += 1


async def _load_page(session: Session, report: Report) -> bool:
    """Open the session and run the link once; return whether it worked."""
    try:
        await session.open()
        report.first_loads.append(await session.run(None, report))
    except (OSError, TimeoutError, websockets.WebSocketException, RuntimeError) as error:
        report.error(f"first page: {error!r}")
        return False
    return bool(session.slider)


async def run_load(
    url: str,
    *,
    sessions: int = 10,
    duration: float = 20.0,
    reruns: int = 1_000_000,
    think: float = 0.5,
    link: str = DEFAULT_LINK,
    key: str = "value_x",
    pids: Sequence[int] = (),
    sources: Sequence[str] = (),
    rss_every: float = 0.0,
    health: bool = True,
) -> Report:
    """Run the load and return its report; CPU is counted from first rerun to last."""
    report = Report(sessions)
    stats = ServerStats(pids) if pids else None
    tabs = [
        Session(url, link, key, sources[i % len(sources)] if sources else None)
        for i in range(sessions)
    ]
    try:
        loaded = await asyncio.gather(*(_load_page(tab, report) for tab in tabs))
        # The per rerun counts are for slider moves only.
        report.messages, report.references, report.kbytes = 0, 0, 0.0
        stop = asyncio.Event()
        helpers = [asyncio.create_task(_health(url, report, stop))] if health else []
        if stats and rss_every:
            helpers.append(asyncio.create_task(_sample_rss(stats, report, stop, rss_every)))
        cpu = stats.cpu() if stats else (0.0, 0.0)
        start = time.monotonic()
        await asyncio.gather(
            *(
                _drive(tab, report, seed=seed, until=start + duration, reruns=reruns, think=think)
                for seed, (tab, ok) in enumerate(zip(tabs, loaded, strict=True))
                if ok
            )
        )
        report.wall = time.monotonic() - start
        if stats:
            user, system = (after - before for after, before in zip(stats.cpu(), cpu, strict=True))
            report.cpu, report.cpu_system = user + system, system
        stop.set()
        await asyncio.gather(*helpers)
        if stats and not report.rss:
            report.rss.append(stats.rss_mb())
    finally:
        await asyncio.gather(*(tab.close() for tab in tabs))
    return report


def server_command(
    port: int, extra: Sequence[str] = (), *, launcher: bool = False, script: str = "app.py"
) -> list[str]:
    """Return the command that serves ``script`` on 127.0.0.1:port (with the launcher or not)."""
    start = ["-m", "explorer.ui.serve"] if launcher else ["-m", "streamlit", "run", script]
    options = ["--server.headless", "true", "--server.address", "127.0.0.1"]
    options += ["--server.port", str(port), "--browser.gatherUsageStats", "false"]
    return [sys.executable, *start, *options, *extra]


@contextlib.contextmanager
def start_server(
    extra: Sequence[str] = (),
    *,
    launcher: bool = False,
    root: Path = ROOT,
    timeout: float = 90.0,
    script: str = "app.py",
) -> Iterator[tuple[str, int]]:
    """Serve ``script`` in ``root`` on a free loopback port; yield (base URL, pid), then stop it."""
    port = free_port()
    with tempfile.TemporaryFile("w+") as log:
        # A file, not a pipe: a pipe nobody reads would block a server that logs a lot.
        process = subprocess.Popen(
            server_command(port, extra, launcher=launcher, script=script),
            cwd=root,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(url, timeout, process, log)
            yield url, process.pid
        finally:
            stop_process(process)


def wait_healthy(url: str, timeout: float, process: subprocess.Popen, log: object) -> None:
    """Poll ``url``/_stcore/health until it says ok; raise if the process exits or time is up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"server exited: {log.read()[-2000:]}")
        with contextlib.suppress(OSError):
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                return
        time.sleep(0.2)
    raise RuntimeError(f"no answer on {url} within {timeout:g} s")


def stop_process(process: subprocess.Popen) -> None:
    """Terminate a process we started, and kill it if it does not exit in 10 s."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--duration", type=float, help="seconds of slider moves (default 20)")
    parser.add_argument("--reruns", type=int, default=1_000_000, help="slider moves per session")
    parser.add_argument("--think", type=float, default=0.5, help="mean seconds between moves")
    parser.add_argument("--link", default=DEFAULT_LINK, help="the page each session opens")
    parser.add_argument("--key", default="value_x", help="the key of the slider to move")
    parser.add_argument("--url", help="an already running app (or nginx); else start one")
    parser.add_argument("--server-pid", type=int, action="append", default=[], help="for CPU/RSS")
    parser.add_argument("--server-arg", action="append", default=[], help="for the own server")
    parser.add_argument("--launcher", action="store_true", help="start with explorer.ui.serve")
    parser.add_argument("--app-dir", type=Path, default=ROOT, help="where app.py is (own server)")
    parser.add_argument(
        "--script",
        default="app.py",
        help="the page script the own server runs, relative to --app-dir "
        "(bench/bare_app.py: Streamlit's own cost of a rerun, for comparison)",
    )
    parser.add_argument("--source", action="append", default=[], help="127.0.0.x to connect from")
    parser.add_argument("--rss-every", type=float, default=0.0, help="seconds between RSS samples")
    parser.add_argument("--soak", action="store_true", help="20 sessions, 5 minutes, RSS/minute")
    parser.add_argument("--json", action="store_true", help="also print the report as JSON")
    arguments = parser.parse_args(argv)
    if arguments.duration is None:
        # With a rerun count the run ends on the count; the duration only bounds it.
        arguments.duration = 600.0 if arguments.reruns < 1_000_000 else 20.0
    if arguments.launcher and arguments.script != "app.py":
        parser.error("--launcher serves app.py; give --script without it")
    if arguments.soak:
        arguments.sessions, arguments.duration, arguments.rss_every = 20, 300.0, 60.0
    return arguments


def _print(report: Report, *, as_json: bool) -> None:
    print(report.summary())
    if len(report.rss) > 1:
        print(
            "RSS MB, at the start, every --rss-every s, at the end: "
            + " ".join(f"{mb:.0f}" for mb in report.rss)
        )
    for problem in report.problems:
        print(f"  error: {problem}")
    if as_json:
        print(json.dumps(asdict(report)))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the load from the command line; exit 1 when any rerun failed."""
    args = _arguments(argv)
    options = {
        "sessions": args.sessions,
        "duration": args.duration,
        "reruns": args.reruns,
        "think": args.think,
        "link": args.link,
        "key": args.key,
        "sources": args.source,
        "rss_every": args.rss_every,
    }
    load_average = os.getloadavg()[0]
    if args.url:
        report = asyncio.run(run_load(args.url, pids=args.server_pid, **options))
    else:
        server = start_server(
            args.server_arg, launcher=args.launcher, root=args.app_dir, script=args.script
        )
        with server as (url, pid):
            report = asyncio.run(run_load(url, pids=[pid], **options))
    print(f"load average before: {load_average:.2f}, after: {os.getloadavg()[0]:.2f}")
    _print(report, as_json=args.json)
    return 1 if report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
