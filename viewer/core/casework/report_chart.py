"""The report's timeline picture without Qt: events per day as an inline SVG bar chart.

The GUI passes its own rendering as PNG; the CLI (and any headless use) gets this chart, which
needs nothing but the counts and stays readable in any browser and when printed.
"""

from __future__ import annotations

import datetime as dt
from html import escape

from viewer.core.case_file import CaseFile


def events_per_day(case: CaseFile) -> list[tuple[dt.date, int]]:
    """Event counts per UTC day, with the empty days between filled in (a gap must show)."""
    rows = (
        case.cursor()
        .execute("SELECT CAST(ts AS DATE) AS day, count(*) FROM events GROUP BY ALL ORDER BY 1")
        .fetchall()
    )
    if not rows:
        return []
    counts = {r[0]: int(r[1]) for r in rows}
    day, last = rows[0][0], rows[-1][0]
    out = []
    while day <= last:
        out.append((day, counts.get(day, 0)))
        day += dt.timedelta(days=1)
    return out


def svg_bar_chart(days: list[tuple[dt.date, int]], width: int = 760, height: int = 220) -> str:
    if not days:
        return '<p class="muted">No events in the case.</p>'
    left, bottom, top = 48, 34, 12
    plot_w, plot_h = width - left - 8, height - bottom - top
    peak = max(n for _, n in days) or 1
    bar_w = plot_w / len(days)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="Events per day">',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#555"/>',
        f'<text x="{left - 6}" y="{top + 4}" text-anchor="end" font-size="10">{peak:,}</text>',
        f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end" font-size="10">0</text>',
    ]
    label_every = max(1, len(days) // 12)
    for i, (day, n) in enumerate(days):
        h = plot_h * n / peak
        x = left + i * bar_w
        parts.append(
            f'<rect x="{x + 1:.1f}" y="{top + plot_h - h:.1f}" width="{max(bar_w - 2, 1):.1f}" height="{h:.1f}" '
            f'fill="#3b6ea5"><title>{escape(day.isoformat())}: {n:,} events</title></rect>'
        )
        if i % label_every == 0:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{top + plot_h + 14}" text-anchor="middle" '
                f'font-size="10">{escape(day.strftime("%m-%d"))}</text>'
            )
    parts.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 4}" text-anchor="middle" font-size="10">'
        "day (UTC)</text></svg>"
    )
    return "".join(parts)
