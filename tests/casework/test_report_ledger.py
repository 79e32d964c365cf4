"""The report's ledger: every file of a small case; by folder, with the files that need a look,
beyond MAX_FILES_LISTED (a 200,000-file bucket made a 76 MB report); the digest ties it to the case."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest

from viewer.core.case_file import CaseFile
from viewer.core.casework import report, report_ledger
from viewer.core.ingest import import_paths


def _record(i: str, time: bool = True) -> dict[str, object]:
    rec: dict[str, object] = {
        "eventVersion": "1.08",
        "eventSource": "s3.amazonaws.com",
        "eventName": "GetObject",
        "awsRegion": "us-east-1",
        "eventID": f"id-{i}",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/alice"},
    }
    if time:
        rec["eventTime"] = "2024-03-12T14:00:00Z"
    return rec


@pytest.fixture
def case(tmp_path: Path) -> CaseFile:
    """Five CloudTrail files in two folders; one file has a record without a time (rejected)."""
    root = tmp_path / "evidence"
    for folder, names in {"2024/03/12": ["a", "b", "c"], "2024/03/13": ["d", "e"]}.items():
        (root / folder).mkdir(parents=True)
        for name in names:
            records = [_record(f"{name}-{i}", time=not (name == "d" and i == 0)) for i in range(4)]
            (root / folder / f"{name}.json").write_text(json.dumps({"Records": records}))
    c = CaseFile.create(tmp_path / "c.caseline")
    import_paths(c, [root])
    return c


def _digest(case: CaseFile) -> str:
    rows = case.cursor().execute("SELECT sha256, path FROM evidence ORDER BY evidence_id").fetchall()
    return hashlib.sha256("\n".join(f"{sha} {path}" for sha, path in rows).encode()).hexdigest()


def test_a_small_ledger_lists_every_file_and_its_digest(case: CaseFile) -> None:
    html = report.build_html(case)
    for e in case.ledger():
        assert e["sha256"] in html
    assert _digest(case) in html
    assert "folders, one row per folder" not in html


def test_a_large_ledger_is_summarised_by_folder_with_the_files_that_need_a_look(
    case: CaseFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(report_ledger, "MAX_FILES_LISTED", 3)
    html = report.build_html(case)
    ledger = {Path(str(e["path"])).stem: e for e in case.ledger()}
    assert "5 files in 2 folders, one row per folder" in html
    assert "2024/03/12</td><td>3</td>" in html and "2024/03/13</td><td>2</td>" in html
    assert "12 / 12 / 0 / 0" in html and "8 / 7 / 1 / 0" in html  # each folder's records
    assert (
        "Files that need a look (records rejected or dropped as duplicates, a failed verification, an unknown format): 1."
        in html
    )
    assert ledger["d"]["sha256"] in html  # the file with the rejected record, listed in full
    assert all(ledger[n]["sha256"] not in html for n in "abce")  # the others only counted
    assert _digest(case) in html


def test_report_times_have_four_digit_years() -> None:
    """strftime's %Y writes year 1 as '1'; a handed-on report writes every year in four digits."""
    assert report._t(dt.datetime(1, 1, 1, tzinfo=dt.UTC)) == "0001-01-01 00:00:00 UTC"
    assert (
        report._t(dt.datetime(2024, 5, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=2))))
        == "2024-05-01 10:00:00 UTC"
    )
