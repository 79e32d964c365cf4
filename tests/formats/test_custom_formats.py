"""Custom formats: saved as TOML in a (temporary) config folder, detected below built-in formats,
imported through the normal pipeline, and broken files reported without breaking detection."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from viewer.core.case_file import CaseFile
from viewer.core.custom_formats import (
    FLATTEN_LEVELS,
    SampleError,
    draft_format,
    preview_times,
    read_sample,
    suggest_columns,
    suggest_time_field,
)
from viewer.core.ingest import import_paths
from viewer.core.sources import read_head
from viewer.formats import custom_store, registry
from viewer.formats.custom import CustomFormat, CustomFormatError, Shape, from_toml, to_toml
from viewer.formats.timeparse import TimeFormat, TimeSpec

DATA = Path(__file__).resolve().parents[1] / "data" / "formats"
UTC = dt.UTC

VPN_CSV = (
    "Timestamp,User,Client IP,Action,Result,Port\r\n"
    "5/1/2024 10:00:00 AM,alice,192.0.2.10,login,OK,443\r\n"
    "5/1/2024 10:05:00 PM,bob,198.51.100.7,login,DENIED,not-a-port\r\n"
    "yesterday,carol,203.0.113.5,logout,ok,443\r\n"
)


@pytest.fixture(autouse=True)
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own config folder: the real one in the user's home is never touched."""
    folder = tmp_path / "config"
    monkeypatch.setenv(custom_store.CONFIG_ENV, str(folder))
    yield folder / "formats"


def vpn_format(name: str = "acme_vpn") -> CustomFormat:
    return CustomFormat(
        name=name,
        shape=Shape.CSV,
        time_field="Timestamp",
        time=TimeSpec(TimeFormat.US_DATETIME, "Europe/Berlin"),
        sniff_keys=("Timestamp", "User", "Client IP", "Action", "Result", "Port"),
        fields={
            "principal_name": "User",
            "src_ip": "Client IP",
            "action": "Action",
            "outcome": "Result",
            "dst_port": "Port",
        },
        title="ACME VPN sessions",
    )


def events(case: CaseFile, cols: str) -> list[tuple]:
    return case.cursor().execute(f"SELECT {cols} FROM events ORDER BY record_index").fetchall()


def test_config_folder_comes_from_the_environment(config_dir: Path) -> None:
    assert custom_store.formats_dir() == config_dir
    assert custom_store.save(vpn_format()) == config_dir / "acme_vpn.toml"


def test_file_round_trips_and_is_readable(config_dir: Path) -> None:
    fmt = vpn_format()
    text = to_toml(fmt)
    assert from_toml(text) == fmt
    assert 'format = "us_datetime"' in text and 'src_ip = "Client IP"' in text
    odd = CustomFormat(
        name="odd",
        shape=Shape.JSON,
        time_field='when."utc.time"',
        time=TimeSpec(TimeFormat.STRPTIME, "+05:30", "%d\\%m %Y"),
        sniff_keys=("when", 'quote"s', "ünï"),
        fields={"action": "what\tnow"},
        records_path=None,
        description='multi\nline "text"',
    )
    assert from_toml(to_toml(odd)) == odd


def test_csv_custom_format_is_saved_detected_and_imported(tmp_path: Path) -> None:
    custom_store.save(vpn_format())
    log = tmp_path / "vpn-may.csv"
    log.write_bytes(VPN_CSV.encode())
    head, _ = read_head(log)
    assert [s.name for s in registry.candidates(head)] == ["custom:acme_vpn"]
    assert "custom:acme_vpn" in registry.names()
    with CaseFile.create(tmp_path / "c.caseline") as case:
        report = import_paths(case, [log])
        [f] = report.files
        assert f.format == "custom:acme_vpn"
        c = f.counts
        assert (c.seen, c.kept, c.rejected, c.duplicate) == (3, 2, 1, 0)
        assert f.warnings == ["line 4: no parseable 'Timestamp' (us_datetime)"]
        # Berlin is UTC+2 in May; 10:05 PM is 22:05 local. A bad port is NULL, not a failed batch.
        assert events(
            case, "ts, source_type, provider, principal_name, src_ip, action, outcome, dst_port, record_index"
        ) == [
            (
                dt.datetime(2024, 5, 1, 8, tzinfo=UTC),
                "acme_vpn",
                "other",
                "alice",
                "192.0.2.10",
                "login",
                "success",
                443,
                2,
            ),
            (
                dt.datetime(2024, 5, 1, 20, 5, tzinfo=UTC),
                "acme_vpn",
                "other",
                "bob",
                "198.51.100.7",
                "login",
                "failure",
                None,
                3,
            ),
        ]
        raw = case.cursor().execute("SELECT raw->>'$.Timestamp' FROM events ORDER BY 1").fetchall()
        assert raw == [("5/1/2024 10:00:00 AM",), ("5/1/2024 10:05:00 PM",)]


