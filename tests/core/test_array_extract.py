"""Which documents take the records-array path (`array_extract`): only those whose records array
is the document's one key; the cut is then exactly that array."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb

from tests.support.import_evidence import records
from viewer.core.array_extract import (
    MARK_PREFIX,
    MARKS_FOUND_SQL,
    POSITIONS_SQL,
    SCRATCH_PREFIX,
    ArrayFile,
    extract_arrays,
    positions_match,
    remove_orphans,
    scratch_dir,
    stage_sql,
    staged_records_sql,
)
from viewer.core.case_file import CaseFile
from viewer.core.ingest import import_paths

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
    return [json.loads(r) for r in _staged(duckdb.connect(), [got])]


def _staged(con: duckdb.DuckDBPyConnection, files: list[ArrayFile]) -> list[str]:
    """The record texts the import's statements stage from the scratch files, in file order."""
    con.execute(stage_sql(files))
    con.execute(POSITIONS_SQL)
    assert positions_match(files, con.execute(MARKS_FOUND_SQL).fetchall()[0])
    sql = f"SELECT r FROM ({staged_records_sql(files)}) ORDER BY evidence_id, record_index"
    return [r for (r,) in con.execute(sql).fetchall()]


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


def _gz_records(path: Path, records: list, pad: bytes = b"") -> tuple[int, Path]:
    body = b"[" + pad + b", ".join(json.dumps(r).encode() for r in records) + pad + b"]"
    path.write_bytes(gzip.compress(b'{"Records": ' + body + b"}", mtime=0))
    return path


def test_many_files_share_scratch_files_and_each_record_keeps_its_file_and_index(tmp_path: Path) -> None:
    """Small files are written several to a scratch file, each after its marker: the stage gives
    every record the evidence id and index of its own file, whatever file shares its scratch file
    (empty arrays, whitespace inside the brackets, a file of another shape between them)."""
    (scratch := tmp_path / "scratch").mkdir()
    expected: dict[tuple[int, int], dict] = {}
    files = []
    for n in range(40):
        recs = [{"eventID": f"{n}-{i}", "n": i} for i in range(n % 7)]  # every 7th file is empty
        path = _gz_records(tmp_path / f"{n}.json.gz", recs, b"\n  " if n % 3 else b"")
        if n == 17:
            path.write_bytes(gzip.compress(b'{"Other": [], "Records": []}'))
        else:
            expected.update({(100 + n, i): r for i, r in enumerate(recs)})
        files.append((100 + n, path))
    got = extract_arrays(files, "$.Records", scratch)
    assert [a.evidence_id for a in got] == [e for e, _ in files]
    assert [a.evidence_id for a in got if a.array_path is None] == [117]
    assert 8 <= len({a.array_path for a in got if a.array_path is not None}) < 40
    con = duckdb.connect()
    _staged(con, got)  # checks that every marker was found once
    rows = con.execute(f"SELECT evidence_id, record_index, r FROM ({staged_records_sql(got)})").fetchall()
    assert {(e, i): json.loads(r) for e, i, r in rows} == expected and len(rows) == len(expected)


def test_a_record_that_copies_a_marker_sends_the_chunk_to_the_other_paths_with_nothing_lost(
    tmp_path: Path,
) -> None:
    """A records array may hold any JSON value, so a string that reads as a marker is possible: the
    markers then do not add up, and the chunk is imported by the paths that read each file itself."""
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    look_alike = json.loads(MARK_PREFIX + '1"')
    _gz_records(evidence / "a.json.gz", [*records(3), look_alike, *records(2, 3)])
    _gz_records(evidence / "b.json.gz", records(4, 10))
    with CaseFile.create(tmp_path / "case.caseline") as case:
        report = import_paths(case, [evidence])
        counts = {Path(f.path).name: (f.counts.seen, f.counts.kept, f.counts.rejected) for f in report.files}
        assert counts == {"a.json.gz": (6, 5, 1), "b.json.gz": (4, 4, 0)}
        assert all(f.reconciled for f in report.files)
        rows = (
            case.cursor()
            .execute(
                "SELECT e.path, record_index, raw->>'eventID' FROM events JOIN evidence e USING (evidence_id) "
                "ORDER BY e.path, record_index"
            )
            .fetchall()
        )
    ids = [(Path(p).name, i, uid) for p, i, uid in rows]
    assert ids == [
        ("a.json.gz", i, r["eventID"]) for i, r in [*enumerate(records(3)), *enumerate(records(2, 3), 4)]
    ] + [("b.json.gz", i, r["eventID"]) for i, r in enumerate(records(4, 10))]


def test_scratch_folders_of_processes_no_longer_running_are_removed(tmp_path: Path) -> None:
    """A killed import leaves its scratch folder (in /dev/shm: memory until a restart); the next
    one removes it, and never a folder of a process still running."""
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_pid = int(gone.stdout)
    dead = tmp_path / f"{SCRATCH_PREFIX}{dead_pid}-abc"
    live = tmp_path / f"{SCRATCH_PREFIX}{os.getpid()}-def"
    older = tmp_path / f"{SCRATCH_PREFIX}k2j4h_x1"  # no process id in its name: left alone
    for folder in (dead, live, older):
        folder.mkdir()
        (folder / "1.json").write_text("[]")
    assert remove_orphans(tmp_path) == [dead]
    assert not dead.exists() and live.exists() and older.exists()
    with scratch_dir() as folder:
        assert Path(folder).name.startswith(f"{SCRATCH_PREFIX}{os.getpid()}-")
