"""GuardDuty, CloudWatch Logs, Route 53 Resolver and CloudTrail Insights: damaged and odd input.

Every case imports real files through the real pipeline into a real case: each damaged record is
a counted warning with its position, and the good records around it still import.
"""

from __future__ import annotations

import copy
import gzip
import json
from pathlib import Path

import pytest

from viewer.core.case_file import CaseFile
from viewer.core.ingest import FileResult, import_paths
from viewer.formats import aws_guardduty

DATA = Path(__file__).resolve().parents[1] / "data" / "formats"


def _jsonl(path: Path, records: list, gz: bool = False, newline: str = "\n", bom: bool = False) -> Path:
    text = "".join((r if isinstance(r, str) else json.dumps(r)) + newline for r in records)
    data = (b"\xef\xbb\xbf" if bom else b"") + text.encode()
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


def _import(tmp_path: Path, path: Path) -> tuple[FileResult, list[tuple]]:
    """Import one file; its result and the (event_uid, record_index) of the events kept."""
    with CaseFile.create(tmp_path / "case.caseline") as case:
        [f] = import_paths(case, [path]).files
        rows = (
            case.cursor().execute("SELECT event_uid, record_index FROM events ORDER BY event_id").fetchall()
        )
    assert f.reconciled
    return f, rows


def _counts(f: FileResult) -> tuple[int, int, int, int]:
    c = f.counts
    return c.seen, c.kept, c.rejected, c.duplicate


# --- GuardDuty -------------------------------------------------------------------------------


def _gd_findings() -> list[dict]:
    sample = next((DATA / "aws_guardduty_jsonl").glob("*.jsonl.gz"))
    return [json.loads(line) for line in gzip.decompress(sample.read_bytes()).decode().splitlines()]


def test_guardduty_updated_finding_is_kept_and_flagged_identical_copy_dropped(tmp_path: Path) -> None:
    tor, _probe, tor_again, tor_updated = _gd_findings()
    assert tor == tor_again and tor["id"] == tor_updated["id"] and tor != tor_updated
    with CaseFile.create(tmp_path / "case.caseline") as case:
        [f] = import_paths(case, [next((DATA / "aws_guardduty_jsonl").glob("*.gz"))]).files
        rows = (
            case.cursor()
            .execute(
                "SELECT record_index, ts_end, ingest_ts, uid_conflict FROM events WHERE event_uid = ? "
                "ORDER BY record_index",
                [tor["id"]],
            )
            .fetchall()
        )
    assert _counts(f) == (4, 3, 0, 1)
    # Line 1 and its later version on line 4 are both kept and flagged; line 3 repeated line 1.
    assert [(r[0], r[1].isoformat(), r[2].isoformat(), r[3]) for r in rows] == [
        (1, "2024-05-01T11:03:00+00:00", "2024-05-01T11:10:00+00:00", True),
        (4, "2024-05-01T16:41:19+00:00", "2024-05-01T17:10:00+00:00", True),
    ]


def test_guardduty_outbound_connection_puts_the_instance_at_the_source(tmp_path: Path) -> None:
    tor = _gd_findings()[0]
    with CaseFile.create(tmp_path / "case.caseline") as case:
        import_paths(case, [_jsonl(tmp_path / "f.jsonl", [tor])])
        row = (
            case.cursor()
            .execute("SELECT src_ip, src_port, dst_ip, dst_port, protocol, severity_id FROM events")
            .fetchall()
        )
    assert row == [("10.0.2.9", 49152, "203.0.113.50", 9001, "tcp", 4)]


@pytest.mark.parametrize(
    ("severity", "severity_id"),
    [(1.0, 2), (3.9, 2), (4.0, 3), (6.9, 3), (7.0, 4), (8.9, 4), (9.0, 5), (10.0, 5), ("high", 0)],
)
def test_guardduty_severity_buckets_follow_the_documented_levels(
    tmp_path: Path, severity: object, severity_id: int
) -> None:
    finding = _gd_findings()[1]
    finding["severity"] = severity
    with CaseFile.create(tmp_path / "case.caseline") as case:
        import_paths(case, [_jsonl(tmp_path / "f.jsonl", [finding])])
        assert case.cursor().execute("SELECT severity_id FROM events").fetchall() == [(severity_id,)]


