"""Small CloudTrail evidence written on the fly, and a case's evidence tables as comparable rows:
what import tests (a cancel or failure leaves the case as before) need."""

from __future__ import annotations

import copy
import gzip
import json
from pathlib import Path

from viewer.core.case_file import CaseFile

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "formats" / "aws_cloudtrail"


def records(n: int, start: int = 0, account: str = "111122223333") -> list[dict]:
    base = json.loads(gzip.decompress(next(SAMPLE.glob("*.json.gz")).read_bytes()))["Records"][1]
    out = []
    for i in range(start, start + n):
        r = copy.deepcopy(base)
        r["eventID"] = f"00000000-0000-4000-8000-{i:012d}"
        r["eventTime"] = f"2024-05-01T{10 + i // 3600 % 10:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z"
        r["recipientAccountId"] = account
        out.append(r)
    return out


def write_gz(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(json.dumps({"Records": records}).encode(), mtime=0))
    return path


def snapshot(case: CaseFile) -> dict[str, list]:
    cur = case.cursor()
    tables = ["events", "evidence", "imports", "import_warnings", "activity_log"]
    return {
        t: cur.execute(
            f"SELECT * EXCLUDE (raw) FROM {t} ORDER BY ALL"
            if t == "events"
            else f"SELECT * FROM {t} ORDER BY ALL"
        ).fetchall()
        for t in tables
    }


def taken_back_at_next_open(path: Path, before: dict[str, list]) -> list[dict]:
    """A case an import left unfinished (killed, or its disk full): a read-only open refuses it,
    the next writable open takes the import back, leaving the case as `before` (a `snapshot`)
    but for the activity log's new entries; returns the take-backs those entries record."""
    import pytest

    from viewer.core.case_file import CaseInterruptedImportError

    with pytest.raises(CaseInterruptedImportError, match="without --read-only"):
        CaseFile.open(path, read_only=True)
    with CaseFile.open(path) as case:
        after = snapshot(case)
    log = after.pop("activity_log")
    assert {k: v for k, v in before.items() if k != "activity_log"} == after
    assert log[: len(before["activity_log"])] == before["activity_log"]
    new = log[len(before["activity_log"]) :]
    assert [row[3] for row in new] == ["unfinished_import_removed"] * len(new)
    return [json.loads(row[4]) for row in new]


def timed_trail(path: Path, times: dict[str, str]) -> Path:
    """A plain CloudTrail Records file: one small GetObject record per (eventID, eventTime)."""
    records = [
        {
            "eventVersion": "1.08",
            "eventTime": t,
            "eventSource": "s3.amazonaws.com",
            "eventName": "GetObject",
            "awsRegion": "us-east-1",
            "eventID": event_id,
        }
        for event_id, t in times.items()
    ]
    path.write_text(json.dumps({"Records": records}))
    return path
