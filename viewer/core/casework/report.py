"""The case report: one self-contained HTML file (inline CSS, images as data: URIs).

It states what the case holds and how far it can be trusted: summary, the evidence ledger with
hashes and the latest verification results, the timeline, the analyst's findings (starred and
tagged events with notes, entity notes, bookmarks), the saved queries and the custody log. The
PDF is this HTML printed by Qt (`viewer.gui.report_pdf`); the markup therefore keeps to what
QTextDocument renders (tables, simple CSS, <img>), and inline SVG is only used when no PNG is given.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from html import escape
from typing import Any

from viewer import __version__
from viewer.core.case_file import CaseFile, os_user
from viewer.core.casework import annotation_views, findings
from viewer.core.casework.findings import IntegrityResult
from viewer.core.casework.report_chart import events_per_day, svg_bar_chart
from viewer.core.casework.report_ledger import ledger_files

MAX_FAILURES_PER_STATUS = 25  # a broken chain shows in full; 1,000 identical "unknown key" lines do not
MAX_ACTIVITY = 300

_CSS = """
body { font-family: Helvetica, Arial, sans-serif; font-size: 10pt; color: #1a1a1a; margin: 24px; }
h1 { font-size: 18pt; margin-bottom: 2px; } h2 { font-size: 13pt; border-bottom: 1px solid #999;
margin-top: 22px; } table { border-collapse: collapse; margin: 6px 0; }
th, td { border: 1px solid #bbb; padding: 2px 5px; text-align: left; vertical-align: top; }
th { background: #e8edf3; } .muted { color: #666; } .ok { color: #1d6b2c; font-weight: bold; }
.bad { color: #a11d1d; font-weight: bold; } .hash { font-family: Courier, monospace; font-size: 8pt; }
.small { font-size: 8pt; }
"""


def build_html(
    case: CaseFile,
    *,
    timeline_png: bytes | None = None,
    title: str | None = None,
    verification: IntegrityResult | None = None,
    cloudtrail: IntegrityResult | None = None,
    generated_at: dt.datetime | None = None,
) -> str:
    """The report as HTML. Verification results default to the newest stored in the case; the
    timeline is `timeline_png` when given (the GUI's rendering), else an SVG of events per day."""
    verification = verification or findings.latest(case, "verify")
    cloudtrail = cloudtrail or findings.latest(case, "cloudtrail_digests")
    when = (generated_at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    s = case.summary()
    heading = title or f"Case report: {case.path.name}"
    body = [
        f"<h1>{escape(heading)}</h1>",
        f'<p class="muted">Case file {escape(str(case.path))} (schema {s.schema_version}). Generated '
        f"{when:%Y-%m-%d %H:%M:%S} UTC by {escape(os_user())} with Caseline {escape(__version__)}.</p>",
        _summary(case),
        _integrity_section("Evidence verification (chain of custody)", verification),
        _integrity_section("CloudTrail log file integrity", cloudtrail),
        _ledger(case, verification),
        "<h2>Timeline</h2>",
        _timeline(case, timeline_png),
        _findings(case),
        _entity_notes(case),
        _bookmarks(case),
        _queries(case),
        _activity(case),
    ]
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        f"<title>{escape(heading)}</title><style>{_CSS}</style></head><body>"
        + "\n".join(body)
        + "</body></html>"
    )


def _table(
    headers: list[str],
    rows: list[list[str]],
    cls: str = "",
    wide: bool = False,
    widths: list[int] | None = None,
) -> str:
    sizes = [f' width="{w}%"' for w in widths] if widths else [""] * len(headers)
    head = "".join(f"<th{w}>{escape(h)}</th>" for h, w in zip(headers, sizes, strict=True))
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    # width="100%": QTextDocument (the PDF) otherwise squeezes long paths into a narrow column.
    width = ' width="100%"' if wide else ""
    return f'<table class="{cls}"{width}><tr>{head}</tr>{body}</table>'


def _t(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, dt.datetime):
        utc = v.astimezone(dt.UTC)
        return escape(f"{utc.year:04d}-{utc:%m-%d %H:%M:%S} UTC")  # %Y writes year 1 as '1'
    if isinstance(v, int):
        return f"{v:,}"
    return escape(str(v))


def _summary(case: CaseFile) -> str:
    s = case.summary()
    rows = [
        ["Events", _t(s.events)],
        ["Evidence files", _t(s.evidence_files)],
        ["First event", _t(s.first_ts)],
        ["Last event", _t(s.last_ts)],
    ]
    sources = [[_t(k), _t(v)] for k, v in s.sources.items()]
    return "<h2>Summary</h2>" + _table(["", ""], rows) + _table(["source type", "events"], sources)


def _integrity_section(title: str, result: IntegrityResult | None) -> str:
    if result is None:
        return f'<h2>{escape(title)}</h2><p class="bad">Not checked: no verification has been run on this case.</p>'
    verdict = (
        '<span class="ok">VERIFIED: every item checked and passed</span>'
        if result.ok
        else f'<span class="bad">NOT VERIFIED: {len(result.failures):,} of {len(result.findings):,} items did not pass</span>'
    )
    when = f" Run {_t(result.started_at)}" if result.started_at else ""
    params = ", ".join(f"{k}: {v}" for k, v in result.params.items() if v and k != "key_fingerprints")
    counts = [[_t(k), _t(v)] for k, v in result.counts().items()]
    shown: dict[str, int] = {}
    fails = []
    for f in result.failures:
        shown[f.status] = shown.get(f.status, 0) + 1
        if shown[f.status] <= MAX_FAILURES_PER_STATUS:
            fails.append([_t(f.subject_kind), _t(f.status), _t(f.message)])
    more = len(result.failures) - len(fails)
    return (
        f"<h2>{escape(title)}</h2><p>{verdict}.{escape(when)} <span class='muted'>{escape(params)}</span></p>"
        + _table(["item:status", "count"], counts)
        + (
            _table(["item", "status", "finding"], fails, "small", wide=True, widths=[8, 17, 75])
            if fails
            else ""
        )
        + (
            f'<p class="muted">... and {more:,} more items that did not pass (all are stored in the case).</p>'
            if more > 0
            else ""
        )
    )


def _ledger(case: CaseFile, verification: IntegrityResult | None) -> str:
    roots = (
        case.cursor()
        .execute("SELECT import_id, started_at, os_user, params FROM imports ORDER BY import_id")
        .fetchall()
    )
    imports = [[_t(r[0]), _t(r[1]), _t(r[2]), _t(_compact(r[3]))] for r in roots]
    return (
        "<h2>Evidence ledger</h2><p>Imports (files are listed below relative to the folder or archive "
        "imported):</p>"
        + _table(["import", "started", "by", "what was imported"], imports, "small", wide=True)
        + ledger_files(case, verification, _table, _t)
    )


def _timeline(case: CaseFile, png: bytes | None) -> str:
    if png:
        data = base64.b64encode(png).decode()
        return f'<p><img src="data:image/png;base64,{data}" alt="timeline" width="680"></p>'
    return f"<p>{svg_bar_chart(events_per_day(case))}</p><p class='muted'>Events per day (UTC).</p>"


def _findings(case: CaseFile) -> str:
    events = annotation_views.annotated_events(case)
    if not events:
        return '<h2>Findings</h2><p class="muted">No starred or tagged events and no event notes.</p>'
    rows = [
        [
            _t(e.ts),
            ("&#9733; " if e.starred else "") + _t(", ".join(e.tags)),
            _t(e.action),
            _t(e.principal),
            _t(e.src_ip),
            _t(e.note),
            f'<span class="small">{_t(e.source_type)} #{_t(e.event_id)}</span>',
        ]
        for e in events
    ]
    return "<h2>Findings</h2>" + _table(
        ["time", "star / tags", "action", "principal", "source IP", "note", "event"], rows, wide=True
    )


def _entity_notes(case: CaseFile) -> str:
    notes = annotation_views.entity_notes(case)
    if not notes:
        return ""
    rows = [[_t(n.entity_kind), _t(n.entity_value), _t(n.note), _t(n.noted_at), _t(n.os_user)] for n in notes]
    return "<h2>Entity notes</h2>" + _table(["kind", "value", "note", "noted", "by"], rows)


def _bookmarks(case: CaseFile) -> str:
    marks = annotation_views.bookmarks(case)
    if not marks:
        return ""
    rows = [[_t(b.name), _t(b.start), _t(b.end), _t(b.note)] for b in marks]
    return "<h2>Bookmarks</h2>" + _table(["name", "from", "to", "note"], rows)


def _queries(case: CaseFile) -> str:
    cur = case.cursor()
    saved = cur.execute(
        "SELECT name, language, text, coalesce(description, ''), updated_at FROM saved_queries ORDER BY name"
    ).fetchall()
    runs = cur.execute(
        "SELECT count(*), min(logged_at), max(logged_at) FROM activity_log WHERE action = 'query_run'"
    ).fetchall()[0]
    out = "<h2>Queries</h2>"
    if saved:
        rows = [[_t(r[0]), _t(r[1]), f"<pre>{_t(r[2])}</pre>", _t(r[3]), _t(r[4])] for r in saved]
        out += _table(["saved query", "language", "text", "description", "saved"], rows)
    else:
        out += '<p class="muted">No saved queries.</p>'
    if runs[0]:
        out += f"<p>{runs[0]:,} queries were run between {_t(runs[1])} and {_t(runs[2])} (activity log).</p>"
    return out


def _activity(case: CaseFile) -> str:
    rows = (
        case.cursor()
        .execute(
            "SELECT logged_at, os_user, tool_version, action, detail FROM activity_log "
            "WHERE action <> 'query_run' ORDER BY logged_at DESC LIMIT ?",
            [MAX_ACTIVITY],
        )
        .fetchall()
    )
    body = [
        [_t(r[0]), _t(r[1]), _t(r[2]), _t(r[3]), f'<span class="small">{_t(_compact(r[4]))}</span>']
        for r in rows
    ]
    return "<h2>Activity log (newest first, queries run counted above)</h2>" + _table(
        ["time", "user", "tool", "action", "detail"], body, "small", wide=True
    )


def _compact(detail: Any) -> str:
    try:
        text = (
            json.dumps(json.loads(detail), separators=(", ", ": "))
            if isinstance(detail, str)
            else str(detail)
        )
    except (ValueError, TypeError):
        text = str(detail)
    return text if len(text) <= 300 else text[:297] + "..."
