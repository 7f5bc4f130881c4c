"""Screenshots of the app for tutorial authors, and lessons built from Markdown.

    python -m explorer.tutorial shot "formula=z = x**y&value_x=3.0" --panel graph --out g.png
    python -m explorer.tutorial lesson assets/lessons/seed.md --out build/seed

| module        | job                                                                    |
| ------------- | ---------------------------------------------------------------------- |
| `view.py`     | a view as the link's keys: read query strings, turn a view into inputs |
| `browser.py`  | start the app (a subprocess) and Debian's Chromium (Playwright)        |
| `shot.py`     | photograph a view's panels, byte for byte the same every time          |
| `lesson.py`   | read a lesson's autograd blocks and build index.md, index.html, PNGs   |
| `markdown.py` | render the lesson's Markdown to one self-contained HTML page           |
| `files.py`    | write a file only when its bytes change                                |

Nothing here imports streamlit; playwright is imported only when a browser is launched.
"""

from explorer.tutorial.lesson import build
from explorer.tutorial.shot import Studio, studio

__all__ = ["Studio", "build", "studio"]
