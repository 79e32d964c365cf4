"""Damaged and odd inputs for the GCP, Kubernetes, OTLP and ECS formats.

Each damaged record is a counted warning with its position; the good records around it import.
Inputs are built from the format samples (tests/data/formats), so they stay realistic.
"""

from __future__ import annotations

import copy
import gzip
import json
from pathlib import Path

import pytest

from viewer.core.case_file import CaseFile
from viewer.core.ingest import FileResult, import_paths

DATA = Path(__file__).resolve().parents[1] / "data" / "formats"


def _lines(name: str, file: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / name / file).read_text().splitlines() if line.strip()]


AUDIT_ARRAY = json.loads((DATA / "gcp_audit" / "audit.json").read_text())
AUDIT_LINES = _lines("gcp_audit_jsonl", "10_00_00_10_59_59_S0.json")
FLOW_LINES = _lines("gcp_vpc_flow", "10_00_00_10_59_59_S0.json")
K8S_LINES = _lines("k8s_audit", "audit.log")
OTLP_LINES = _lines("otel_logs", "logs.json")
ECS_LINES = _lines("ecs_json", "app-ecs.ndjson")


def _jsonl(records: list) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def _import(tmp_path: Path, name: str, data: bytes) -> tuple[FileResult, list[tuple]]:
    """Import one file; its result and (position, position_kind, reason) of each stored warning."""
    path = tmp_path / name
    path.write_bytes(data)
    with CaseFile.create(tmp_path / "c.caseline") as case:
        report = import_paths(case, [path])
        [f] = report.files
        assert f.reconciled
        assert case.summary().events == f.counts.kept
        warnings = (
            case.cursor()
            .execute("SELECT position, position_kind, reason FROM import_warnings ORDER BY position")
            .fetchall()
        )
    return f, warnings


def test_truncated_gcloud_array_keeps_the_whole_entries(tmp_path: Path) -> None:
    text = json.dumps(AUDIT_ARRAY, indent=2)
    cut = text[: text.index('"insertId": "1a2b3c4d5e6f"') + 40]  # inside the third entry
    f, warnings = _import(tmp_path, "audit.json", cut.encode())
    assert f.format == "gcp_audit"
    assert f.counts.kept == 2
    assert any(pos == 2 and kind == "record" for pos, kind, _ in warnings)


