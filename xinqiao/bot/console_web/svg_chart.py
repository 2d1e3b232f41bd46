"""Charts as server-side SVG: horizontal bars with the number written beside each one.

No script and no chart library: a bar is a ``rect`` sized here, its label and figure are
``text`` (escaped), and colours come from CSS classes (the pages' CSP refuses inline styles).
The SVG scales to the column's width, so it reads at 375 px and at 1280 px.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from markupsafe import Markup

WIDTH, LABEL, BAR, ROW = 360, 104, 160, 28


@dataclass(frozen=True)
class Bar:
    """One bar: its label, its value, the scale's top, the words beside it, a CSS class."""

    label: str
    value: float
    top: float
    figure: str
    tone: str = ""


def bar_chart(title: str, bars: list[Bar]) -> Markup:
    """An SVG bar chart (empty bars list: a chart saying there is nothing to show)."""
    height = ROW * max(1, len(bars)) + 8
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
             f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
             f"<title>{escape(title)}</title>"]
    if not bars:
        parts.append(f'<text x="0" y="{ROW - 8}" class="chart-empty">本月没有数据</text>')
    for n, bar in enumerate(bars):
        y = 4 + n * ROW
        share = 0.0 if bar.top <= 0 else max(0.0, min(1.0, bar.value / bar.top))
        width = round(BAR * share, 1)
        label = bar.label if len(bar.label) <= 7 else bar.label[:6] + "…"
        parts += [f'<text x="0" y="{y + 17}" class="chart-label">{escape(label)}</text>',
                  f'<rect x="{LABEL}" y="{y + 4}" width="{BAR}" height="16" class="chart-track"/>',
                  f'<rect x="{LABEL}" y="{y + 4}" width="{width}" height="16" '
                  f'class="chart-bar {escape(bar.tone)}"/>',
                  f'<text x="{LABEL + BAR + 6}" y="{y + 17}" class="chart-figure">'
                  f"{escape(bar.figure)}</text>"]
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 (every label and figure escaped above)


def percent(part: int, whole: int) -> str:
    """``7/10（70%）``; ``0/0`` when there is nothing to count."""
    return f"{part}/{whole}（{part / whole:.0%}）" if whole else "0/0"
