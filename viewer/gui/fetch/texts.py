"""What the fetch panel writes: the progress line and the acquisition summary (Qt-free)."""

from __future__ import annotations

import contextlib
import datetime as dt

from viewer.core.fetch.acquisition import FetchReport
from viewer.core.jobs import Progress


def megabytes(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


def esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def progress_line(p: Progress) -> str:
    """'downloading · 120 / 200 objects · 18.1 MB / 31.6 MB · 95,000 records · 21,000 rec/s'."""
    parts = [p.phase or "working"]
    if p.files_total:
        parts.append(f"{p.files_done:,} / {p.files_total:,} objects")
    if p.bytes_total:
        parts.append(f"{megabytes(p.bytes_done)} / {megabytes(p.bytes_total)}")
    parts.append(f"{p.records:,} records")
    parts.append(f"{p.rate:,.0f} rec/s")
    if p.message:
        parts.append(p.message)
    return " · ".join(parts)


def summary_html(report: FetchReport) -> str:
    """The acquisition in a few lines: what was asked of whom, and what came back."""
    a = report.acquisition
    rows = [("as", a.caller.get("arn", "?"))]
    if a.api_calls or a.pages:  # an API source: calls and pages, not objects
        rows += [("API calls", f"{a.api_calls:,}"), ("pages", f"{a.pages:,}")]
        if a.records_expected is not None:
            rows.append(("records the API holds", f"{a.records_expected:,}"))
        rows.append(("records retrieved", f"{a.records_retrieved:,}"))
    else:
        listed = f"{a.objects_listed:,}" + (f" ({megabytes(a.bytes_listed)})" if a.bytes_listed else "")
        rows += [
            ("listed", listed),
            ("downloaded", f"{a.downloaded:,}"),
            ("already here", f"{a.already_downloaded:,}"),
        ]
    rows += [
        ("records imported", f"{a.records_imported:,} in {len(report.imports)} import(s)"),
        ("failed", f"{len(a.failed):,}"),
        ("throttled", f"{a.throttled:,}"),
    ]
    with contextlib.suppress(ValueError):
        took = dt.datetime.fromisoformat(a.finished_at) - dt.datetime.fromisoformat(a.started_at)
        rows.append(("took", f"{took.total_seconds():,.1f} s"))
    html = "<table>" + "".join(f"<tr><td><b>{k}</b>&nbsp;</td><td>{esc(v)}</td></tr>" for k, v in rows)
    html += "</table>"
    if a.failed:
        shown = "".join(f"<li>{esc(f)}</li>" for f in a.failed[:8])
        more = f"<li>… and {len(a.failed) - 8:,} more</li>" if len(a.failed) > 8 else ""
        html += f"<p>Not fetched (Resume tries them again):</p><ul>{shown}{more}</ul>"
    return html
