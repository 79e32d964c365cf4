"""Azure Activity, Entra ID and Microsoft 365 audit: damaged input is counted and located, the rest imports.

Also checks what the shared sample test cannot: the values of resource-log records, which have
no natural id (so no event_uid to look them up by), and that Azure's seven-digit fractional
seconds with `Z` or an offset, and M365's zone-less `CreationTime`, land in UTC.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path
from typing import Any

from viewer.core.case_file import CaseFile
from viewer.core.ingest import FileResult, import_paths

DATA = Path(__file__).resolve().parents[1] / "data" / "formats"
UTC = dt.UTC


def _import(tmp_path: Path, path: Path) -> tuple[FileResult, list[tuple[Any, ...]], CaseFile]:
    case = CaseFile.create(tmp_path / "c.caseline")
    report = import_paths(case, [path])
    [f] = report.files
    assert f.reconciled
    warnings = case.cursor().execute("SELECT position, position_kind, reason FROM import_warnings").fetchall()
    return f, warnings, case


def _column(case: CaseFile, column: str) -> list[Any]:
    return [r[0] for r in case.cursor().execute(f"SELECT {column} FROM events ORDER BY event_id").fetchall()]


def test_truncated_activity_array_keeps_the_complete_events(tmp_path: Path) -> None:
    text = (DATA / "azure_activity_array" / "az-monitor-activity-log-list.json").read_text()
    cut = text[: text.index('"eventDataId": "eeee4e4e')]  # inside the second event
    path = tmp_path / "activity.json"
    path.write_text(cut)
    f, warnings, case = _import(tmp_path, path)
    with case:
        assert f.format == "azure_activity_array"
        assert f.counts.kept == 1
        assert _column(case, "event_uid") == ["dddd3d3d-ee4e-ff5f-0060-111111717171"]
        assert warnings and all(w[1] == "record" for w in warnings)
        assert any("truncated" in w[2] or "invalid JSON" in w[2] for w in warnings)


def test_truncated_gzip_of_a_graph_page_keeps_what_decompressed(tmp_path: Path) -> None:
    page = (DATA / "entra_signin" / "signIns-page-1.json").read_bytes()
    packed = gzip.compress(page)
    path = tmp_path / "signIns.json.gz"
    path.write_bytes(packed[: len(packed) * 3 // 4])
    f, warnings, case = _import(tmp_path, path)
    with case:
        assert f.format == "entra_signin"
        assert 1 <= f.counts.kept < 3
        assert any(w[1] == "byte" and "gzip" in w[2] for w in warnings)
        assert "66666666-aaaa-4bbb-8ccc-000000000001" in _column(case, "event_uid")


def test_audit_line_without_time_is_rejected_with_its_line(tmp_path: Path) -> None:
    lines = (DATA / "entra_audit_jsonl" / "PT1H.json").read_text().splitlines()
    second = json.loads(lines[1])
    del second["time"], second["properties"]["activityDateTime"]
    path = tmp_path / "PT1H.json"
    path.write_text(lines[0] + "\n" + json.dumps(second) + "\n")
    f, warnings, case = _import(tmp_path, path)
    with case:
        assert f.format == "entra_audit_jsonl"
        assert (f.counts.seen, f.counts.kept, f.counts.rejected) == (2, 1, 1)
        assert [(w[0], w[1]) for w in warnings] == [(2, "line")]
        assert "activityDateTime" in warnings[0][2]


def test_wrong_types_and_unknown_fields_in_ual_records(tmp_path: Path) -> None:
    good = json.loads((DATA / "m365_audit_jsonl" / "ual.jsonl").read_text().splitlines()[0])
    odd_types = dict(
        good,
        Id="odd-types",
        UserType={"unexpected": True},
        ClientIP=["198.51.100.1"],
        ResultStatus=7,
        NewFieldFromTheFuture={"nested": [1, 2]},
    )
    numeric_time = dict(good, Id="numeric-time", CreationTime=1715925966)
    bad_time = dict(good, Id="bad-time", CreationTime="yesterday")
    path = tmp_path / "ual.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in (odd_types, numeric_time, bad_time)))
    f, warnings, case = _import(tmp_path, path)
    with case:
        assert f.format == "m365_audit_jsonl"
        assert (f.counts.seen, f.counts.kept, f.counts.rejected) == (3, 1, 2)
        assert sorted(w[0] for w in warnings) == [2, 3]
        row = case.cursor().execute("SELECT event_uid, outcome, src_ip, raw FROM events").fetchall()
        [(uid, outcome, src_ip, raw)] = row
        assert (uid, outcome) == ("odd-types", "unknown")
        # An array is no address: the next field that has one (ActorIpAddress) is used instead.
        assert src_ip == "2001:db8::99"
        assert json.loads(raw)["NewFieldFromTheFuture"] == {"nested": [1, 2]}


def test_signin_csv_with_bom_and_crlf(tmp_path: Path) -> None:
    text = (DATA / "entra_signin_csv" / "InteractiveSignIns_2024-05-10_2024-05-11.csv").read_text()
    path = tmp_path / "signins.csv"
    path.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    f, warnings, case = _import(tmp_path, path)
    with case:
        assert f.format == "entra_signin_csv"
        assert (f.counts.kept, warnings) == (2, [])
        assert _column(case, "correlation_id") == [
            "77777777-bbbb-4ccc-8ddd-000000000041",
            "77777777-bbbb-4ccc-8ddd-000000000042",
        ]


def test_ual_csv_row_with_broken_audit_data_is_a_warning(tmp_path: Path) -> None:
    lines = (DATA / "m365_audit_csv" / "ual_export.csv").read_text().splitlines()
    broken = lines[2].replace('"{""CreationTime""', '"{""CreationTime"" oops')
    path = tmp_path / "ual.csv"
    path.write_text("\r\n".join([lines[0], lines[1], broken, lines[3]]) + "\r\n")
    f, warnings, case = _import(tmp_path, path)
    with case:
        assert f.format == "m365_audit_csv"
        assert (f.counts.seen, f.counts.kept, f.counts.rejected) == (3, 2, 1)
        assert [(w[0], w[1]) for w in warnings] == [(3, "line")]
        assert "invalid JSON" in warnings[0][2]


def test_activity_lines_mixing_both_schemas_and_a_broken_line(tmp_path: Path) -> None:
    storage = (DATA / "azure_activity_jsonl" / "PT1H.json").read_text().splitlines()
    page = json.loads((DATA / "azure_activity" / "activity-log-page.json").read_text())
    rest = json.dumps(page["value"][0])
    path = tmp_path / "mixed.json"
    path.write_text(
        "\n".join([storage[0], rest, '{"time": "2024-05-04T06:00:05Z", "resou', storage[1]]) + "\n"
    )
    f, warnings, case = _import(tmp_path, path)
    with case:
        assert f.format == "azure_activity_jsonl"
        assert (f.counts.seen, f.counts.kept, f.counts.rejected) == (4, 3, 1)
        assert [(w[0], w[1]) for w in warnings] == [(3, "line")]
        assert _column(case, "action") == [
            "MICROSOFT.COMPUTE/VIRTUALMACHINES/RUNCOMMAND/ACTION",
            "Microsoft.Network/networkSecurityGroups/write",
            "MICROSOFT.COMPUTE/VIRTUALMACHINES/RUNCOMMAND/ACTION",
        ]


def test_resource_log_records_map_without_a_natural_id(tmp_path: Path) -> None:
    f, _, case = _import(tmp_path, DATA / "azure_activity_records" / "activity-eventhub-capture.json")
    with case:
        cols = "event_uid, ts, log_name, action, outcome, error_code, error_message, principal_type, principal_id, principal_name, credential_id, src_ip, cloud_account, severity_id"
        rows = case.cursor().execute(f"SELECT {cols} FROM events ORDER BY record_index").fetchall()
        start, failed = rows
        # Worked out from the sample: a Start record, then its failure 0.45 s later.
        assert start == (
            None,
            dt.datetime(2024, 5, 3, 14, 20, 11, tzinfo=UTC),
            "Administrative",
            "MICROSOFT.STORAGE/STORAGEACCOUNTS/LISTKEYS/ACTION",
            "unknown",
            None,
            None,
            "User",
            "c0c0c0c0-0000-4000-8000-00000000c0c0",
            "carol@contoso.example",
            "EXAMPLEuti0000000000DD",
            "198.51.100.20",
            "33333333-4444-5555-6666-777777777777",
            1,
        )
        assert failed[1] == dt.datetime(2024, 5, 3, 14, 20, 11, 452133, tzinfo=UTC)
        assert failed[4:7] == (
            "failure",
            "Failed.Forbidden",
            "The client does not have authorization to perform action.",
        )
        assert failed[-1] == 4


def test_azure_seven_digit_times_with_zone_or_offset_and_zoneless_ual_time_are_utc(tmp_path: Path) -> None:
    event = json.loads((DATA / "azure_activity_array" / "az-monitor-activity-log-list.json").read_text())[0]
    times = [
        "2024-05-02T08:15:42.5550001Z",
        "2024-05-02T10:15:42.5550001+02:00",
        "2024-05-02T03:15:42.5550001-05:00",
    ]
    events = [dict(event, eventDataId=f"id-{i}", eventTimestamp=t) for i, t in enumerate(times)]
    path = tmp_path / "activity.json"
    path.write_text(json.dumps(events))
    f, _, case = _import(tmp_path, path)
    with case:
        assert f.counts.kept == 3
        assert set(_column(case, "ts")) == {dt.datetime(2024, 5, 2, 8, 15, 42, 555000, tzinfo=UTC)}
    ual = json.loads((DATA / "m365_audit_jsonl" / "ual.jsonl").read_text().splitlines()[0])
    path = tmp_path / "ual.jsonl"
    path.write_text(json.dumps(dict(ual, CreationTime="2024-05-17T23:59:59")) + "\n")
    (tmp_path / "c.caseline").unlink()
    f, _, case = _import(tmp_path, path)
    with case:
        assert _column(case, "ts") == [dt.datetime(2024, 5, 17, 23, 59, 59, tzinfo=UTC)]
