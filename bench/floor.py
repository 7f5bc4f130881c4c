"""Where the slider -> transcript time goes in the browser: pages between the bare app and ours.

Each page is measured as bench_app.py measures (keyboard moves in Chromium, median ms until the
transcript shows the new value), and React's commits per move are counted through React's
devtools hook: Streamlit's frontend renders its element tree again on each commit.

    python bench/floor.py [--moves N] [--rounds N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from bench_app import _START_JS, _WAIT_JS, ROOT

sys.path.insert(0, str(ROOT / "tests"))

from live import chromium, serve, wait_for_page, wait_for_rerun

_HEAD = """import streamlit as st

@st.fragment
def live():
    value = st.slider("x", min_value=-5.0, max_value=5.0, value=-5.0, step=0.1, key="value_x")
    with st.container(key="transcript"):
        st.code(f"x: tensor({value:.4f})", language=None)

live()
"""
_SIDEBAR = """with st.sidebar:
    st.text_area("formula", "y = x**2 + 1", key="formula")
    st.selectbox("example", ["one", "two", "three"], key="preset")
    for name in "abc":
        st.slider(name, 0.0, 1.0, 0.5, key=f"s_{name}")
        st.toggle(f"requires_grad {name}", key=f"t_{name}")
        st.button(f"int {name}", key=f"b_{name}")
"""
_LINES = 'for i in range(40):\n    st.markdown(f"line **{i}**")\n'
# (label, the page's source or a file, the link)
_PAGES: tuple[tuple[str, str | Path, str], ...] = (
    ("bare app (one run)", ROOT / "bench" / "bare_app.py", "/"),
    ("fragment", _HEAD, "/"),
    ("fragment + 40 text lines", _HEAD + _LINES, "/"),
    ("fragment + 14 sidebar widgets", _HEAD + _SIDEBAR, "/"),
    ("autograd explorer", ROOT / "app.py", "/?formula=y+%3D+x**2+%2B+1&value_x=-5.0"),
)
# React calls this hook on every commit when it finds it at load (as the devtools extension).
_HOOK = """
window.__commits = 0;
window.__REACT_DEVTOOLS_GLOBAL_HOOK__ = {
  supportsFiber: true, renderers: new Map(), inject() { return 1; }, checkDCE() {},
  onScheduleFiberRoot() {}, onCommitFiberUnmount() {}, onPostCommitFiberRoot() {},
  onCommitFiberRoot(id, root) {
    window.__commits += 1;
    const size = (fiber) => {
      let n = 1;
      for (let c = fiber.child; c; c = c.sibling) n += size(c);
      return n;
    };
    window.__fibers = () => size(root.current);
  },
};
"""


def measure(browser: object, script: Path, link: str, moves: int) -> tuple[float, float, int]:
    """Return the median ms to a new transcript, React commits per move, and the tree's size."""
    with serve(script) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1600})
        page.add_init_script(_HOOK)
        page.goto(url + link)
        (wait_for_page if script.name == "app.py" else wait_for_rerun)(page)
        page.wait_for_selector("[data-testid=stCode]")
        page.wait_for_timeout(1000)
        page.locator(".st-key-value_x").get_by_role("slider").focus()
        times, commits = [], []
        for _ in range(moves):
            page.evaluate(_START_JS)
            page.evaluate("() => { window.__commits = 0; }")
            page.keyboard.press("ArrowRight")
            times.append(page.evaluate(_WAIT_JS))
            wait_for_rerun(page)
            page.wait_for_timeout(400)  # the commits that follow the transcript's
            commits.append(page.evaluate("window.__commits"))
        fibers = page.evaluate("window.__fibers()")
        page.close()
    return statistics.median(times), statistics.median(commits), fibers


def main() -> None:
    """Measure every page for a few rounds; print medians and ratios to the bare app."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    results: dict[str, list[tuple[float, float, int]]] = {label: [] for label, *_ in _PAGES}
    with tempfile.TemporaryDirectory() as folder, chromium() as browser:
        for _ in range(args.rounds):
            for number, (label, page, link) in enumerate(_PAGES):
                if isinstance(page, Path):
                    script = page
                else:
                    script = Path(folder) / f"page_{number}.py"
                    script.write_text(page)
                results[label].append(measure(browser, script, link, args.moves))
    bare = statistics.median(r[0] for r in results[_PAGES[0][0]])
    print("slider -> new transcript in Chromium (median of rounds), React commits per move:")
    print(f"  {'':<32} {'transcript':>10} {'ratio':>6} {'commits':>8} {'fibers':>7}")
    for label, runs in results.items():
        ms = statistics.median(r[0] for r in runs)
        commits = statistics.median(r[1] for r in runs)
        print(f"  {label:<32} {ms:7.1f} ms {ms / bare:5.2f}x {commits:8.0f} {runs[-1][2]:7d}")


if __name__ == "__main__":
    main()
