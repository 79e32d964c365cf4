"""Integrity findings: the result object of every verification, and its storage in the case.

A result is `ok` only when it checked something and every item passed: an item that could not be
checked (a missing file, a signature without a key) is a finding that did not pass, never a
silent success. Runs are stored in `integrity_runs` / `integrity_findings` when the case is
writable (an auditor's read-only session changes nothing and just gets the result back).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from viewer import __version__
from viewer.core.case_file import CaseFile, fetch_one, os_user


@dataclass(frozen=True)
class Finding:
    subject_kind: str  # evidence | case | log_file | digest | chain | keys
    subject: str  # a file path or S3 key, as the user knows it
    status: str  # unchanged | modified | missing | valid | invalid | unknown_key | gap | ...
    passed: bool
    message: str
    evidence_id: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class IntegrityResult:
    kind: str  # verify | cloudtrail_digests
    findings: list[Finding]
    params: dict[str, Any] = field(default_factory=dict)
    run_id: int | None = None  # set once stored in the case
    started_at: dt.datetime | None = None

    @property
    def ok(self) -> bool:
        """True only when something was checked and everything checked passed."""
        return bool(self.findings) and all(f.passed for f in self.findings)

    @property
    def failures(self) -> list[Finding]:
        return [f for f in self.findings if not f.passed]

    def counts(self) -> dict[str, int]:
        return dict(sorted(Counter(f"{f.subject_kind}:{f.status}" for f in self.findings).items()))

    def with_status(self, status: str, subject_kind: str | None = None) -> list[Finding]:
        return [
            f
            for f in self.findings
            if f.status == status and (subject_kind is None or f.subject_kind == subject_kind)
        ]


def store(case: CaseFile, result: IntegrityResult) -> int | None:
    """Save the run and its findings; returns the run id, or None on a read-only case."""
    if case.read_only:
        return None
    cur = case.cursor()
    with case.transaction(cur):
        row = fetch_one(cur, "SELECT coalesce(max(run_id), 0) + 1 FROM integrity_runs")
        run_id = int(row[0]) if row else 1
        cur.execute(
            "INSERT INTO integrity_runs (run_id, kind, started_at, os_user, tool_version, params, ok, summary) "
            "VALUES (?, ?, coalesce(?, now()), ?, ?, ?, ?, ?)",
            [
                run_id,
                result.kind,
                result.started_at,
                os_user(),
                __version__,
                json.dumps(result.params, default=str),
                result.ok,
                json.dumps(result.counts()),
            ],
        )
        if result.findings:
            fs = result.findings
            table = pa.table(
                {
                    "run_id": pa.array([run_id] * len(fs), type=pa.int32()),
                    "seq": pa.array(range(1, len(fs) + 1), type=pa.int32()),
                    "subject_kind": [f.subject_kind for f in fs],
                    "subject": [f.subject for f in fs],
                    "evidence_id": pa.array([f.evidence_id for f in fs], type=pa.int32()),
                    "status": [f.status for f in fs],
                    "passed": [f.passed for f in fs],
                    "message": [f.message for f in fs],
                    "detail": [json.dumps(f.detail, default=str) for f in fs],
                }
            )
            cur.register("finding_rows", table)
            try:
                cur.execute("INSERT INTO integrity_findings SELECT * FROM finding_rows")
            finally:
                cur.unregister("finding_rows")
        case.log_activity(
            "integrity_check",
            {"run_id": run_id, "kind": result.kind, "ok": result.ok, "counts": result.counts()},
            cur,
        )
    result.run_id = run_id
    return run_id


def latest(case: CaseFile, kind: str) -> IntegrityResult | None:
    """The newest stored run of `kind` with its findings, or None."""
    cur = case.cursor()
    run = fetch_one(
        cur,
        "SELECT run_id, params, started_at FROM integrity_runs WHERE kind = ? ORDER BY run_id DESC LIMIT 1",
        [kind],
    )
    if run is None:
        return None
    rows = cur.execute(
        "SELECT subject_kind, subject, status, passed, message, evidence_id, detail FROM integrity_findings "
        "WHERE run_id = ? ORDER BY seq",
        [run[0]],
    ).fetchall()
    findings = [
        Finding(r[0], r[1], r[2], bool(r[3]), r[4], r[5], json.loads(r[6]) if r[6] else {}) for r in rows
    ]
    return IntegrityResult(kind, findings, json.loads(run[1]) if run[1] else {}, int(run[0]), run[2])
