"""Render the Markdown of a lesson to one self-contained HTML page, with no dependency.

Covered: ATX headings, paragraphs, ``-``/``*``/``1.`` lists (one level), block quotes, rules,
fenced code, and inline code, ``**strong**``, ``*em*``/``_em_``, links, images and backslash
escapes. Raw HTML is shown as text, never passed through, and a link may only go to http(s),
mailto, a fragment or a relative path. Images found in ``images`` are inlined as data: URIs.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Callable, Mapping

__all__ = ["page", "render"]

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)[^`]*$")
_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:\s+(.*?))?(?:\s+#+)?\s*$")
_RULE = re.compile(r"^ {0,3}([-*_])(?:\s*\1){2,}\s*$")
_BULLET = re.compile(r"^ {0,3}[-*+]\s+(.*)$")
_NUMBERED = re.compile(r"^ {0,3}\d{1,9}[.)]\s+(.*)$")
_QUOTE = re.compile(r"^ {0,3}>\s?(.*)$")
_INLINE = re.compile(
    r"(?P<code>(`+)(?P<code_text>.+?)\2)"
    r"|(?P<escape>\\(?P<escaped>[!-/:-@\[-`{-~]))"
    r"|(?P<image>!\[(?P<alt>(?:\\.|[^\]\\])*)\]\((?P<src>[^)\s]+)\))"
    r"|(?P<link>\[(?P<label>(?:\\.|[^\]\\])+)\]\((?P<href>[^)\s]+)\))"
    r"|(?P<strong>\*\*(?P<strong_text>\S(?:.*?\S)?)\*\*)"
    r"|(?P<em>\*(?P<em_text>\S(?:.*?\S)?)\*|\b_(?P<em_under>\S(?:.*?\S)?)_\b)"
)
_SAFE_HREF = re.compile(r"^(https?:|mailto:|#|[^:]*$)", re.IGNORECASE)
_UNESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")

_STYLE = """
body { font: 16px/1.55 system-ui, sans-serif; max-width: 52rem; margin: 2rem auto;
  padding: 0 1rem; color: #1f2328; }
img { max-width: 100%; border: 1px solid #d0d7de; border-radius: 4px; }
pre { background: #f6f8fa; padding: 0.8rem 1rem; overflow-x: auto; border-radius: 4px; }
code { font: 0.92em/1.4 ui-monospace, monospace; }
blockquote { margin: 0; padding-left: 1rem; border-left: 4px solid #d0d7de; color: #57606a; }
"""


def page(markdown: str, images: Mapping[str, bytes], title: str) -> str:
    """Return a whole HTML document for ``markdown``, its images inlined."""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        f"{render(markdown, images)}</body>\n</html>\n"
    )


def render(markdown: str, images: Mapping[str, bytes]) -> str:
    """Return the HTML of ``markdown``'s blocks (no page around them)."""
    return _blocks(markdown, lambda text: _inline(text, images))


def _blocks(markdown: str, inline: Callable[[str], str]) -> str:
    """Render every block of ``markdown``, with ``inline`` for the text inside them."""
    lines = markdown.splitlines()
    out: list[str] = []
    index = 0
    while index < len(lines):
        index = _block(lines, index, out, inline)
    return "".join(out)


def _block(lines: list[str], index: int, out: list[str], inline: Callable[[str], str]) -> int:
    """Render the block that starts at ``lines[index]``; return the index after it."""
    line = lines[index]
    if not line.strip():
        return index + 1
    if fence := _FENCE.match(line):
        return _code(lines, index, fence, out)
    if heading := _HEADING.match(line):
        level = len(heading[1])
        out.append(f"<h{level}>{inline(heading[2] or '')}</h{level}>\n")
        return index + 1
    if _RULE.match(line):
        out.append("<hr>\n")
        return index + 1
    if _QUOTE.match(line):
        end = _run(lines, index, lambda text: bool(_QUOTE.match(text)))
        inner = "\n".join(_QUOTE.match(text)[1] for text in lines[index:end])
        out.append(f"<blockquote>\n{_blocks(inner, inline)}</blockquote>\n")
        return end
    for pattern, tag in ((_BULLET, "ul"), (_NUMBERED, "ol")):
        if pattern.match(line):
            end, items = _list(lines, index, pattern, inline)
            out.append(f"<{tag}>\n{items}</{tag}>\n")
            return end
    end = _run(lines, index + 1, lambda text: bool(text.strip()) and not _starts_block(text))
    out.append(f"<p>{inline(chr(10).join(text.strip() for text in lines[index:end]))}</p>\n")
    return end


def _starts_block(line: str) -> bool:
    patterns = (_FENCE, _HEADING, _RULE, _QUOTE, _BULLET, _NUMBERED)
    return any(pattern.match(line) for pattern in patterns)


def _run(lines: list[str], index: int, keep: Callable[[str], bool]) -> int:
    """Return the index of the first line from ``index`` on that ``keep`` refuses."""
    while index < len(lines) and keep(lines[index]):
        index += 1
    return index


def _code(lines: list[str], index: int, fence: re.Match[str], out: list[str]) -> int:
    """Render a fenced code block; an unclosed fence runs to the end, as CommonMark says."""
    marker = fence[1]
    end = _run(
        lines,
        index + 1,
        lambda text: not (text.strip().startswith(marker) and set(text.strip()) == {marker[0]}),
    )
    body = "".join(f"{html.escape(text)}\n" for text in lines[index + 1 : end])
    language = f' class="language-{html.escape(fence[2])}"' if fence[2] else ""
    out.append(f"<pre><code{language}>{body}</code></pre>\n")
    return end + 1


def _list(
    lines: list[str], index: int, pattern: re.Pattern[str], inline: Callable[[str], str]
) -> tuple[int, str]:
    """Return the index after a one-level list and its items' HTML; indented lines continue one."""
    items: list[list[str]] = []
    while index < len(lines):
        line = lines[index]
        if item := pattern.match(line):
            items.append([item[1]])
        elif line.startswith((" ", "\t")) and line.strip() and items:
            items[-1].append(line.strip())
        else:
            break
        index += 1
    return index, "".join(f"<li>{inline(chr(10).join(item))}</li>\n" for item in items)


def _inline(text: str, images: Mapping[str, bytes]) -> str:
    """Render inline Markdown; everything that is not markup is HTML-escaped."""
    out: list[str] = []
    position = 0
    for match in _INLINE.finditer(text):
        out.append(html.escape(text[position : match.start()]))
        out.append(_token(match, images))
        position = match.end()
    out.append(html.escape(text[position:]))
    return "".join(out)


def _token(match: re.Match[str], images: Mapping[str, bytes]) -> str:
    """Render one inline token found by _INLINE."""
    if match["code"]:
        return f"<code>{html.escape(match['code_text'].strip())}</code>"
    if match["escape"]:
        return html.escape(match["escaped"])
    if match["image"]:
        alt = html.escape(_UNESCAPE.sub(r"\1", match["alt"]))
        return f'<img src="{_image_source(match["src"], images)}" alt="{alt}">'
    if match["link"]:
        label = _inline(match["label"], images)
        if not _SAFE_HREF.match(match["href"]):
            return label
        return f'<a href="{html.escape(match["href"])}">{label}</a>'
    if match["strong"]:
        return f"<strong>{_inline(match['strong_text'], images)}</strong>"
    return f"<em>{_inline(match['em_text'] or match['em_under'], images)}</em>"


def _image_source(src: str, images: Mapping[str, bytes]) -> str:
    """Return a data: URI for a known PNG, else the (escaped) address if it is safe."""
    if src in images:
        return "data:image/png;base64," + base64.b64encode(images[src]).decode("ascii")
    return html.escape(src) if _SAFE_HREF.match(src) else ""
