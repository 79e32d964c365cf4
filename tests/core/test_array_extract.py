"""Which documents take the records-array path (`array_extract`): only those whose records array
is the document's one key; the cut is then exactly that array."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import duckdb

from viewer.core.array_extract import extract_arrays

DATA = Path(__file__).resolve().parents[1] / "data" / "formats"


def _finding(n: int) -> dict:
    """The end of a GuardDuty finding as get-findings prints it: arrays followed by array keys."""
    return {
        "Id": f"f{n}",
        "Resource": {
            "InstanceDetails": {
                "NetworkInterfaces": [
                    {
                        "PrivateIpAddresses": [{"PrivateIpAddress": "10.0.0.5"}],
                        "SecurityGroups": [{"GroupId": "sg-1", "GroupName": 'odd "], "x": [" name'}],
                    }
                ],
                "Tags": [{"Key": "team", "Value": "blue"}],
            }
        },
    }


def _cut(tmp_path: Path, doc: bytes, key: str | None) -> list | None:
    """The records DuckDB reads from the cut array (of `key`, or the document itself when None),
    or None when the file keeps the document path."""
    src = tmp_path / "doc.json.gz"
    src.write_bytes(gzip.compress(doc, mtime=0))
    (scratch := tmp_path / "scratch").mkdir(exist_ok=True)
    [got] = extract_arrays([(1, src)], "$" if key is None else f"$.{key}", scratch)
    if got.array_path is None:
        return None
    rows = duckdb.sql(f"SELECT json FROM read_json_objects('{got.array_path}', format = 'array')").fetchall()
    return [json.loads(r[0]) for r in rows]


def test_get_findings_output_takes_the_array_path_though_its_records_end_in_array_keys(
    tmp_path: Path,
) -> None:
    findings = [_finding(n) for n in range(3)]
    doc = json.dumps({"Findings": findings}, indent=4).encode()
    assert _cut(tmp_path, doc, "Findings") == findings
    fixture = (DATA / "aws_guardduty_get_findings" / "get-findings.json").read_bytes()
    assert _cut(tmp_path, fixture, "Findings") == json.loads(fixture)["Findings"]


def test_a_document_ending_in_another_array_key_keeps_the_document_path(tmp_path: Path) -> None:
    streams = [
        {"logStreamName": "s", "searchedCompletely": True, "ids": [1, 2], "more": [{"a": "]", "b": '"]'}]}
    ]
    doc = json.dumps({"events": [{"message": "m"}], "searchedLogStreams": streams}, indent=2).encode()
    assert _cut(tmp_path, doc, "events") is None
    fixture = (DATA / "aws_cloudwatch_logs_filter" / "filter-log-events.json").read_bytes()
    assert "searchedLogStreams" in json.loads(fixture) and _cut(tmp_path, fixture, "events") is None


def test_whitespace_around_the_document_and_its_array_is_skipped_and_a_wrong_close_refused(
    tmp_path: Path,
) -> None:
    """The ends are found by index (no copy of the document): any whitespace JSON allows before,
    between and after the closing brackets, and nothing else."""
    records = [{"eventID": "a", "n": 1}, {"eventID": "b", "n": [2]}]
    body = json.dumps(records).encode()
    for before, between, after in [(b"", b"", b""), (b" \n", b"\r\n\t ", b"\n"), (b"\t", b"", b"  \n\n")]:
        doc = before + b'{"Records": ' + body + between + b"}" + after
        assert _cut(tmp_path, doc, "Records") == records
        assert _cut(tmp_path, before + body + after, None) == records
    assert _cut(tmp_path, b'{"Records": ' + body + b"} x", "Records") is None
    assert _cut(tmp_path, b'{"Records": ' + body + b', "n": 1}', "Records") is None
    assert _cut(tmp_path, b'{"Records": ' + body, "Records") is None
    assert _cut(tmp_path, body + b" ,", None) is None
    assert _cut(tmp_path, b" \n ", None) is None
