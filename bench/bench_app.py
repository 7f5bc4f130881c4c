"""Time the app: server-side reruns (AppTest), and slider -> new transcript in real Chromium.

The browser figure is a ratio against bench/bare_app.py (one slider, one st.code) measured in the
same run, so the machine's speed cancels out.

    python bench/bench_app.py [--moves N] [--reruns N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from live import chromium, serve, wait_for_page, wait_for_rerun  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from explorer.presets import PRESETS  # noqa: E402

_CODE = "document.querySelector('.st-key-transcript [data-testid=stCode]').innerText"
# Mark the time and text just before a real key press...
_START_JS = f"() => {{ window.benchBefore = {_CODE}; window.benchStart = performance.now(); }}"
# ...then wait, frame by frame, until the first code block shows a new text; return seconds.
_WAIT_JS = f"""
async () => {{
  while ({_CODE} === window.benchBefore) {{
    await new Promise(requestAnimationFrame);
    if (performance.now() - window.benchStart > 10000) throw new Error('no update in 10 s');
  }}
  return (performance.now() - window.benchStart) / 1000;
}}
"""


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


def browser_moves(moves: int) -> None:
    """Print slider -> transcript latency in Chromium for the app and the bare app."""
    results = {}
    with chromium() as browser:
        for name, script, link in (
            ("bare app", ROOT / "bench" / "bare_app.py", "/"),
            ("autograd explorer", ROOT / "app.py", "/?formula=y+%3D+x**2+%2B+1&value_x=-5.0"),
        ):
            with serve(script) as url:
                page = browser.new_page(viewport={"width": 1400, "height": 1600})
                page.goto(url + link)
                if script.name == "app.py":
                    wait_for_page(page)
                else:
                    wait_for_rerun(page)
                    page.wait_for_selector("[data-testid=stCode]")
                page.locator(".st-key-value_x").get_by_role("slider").focus()
                times = []
                for _ in range(moves):
                    page.evaluate(_START_JS)
                    page.keyboard.press("ArrowRight")
                    times.append(page.evaluate(_WAIT_JS))
                    wait_for_rerun(page)
                results[name] = statistics.median(times) * 1e3
                page.close()
    print("slider -> updated transcript in Chromium (median):")
    for name, ms in results.items():
        print(f"  {name:<26} {ms:7.1f} ms")
    ratio = results["autograd explorer"] / results["bare app"]
    print(f"  ratio {ratio:.2f}x")


def main() -> None:
    """Run both measurements."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=30)
    parser.add_argument("--reruns", type=int, default=60)
    args = parser.parse_args()
    server_reruns(args.reruns)
    browser_moves(args.moves)


if __name__ == "__main__":
    main()
