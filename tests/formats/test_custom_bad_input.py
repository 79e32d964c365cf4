"""Damaged files read with a custom format: each problem is a counted warning with its position,
and the good records still import. Runs the real pipeline on real files in a temporary config."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from viewer.core.case_file import CaseFile
from viewer.core.ingest import FileResult, import_paths
from viewer.formats import custom_store
from viewer.formats.custom import CustomFormat, Shape
from viewer.formats.timeparse import TimeFormat, TimeSpec

HEADER = "time,user,ip,port,ok"


@pytest.fixture(autouse=True)
def formats(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(custom_store.CONFIG_ENV, str(tmp_path / "config"))
    common = {
        "time_field": "time",
        "time": TimeSpec(TimeFormat.ISO8601),
        "fields": {"principal_name": "user", "src_ip": "ip", "src_port": "port", "read_only": "ok"},
    }
    custom_store.save(
        CustomFormat(name="gen_csv", shape=Shape.CSV, sniff_keys=tuple(HEADER.split(",")), **common)
    )  # type: ignore[arg-type]
    custom_store.save(
        CustomFormat(name="gen_jsonl", shape=Shape.JSONL, sniff_keys=("time", "user"), **common)
    )  # type: ignore[arg-type]
    custom_store.save(
        CustomFormat(
            name="gen_json", shape=Shape.JSON, records_path="$.rows", sniff_keys=("time", "user"), **common
        )  # type: ignore[arg-type]
    )
    yield


def _import(tmp_path: Path, path: Path, fmt: str) -> tuple[FileResult, list[tuple]]:
    with CaseFile.create(tmp_path / "c.caseline") as case:
        [f] = import_paths(case, [path], forced_format=f"custom:{fmt}").files
        rows = (
            case.cursor()
            .execute("SELECT record_index, principal_name, src_port, read_only FROM events ORDER BY 1")
            .fetchall()
        )
        stored = (
            case.cursor().execute("SELECT position, reason FROM import_warnings ORDER BY position").fetchall()
        )
    assert f.reconciled
    assert len(stored) == len(f.warnings)
    return f, rows


def test_csv_with_bom_crlf_missing_time_wrong_types_and_a_short_row(tmp_path: Path) -> None:
    text = (
        "\ufeff" + HEADER + "\r\n"
        "2024-05-01T10:00:00Z,alice,192.0.2.1,443,true\r\n"
        ",bob,192.0.2.2,22,false\r\n"  # no time: rejected
        "2024-05-01T10:02:00Z,carol,192.0.2.3,not-a-port,maybe\r\n"  # wrong types: NULLs, kept
        "2024-05-01T10:03:00Z,dave\r\n"  # too few cells: lost, with its line
        "2024-05-01T10:04:00Z,erin,192.0.2.5,8443,TRUE\r\n"
    )
    path = tmp_path / "x.csv"
    path.write_bytes(text.encode("utf-8"))
    f, rows = _import(tmp_path, path, "gen_csv")
    c = f.counts
    assert (c.seen, c.kept, c.rejected, c.duplicate) == (5, 3, 2, 0)
    assert rows == [(2, "alice", 443, True), (4, "carol", None, None), (6, "erin", 8443, True)]
    assert any(w.startswith("line 3:") and "no parseable 'time'" in w for w in f.warnings)
    assert any(w.startswith("line 5:") and "row has 2 cells, the header has 5" in w for w in f.warnings)


def test_jsonl_with_broken_line_unknown_fields_and_mixed_shapes(tmp_path: Path) -> None:
    lines = [
        json.dumps({"time": "2024-05-01T10:00:00Z", "user": "alice", "port": 443, "extra": {"x": 1}}),
        '{"time": "2024-05-01T10:01:00Z", "user": "bo',  # cut in the middle
        json.dumps(["not", "an", "object"]),
        json.dumps({"time": 12, "user": {"nested": True}, "port": "22"}),  # a number is not ISO time
        json.dumps({"time": "2024-05-01T10:04:00+02:00", "user": ["a", "b"], "port": 70000}),
    ]
    path = tmp_path / "x.jsonl.gz"
    path.write_bytes(gzip.compress("\n".join(lines).encode()))
    f, rows = _import(tmp_path, path, "gen_jsonl")
    c = f.counts
    assert (c.seen, c.kept, c.rejected) == (5, 2, 3)
    # A list where a string is expected is kept as its JSON text; 70000 still fits INTEGER.
    assert rows == [(1, "alice", 443, None), (5, '["a","b"]', 70000, None)]
    assert sorted(int(w.split(":")[0].split()[-1]) for w in f.warnings) == [2, 3, 4]


def test_truncated_gzip_json_document_keeps_the_complete_records(tmp_path: Path) -> None:
    doc = {"rows": [{"time": f"2024-05-01T10:0{i}:00Z", "user": f"u{i}", "port": i} for i in range(6)]}
    blob = gzip.compress(json.dumps(doc).encode())
    path = tmp_path / "x.json.gz"
    path.write_bytes(blob[: len(blob) - 40])  # the end of the stream is missing
    f, rows = _import(tmp_path, path, "gen_json")
    assert f.counts.kept >= 1 and f.counts.kept == len(rows) < 6
    assert [r[1] for r in rows] == [f"u{i}" for i in range(len(rows))]
    assert any("truncated" in w for w in f.warnings)
