"""LookupEvents output whose CloudTrailEvent strings are cut, not objects or missing.

DuckDB's reader vouches for the envelopes only. The records it could not use inside them were
left out of the INSERT and out of every count: three events in a file, one with a cut
CloudTrailEvent, imported as seen 2 = kept 2 with nothing said. Each is now a rejection with its
position, as on the other paths.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from viewer.core.case_file import CaseFile
from viewer.core.ingest import import_paths

SAMPLE = (
    Path(__file__).resolve().parents[1] / "data" / "formats" / "aws_cloudtrail_lookup" / "lookup-events.json"
)


@pytest.mark.parametrize("shape", ["json", "json.gz", "indented"])
def test_unusable_embedded_records_are_counted_and_warned(tmp_path: Path, shape: str) -> None:
    doc = json.loads(SAMPLE.read_text())
    good = doc["Events"]
    inner = json.loads(good[0]["CloudTrailEvent"])
    broken = [
        dict(good[0], CloudTrailEvent=good[0]["CloudTrailEvent"][:40]),  # cut
        dict(good[0], CloudTrailEvent="[1, 2]"),  # not an object
        {k: v for k, v in good[0].items() if k != "CloudTrailEvent"},  # missing
        dict(good[0], CloudTrailEvent=json.dumps(inner | {"userAgent": "evil \udc80"})),  # half a character
    ]
    doc["Events"] = [broken[0], good[0], broken[1], good[1], broken[2], good[2], broken[3]]
    text = json.dumps(doc, indent=2 if shape == "indented" else None)
    path = tmp_path / ("events.json.gz" if shape == "json.gz" else "events.json")
    path.write_bytes(gzip.compress(text.encode()) if shape == "json.gz" else text.encode())
    with CaseFile.create(tmp_path / "case.caseline") as case:
        [f] = import_paths(case, [path]).files
        kept = [r[0] for r in case.cursor().execute("SELECT record_index FROM events ORDER BY 1").fetchall()]
        stored = (
            case.cursor().execute("SELECT position, reason FROM import_warnings ORDER BY position").fetchall()
        )
    assert (f.counts.seen, f.counts.kept, f.counts.rejected) == (7, 3, 4) and f.reconciled
    assert kept == [1, 3, 5]
    assert [(pos, reason.split(":")[0]) for pos, reason in stored] == [
        (0, "CloudTrailEvent is not valid JSON"),
        (2, "record is not a JSON object"),
        (4, "no CloudTrailEvent in the record"),
        (6, "CloudTrailEvent is not valid JSON"),
    ]
    assert sorted(w.split(":")[0] for w in f.warnings) == ["record 0", "record 2", "record 4", "record 6"]


def test_a_cloudtrail_message_that_is_not_json_in_filter_log_events_output(tmp_path: Path) -> None:
    """The same for CloudTrail carried in CloudWatch Logs (`aws logs filter-log-events`)."""
    sample = SAMPLE.parents[1] / "aws_cloudtrail_cwl_filter" / "cloudtrail-cwl-events.json"
    doc = json.loads(sample.read_text())
    doc["events"][1]["message"] = "not json at all"
    path = tmp_path / "events.json"
    path.write_text(json.dumps(doc))
    with CaseFile.create(tmp_path / "case.caseline") as case:
        [f] = import_paths(case, [path]).files
    assert f.format == "aws_cloudtrail_cwl_filter"
    assert (f.counts.seen, f.counts.kept, f.counts.rejected) == (2, 1, 1)
    assert [w.split(":")[0] for w in f.warnings] == [
        "record 1"
    ] and "message is not valid JSON" in f.warnings[0]
