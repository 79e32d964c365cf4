"""JSON lines read many files per statement (json_lines_import) against the Python line reader.

The Python reader (`record_readers.records`, `str.splitlines`) is the reference for positions:
each file below is imported through the real pipeline into a real case, and every non-blank line
the Python reader yields must come back either as an event or as a warning at the same line
number, with the same verdict on its JSON.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import pytest
from support.line_sources import import_both_ways, resolver_record

from viewer.core import chunk_import, chunk_writer, ingest
from viewer.core.case_file import CaseFile
from viewer.core.ingest import import_paths
from viewer.core.insert_carry import InsertCarry
from viewer.core.record_readers import Problem, records
from viewer.formats import registry

FORMAT = "aws_route53_resolver"


_record = resolver_record


def _expected(path: Path) -> tuple[list[int], list[int]]:
    """(line numbers of records, line numbers of lines that are no JSON object) by the Python reader."""
    problems: list[Problem] = []
    good, bad = [], []
    for n, line in records(path, registry.get(FORMAT).reader, problems):
        try:
            ok = isinstance(orjson.loads(line), dict)
        except orjson.JSONDecodeError:
            ok = False
        (good if ok else bad).append(n)
    return good, bad


def _imported(tmp_path: Path, paths: list[Path]) -> dict[str, tuple[list[int], list[int]]]:
    """Per file: (record_index of its events, positions of its per-line warnings)."""
    with CaseFile.create(tmp_path / "case.caseline") as case:
        report = import_paths(case, paths, FORMAT)
        cur = case.cursor()
        out = {}
        for f in report.files:
            assert f.reconciled and f.counts.duplicate == 0
            kept = [
                r[0]
                for r in cur.execute(
                    "SELECT record_index FROM events WHERE evidence_id = ? ORDER BY record_index",
                    [f.evidence_id],
                ).fetchall()
            ]
            warned = [
                r[0]
                for r in cur.execute(
                    "SELECT position FROM import_warnings WHERE evidence_id = ? AND position_kind = 'line' "
                    "ORDER BY position",
                    [f.evidence_id],
                ).fetchall()
            ]
            out[Path(f.path).name] = (kept, warned)
    return out


ODD_FILES: dict[str, bytes] = {
    "plain.log": ("\n".join(_record(i) for i in range(5)) + "\n").encode(),
    "blank_lines.log": (
        _record(1) + "\n\n   \n" + _record(2) + "\n\t\n\u00a0\u3000\n" + _record(3) + "\n\n"
    ).encode(),
    "crlf_bom.log": b"\xef\xbb\xbf" + ("\r\n".join(_record(i) for i in range(4)) + "\r\n").encode(),
    "bad_lines.log": "\n".join(
        [_record(1), "{truncated", "[1, 2]", '"a string"', "  " + _record(2), "42", "", _record(3)]
    ).encode(),
    "no_final_newline.log": "\n".join(_record(i) for i in range(3)).encode(),
    "lone_cr.log": ("\r".join(_record(i) for i in range(3)) + "\n" + _record(9)).encode(),
    "form_feed.log": (_record(1) + "\x0c" + _record(2) + "\n" + _record(3)).encode(),
    "windows_1252.log": (_record(1) + "\n").encode() + _record(2, query_name="caf\xe9.").encode("cp1252"),
    "utf16.log": ("\ufeff" + "\n".join(_record(i) for i in range(3))).encode("utf-16-le"),
    "non_ascii.log": "\n".join([_record(1, query_name="b\u00fccher.example."), _record(2)]).encode(),
    "empty.log": b"",
    "only_blank.log": b"\n\n  \n",
}


@pytest.mark.parametrize("name", sorted(ODD_FILES))
def test_every_line_keeps_its_python_line_number_and_verdict(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(ODD_FILES[name])
    good, bad = _expected(path)
    assert _imported(tmp_path, [path])[name] == (good, bad)


def test_many_files_in_one_statement_are_numbered_each_from_its_own_first_line(tmp_path: Path) -> None:
    paths = []
    for k in range(6):
        lines = [_record(100 * k + i) for i in range(k + 2)]
        lines.insert(k % 3, "{broken" if k % 2 else "")
        data = ("\n".join(lines) + "\n").encode()
        path = tmp_path / f"part{k}.log.gz"
        path.write_bytes(gzip.compress(data, mtime=0))
        paths.append(path)
    got = _imported(tmp_path, paths)
    for path in paths:
        assert got[path.name] == _expected(path)
    # Every record is there once, whatever file it came from.
    with CaseFile.open(tmp_path / "case.caseline") as case:
        [(n,)] = case.cursor().execute("SELECT count(DISTINCT raw->>'$.query_name') FROM events").fetchall()
    assert n == sum(len(_expected(p)[0]) for p in paths)


def test_a_separator_inside_a_json_string_is_not_a_line_break(tmp_path: Path) -> None:
    """U+2028 is valid unescaped inside a JSON string; str.splitlines cut the record there."""
    path = tmp_path / "sep.log"
    path.write_bytes(("\n".join([_record(1, query_name="a\u2028b."), _record(2)]) + "\n").encode())
    kept, warned = _imported(tmp_path, [path])[path.name]
    assert (kept, warned) == ([1, 2], [])
    with CaseFile.open(tmp_path / "case.caseline") as case:
        [(name,)] = (
            case.cursor().execute("SELECT raw->>'$.query_name' FROM events WHERE record_index = 1").fetchall()
        )
    assert name == "a\u2028b."


def test_a_chunk_validated_in_any_statements_and_batches_gives_the_same_case(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chunk's lines are cut into statements and batches by their count
    (`insert_batches.statements`): events and their ids, the warnings and the counts must not
    depend on how. Batches and groups of 4 lines split every file across batches; the 45 lines
    (11 groups and one line) are carried (`insert_carry`) into a statement of whole groups, two
    for each thread, and the last 5 lines (a group and one line) into two statements of small
    batches."""
    paths = []
    for k in range(5):
        lines = [_record(100 * k + i) for i in range(7)]
        lines.insert(2 + k % 3, "{broken")
        lines.insert(5, "")
        path = tmp_path / "logs" / f"part{k}.log.gz"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0))
        paths.append(path)

    plans: list = []
    monkeypatch.setattr(
        chunk_writer, "InsertCarry", lambda group, _threads, size: InsertCarry(group, 2, size)
    )
    small, groups = import_both_ways(tmp_path, monkeypatch, [tmp_path / "logs"], 4, plans)
    assert small == groups
    assert plans == [[[4] * 10], [[2], [2, 1]]]
    counts, events, warnings = small
    assert len(events) == 5 * 7
    assert [c[1:] for c in counts] == [(8, 7, 1)] * 5 and len(warnings) == 5  # each file's broken line