def test_jsonl_with_nested_fields_and_epoch_milliseconds(tmp_path: Path) -> None:
    lines = [
        {"ts": 1714557600123, "actor": {"name": "alice", "ip": "192.0.2.1"}, "op": "read", "id": "e-1"},
        {"ts": "1714557601000", "actor": {"name": "bob", "ip": "198.51.100.2"}, "op": "write", "id": "e-2"},
        {"ts": None, "actor": {"name": "eve"}, "op": "read", "id": "e-3"},
    ]
    log = tmp_path / "app.jsonl.gz"
    log.write_bytes(gzip.compress("\n".join(json.dumps(x) for x in lines).encode()))
    sample = read_sample(log)
    assert (sample.shape, sample.sniff_keys) == (Shape.JSONL, ["ts", "actor", "op", "id"])
    assert sample.fields == ["ts", "actor.name", "actor.ip", "op", "id"]
    fmt = draft_format(
        sample,
        "app_audit",
        "ts",
        TimeSpec(TimeFormat.EPOCH_MS),
        {"principal_name": "actor.name", "src_ip": "actor.ip", "action": "op", "event_uid": "id"},
    )
    custom_store.save(fmt)
    with CaseFile.create(tmp_path / "c.caseline") as case:
        [f] = import_paths(case, [log]).files
        assert (f.format, f.counts.kept, f.counts.rejected) == ("custom:app_audit", 2, 1)
        assert events(case, "event_uid, ts, principal_name, src_ip, action") == [
            ("e-1", dt.datetime(2024, 5, 1, 10, 0, 0, 123000, tzinfo=UTC), "alice", "192.0.2.1", "read"),
            ("e-2", dt.datetime(2024, 5, 1, 10, 0, 1, tzinfo=UTC), "bob", "198.51.100.2", "write"),
        ]


@pytest.mark.parametrize(
    ("document", "records_path"),
    [
        (
            {
                "items": [
                    {"when": "2024-05-01T10:00:00Z", "who": "alice"},
                    {"when": "2024-05-01T11:00:00Z", "who": "bob"},
                ]
            },
            "$.items",
        ),
        (
            [
                {"when": "2024-05-01T10:00:00Z", "who": "alice"},
                {"when": "2024-05-01T11:00:00Z", "who": "bob"},
            ],
            "$",
        ),
    ],
)
def test_json_documents_with_a_records_path(tmp_path: Path, document: object, records_path: str) -> None:
    log = tmp_path / "export.json"
    log.write_text(json.dumps(document, indent=2))
    sample = read_sample(log)
    assert (sample.shape, sample.records_path, sample.fields) == (Shape.JSON, records_path, ["when", "who"])
    custom_store.save(
        draft_format(sample, "export", "when", TimeSpec(TimeFormat.ISO8601), {"principal_name": "who"})
    )
    assert registry.detect(read_head(log)[0]).name == "custom:export"
    with CaseFile.create(tmp_path / "c.caseline") as case:
        [f] = import_paths(case, [log]).files
        assert (f.format, f.counts.kept) == ("custom:export", 2)
        assert events(case, "principal_name, record_index") == [("alice", 0), ("bob", 1)]