def test_guardduty_lines_missing_time_wrong_types_unknown_fields_and_junk(tmp_path: Path) -> None:
    tor, probe, _, _ = _gd_findings()
    no_time = copy.deepcopy(probe)
    no_time["id"] = "0000000000000000000000000000dead"
    del no_time["service"]["eventFirstSeen"]
    no_time["createdAt"] = "not a time"
    wrong_types = copy.deepcopy(probe)
    wrong_types["id"] = "0000000000000000000000000000beef"
    wrong_types["service"]["action"]["portProbeAction"]["portProbeDetails"][0]["localPortDetails"]["port"] = (
        "rdp"
    )
    wrong_types["resource"] = "not an object"
    unknown = copy.deepcopy(tor)
    unknown["id"] = "0000000000000000000000000000cafe"
    unknown["someFutureField"] = {"nested": [1, 2]}
    path = _jsonl(
        tmp_path / "f.jsonl.gz",
        [tor, no_time, '{"schemaVersion": "2.0", "id": "cut', wrong_types, unknown],
        gz=True,
    )
    f, rows = _import(tmp_path, path)
    assert _counts(f) == (5, 3, 2, 0)
    assert rows == [(tor["id"], 1), (wrong_types["id"], 4), (unknown["id"], 5)]
    assert any(w.startswith("line 2: finding has no valid") for w in f.warnings)
    assert any(w.startswith("line 3: invalid JSON") for w in f.warnings)


def test_guardduty_crlf_and_bom_lines(tmp_path: Path) -> None:
    tor, probe, _, _ = _gd_findings()
    f, rows = _import(tmp_path, _jsonl(tmp_path / "f.jsonl", [tor, probe], newline="\r\n", bom=True))
    assert _counts(f) == (2, 2, 0, 0)
    assert rows == [(tor["id"], 1), (probe["id"], 2)]


def test_guardduty_truncated_get_findings_keeps_the_whole_findings(tmp_path: Path) -> None:
    text = next((DATA / "aws_guardduty_get_findings").glob("*.json")).read_text()
    cut = text[: text.index('"Id": "0c1d2e3f') + 20]  # inside the second finding
    path = tmp_path / "findings.json.gz"
    path.write_bytes(gzip.compress(cut.encode(), mtime=0))
    f, rows = _import(tmp_path, path)
    assert f.format == "aws_guardduty_get_findings"
    assert _counts(f) == (2, 1, 1, 0)  # the cut finding is a counted loss
    assert [r[0] for r in rows] == ["a1b2c3d4e5f60718293a4b5c6d7e8f90"]
    assert any(w.startswith("record 1: invalid JSON") for w in f.warnings)


