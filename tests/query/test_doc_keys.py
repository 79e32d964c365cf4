"""The key sets of each source type's records (viewer/core/doc_keys.py) against the records."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from viewer.core import derived, raw_fields
from viewer.core.case_file import CaseFile
from viewer.core.doc_keys import NOT_AN_OBJECT, DocKeys

RECORDS: list[tuple[str, object]] = [  # (source_type, raw record)
    ("gcp_audit", {"protoPayload": {"methodName": "x"}, "timestamp": "t", "severity": "NOTICE"}),
    ("gcp_audit", {"protoPayload": {}, "insertId": "i"}),
    ("azure_activity", {"operationName": "write", "properties": {"a": 1}}),
    ("ecs", [{"a": 1}]),  # not an object: any path may hold something
    ("otlp", {}),  # an object without keys: nothing can be found in it
    ("cwl", {"logGroupName": "g", "message": "plain text, not JSON"}),
    ("cwl", {"logGroupName": "g", "message": json.dumps({"level": "INFO", "latency": 3})}),
]


def _insert(cur: duckdb.DuckDBPyConnection, evidence_id: int, records: list[tuple[str, object]]) -> None:
    for index, (source, raw) in enumerate(records):
        cur.execute(
            """INSERT INTO events BY NAME
               SELECT (?::BIGINT << 32) | ? AS event_id, TIMESTAMPTZ '2024-03-12 10:00:00+00' AS ts,
                      ? AS source_type, 'other' AS provider, ? AS evidence_id, ? AS record_index,
                      CAST(? AS JSON) AS raw, hash(?, ?) AS dedup_key""",
            [evidence_id, index, source, evidence_id, index, json.dumps(raw), evidence_id, index],
        )


def _expected(records: list[tuple[str, object]]) -> dict[str, frozenset[str | None]]:
    """The key sets written out from the records in Python, as the module documents them."""
    keys: dict[str, set[str | None]] = {}
    for source, raw in records:
        doc: object = raw
        if source == "cwl":
            try:
                doc = json.loads(raw["message"])  # type: ignore[index]
            except ValueError:
                doc = None
        if doc is None:
            found: list[str | None] = [None]
        elif isinstance(doc, dict) and doc:
            found = list(doc)
        else:
            found = [NOT_AN_OBJECT]
        keys.setdefault(source, set()).update(found)
    return {source: frozenset(found) for source, found in keys.items()}


@pytest.fixture
def case(tmp_path: Path) -> CaseFile:
    case = CaseFile.create(tmp_path / "keys.caseline")
    yield case
    case.close()


def test_key_sets_match_the_records_and_grow_with_each_build(case: CaseFile) -> None:
    cur = case.cursor()
    assert raw_fields.stored_doc_keys(cur) is None  # nothing built: a translator assumes nothing
    _insert(cur, 1, RECORDS)
    derived.update_deferred(case)
    first = raw_fields.stored_doc_keys(cur)
    assert first is not None and first.keys == _expected(RECORDS)
    assert first.mark == cur.execute("SELECT max(event_id) FROM events").fetchall()[0][0]

    later = [
        ("gcp_audit", {"logName": "projects/p/logs/x", "timestamp": "t2"}),
        ("k8s_audit", {"verb": "get"}),
    ]
    _insert(cur, 2, later)
    assert raw_fields.stored_doc_keys(cur) == first  # records above the mark are not in it yet
    derived.update_deferred(case)
    second = raw_fields.stored_doc_keys(cur)
    assert second is not None and second.keys == _expected(RECORDS + later)
    assert second.mark > first.mark
    stored = cur.execute(
        "SELECT count(*), count(DISTINCT (source_type, key)) FROM raw_doc_keys_rows"
    ).fetchall()
    assert stored[0][0] == stored[0][1]  # each key once per source, however many builds


def test_lacks_only_what_no_record_under_the_mark_has() -> None:
    known = DocKeys(
        10,
        {"gcp_audit": frozenset({"protoPayload", None}), "ecs": frozenset({"a", NOT_AN_OBJECT})},
    )
    assert known.lacks("gcp_audit", "eventSource")
    assert not known.lacks("gcp_audit", "protoPayload")
    assert not known.lacks("ecs", "eventSource")  # a record that is not an object may hold any path
    assert not known.lacks("cloudtrail", "eventSource")  # a source with nothing under the mark


def test_an_older_case_without_key_sets_reads_as_unknown(case: CaseFile) -> None:
    cur = case.cursor()
    _insert(cur, 1, RECORDS[:2])
    derived.update_deferred(case)
    cur.execute("DROP TABLE raw_doc_keys_rows")  # as a case built by raw_fields version 3
    assert raw_fields.stored_doc_keys(cur) is None
