"""fetch_event: fields in schema order, the raw record, and provenance from the ledger."""

from __future__ import annotations

import json
from typing import Any

import pytest
from support.synthetic_case import build_synthetic_case

from viewer.core.case_file import CaseFile
from viewer.core.event_detail import fetch_event, fetch_raw
from viewer.schema import NORMALIZED_FIELDS


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = build_synthetic_case(tmp_path_factory.mktemp("d") / "case.duckdb", 2_000, seed=5)
    c = CaseFile.open(path, read_only=True)
    yield c
    c.close()


def test_fetch_event_matches_table_and_ledger(case: CaseFile) -> None:
    cur = case.cursor()
    ids = [r[0] for r in cur.execute("SELECT event_id FROM events USING SAMPLE 10 ROWS").fetchall()]
    for eid in ids:
        d = fetch_event(cur, eid)
        assert d is not None and d.event_id == eid
        rel = cur.execute("SELECT *, raw::VARCHAR AS raw_text FROM events WHERE event_id = ?", [eid])
        row = dict(zip([c[0] for c in rel.description], rel.fetchone(), strict=True))
        expected = {f.name: row[f.name] for f in NORMALIZED_FIELDS if row[f.name] is not None}
        assert d.fields == expected
        assert list(d.fields) == [f.name for f in NORMALIZED_FIELDS if f.name in expected]
        assert d.raw == json.loads(row["raw_text"]) and json.loads(d.raw_text) == d.raw
        ev = cur.execute(
            "SELECT path, sha256 FROM evidence WHERE evidence_id = ?", [row["evidence_id"]]
        ).fetchone()
        p = d.provenance
        assert (p.evidence_id, p.record_index, p.path, p.sha256) == (
            row["evidence_id"],
            row["record_index"],
            *ev,
        )


def test_missing_event_is_none(case: CaseFile) -> None:
    assert fetch_event(case.cursor(), -1) is None


def test_fetch_raw_is_the_stored_record_with_its_position(case: CaseFile) -> None:
    cur = case.cursor()
    rows = cur.execute(
        "SELECT event_id, raw::VARCHAR, evidence_id, record_index FROM events USING SAMPLE 10 ROWS"
    ).fetchall()
    for eid, raw_text, evidence_id, record_index in rows:
        found = fetch_raw(cur, eid)
        assert found is not None
        assert json.loads(found[0]) == json.loads(raw_text)
        assert found[1:] == (evidence_id, record_index)
    top = cur.execute("SELECT max(event_id) FROM events").fetchall()[0][0]
    assert fetch_raw(cur, top + 1) is None
