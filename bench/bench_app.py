"""Time the app: server-side reruns (AppTest), and slider -> new transcript in real Chromium.

The browser figure is a ratio against bench/bare_app.py (one slider, one st.code) measured in the
same run, so the machine's speed cancels out.

    python bench/bench_app.py [--moves N] [--reruns N] [--rounds N]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from live import chromium, serve, wait_for_page, wait_for_rerun  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from explorer.presets import PRESETS  # noqa: E402

_CODE = "document.querySelector('.st-key-transcript [data-testid=stCode]').innerText"
# What the plot shows: its moving point's x (placed on the kept chart by the page's script, or
# drawn in a new chart when the figure has no scrubber).
_POINT = """(() => {
  const plot = document.querySelector('[data-testid=stPlotlyChart] .js-plotly-plot');
  const point = plot && plot.data && plot.data.find((t) => t.mode === 'markers');
  return point ? JSON.stringify(point.x) : '';
})()"""
# Mark the time, the transcript and the plot just before a real key press...
_START_JS = f"""() => {{
  window.benchBefore = {_CODE}; window.benchPoint = {_POINT};
  window.benchStart = performance.now();
}}"""
# ...then wait, frame by frame, until the transcript shows a new text; return milliseconds...
_WAIT_JS = f"""
async () => {{
  while ({_CODE} === window.benchBefore) {{
    await new Promise(requestAnimationFrame);
    if (performance.now() - window.benchStart > 10000) throw new Error('no update in 10 s');
  }}
  return performance.now() - window.benchStart;
}}
"""
# ...and until the plot has moved its point too (the bare app has no plot: 0).
_SETTLE_JS = f"""
async () => {{
  if (!document.querySelector('[data-testid=stPlotlyChart]')) return 0;
  while ({_POINT} === window.benchPoint) {{
    await new Promise(requestAnimationFrame);
    if (performance.now() - window.benchStart > 10000) throw new Error('no plot in 10 s');
  }}
  return performance.now() - window.benchStart;
}}
"""
_APPS = (
    ("bare app", ROOT / "bench" / "bare_app.py", "/"),
    ("autograd explorer", ROOT / "app.py", "/?formula=y+%3D+x**2+%2B+1&value_x=-5.0"),
)


@dataclass
class _Moves:
    """Medians of one app's slider moves: wall times in ms, and CPU ms spent per move."""

    transcript: float
    settled: float
    browser_cpu: float
    server_cpu: float


_FIELDS = tuple(_Moves.__annotations__)


def server_reruns(reruns: int) -> None:
    """Print the median time of the page script after a slider move, per seed preset.

    The time is taken inside the script (bench/timed_app.py): AppTest's own polling would add
    several milliseconds that a real server does not have.
    """
    print("server-side rerun after a slider move (page script time, median):")
    for preset in PRESETS[:3]:
        at = AppTest.from_file(str(ROOT / "bench" / "timed_app.py"), default_timeout=60).run()
        at.selectbox(key="preset").select(preset.label).run()
        name = next(iter(preset.values))
        low = at.slider(key=f"value_{name}").min
        for i in range(reruns):
            value = type(low)(low + (i % 20) * (1 if isinstance(low, int) else 0.1))
            at.slider(key=f"value_{name}").set_value(value).run()
        times = at.session_state["_bench_times"][-reruns:]
        print(f"  {preset.label:<26} {statistics.median(times) * 1e3:7.1f} ms")


