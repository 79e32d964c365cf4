"""The report's evidence ledger: every file when there are few, a summary by folder when many.

A bucket of CloudTrail holds hundreds of thousands of small files: listed one per row, the ledger
of 200,000 files made a 76 MB report that no browser opens comfortably and nobody reads. Beyond
`MAX_FILES_LISTED` files the report gives one row per folder (files, bytes, records, formats,
verification) and lists in full only the files that need a look (records rejected or dropped as
duplicates, a failed verification, an unknown format). Every file's path and SHA-256 stay in the
case's `evidence` table, and the report states the ledger digest, a SHA-256 over every file's
hash and path with the SQL that recomputes it, so a recipient can tie the report to the case.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from typing import Any

from viewer.core.case_file import CaseFile
from viewer.core.casework.findings import Finding, IntegrityResult

MAX_FILES_LISTED = 1_000
#: A SHA-256 over every ledger file's "sha256 path" line (one space: the report's HTML would fold
#: two into one in the SQL it shows), in evidence id order: a change to any file's hash, its path
#: or the set of files changes it.
LEDGER_DIGEST_SQL = (
    "SELECT sha256(string_agg(sha256 || ' ' || path, chr(10) ORDER BY evidence_id)) FROM evidence"
)

Table = Callable[..., str]
Cell = Callable[[Any], str]


@dataclass
class _Folder:
    files: int = 0
    size: int = 0
    seen: int = 0
    kept: int = 0
    rejected: int = 0
    duplicate: int = 0
    formats: set[str] = field(default_factory=set)
    checks: dict[str, int] = field(default_factory=dict)


def ledger_files(case: CaseFile, verification: IntegrityResult | None, table: Table, t: Cell) -> str:
    """The ledger's digest and files as HTML; `table` and `t` are the report's table and cell writers."""
    status = {
        f.evidence_id: f
        for f in (verification.findings if verification else [])
        if f.subject_kind == "evidence"
    }
    entries = case.ledger()
    if not entries:
        return ""
    digest = case.cursor().execute(LEDGER_DIGEST_SQL).fetchall()[0][0]
    head = (
        f'<p>Ledger digest (SHA-256 over every file\'s "SHA-256, a space, path" line, in ledger '
        f'order): <span class="hash">{escape(str(digest))}</span><br><span class="muted small">'
        f"Recomputed from the case with: <tt>{escape(LEDGER_DIGEST_SQL)}</tt></span></p>"
    )
    if len(entries) <= MAX_FILES_LISTED:
        return head + _files_table([_file_row(e, status.get(e["evidence_id"]), t) for e in entries], table)
    return head + _by_folder(entries, status, table, t)


def _by_folder(
    entries: list[dict[str, Any]], status: dict[int | None, Finding], table: Table, t: Cell
) -> str:
    folders: dict[str, _Folder] = {}
    attention = []
    for e in entries:
        f = status.get(e["evidence_id"])
        check = "not checked" if f is None else ("passed" if f.passed else f.status)
        path = short_path(e)
        folder = folders.setdefault(path.rsplit("/", 1)[0] if "/" in path else ".", _Folder())
        folder.files += 1
        folder.size += int(e["size_bytes"] or 0)
        folder.seen += int(e["records_seen"] or 0)
        folder.kept += int(e["records_kept"] or 0)
        folder.rejected += int(e["records_rejected"] or 0)
        folder.duplicate += int(e["records_duplicate"] or 0)
        folder.formats.add(str(e["format"] or e["role"]))
        folder.checks[check] = folder.checks.get(check, 0) + 1
        needs_look = e["records_rejected"] or e["records_duplicate"] or e["role"] == "unknown"
        if needs_look or (f is not None and not f.passed):
            attention.append(e)
    rows = [
        [
            t(name),
            t(fo.files),
            t(fo.size),
            f"{t(fo.seen)} / {t(fo.kept)} / {t(fo.rejected)} / {t(fo.duplicate)}",
            t(", ".join(sorted(fo.formats))),
            "<br>".join(
                f'<span class="{"ok" if c == "passed" else "bad"}">{t(n)} {escape(c)}</span>'
                for c, n in sorted(fo.checks.items())
            ),
        ]
        for name, fo in sorted(folders.items())
    ]
    shown = attention[:MAX_FILES_LISTED]
    more = len(attention) - len(shown)
    text = (
        f"<p>{t(len(entries))} files in {t(len(folders))} folders, one row per folder. Every file's "
        "path, SHA-256 and counts are in the case's <tt>evidence</tt> table (and in its ledger digest "
        "above).</p>"
        + table(
            ["folder", "files", "bytes", "seen / kept / rejected / dup", "formats", "verification"],
            rows,
            "small",
            wide=True,
            widths=[46, 7, 10, 17, 10, 10],
        )
        + f"<p>Files that need a look (records rejected or dropped as duplicates, a failed "
        f"verification, an unknown format): {t(len(attention))}"
        + (f", the first {t(len(shown))} listed" if more else "")
        + ".</p>"
    )
    if shown:
        text += _files_table([_file_row(e, status.get(e["evidence_id"]), t) for e in shown], table)
    return text


def _files_table(rows: list[list[str]], table: Table) -> str:
    return table(
        [
            "#",
            "file as imported, SHA-256",
            "role, format",
            "bytes",
            "seen / kept / rejected / dup",
            "verification",
        ],
        rows,
        "small",
        wide=True,
        widths=[5, 52, 15, 8, 10, 10],
    )


def _file_row(e: dict[str, Any], f: Finding | None, t: Cell) -> list[str]:
    check = "not checked" if f is None else f.status
    cls = "ok" if f is not None and f.passed else "bad"
    return [
        t(e["evidence_id"]),
        f'{t(short_path(e))}<br><span class="hash">SHA-256 {t(e["sha256"])}</span>',
        f"{t(e['role'])}<br>{t(e['format'])}",
        t(e["size_bytes"]),
        f"{t(e['records_seen'])} / {t(e['records_kept'])} / {t(e['records_rejected'])} / {t(e['records_duplicate'])}",
        f'<span class="{cls}">{escape(check)}</span>',
    ]


def short_path(e: dict[str, Any]) -> str:
    """The path below the imported folder (members: archive name ! member); the ledger keeps both."""
    path, rel = str(e["path"]), e.get("rel_path")
    if "!" in path:
        archive, member = path.rsplit("!", 1)
        return f"{archive.replace(chr(92), '/').rsplit('/', 1)[-1]}!{member}"
    return str(rel or path)
