"""Every registered format: its sample imports to its expected results, and sniffing is exclusive."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from viewer.core.case_file import CaseFile
from viewer.core.ingest import import_paths
from viewer.core.sources import read_head
from viewer.formats import registry
from viewer.formats.base import Head

DATA = Path(__file__).resolve().parents[1] / "data" / "formats"
NAMES = [spec.name for spec in registry.FORMATS]


def _sample(name: str) -> Path:
    files = [p for p in (DATA / name).iterdir() if p.name != "expected.json"]
    assert len(files) == 1, f"{name}: one sample file expected, found {files}"
    return files[0]


def test_every_format_has_a_sample() -> None:
    assert sorted(p.name for p in DATA.iterdir() if p.is_dir()) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_sample_is_detected_as_its_format_only(name: str) -> None:
    head, _ = read_head(_sample(name))
    assert [s.name for s in registry.candidates(head)][:1] == [name]
    # No other format claims it at all: detection never depends on a priority tie-break.
    assert [s.name for s in registry.candidates(head)] == [name]


@pytest.mark.parametrize("name", NAMES)
def test_sample_imports_to_expected(name: str, tmp_path: Path) -> None:
    expected = json.loads((DATA / name / "expected.json").read_text())
    with CaseFile.create(tmp_path / "c.caseline") as case:
        report = import_paths(case, [_sample(name)])
        [f] = report.files
        assert (f.format, f.role) == (expected["format"], expected["role"])
        c = f.counts
        assert (c.seen, c.kept, c.rejected, c.duplicate) == (
            expected["seen"],
            expected["kept"],
            expected["rejected"],
            expected["duplicate"],
        )
        assert len(f.warnings) == expected["warnings"]
        assert f.reconciled
        cur = case.cursor()
        for i, rec in enumerate(expected["records"]):
            cols = [c for c in rec if c != "record_index"]
            # A source without a natural id (event_uid null) names its records by position.
            by_uid = rec.get("event_uid") is not None
            where, key = ("event_uid", rec["event_uid"]) if by_uid else ("record_index", rec["record_index"])
            rows = cur.execute(
                f"SELECT {', '.join(cols)}, record_index FROM events WHERE {where} = ?", [key]
            ).fetchall()
            assert len(rows) == 1, f"{name}: {key} imported {len(rows)} times"
            got = dict(zip([*cols, "record_index"], rows[0], strict=True))
            for col, want in rec.items():
                value = got[col]
                if isinstance(value, dt.datetime):
                    value = value.astimezone(dt.UTC).isoformat()
                assert value == want, f"{name}: {col}"
            if i == 0:
                assert got["record_index"] == expected["record_index_of_records_0"]
        if expected["role"] == "events":
            rows = cur.execute(
                # A uid made of parts (Kubernetes `auditID/stage`) has each part in the record.
                "SELECT json_type(raw), event_uid IS NULL OR list_bool_and(list_transform("
                "string_split(event_uid, '/'), lambda p: contains(raw::VARCHAR, p))) FROM events"
            ).fetchall()
            assert rows and all(r == ("OBJECT", True) for r in rows), "raw keeps the original record as JSON"


def test_head_first_line_object_is_a_whole_first_line_only() -> None:
    """JSON-lines sniffers read the first line as an object; a one-line document the head cut is
    not one (and is no longer parsed to find that out), trailing blanks and CRLF are."""
    assert Head("a.jsonl", '{"a": 1}  \r\n{"b": 2}\n').first_line_object == {"a": 1}
    assert Head("b.json", '{"Records": [{"eventName": "x"}, {"eventN').first_line_object is None
    assert Head("c.json", '[{"a": 1}]').first_line_object is None
    assert Head("d.json", '{"a": 1} trailing').first_line_object is None