def test_records_are_checked_again_only_in_a_chunk_where_some_failed_the_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first read of a chunk finds the records with a problem; when there are none, the
    INSERT takes every record without parsing it once more (a parse of each record). A chunk
    with a broken line keeps the check, and both chunks come out as the Python reader says.
    Each chunk fills the carry's statement (4 rows, `insert_carry`) alone."""
    monkeypatch.setattr(ingest, "CHUNK_FILES", 1)
    monkeypatch.setattr(chunk_writer, "INSERT_ROW_GROUP", 4)
    monkeypatch.setattr(
        chunk_writer, "InsertCarry", lambda group, _threads, size: InsertCarry(group, 1, size)
    )
    clean = tmp_path / "a_clean.log"
    clean.write_bytes(("\n".join(_record(i) for i in range(4)) + "\n").encode())
    broken = tmp_path / "b_broken.log"
    broken.write_bytes("\n".join([_record(10), "{broken", '"text"', _record(11)]).encode())
    inserts: list[str] = []
    real = chunk_import.ChunkImporter._insert_events

    def watched(self: chunk_import.ChunkImporter, sql: str, row_groups: int = 0) -> None:
        inserts.append(sql)
        real(self, sql, row_groups)

    monkeypatch.setattr(chunk_import.ChunkImporter, "_insert_events", watched)
    got = _imported(tmp_path, [clean, broken])
    assert got == {clean.name: _expected(clean), broken.name: _expected(broken)}
    assert got[broken.name] == ([1, 4], [2, 3])
    assert ["json_valid" in sql for sql in inserts] == [False, True]