def test_single_record_document(tmp_path: Path) -> None:
    log = tmp_path / "one.json"
    log.write_text(json.dumps({"created": "01.05.2024 12:00", "subject": "door-7"}, indent=1))
    sample = read_sample(log)
    assert (sample.shape, sample.records_path) == (Shape.JSON, None)
    custom_store.save(
        draft_format(
            sample, "door", "created", TimeSpec(TimeFormat.EU_DATETIME, "+02:00"), {"target_id": "subject"}
        )
    )
    with CaseFile.create(tmp_path / "c.caseline") as case:
        import_paths(case, [log])
        assert events(case, "ts, target_id") == [(dt.datetime(2024, 5, 1, 10, tzinfo=UTC), "door-7")]


def test_forced_custom_format_reads_a_file_its_sniff_would_not_claim(tmp_path: Path) -> None:
    custom_store.save(vpn_format())
    log = tmp_path / "renamed.csv"
    log.write_text(VPN_CSV.replace("Client IP", "Client Address"))
    assert registry.detect(read_head(log)[0]) is None
    with CaseFile.create(tmp_path / "c.caseline") as case:
        [f] = import_paths(case, [log], forced_format="custom:acme_vpn").files
        assert (f.format, f.counts.kept) == ("custom:acme_vpn", 2)
        assert events(case, "src_ip") == [(None,), (None,)]  # the mapped column is not in this file


def test_built_in_format_always_wins_over_a_custom_one() -> None:
    sample = next(p for p in (DATA / "aws_cloudtrail_jsonl").iterdir() if p.name != "expected.json")
    fmt = CustomFormat(
        name="looks_like_cloudtrail",
        shape=Shape.JSONL,
        time_field="eventTime",
        time=TimeSpec(TimeFormat.ISO8601),
        sniff_keys=("eventTime", "eventName"),
    )
    custom_store.save(fmt)
    found = registry.candidates(read_head(sample)[0])
    assert [s.name for s in found] == ["aws_cloudtrail_jsonl", "custom:looks_like_cloudtrail"]
    assert not registry.is_ambiguous(found)


def test_two_custom_formats_claiming_a_file_are_ambiguous(tmp_path: Path) -> None:
    custom_store.save(vpn_format("vpn_a"))
    custom_store.save(vpn_format("vpn_b"))
    log = tmp_path / "vpn.csv"
    log.write_text(VPN_CSV)
    found = registry.candidates(read_head(log)[0])
    assert registry.is_ambiguous(found)
    assert sorted(s.name for s in registry.tied_best(found)) == ["custom:vpn_a", "custom:vpn_b"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("name = 'x'\n[[", "not valid TOML"),
        ('caseline_custom_format = 7\nname = "broken"', "reads version 1"),
        ('caseline_custom_format = 1\nname = "broken"', "missing 'reader'"),
        (
            to_toml(vpn_format("broken")).replace('zone = "Europe/Berlin"', 'zone = "Mars/Base"'),
            "unknown time zone 'Mars/Base'",
        ),
        (
            to_toml(vpn_format("broken")).replace("dst_port =", "port_number ="),
            "unknown column(s) ['port_number']",
        ),
        (
            to_toml(vpn_format("broken")).replace('format = "us_datetime"', 'format = "sundial"'),
            "time.format = 'sundial'",
        ),
        (to_toml(vpn_format("broken")).replace('shape = "csv"', "shape = 3"), "reader.shape = 3"),
        (to_toml(vpn_format("other_name")), "must match the file name 'broken'"),
        (
            to_toml(vpn_format("broken"))
            .replace('"Timestamp", "User"', '"User"')
            .replace('field = "Timestamp"', 'field = ""'),
            "no time field",
        ),
    ],
)
def test_broken_file_is_reported_by_name_and_never_breaks_detection(
    config_dir: Path, tmp_path: Path, text: str, problem: str
) -> None:
    custom_store.save(vpn_format("good"))
    config_dir.joinpath("broken.toml").write_text(text)
    problems = registry.custom_problems()
    assert len(problems) == 1 and str(config_dir / "broken.toml") in problems[0] and problem in problems[0]
    log = tmp_path / "vpn.csv"
    log.write_text(VPN_CSV)
    assert [s.name for s in registry.candidates(read_head(log)[0])] == ["custom:good"]
    cloudtrail = next(p for p in (DATA / "aws_cloudtrail").iterdir() if p.name != "expected.json")
    assert registry.detect(read_head(cloudtrail)[0]).name == "aws_cloudtrail"
    with pytest.raises(CustomFormatError, match="broken.toml"):
        registry.get("custom:broken")


