"""Small server-side plots as inline SVG (no script, no CDN): horizontal bars for
"who / which label, how much", and paired vertical bars for "per week".
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

BAR = "#2563eb"
BAR_LIGHT = "#93c5fd"
INK = "#1f2937"


def _num(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".") if value % 1 else str(int(value))


def hbars(items: Sequence[tuple[str, float]], *, title: str, scale: float | None = None) -> str:
    """One horizontal bar per ``(name, value)``; ``scale`` is the full width's value.

    The SVG scales with its container (``viewBox``); names left, numbers at the bar's end.
    """
    if not items:
        return ""
    top = scale or max(v for _, v in items) or 1.0
    row, width, left = 22, 320, 112
    height = row * len(items) + 4
    parts = [
        f'<svg class="plot" role="img" viewBox="0 0 {width} {height}" '
        f'preserveAspectRatio="xMinYMin meet" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>"
    ]
    for i, (name, value) in enumerate(items):
        y = i * row + 2
        length = max(1.0, (width - left - 44) * min(value, top) / top)
        short = name if len(name) <= 16 else name[:15] + "…"
        parts.append(
            f'<text x="{left - 6}" y="{y + 14}" text-anchor="end" font-size="12" '
            f'fill="{INK}">{escape(short)}</text>'
            f'<rect x="{left}" y="{y + 2}" width="{length:.1f}" height="15" rx="2" fill="{BAR}"/>'
            f'<text x="{left + length + 4:.1f}" y="{y + 14}" font-size="12" '
            f'fill="{INK}">{_num(value)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def week_bars(weeks: Sequence[tuple[str, float, float]], *, title: str, unit: str) -> str:
    """Per week a pair of bars (median dark, p90 light), weeks along the bottom."""
    if not weeks:
        return ""
    top = max(max(m, p) for _, m, p in weeks) or 1.0
    width, height, base, left = 320, 150, 124, 30
    step = (width - left - 4) / len(weeks)
    bar = min(24.0, max(2.0, step * 0.36))
    parts = [
        f'<svg class="plot" role="img" viewBox="0 0 {width} {height}" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>"
        f'<text x="0" y="12" font-size="11" fill="{INK}">{top:.0f} {escape(unit)}</text>'
        f'<line x1="{left}" y1="{base}" x2="{width}" y2="{base}" stroke="#9ca3af"/>'
    ]
    for i, (week, median, p90) in enumerate(weeks):
        x = left + i * step
        for offset, value, colour in ((0.0, median, BAR), (bar, p90, BAR_LIGHT)):
            h = (base - 20) * value / top
            parts.append(
                f'<rect x="{x + offset:.1f}" y="{base - h:.1f}" width="{bar:.1f}" '
                f'height="{h:.1f}" fill="{colour}"><title>{escape(week)}: '
                f"{_num(value)} {escape(unit)}</title></rect>"
            )
        if len(weeks) <= 8 or i % max(1, len(weeks) // 6) == 0:
            parts.append(
                f'<text x="{x:.1f}" y="{base + 14}" font-size="10" fill="{INK}">'
                f"{escape(week[5:])}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)
