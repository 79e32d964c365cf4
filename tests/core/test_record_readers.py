"""The Python record readers on their own: what they split and what they report."""

from __future__ import annotations

import gzip
import importlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from viewer.core import gunzip
from viewer.core.record_readers import Problem, read_bytes, records
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


@pytest.fixture(params=["isal", "zlib"])
def inflate_engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """`core.gunzip` with ISA-L, and as it is where no isal wheel exists (zlib)."""
    if request.param == "zlib":
        monkeypatch.setitem(sys.modules, "isal", None)  # `from isal import ...` raises ImportError
    importlib.reload(gunzip)
    yield str(request.param)
    monkeypatch.undo()
    importlib.reload(gunzip)


def test_read_bytes_inflates_every_member_and_keeps_what_a_damaged_stream_holds(
    tmp_path: Path, inflate_engine: str
) -> None:
    """gzip as evidence arrives (`core.gunzip`): concatenated members (what `cat a.gz b.gz` or a
    resumed upload makes) read whole, padding after the last member ignored; a cut stream keeps
    the text before the cut and says so; a corrupt one keeps the members before it."""
    first = b"".join(b'{"n": %d}\n' % i for i in range(2000))
    second = b'{"n": "second member"}\n'
    one, two = gzip.compress(first), gzip.compress(second)

    def read(name: str, data: bytes) -> tuple[bytes, list[Problem]]:
        path = tmp_path / name
        path.write_bytes(data)
        problems: list[Problem] = []
        return read_bytes(path, problems), problems

    assert read("two.gz", one + two + b"\0" * 64) == (first + second, [])

    cut, problems = read("cut.gz", one[: len(one) // 2])
    assert cut and first.startswith(cut) and len(cut) < len(first)
    assert [(p.position_kind, "truncated" in p.reason) for p in problems] == [("byte", True)]

    broken = bytearray(one + two)
    broken[len(one) + 12] ^= 0xFF  # inside the second member's deflate data
    kept, problems = read("corrupt.gz", bytes(broken))
    assert kept.startswith(first) and second not in kept
    assert len(problems) == 1 and problems[0].position == len(one) and "corrupt" in problems[0].reason
    assert inflate_engine == gunzip.ENGINE  # the engine asked for did the work
