"""Records orjson wrote (the EXPLODE readers) skip the checks of their own JSON, and get the same
verdicts as records checked in full; records embedded in them are taken out by the reader and
still parsed and judged."""

from __future__ import annotations

import duckdb
import orjson
import pyarrow as pa
import pytest

from viewer.core.ingest_sql import records_sql
from viewer.core.json_lines_import import as_json, json_records_sql
from viewer.core.record_readers import Problem, _exploded
from viewer.formats import registry
from viewer.formats.base import ReaderKind

ENVELOPES = [
    {"id": "1", "message": '{"eventVersion": "1.08"}'},
    {"id": "2", "message": ' \n\t{"eventVersion": "1.08"}'},  # JSON whitespace before the object
    {"id": "3", "message": "[1, 2]"},
    {"id": "4", "message": '"just a string"'},
    {"id": "5", "message": "not json at all"},
    {"id": "6", "message": '{"cut": '},
    {"id": "7"},
    {"id": "8", "message": {"already": "an object"}},  # not a string: its JSON text is the record
    {"id": "9", "message": ""},
    {"id": "10", "message": "\u00a0{}"},  # a no-break space is not JSON whitespace
]


def _verdicts(sql: str, texts: list[str], indexes: list[int] | None = None) -> list[tuple]:
    table = pa.table(
        {
            "evidence_id": pa.array([1] * len(texts), pa.int32()),
            "record_index": pa.array(range(len(texts)) if indexes is None else indexes, pa.int64()),
            "r": as_json(pa.array(texts, pa.string())),
        }
    )
    con = duckdb.connect()
    con.register("src", table)
    return con.execute(f"SELECT record_index, rec, problem FROM ({sql}) ORDER BY record_index").fetchall()


def test_embedded_records_taken_out_by_the_reader_are_judged_as_their_envelopes() -> None:
    """An exploding reader hands over each envelope's embedded record (`embedded_text`), checked
    with one parse; the verdicts, reasons and records are those of the envelopes checked in SQL."""
    spec = registry.get("aws_cloudtrail_cwl_subscription")
    assert spec.reader.kind is ReaderKind.EXPLODE and spec.reader.embedded_json_key == "message"
    full = _verdicts(
        records_sql(spec, "SELECT * FROM src", False), [orjson.dumps(e).decode() for e in ENVELOPES]
    )

    payload = {"messageType": "DATA_MESSAGE", "logGroup": "g", "logStream": "s", "logEvents": ENVELOPES}
    problems: list[Problem] = []
    taken = list(_exploded(orjson.dumps(payload).decode(), spec.reader, problems))
    sql = json_records_sql(spec, "SELECT * FROM src", embedded_key="message")
    judged = {
        i: (rec, problem) for i, rec, problem in _verdicts(sql, [t for _, t in taken], [i for i, _ in taken])
    }
    lost = {p.position: p.reason for p in problems if p.lost_record}
    assert sorted([*judged, *lost]) == list(range(len(ENVELOPES)))  # indexes as the envelopes'
    for index, rec, problem in full:
        if index in lost:
            assert problem == "no message in the record" and lost[index].startswith(problem + ": {")
        else:
            assert judged[index] == (rec, problem)
    assert sql.count("json_valid") == 1  # one parse of each record: its check
    not_json, not_object = "message is not valid JSON", "record is not a JSON object"
    assert [p for _, _, p in full] == [
        None,
        None,
        not_object,
        not_object,
        not_json,
        not_json,
        "no message in the record",
        None,
        not_json,
        not_json,
    ]


def test_embedded_records_of_trusted_envelopes_are_judged_alike() -> None:
    """Envelopes from DuckDB's reader (LookupEvents, filter-log-events output) are not parsed to be
    checked, and their embedded records not twice (no json_type): the same verdicts."""
    spec = registry.get("aws_cloudtrail_lookup")
    assert spec.reader.embedded_json_key == "CloudTrailEvent"
    envelopes = [
        orjson.dumps(
            {"EventId": e.get("id"), **({"CloudTrailEvent": e["message"]} if "message" in e else {})}
        ).decode()
        for e in ENVELOPES
    ]
    trusted_sql = records_sql(spec, "SELECT * FROM src", True)
    trusted = _verdicts(trusted_sql, envelopes)
    assert trusted == _verdicts(records_sql(spec, "SELECT * FROM src", False), envelopes)
    assert trusted_sql.count("json_valid") == 1 and "json_type" not in trusted_sql
    assert [p is None for _, _, p in trusted] == [
        True,
        True,
        False,
        False,
        False,
        False,
        False,
        True,
        False,
        False,
    ]


@pytest.mark.parametrize("value", [{"a": 1}, [1], "text", 3, None, {"nested": {"b": [1, {"c": "\u00e9"}]}}])
def test_plain_records_written_by_orjson_are_judged_as_in_full(value: object) -> None:
    spec = registry.get("otel_logs")
    texts = [orjson.dumps(value).decode()]
    full = _verdicts(json_records_sql(spec, "SELECT * FROM src"), texts)
    quick_sql = json_records_sql(spec, "SELECT * FROM src", serialized=True)
    quick = _verdicts(quick_sql, texts)
    assert quick == full
    assert "json_valid" not in quick_sql and "json_type" not in quick_sql  # no parse at all
    assert (full[0][2] is None) == isinstance(value, dict)
