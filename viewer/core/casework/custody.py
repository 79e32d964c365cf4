"""Chain of custody: re-hash the evidence against the ledger and check the case against itself.

`verify(case, evidence_dir)` backs `caseline verify CASE [--evidence DIR]`. Each ledger file is
reported by name as unchanged, modified or missing; a file that came out of an archive is checked
by hashing the archive (the ledger hashed the archive as imported) and, when the archive is
readable, the member inside it too, and the finding says so. The case's own consistency is checked
from the data, not trusted: events per evidence file against the ledger's kept count, and the
reconciliation seen = kept + rejected + duplicate.
"""

from __future__ import annotations

import datetime as dt
import os
import tarfile
import zipfile
from pathlib import Path

from viewer.core.case_file import CaseFile
from viewer.core.casework import findings
from viewer.core.casework.evidence_files import (
    EvidenceLocator,
    LedgerEntry,
    Location,
    ledger_entries,
    sha256_and_size,
)
from viewer.core.casework.findings import Finding, IntegrityResult
from viewer.core.jobs import JobContext


def verify(
    case: CaseFile,
    evidence_dir: str | os.PathLike[str] | None = None,
    store: bool = True,
    ctx: JobContext | None = None,
) -> IntegrityResult:
    """Re-hash every evidence file that can be found and check the case's consistency.

    The result is stored in the case when it is writable and `store` is true; `result.ok` is False
    when anything did not verify, including files that could not be found. Re-hashing a large
    case takes minutes: `ctx` reports files and bytes done and may cancel between files
    (`Cancelled`; nothing is stored then)."""
    started = dt.datetime.now(dt.UTC)
    entries = ledger_entries(case)
    locator = EvidenceLocator(entries, evidence_dir)
    items: list[Finding] = []
    archive_status: dict[int, str] = {}
    if ctx is not None:
        ctx.progress.phase = "re-hashing evidence"
        ctx.progress.files_total = len(entries)
        ctx.progress.bytes_total = sum(e.size_bytes or 0 for e in entries)
    for entry in sorted(entries, key=lambda e: (e.container_id is not None, e.evidence_id)):
        if ctx is not None:
            ctx.check()
        finding = _check_entry(entry, locator, archive_status)
        if ctx is not None:
            ctx.progress.files_done += 1
            ctx.progress.bytes_done += entry.size_bytes or 0
            ctx.report()
        if entry.role == "container":
            archive_status[entry.evidence_id] = finding.status
        items.append(finding)
    items.extend(case_consistency(case, entries))
    items.sort(key=lambda f: (f.subject_kind != "evidence", f.evidence_id or 0))
    result = IntegrityResult(
        "verify",
        items,
        {"evidence_dir": str(evidence_dir) if evidence_dir is not None else None, "case": str(case.path)},
        started_at=started,
    )
    if store:
        findings.store(case, result)
    return result


def _check_entry(entry: LedgerEntry, locator: EvidenceLocator, archive_status: dict[int, str]) -> Finding:
    loc, why = locator.locate(entry)
    name = entry.file_name
    if loc is None:
        return Finding(
            "evidence", entry.path, "missing", False, f"{name}: MISSING - {why}", entry.evidence_id
        )
    try:
        actual, size = sha256_and_size(loc)
    except (OSError, KeyError, zipfile.BadZipFile, tarfile.TarError) as exc:
        return Finding(
            "evidence",
            entry.path,
            "unreadable",
            False,
            f"{name}: cannot be read at {loc.describe()}: {exc}",
            entry.evidence_id,
            {"location": loc.describe()},
        )
    detail = {
        "location": loc.describe(),
        "expected_sha256": entry.sha256,
        "actual_sha256": actual,
        "expected_size": entry.size_bytes,
        "actual_size": size,
    }
    inside = _archive_note(entry, loc, archive_status)
    if actual == entry.sha256:
        kind = "archive" if entry.role == "container" else "file"
        return Finding(
            "evidence",
            entry.path,
            "unchanged",
            True,
            f"{name}: unchanged ({kind} SHA-256 matches the ledger{inside})",
            entry.evidence_id,
            detail,
        )
    return Finding(
        "evidence",
        entry.path,
        "modified",
        False,
        f"{name}: MODIFIED - SHA-256 {actual} (size {size:,}) where the ledger has {entry.sha256} "
        f"(size {entry.size_bytes:,}){inside}",
        entry.evidence_id,
        detail,
    )


def _archive_note(entry: LedgerEntry, loc: Location, archive_status: dict[int, str]) -> str:
    if loc.member is None or entry.container_id is None:
        return ""
    state = archive_status.get(entry.container_id, "not checked")
    return f"; read from inside archive {Path(loc.file).name}, which is {state}"


def case_consistency(case: CaseFile, entries: list[LedgerEntry]) -> list[Finding]:
    """Events per evidence file match the ledger's kept count; every file reconciles; no event
    points at evidence the ledger does not have."""
    cur = case.cursor()
    counted = dict(cur.execute("SELECT evidence_id, count(*) FROM events GROUP BY ALL").fetchall())
    out: list[Finding] = []
    mismatches = 0
    for e in entries:
        n = int(counted.get(e.evidence_id, 0))
        if n != e.records_kept:
            mismatches += 1
            out.append(
                Finding(
                    "case",
                    e.path,
                    "count_mismatch",
                    False,
                    f"{e.file_name}: the case holds {n:,} events from it, the ledger says {e.records_kept:,} kept",
                    e.evidence_id,
                    {"events": n, "ledger_kept": e.records_kept},
                )
            )
        if e.records_seen != e.records_kept + e.records_rejected + e.records_duplicate:
            mismatches += 1
            out.append(
                Finding(
                    "case",
                    e.path,
                    "unreconciled",
                    False,
                    f"{e.file_name}: seen {e.records_seen:,} != kept {e.records_kept:,} + rejected "
                    f"{e.records_rejected:,} + duplicate {e.records_duplicate:,}",
                    e.evidence_id,
                )
            )
    known = {e.evidence_id for e in entries}
    orphans = {eid: n for eid, n in counted.items() if eid not in known}
    for eid, n in sorted(orphans.items()):
        mismatches += 1
        out.append(
            Finding(
                "case",
                f"evidence #{eid}",
                "orphan_events",
                False,
                f"{n:,} events point at evidence #{eid}, which is not in the ledger",
                eid,
            )
        )
    if not mismatches:
        total = sum(counted.values())
        out.append(
            Finding(
                "case",
                str(case.path),
                "consistent",
                True,
                f"event counts match the ledger for all {len(entries):,} evidence files "
                f"({total:,} events) and every file reconciles",
                detail={"events": total, "evidence_files": len(entries)},
            )
        )
    return out
