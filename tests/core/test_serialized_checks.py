"""Records orjson wrote (the EXPLODE readers) skip the checks of their own JSON, and get the same
verdicts as records checked in full: the embedded record is still parsed and judged."""

from __future__ import annotations

import duckdb
import orjson
import pyarrow as pa
import pytest

from viewer.core.ingest_sql import records_sql
from viewer.core.json_lines_import import as_json, json_records_sql
from viewer.formats import registry

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


def _verdicts(sql: str, texts: list[str]) -> list[tuple]:
    table = pa.table(
        {
            "evidence_id": pa.array([1] * len(texts), pa.int32()),
            "record_index": pa.array(range(len(texts)), pa.int64()),
            "r": as_json(pa.array(texts, pa.string())),
        }
    )
    con = duckdb.connect()
    con.register("src", table)
    return con.execute(f"SELECT record_index, rec, problem FROM ({sql}) ORDER BY record_index").fetchall()


def test_embedded_records_written_by_orjson_are_judged_as_in_full() -> None:
    spec = registry.get("aws_cloudtrail_cwl_subscription")
    assert spec.reader.embedded_json_key == "message"
    texts = [orjson.dumps(e).decode() for e in ENVELOPES]
    full = _verdicts(records_sql(spec, "SELECT * FROM src", False), texts)
    quick_sql = records_sql(spec, "SELECT * FROM src", False, serialized=True)
    quick = _verdicts(quick_sql, texts)
    assert quick == full
    assert quick_sql.count("json_valid") == 1 and "json_type" not in quick_sql  # one parse, of the message
    assert [p is None for _, _, p in full] == [
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