def test_unknown_custom_name_lists_the_folder_and_what_exists(config_dir: Path) -> None:
    custom_store.save(vpn_format())
    with pytest.raises(CustomFormatError) as err:
        registry.get("custom:nope")
    assert str(config_dir) in str(err.value) and "custom:acme_vpn" in str(err.value)


def test_changes_on_disk_are_seen_without_restarting(config_dir: Path, tmp_path: Path) -> None:
    log = tmp_path / "vpn.csv"
    log.write_text(VPN_CSV)
    assert registry.detect(read_head(log)[0]) is None
    custom_store.save(vpn_format())
    assert registry.detect(read_head(log)[0]).name == "custom:acme_vpn"
    with pytest.raises(FileExistsError):
        custom_store.save(vpn_format())
    custom_store.save(vpn_format().__class__(**{**vpn_format().__dict__, "title": "Renamed"}), overwrite=True)
    assert registry.get("custom:acme_vpn").title == "Renamed"
    custom_store.delete("acme_vpn")
    assert registry.detect(read_head(log)[0]) is None


def test_sample_suggestions_and_live_time_preview(tmp_path: Path) -> None:
    log = tmp_path / "vpn.csv"
    log.write_text(VPN_CSV)
    sample = read_sample(log)
    assert (sample.shape, len(sample.rows)) == (Shape.CSV, 3)
    assert suggest_time_field(sample) == "Timestamp"
    assert suggest_columns(sample, "Timestamp") == {
        "src_ip": "Client IP",
        "dst_port": "Port",
        "principal_name": "User",
        "action": "Action",
        "outcome": "Result",
    }
    preview = preview_times(sample, "Timestamp", TimeSpec(TimeFormat.US_DATETIME))
    assert (preview.parsed, preview.present) == (2, 3)
    assert preview.times[0] == dt.datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert preview.summary == "2 of 3 sample rows have a time that parses"


def test_semicolon_csv_and_a_large_json_array_cut_by_the_head(tmp_path: Path) -> None:
    semi = tmp_path / "excel.csv"
    semi.write_text("Zeit;Benutzer\n01.05.2024 10:00;alice\n")
    assert read_sample(semi).fields == ["Zeit", "Benutzer"]
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"data": [{"t": "2024-05-01T10:00:00Z", "pad": "x" * 500}] * 400}))
    sample = read_sample(big, limit=20)
    assert (sample.records_path, len(sample.rows)) == ("$.data", 20)


@pytest.mark.parametrize("content", ["", "just some notes\nwithout structure\n", '{"a": 1'])
def test_files_a_generic_mapping_cannot_read_are_refused_with_a_reason(tmp_path: Path, content: str) -> None:
    f = tmp_path / "x.txt"
    f.write_text(content)
    with pytest.raises(SampleError, match="x.txt"):
        read_sample(f)


def test_records_nested_past_pythons_recursion_limit_still_give_a_sample(tmp_path: Path) -> None:
    """orjson reads 1,024 levels and Python's json module recurses per level: a damaged record
    nested ~1,000 deep stopped the sample (and the mapping dialog) with a RecursionError."""
    deep_objects = tmp_path / "objects.json"
    deep_objects.write_text('[{"t": "2024-05-01T10:00:00Z", "x": ' + '{"a": ' * 1000 + "1" + "}" * 1001 + "]")
    sample = read_sample(deep_objects)
    assert sample.fields == ["t", "x" + ".a" * (FLATTEN_LEVELS - 1)]
    assert sample.rows[0]["t"] == "2024-05-01T10:00:00Z"
    deep_arrays = tmp_path / "arrays.json"  # past orjson too: the records before it are the sample
    deep_arrays.write_text('[{"t": "2024-05-01T10:00:00Z"}, {"x": ' + "[" * 3000 + "]" * 3000 + "}]")
    assert read_sample(deep_arrays).rows == [{"t": "2024-05-01T10:00:00Z"}]
