"""JSON escapes of half a UTF-16 character (`\\udc80`): kept as text, never the record lost.

Python's json.dumps writes one for a string decoded with surrogateescape, JavaScript's
JSON.stringify for half a character, and attacker-controlled fields (user agents, URLs) carry
them. DuckDB's JSON reader and orjson refuse such a record, so it was rejected as invalid JSON:
one escape could take an event out of the timeline.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import orjson
import pytest

from viewer.core.case_file import CaseFile
from viewer.core.ingest import FileResult, import_paths
from viewer.core.lone_surrogates import keep_as_text, lone_escapes

DATA = Path(__file__).resolve().parents[1] / "data" / "formats"
EVIL = "evil \udc80 agent"  # what json.dumps writes as "evil \\udc80 agent"


def test_only_escapes_without_their_pair_are_found() -> None:
    cases = {
        r'"\ud83d\ude00"': [],  # a pair: one character
        r'"\uD83D\uDE00"': [],
        r'"a\ud800"': [2],
        r'"\udc00b"': [1],
        r'"\ud800\ud800\udc00"': [1],  # a lone high, then a pair
        r'"\udc00\ud800"': [1, 7],
        r'"\\ud800"': [],  # an escaped backslash, then the letters ud800
        r'"\\\ud800"': [3],  # an escaped backslash, then an escape
        r'"\u0041\ud7ff\ue000"': [],  # not surrogates
    }
    for text, starts in cases.items():
        assert lone_escapes(text) == starts, text


def test_kept_as_text_the_record_parses_and_reads_the_escape() -> None:
    lines = [json.dumps({"n": 1}), json.dumps({"ua": EVIL, "emoji": "\U0001f600"}), json.dumps({"ua": EVIL})]
    text = "\n".join(lines)
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(lines[1])
    kept, note = keep_as_text(text)
    parsed = [orjson.loads(line) for line in kept.splitlines()]
    assert parsed[1] == {"ua": "evil \\udc80 agent", "emoji": "\U0001f600"}  # the pair still one character
    assert parsed[2] == {"ua": "evil \\udc80 agent"}
    assert note is not None and note[0] == 2
    assert "2 UTF-16 surrogate escapes without their pair (\\udc80 at line 2, \\udc80 at line 3)" in note[1]
    assert keep_as_text(lines[0]) == (lines[0], None)
    assert keep_as_text(lines[2], first_line=7)[1] == (
        7,
        note[1]
        .replace("2 UTF", "1 UTF")
        .replace(
            "escapes without their pair (\\udc80 at line 2, \\udc80 at line 3)",
            "escape without its pair (\\udc80 at line 7)",
        ),
    )


def _import(tmp_path: Path, path: Path) -> tuple[FileResult, dict]:
    with CaseFile.create(tmp_path / "case.caseline") as case:
        [f] = import_paths(case, [path]).files
        rows = case.cursor().execute("SELECT record_index, raw::VARCHAR FROM events").fetchall()
    assert f.reconciled
    return f, {index: json.loads(raw) for index, raw in rows}


def test_json_lines_keep_the_record(tmp_path: Path) -> None:
    """Kubernetes audit lines (the JSON lines fast path)."""
    first, second = (DATA / "k8s_audit" / "audit.log").read_text().splitlines()[:2]
    evil = json.loads(second) | {"userAgent": EVIL}
    path = tmp_path / "audit.log"
    broken_too = json.dumps(evil | {"auditID": "other"})[:-2]  # cut: no escape makes it whole
    path.write_text("\n".join([first, json.dumps(evil), broken_too]) + "\n")
    f, kept = _import(tmp_path, path)
    assert (f.counts.seen, f.counts.kept, f.counts.rejected) == (3, 2, 1)
    assert kept[2]["userAgent"] == "evil \\udc80 agent"
    assert [w.split(": ")[:2] for w in f.warnings] == [
        ["line 2", "1 record held a UTF-16 surrogate escape without its pair (\\udc80 in the first)"],
        ["line 3", "invalid JSON"],
    ]


def test_a_records_document_keeps_the_record(tmp_path: Path) -> None:
    """A CloudTrail file: DuckDB's reader refuses it whole, the Python reader keeps every record."""
    doc = json.loads(gzip.decompress(next((DATA / "aws_cloudtrail").glob("*.json.gz")).read_bytes()))
    doc["Records"][1]["userAgent"] = EVIL
    path = tmp_path / "trail.json.gz"
    path.write_bytes(gzip.compress(json.dumps(doc, indent=1).encode()))
    f, kept = _import(tmp_path, path)
    assert (f.counts.seen, f.counts.kept, f.counts.rejected) == (3, 3, 0)
    assert kept[1]["userAgent"] == "evil \\udc80 agent"
    assert any("surrogate escape without its pair" in w for w in f.warnings)


@pytest.mark.parametrize("per_line", [False, True], ids=["one document", "a document per line"])
def test_an_exploded_document_keeps_the_record(tmp_path: Path, per_line: bool) -> None:
    """OpenTelemetry logs (records exploded from the document by Python): one document, or one
    per line, the escape in the second."""
    doc = json.loads((DATA / "otel_logs" / "logs.json").read_text().splitlines()[0])
    evil = json.loads(json.dumps(doc))
    evil["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["body"] = {"stringValue": EVIL}
    path = tmp_path / "logs.json"
    path.write_text(json.dumps(doc) + "\n" + json.dumps(evil) + "\n" if per_line else json.dumps(evil))
    f, kept = _import(tmp_path, path)
    assert f.counts.rejected == 0 and f.counts.seen > 1  # (the other record is in both documents)
    kept_as_text = json.dumps({"stringValue": "evil \\udc80 agent"})
    assert sum(kept_as_text in json.dumps(r) for r in kept.values()) == 1
    line = 2 if per_line else 1
    assert [w.split(": ")[0] for w in f.warnings] == [f"line {line}"]
    assert f"(\\udc80 at line {line})" in f.warnings[0]
