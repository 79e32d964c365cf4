"""Times past what Python's datetime holds (years 1 to 9999) are no valid times.

DuckDB parses year 10000 and years BC, and hands such values to Python as text: one record
holding one made the window fail on the whole case (its time span, the timeline, every page:
"could not convert string to float"). Such a record is rejected with its position, like any
record without a valid time; an end or receive time out of range is left empty.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

from tests.support.import_evidence import timed_trail
from viewer.core.case_file import CaseFile
from viewer.core.ingest import FileResult, import_paths

CLOUDTRAIL_TIMES = {
    "ok": "2024-05-01T10:00:00Z",
    "year-1": "0001-01-01T00:00:00Z",
    "year-9999": "9999-12-31T23:59:59.999999Z",
    "year-10000": "10000-01-01T00:00:00Z",
    "before-year-1": "-0001-01-01T00:00:00Z",
}


def _import(tmp_path: Path, path: Path) -> tuple[FileResult, dict[object, tuple]]:
    with CaseFile.create(tmp_path / "case.caseline") as case:
        [f] = import_paths(case, [path]).files
        rows = case.cursor().execute(
            "SELECT coalesce(event_uid, record_index::VARCHAR), ts, ts_end FROM events"
        )
        kept = {r[0]: (r[1], r[2]) for r in rows.fetchall()}
    assert f.reconciled
    return f, kept


def test_json_records_out_of_pythons_range_are_rejected(tmp_path: Path) -> None:
    path = timed_trail(tmp_path / "trail.json", CLOUDTRAIL_TIMES)
    f, kept = _import(tmp_path, path)
    assert (f.counts.seen, f.counts.kept, f.counts.rejected) == (5, 3, 2)
    assert kept["year-1"][0] == dt.datetime(1, 1, 1, tzinfo=dt.UTC)
    assert kept["year-9999"][0] == dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC)
    assert set(kept) == {"ok", "year-1", "year-9999"}
    assert [w.split(":")[0] for w in f.warnings] == ["record 3", "record 4"]


def test_an_end_time_out_of_range_is_left_empty_and_the_record_kept(tmp_path: Path) -> None:
    sample = Path(__file__).resolve().parents[1] / "data" / "formats" / "k8s_audit" / "audit.log"
    record = json.loads(sample.read_text().splitlines()[0])
    record["stageTimestamp"] = "10000-01-01T00:00:00Z"
    path = tmp_path / "audit.log"
    path.write_text(json.dumps(record) + "\n")
    f, kept = _import(tmp_path, path)
    assert (f.counts.seen, f.counts.kept) == (1, 1)
    [(ts, ts_end)] = kept.values()
    assert ts == dt.datetime.fromisoformat(record["requestReceivedTimestamp"]) and ts_end is None


def test_text_lines_out_of_range_are_rejected(tmp_path: Path) -> None:
    """ALB access log lines (the text path), whose ISO times DuckDB parses to year 10000."""
    sample = Path(__file__).resolve().parents[1] / "data" / "formats" / "aws_elb"
    lines = gzip.decompress(next(sample.glob("*.log.gz")).read_bytes()).decode().splitlines()[:2]
    path = tmp_path / "alb.log"
    path.write_text(
        lines[0] + "\n" + lines[1].replace(" 2024-05-01T10:13:05.500000Z ", " 10000-05-01T10:13:05Z ") + "\n"
    )
    f, kept = _import(tmp_path, path)
    assert (f.counts.seen, f.counts.kept, f.counts.rejected) == (2, 1, 1)
    assert [ts for ts, _ in kept.values()] == [dt.datetime(2024, 5, 1, 10, 12, 23, 123456, tzinfo=dt.UTC)]
