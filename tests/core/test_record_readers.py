"""The Python record readers on their own: what they split and what they report."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from viewer.core.record_readers import Problem, records
from viewer.formats.base import Reader, ReaderKind


def _explode(doc: dict) -> list[dict]:
    out = []
    for group in doc["groups"]:
        for item in group["items"]:
            out.append({"group": group["name"], **item})
    return out


READER = Reader(ReaderKind.EXPLODE, explode=_explode)


def test_explode_numbers_records_across_one_document(tmp_path: Path) -> None:
    doc = {"groups": [{"name": "a", "items": [{"n": 1}, {"n": 2}]}, {"name": "b", "items": [{"n": 3}]}]}
    path = tmp_path / "doc.json.gz"
    path.write_bytes(gzip.compress(json.dumps(doc, indent=2).encode()))
    problems: list[Problem] = []
    got = [(i, json.loads(t)) for i, t in records(path, READER, problems)]
    assert got == [(0, {"group": "a", "n": 1}), (1, {"group": "a", "n": 2}), (2, {"group": "b", "n": 3})]
    assert problems == []


def test_explode_reads_one_document_per_line_and_reports_bad_lines(tmp_path: Path) -> None:
    good = json.dumps({"groups": [{"name": "a", "items": [{"n": 1}]}]})
    not_understood = json.dumps({"other": 1})
    path = tmp_path / "docs.jsonl"
    path.write_text("\n".join([good, "{broken", "", not_understood, good]) + "\n")
    problems: list[Problem] = []
    got = [i for i, _ in records(path, READER, problems)]
    assert got == [0, 1]
    assert [(p.position, p.position_kind, p.lost_record) for p in problems] == [
        (2, "line", True),
        (4, "line", True),
    ]
    assert "groups" in problems[1].reason