def test_guardduty_truncated_gzip_keeps_the_lines_before_the_cut(tmp_path: Path) -> None:
    tor, probe, _, _ = _gd_findings()
    whole = gzip.compress(("".join(json.dumps(r) + "\n" for r in [tor, probe] * 50)).encode(), mtime=0)
    path = tmp_path / "f.jsonl.gz"
    path.write_bytes(whole[: len(whole) * 2 // 3])
    f, _ = _import(tmp_path, path)
    assert f.format == "aws_guardduty_jsonl"
    assert 0 < f.counts.kept < 100
    assert any("gzip stream is truncated" in w for w in f.warnings)


def _botocore_shape(model, shape_name: str, path: str, by_wire_name: bool):
    shape = model.shape_for(shape_name)
    for seg in path.split("."):
        name, _, index = seg.partition("[")
        members = shape.members
        if by_wire_name:
            members = {m.serialization.get("name", k): m for k, m in members.items()}
        shape = members[name]
        if index:
            shape = shape.member
    return shape


def test_guardduty_paths_exist_in_the_api_model_in_both_spellings() -> None:
    botocore_session = pytest.importorskip("botocore.session")
    model = botocore_session.get_session().get_service_model("guardduty")
    for path in aws_guardduty.FINDING_PATHS.values():
        _botocore_shape(model, "Finding", path, by_wire_name=True)
    for path in aws_guardduty.PASCAL_MAPPING.paths.values():
        _botocore_shape(model, "Finding", path.removeprefix("$."), by_wire_name=False)


# --- Route 53 Resolver ----------------------------------------------------------------------


def _r53_records() -> list[dict]:
    sample = next((DATA / "aws_route53_resolver").glob("*.log.gz"))
    return [json.loads(line) for line in gzip.decompress(sample.read_bytes()).decode().splitlines()]


def test_route53_bad_lines_are_counted_and_the_rest_import(tmp_path: Path) -> None:
    ok, blocked, endpoint = _r53_records()
    no_time = dict(ok, query_timestamp="2024-13-45T99:00:00Z")
    wrong_types = dict(
        ok, srcport="not-a-port", srcids=["i-0abcdef1234567890"], query_name="typed.example.com."
    )
    unknown = dict(endpoint, resolver_network_interface="rni-0123456789abcdef0", version="1.200000")
    lines = [ok, no_time, "{truncated", wrong_types, unknown, ok, "[1, 2]"]
    f, rows = _import(tmp_path, _jsonl(tmp_path / "q.log.gz", lines, gz=True, newline="\r\n", bom=True))
    assert f.format == "aws_route53_resolver"
    assert _counts(f) == (7, 3, 3, 1)  # line 6 repeats line 1
    assert [r[1] for r in rows] == [1, 4, 5]
    assert any(w.startswith("line 2: query has no valid query_timestamp") for w in f.warnings)
    assert any(w.startswith("line 3: invalid JSON") for w in f.warnings)
    assert any(w.startswith("line 7: record is not a JSON object") for w in f.warnings)


def test_route53_wrong_types_null_only_their_columns(tmp_path: Path) -> None:
    ok = _r53_records()[0]
    wrong = dict(ok, srcport="not-a-port", srcids=["i-0abcdef1234567890"], query_name="typed.example.com.")
    with CaseFile.create(tmp_path / "case.caseline") as case:
        import_paths(case, [_jsonl(tmp_path / "q.log", [wrong])])
        rows = (
            case.cursor().execute("SELECT src_port, principal_id, target_id, src_ip FROM events").fetchall()
        )
    assert rows == [(None, None, "typed.example.com", "10.0.1.5")]


# --- CloudTrail Insights ----------------------------------------------------------------------


def _insight_records() -> list[dict]:
    sample = next((DATA / "aws_cloudtrail_insights").glob("*.json.gz"))
    return json.loads(gzip.decompress(sample.read_bytes()))["Records"]


def test_insights_bad_records_are_counted_and_the_rest_import(tmp_path: Path) -> None:
    start, err, end = _insight_records()
    no_time = dict(err, eventID="5f4e3d2c-0000-4000-8000-0000000000ff", eventTime=None)
    wrong_types = dict(
        end, eventID="5f4e3d2c-0000-4000-8000-0000000000ee", insightDetails=["End"], extra={"x": 1}
    )
    path = tmp_path / "insights.json"
    path.write_bytes(
        b"\xef\xbb\xbf"
        + json.dumps({"Records": [start, no_time, wrong_types]}, indent=1).replace("\n", "\r\n").encode()
    )
    f, rows = _import(tmp_path, path)
    assert f.format == "aws_cloudtrail_insights"
    assert _counts(f) == (3, 2, 1, 0)
    assert [r[1] for r in rows] == [0, 2]
    assert any(w.startswith("record 1: Insights event has no valid eventTime") for w in f.warnings)
    with CaseFile.create(tmp_path / "again.caseline") as case:
        import_paths(case, [path])
        got = (
            case.cursor().execute("SELECT action, event_class FROM events WHERE record_index = 2").fetchall()
        )
    assert got == [(None, "Insight unknown state")]


def test_insights_truncated_file_keeps_the_records_before_the_cut(tmp_path: Path) -> None:
    text = json.dumps({"Records": _insight_records()})
    path = tmp_path / "insights.json.gz"
    path.write_bytes(
        gzip.compress(
            text[: text.index('"eventID": "5f4e3d2c-0000-4000-8000-0000000000a2"')].encode(), mtime=0
        )
    )
    f, rows = _import(tmp_path, path)
    assert f.format == "aws_cloudtrail_insights"
    assert [r[0] for r in rows] == [
        "5f4e3d2c-0000-4000-8000-0000000000a1",
        "5f4e3d2c-0000-4000-8000-0000000000b1",
    ]
    assert _counts(f) == (3, 2, 1, 0)
    assert any(w.startswith("record 2: invalid JSON") for w in f.warnings)


# --- CloudWatch Logs ------------------------------------------------------------------------


def _sample_doc(name: str) -> dict:
    return json.loads(next(p for p in (DATA / name).iterdir() if p.name != "expected.json").read_text())


def _subscription(
    events: list, group: str = "/aws/lambda/billing", message_type: str = "DATA_MESSAGE"
) -> dict:
    return {
        "messageType": message_type,
        "owner": "111122223333",
        "logGroup": group,
        "logStream": "stream-1",
        "subscriptionFilters": ["f"],
        "logEvents": events,
    }


def test_cwl_subscription_control_messages_and_broken_payloads_are_counted(tmp_path: Path) -> None:
    good = [
        {"id": "1", "timestamp": 1714557900000, "message": "a"},
        {"id": "2", "timestamp": 1714557901000, "message": "b"},
    ]
    bad_time = [
        {"id": "3", "timestamp": "yesterday", "message": "c"},
        {"id": "4", "timestamp": 10**20, "message": "d"},
        {"id": "5", "message": "e"},
    ]
    control = _subscription(
        [{"id": "", "timestamp": 1714557800000, "message": "CWL CONTROL MESSAGE: Checking health"}]
    )
    control["messageType"] = "CONTROL_MESSAGE"
    lines = [
        _subscription(good),
        control,
        '{"messageType": "DATA_MESSAGE", "logEvents": [{"id": "6"',
        {"messageType": "DATA_MESSAGE", "logEvents": "not a list"},
        _subscription([*bad_time, {"id": "7", "timestamp": 1714557902000, "message": "f", "newField": True}]),
    ]
    path = _jsonl(tmp_path / "payloads.jsonl.gz", lines, gz=True, newline="\r\n", bom=True)
    f, rows = _import(tmp_path, path)
    assert f.format == "aws_cloudwatch_logs_subscription"
    # seen: 2 good + control + cut line + bad payload + 3 without a time + 1 good = 9
    assert _counts(f) == (9, 3, 6, 0)
    assert [r[0] for r in rows] == ["1", "2", "7"]
    assert any(w.startswith("line 2:") and "CONTROL_MESSAGE" in w for w in f.warnings)
    assert any(w.startswith("line 3: invalid JSON") for w in f.warnings)
    assert any(w.startswith("line 4:") and "logEvents" in w for w in f.warnings)
    assert sum("no valid timestamp" in w for w in f.warnings) == 3


def test_cwl_subscription_events_keep_the_payload_context(tmp_path: Path) -> None:
    path = _jsonl(
        tmp_path / "p.jsonl", [_subscription([{"id": "9", "timestamp": 1714557900000, "message": "x"}])]
    )
    with CaseFile.create(tmp_path / "case.caseline") as case:
        import_paths(case, [path])
        raw = case.cursor().execute("SELECT raw FROM events").fetchall()[0][0]
    assert json.loads(raw) == {
        "owner": "111122223333",
        "logGroupName": "/aws/lambda/billing",
        "logStreamName": "stream-1",
        "subscriptionFilters": ["f"],
        "id": "9",
        "timestamp": 1714557900000,
        "message": "x",
    }


def test_cloudtrail_in_cwl_non_json_messages_are_counted_and_cloudtrail_records_import(
    tmp_path: Path,
) -> None:
    payload = _sample_doc("aws_cloudtrail_cwl_subscription")
    ct2, ct1 = payload["logEvents"]
    payload["logEvents"] = [
        ct2,
        {"id": "x1", "timestamp": 1714557900000, "message": "not json at all"},
        {"id": "x2", "timestamp": 1714557900000, "message": '{"eventVersion": "1.08"}'},
        {"id": "x3", "timestamp": 1714557900000},
        ct1,
        {"id": "x5", "timestamp": 1714557900000, "message": " "},  # blank: a record all the same
    ]
    path = tmp_path / "payload.json"
    path.write_text(json.dumps(payload, indent=2))
    f, rows = _import(tmp_path, path)
    assert f.format == "aws_cloudtrail_cwl_subscription"
    assert _counts(f) == (6, 2, 4, 0)
    assert [r[1] for r in rows] == [0, 4]
    assert any(w.startswith("record 5: message is not valid JSON") for w in f.warnings)
    assert any(w.startswith("record 1: message is not valid JSON") for w in f.warnings)
    assert any(w.startswith("record 2: record has no valid eventTime") for w in f.warnings)
    assert any(w.startswith("record 3: no message in the record") for w in f.warnings)


def test_cloudtrail_from_cwl_and_from_the_trail_bucket_is_one_event(tmp_path: Path) -> None:
    payload = _sample_doc("aws_cloudtrail_cwl_subscription")
    records = [json.loads(e["message"]) for e in payload["logEvents"]]
    trail_file = tmp_path / "trail.json.gz"
    trail_file.write_bytes(gzip.compress(json.dumps({"Records": records}).encode(), mtime=0))
    cwl_file = tmp_path / "cwl.json"
    cwl_file.write_text(json.dumps(payload))
    with CaseFile.create(tmp_path / "case.caseline") as case:
        trail, cwl = import_paths(case, [trail_file, cwl_file]).files
        flagged = case.cursor().execute("SELECT count(*) FROM events WHERE uid_conflict").fetchall()
    assert (trail.format, cwl.format) == ("aws_cloudtrail", "aws_cloudtrail_cwl_subscription")
    assert _counts(trail) == (2, 2, 0, 0)
    assert _counts(cwl) == (2, 0, 0, 2)
    assert flagged == [(0,)]


def test_cwl_filter_output_with_bad_events(tmp_path: Path) -> None:
    doc = _sample_doc("aws_cloudwatch_logs_filter")
    ok1, ok2, ok3 = doc["events"]
    bad = dict(ok2, eventId="99", timestamp=None)
    typed = dict(ok3, eventId="98", ingestionTime="soon", logStreamName=["x"])
    # Only the events array: `aws logs filter-log-events --query events` and boto3 scripts.
    path = tmp_path / "events.json"
    path.write_text(json.dumps({"events": [ok1, bad, typed, ok1]}, indent=2).replace("\n", "\r\n"))
    f, rows = _import(tmp_path, path)
    assert f.format == "aws_cloudwatch_logs_filter"
    assert _counts(f) == (4, 2, 1, 1)
    assert [r[0] for r in rows] == [ok1["eventId"], "98"]
    assert any(w.startswith("record 1: log event has no valid timestamp") for w in f.warnings)


def test_cwl_filter_output_truncated(tmp_path: Path) -> None:
    text = json.dumps({"events": _sample_doc("aws_cloudwatch_logs_filter")["events"]}, indent=2)
    path = tmp_path / "events.json.gz"
    path.write_bytes(gzip.compress(text[: text.rindex('"ingestionTime"')].encode(), mtime=0))
    f, rows = _import(tmp_path, path)
    assert f.format == "aws_cloudwatch_logs_filter"
    assert _counts(f) == (3, 2, 1, 0)
    assert any(w.startswith("record 2: invalid JSON") for w in f.warnings)


def test_cwl_export_lines_without_time_crlf_bom_and_a_cut_gzip(tmp_path: Path) -> None:
    good = [f"2024-05-01T10:05:{s:02d}.000Z message number {s} from 192.0.2.{s}" for s in range(1, 41)]
    lines = [good[0], "continuation of a multi-line message", "2024-13-01T99:00:00.000Z bad time", *good[1:]]
    data = gzip.compress(("\ufeff" + "\r\n".join(lines) + "\r\n").encode(), mtime=0)
    whole = tmp_path / "000000.gz"
    whole.write_bytes(data)
    f, rows = _import(tmp_path, whole)
    assert f.format == "aws_cloudwatch_logs_export"
    assert _counts(f) == (42, 40, 2, 0)
    assert [r[1] for r in rows][:2] == [1, 4]
    assert any(w.startswith("line 2:") for w in f.warnings)
    assert any(w.startswith("line 3:") for w in f.warnings)
    with CaseFile.create(tmp_path / "again.caseline") as case:
        import_paths(case, [whole])
        line = case.cursor().execute("SELECT raw->>'$.line' FROM events WHERE record_index = 1").fetchall()
    assert line == [(good[0],)]
    cut = tmp_path / "cut" / "000001.gz"
    cut.parent.mkdir()
    cut.write_bytes(data[: len(data) // 2])
    with CaseFile.create(tmp_path / "cut.caseline") as case:
        [f] = import_paths(case, [cut]).files
    assert f.reconciled and 0 < f.counts.kept < 40
    assert any("gzip stream is truncated" in w for w in f.warnings)