def browser_moves(moves: int, rounds: int) -> None:
    """Print slider -> transcript latency in Chromium for the app and the bare app.

    Other processes on a shared machine skew wall times, so the two apps take turns for several
    rounds, and the CPU each move costs the browser and the server is printed too: it does not
    grow with contention the way waiting does.
    """
    results: dict[str, list[_Moves]] = {name: [] for name, *_ in _APPS}
    with chromium() as browser:
        for _ in range(rounds):
            for name, script, link in _APPS:
                results[name].append(_measure(browser, script, link, moves))
    print("slider -> updated page in Chromium (median of rounds of per-round medians):")
    print(f"  {'':<20} {'transcript':>10} {'plot too':>9} {'browser CPU':>12} {'server CPU':>11}")
    medians = {}
    for name, runs in results.items():
        row = _Moves(*(statistics.median(getattr(r, f) for r in runs) for f in _FIELDS))
        medians[name] = row
        print(
            f"  {name:<20} {row.transcript:7.1f} ms {row.settled:6.1f} ms {row.browser_cpu:9.1f} ms"
            f" {row.server_cpu:8.1f} ms"
        )
    bare, app = medians["bare app"], medians["autograd explorer"]
    pairs = zip(results["bare app"], results["autograd explorer"], strict=True)
    per_round = [a.transcript / b.transcript for b, a in pairs]
    print(
        f"  ratio {app.transcript / bare.transcript:.2f}x (rounds: "
        f"{', '.join(f'{r:.2f}' for r in per_round)}); browser CPU "
        f"{app.browser_cpu / bare.browser_cpu:.1f}x"
    )


def _measure(browser: object, script: Path, link: str, moves: int) -> _Moves:
    """Serve one app, move its slider ``moves`` times by keyboard, return the medians."""
    with serve(script) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1600})
        page.goto(url + link)
        if script.name == "app.py":
            wait_for_page(page)
        else:
            wait_for_rerun(page)
            page.wait_for_selector("[data-testid=stCode]")
        page.wait_for_timeout(1000)  # first paints and fonts settle before the clock starts
        cpu = browser.new_browser_cdp_session()
        server = _server_pid(url)
        page.locator(".st-key-value_x").get_by_role("slider").focus()
        times, settled = [], []
        before = (_browser_cpu(cpu), _server_cpu(server))
        for _ in range(moves):
            page.evaluate(_START_JS)
            page.keyboard.press("ArrowRight")
            times.append(page.evaluate(_WAIT_JS))
            settled.append(page.evaluate(_SETTLE_JS))
            wait_for_rerun(page)
        after = (_browser_cpu(cpu), _server_cpu(server))
        cpu.detach()
        page.close()
    browser_cpu, server_cpu = ((b - a) * 1e3 / moves for a, b in zip(before, after, strict=True))
    return _Moves(statistics.median(times), statistics.median(settled), browser_cpu, server_cpu)


def _browser_cpu(cdp: object) -> float:
    """Return the CPU seconds Chromium's renderer and GPU (raster) processes have used so far."""
    info = cdp.send("SystemInfo.getProcessInfo")["processInfo"]
    return sum(p["cpuTime"] for p in info if p["type"] in ("renderer", "GPU"))


def _server_pid(url: str) -> int:
    """Return the pid of the server listening on url's port (a child of this process)."""
    port = int(url.rsplit(":", 1)[1])
    inode = _listening_inode(port)
    for child in Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read_text().split():
        with contextlib.suppress(OSError):
            if any(
                Path(fd).readlink().name == f"socket:[{inode}]"
                for fd in Path(f"/proc/{child}/fd").iterdir()
            ):
                return int(child)
    raise RuntimeError(f"no child process listens on port {port}")


def _listening_inode(port: int) -> str:
    """Return the socket inode of the loopback listener on ``port`` (from /proc/net/tcp)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":  # LISTEN
            return fields[9]
    raise RuntimeError(f"nothing listens on port {port}")


def _server_cpu(pid: int) -> float:
    """Return the CPU seconds (user + system) the server process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    """Run both measurements."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=30)
    parser.add_argument("--reruns", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3, help="turns each app takes in Chromium")
    args = parser.parse_args()
    server_reruns(args.reruns)
    browser_moves(args.moves, args.rounds)


if __name__ == "__main__":
    main()