def test_truncated_gzip_of_a_gcloud_array_keeps_what_decompressed(tmp_path: Path) -> None:
    entries = [copy.deepcopy(AUDIT_ARRAY[0]) for _ in range(400)]
    for i, e in enumerate(entries):
        e["insertId"] = f"gz-{i:04d}"
    blob = gzip.compress(json.dumps(entries, indent=2).encode(), mtime=0)
    f, warnings = _import(tmp_path, "audit.json.gz", blob[: len(blob) * 2 // 3])
    assert f.format == "gcp_audit"
    assert 0 < f.counts.kept < 400
    assert any("truncated" in reason for _, _, reason in warnings)


def test_gcp_entry_without_timestamp_is_rejected_with_its_line(tmp_path: Path) -> None:
    lines = copy.deepcopy(AUDIT_LINES)
    del lines[1]["timestamp"]
    lines[3]["timestamp"] = 12345  # a number, not RFC 3339
    f, warnings = _import(tmp_path, "audit.jsonl", _jsonl(lines).encode())
    assert (f.counts.kept, f.counts.rejected) == (3, 2)
    assert [(p, k) for p, k, r in warnings if "no valid timestamp" in r] == [(2, "line"), (4, "line")]


def test_wrong_types_and_unknown_fields_keep_the_record(tmp_path: Path) -> None:
    lines = copy.deepcopy(AUDIT_LINES)
    lines[0]["protoPayload"]["status"] = {"code": "seven"}
    lines[0]["protoPayload"]["requestMetadata"]["callerIp"] = ["203.0.113.7"]
    lines[0]["newTopLevelField"] = {"added": "2025"}
    f, warnings = _import(tmp_path, "audit.jsonl", _jsonl(lines).encode())
    assert (f.counts.kept, f.counts.rejected, warnings) == (5, 0, [])


def test_flow_counters_of_the_wrong_type_are_null_not_a_failure(tmp_path: Path) -> None:
    lines = copy.deepcopy(FLOW_LINES)
    lines[0]["jsonPayload"]["bytes_sent"] = "lots"
    lines[0]["jsonPayload"]["connection"]["src_port"] = {"port": 1}
    path = tmp_path / "flows.jsonl"
    path.write_text(_jsonl(lines))
    with CaseFile.create(tmp_path / "c.caseline") as case:
        [f] = import_paths(case, [path]).files
        assert (f.counts.kept, f.warnings) == (4, [])
        row = (
            case.cursor()
            .execute("SELECT bytes, src_port, packets FROM events WHERE event_uid = '1ab2cd3ef4gh5'")
            .fetchall()
        )
    assert row == [(None, None, 31)]


@pytest.mark.parametrize("name", ["gcp_audit_jsonl", "k8s_audit", "ecs_json"])
def test_crlf_and_bom_change_nothing(tmp_path: Path, name: str) -> None:
    [sample] = [p for p in (DATA / name).iterdir() if p.name != "expected.json"]
    text = sample.read_text()
    data = b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode()
    f, warnings = _import(tmp_path, "converted.log", data)
    assert f.format == name
    assert (f.counts.kept, warnings) == (len(text.splitlines()), [])


def test_bom_before_a_gcloud_array(tmp_path: Path) -> None:
    data = b"\xef\xbb\xbf" + json.dumps(AUDIT_ARRAY, indent=2).encode()
    f, warnings = _import(tmp_path, "audit.json", data)
    assert (f.format, f.counts.kept, warnings) == ("gcp_audit", 3, [])


def test_k8s_stages_are_distinct_events_and_broken_lines_are_warnings(tmp_path: Path) -> None:
    lines = [json.dumps(r) for r in K8S_LINES]
    lines.insert(2, lines[1])  # the same record twice: a duplicate, not a new event
    lines.insert(3, '{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"cut-he')
    lines.insert(4, "[1, 2, 3]")
    path = tmp_path / "audit.log"
    path.write_text("\n".join(lines) + "\n")
    with CaseFile.create(tmp_path / "c.caseline") as case:
        [f] = import_paths(case, [path]).files
        c = f.counts
        assert (c.seen, c.kept, c.rejected, c.duplicate) == (7, 4, 2, 1)
        warnings = case.cursor().execute("SELECT position, reason FROM import_warnings ORDER BY 1").fetchall()
        assert [p for p, _ in warnings] == [4, 5]
        assert "invalid JSON" in warnings[0][1] and "not a JSON object" in warnings[1][1]
        stages = (
            case.cursor()
            .execute(
                "SELECT event_uid, uid_conflict FROM events WHERE correlation_id = ? ORDER BY 1",
                ["5f3c1b2a-0000-4000-8000-000000000001"],
            )
            .fetchall()
        )
    assert stages == [
        ("5f3c1b2a-0000-4000-8000-000000000001/RequestReceived", False),
        ("5f3c1b2a-0000-4000-8000-000000000001/ResponseComplete", False),
    ]


def test_k8s_event_without_times_is_rejected(tmp_path: Path) -> None:
    lines = copy.deepcopy(K8S_LINES)
    del lines[3]["requestReceivedTimestamp"]
    lines[3]["stageTimestamp"] = "yesterday"
    f, warnings = _import(tmp_path, "audit.log", _jsonl(lines).encode())
    assert (f.counts.kept, f.counts.rejected) == (3, 1)
    assert [(p, k) for p, k, _ in warnings] == [(4, "line")]


def test_aks_record_whose_log_is_not_json_is_rejected_and_the_rest_kept(tmp_path: Path) -> None:
    doc = json.loads((DATA / "k8s_audit_aks" / "PT1H.json").read_text())
    doc["records"][0]["properties"]["log"] = doc["records"][0]["properties"]["log"][:50]
    f, warnings = _import(tmp_path, "PT1H.json", json.dumps(doc).encode())
    assert (f.format, f.counts.kept, f.counts.rejected) == ("k8s_audit_aks", 1, 1)
    assert [(p, k) for p, k, _ in warnings] == [(0, "record")]


def test_aks_records_one_per_line(tmp_path: Path) -> None:
    doc = json.loads((DATA / "k8s_audit_aks" / "PT1H.json").read_text())
    f, warnings = _import(tmp_path, "PT1H.json", _jsonl(doc["records"]).encode())
    assert (f.format, f.counts.kept, warnings) == ("k8s_audit_aks", 2, [])


def test_otlp_bad_request_line_and_record_without_time(tmp_path: Path) -> None:
    good, second = copy.deepcopy(OTLP_LINES)
    record = second["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]
    del record["observedTimeUnixNano"]  # timeUnixNano is "0": no time at all
    text = json.dumps(good) + "\n" + '{"resourceLogs": [{"resource"\n' + json.dumps(second) + "\n"
    f, warnings = _import(tmp_path, "logs.json", text.encode())
    assert f.format == "otel_logs"
    assert (f.counts.kept, f.counts.rejected) == (2, 2)
    reasons = [r for _, _, r in warnings]
    assert any("invalid JSON" in r for r in reasons)
    assert any("neither timeUnixNano nor observedTimeUnixNano" in r for r in reasons)


def test_otlp_attributes_are_found_past_odd_entries(tmp_path: Path) -> None:
    """Entries without a key or a value, or that are not objects at all, shift nothing: each
    attribute is the first entry with its key, and an attribute not there is NULL."""
    request = copy.deepcopy(OTLP_LINES[0])
    record = request["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]
    record["attributes"] = [
        {"value": {"stringValue": "no key"}},
        {"key": "client.port"},
        7,
        {"key": "enduser.id", "value": {"stringValue": "alice@example.com"}},
        {"key": "client.address", "value": {"stringValue": "203.0.113.9"}},
        {"key": "enduser.id", "value": {"stringValue": "second entry, not read"}},
        {"key": "exception.type", "value": {"intValue": "5"}},
    ]
    request["resourceLogs"][0]["resource"]["attributes"] = [
        {"key": "cloud.region", "value": {"stringValue": "eu-west-1"}},
        {"key": "service.name", "value": {"stringValue": "checkout-api"}},
    ]
    path = tmp_path / "logs.json"
    path.write_text(_jsonl([request]))
    with CaseFile.create(tmp_path / "c.caseline") as case:
        import_paths(case, [path])
        rows = (
            case.cursor()
            .execute(
                "SELECT principal_id, src_ip, src_port, error_code, service, region, cloud_account "
                "FROM events ORDER BY record_index LIMIT 1"
            )
            .fetchall()
        )
    # error_code reads the string value: an intValue under that key is not one.
    assert rows == [("alice@example.com", "203.0.113.9", None, None, "checkout-api", "eu-west-1", None)]


def test_otlp_time_falls_back_to_observed_time(tmp_path: Path) -> None:
    path = tmp_path / "logs.json"
    path.write_text(_jsonl(OTLP_LINES[1:]))
    with CaseFile.create(tmp_path / "c.caseline") as case:
        [f] = import_paths(case, [path]).files
        rows = (
            case.cursor().execute("SELECT ts, service, error_code, severity_id, raw FROM events").fetchall()
        )
    assert f.counts.kept == 1
    [(ts, service, error_code, severity_id, raw)] = rows
    assert ts.isoformat() == "2024-05-01T10:32:00+00:00"
    assert (service, error_code, severity_id) == ("batch-worker", "OSError", 6)
    # The raw record is a one-record OTLP request that still names its resource and scope.
    raw = json.loads(raw)
    assert raw["resourceLogs"][0]["scopeLogs"][0]["scope"] == {"name": "worker.main"}


def test_ecs_lines_without_a_valid_timestamp_are_rejected(tmp_path: Path) -> None:
    lines = copy.deepcopy(ECS_LINES)
    lines[1]["@timestamp"] = "not a time"
    f, warnings = _import(tmp_path, "app.ndjson", _jsonl(lines).encode())
    assert (f.counts.kept, f.counts.rejected) == (2, 1)
    assert [(p, k) for p, k, _ in warnings] == [(2, "line")]


def test_first_records_longer_than_the_sniffed_head_are_still_recognised(tmp_path: Path) -> None:
    big_event = copy.deepcopy(K8S_LINES[1])
    big_event["requestObject"] = {"data": {"blob": "x" * 200_000}}  # a RequestResponse-level event
    big_entry = copy.deepcopy(AUDIT_LINES[0])
    big_entry["protoPayload"]["response"]["padding"] = "y" * 200_000
    cases = [
        ("audit.log", "k8s_audit", [big_event, *K8S_LINES]),
        ("sink.json", "gcp_audit_jsonl", [big_entry]),
    ]
    for name, fmt, records in cases:
        f, warnings = _import(tmp_path, name, _jsonl(records).encode())
        assert (f.format, f.counts.kept, warnings) == (fmt, len(records), [])
        (tmp_path / "c.caseline").unlink()
