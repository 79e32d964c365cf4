"""An import commits chunk by chunk; cancel, failure and a killed process still leave the case as
before (viewer.core.import_undo). Chunks are made tiny (two files) so that several commit."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.support.import_evidence import records, snapshot, taken_back_at_next_open, write_gz
from viewer.core import chunk_import, chunk_writer, ingest
from viewer.core.case_file import CaseFile
from viewer.core.ingest import import_paths
from viewer.core.jobs import Cancelled, CancelToken, JobContext
from viewer.core.write_space import ImportResourceError

REPO = Path(__file__).resolve().parents[2]


def _evidence(tmp_path: Path, files: int = 8, per_file: int = 25) -> tuple[Path, Path]:
    first = write_gz(tmp_path / "first.json.gz", records(5))
    for i in range(files):
        write_gz(tmp_path / "more" / f"{i:02d}.json.gz", records(per_file, 1000 + i * per_file))
    return first, tmp_path / "more"


def _committed(case: CaseFile) -> int:
    """Events visible to another cursor: what the import has committed so far."""
    return case.cursor().execute("SELECT count(*) FROM events").fetchall()[0][0]


@pytest.fixture
def tiny_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of two files, each committed on its own."""
    monkeypatch.setattr(ingest, "CHUNK_FILES", 2)
    monkeypatch.setattr(chunk_import, "COMMIT_BYTES", 1)


def test_chunks_commit_as_they_go_and_cancel_takes_them_back(tmp_path: Path, tiny_chunks: None) -> None:
    first, more = _evidence(tmp_path)
    with CaseFile.create(tmp_path / "case.caseline") as case:
        import_paths(case, [first])
        before = snapshot(case)
        token = CancelToken()
        committed: list[int] = []

        def on_progress(p):
            if p.phase == "importing" and p.files_done >= 4:  # the second chunk is in
                committed.append(_committed(case))
                token.cancel()

        with pytest.raises(Cancelled):
            import_paths(case, [more], ctx=JobContext(token, on_progress, min_interval=0))
        assert committed and committed[0] >= 5 + 2 * 25  # at least the first chunk was committed
        assert snapshot(case) == before
        # The same evidence imports in full afterwards: nothing of the cancelled run is in the way.
        report = import_paths(case, [more])
        assert report.total("kept") == 8 * 25 and all(f.reconciled for f in report.files)
        assert _committed(case) == 5 + 8 * 25


def test_a_failure_after_committed_chunks_leaves_the_case_as_before(
    tmp_path: Path, tiny_chunks: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, more = _evidence(tmp_path)
    with CaseFile.create(tmp_path / "case.caseline") as case:
        import_paths(case, [first])
        before = snapshot(case)

        def on_progress(p):  # stands for any error raised in the middle of an import
            if p.phase == "importing" and p.files_done >= 6:
                raise OSError("No space left on device")

        # Stages of 50 records counted in row groups of 10: their INSERTs run on 5 threads.
        monkeypatch.setattr(chunk_import, "ROW_GROUP", 10)
        case.cursor().execute("SET threads = 1")
        with pytest.raises(OSError, match="No space left"):
            import_paths(case, [more], ctx=JobContext(on_progress=on_progress, min_interval=0))
        assert snapshot(case) == before
        assert case.cursor().execute("SELECT current_setting('threads')").fetchall()[0][0] == 1
        assert case.cursor().execute("SELECT count(*) FROM imports").fetchall()[0][0] == 1


def test_a_stage_insert_failing_on_raised_threads_sets_them_back(
    tmp_path: Path, tiny_chunks: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An INSERT from the records stage runs on more threads (here: stages of 50 records in row
    groups of 10, on a database of one thread); when it fails, its transaction is aborted and
    no SET can run there, so the setting comes back once the import has rolled back."""
    first, more = _evidence(tmp_path)
    monkeypatch.setattr(chunk_import, "ROW_GROUP", 10)
    insert = chunk_import.ChunkImporter._insert_events
    armed: list[bool] = []  # set once the first import is in
    failed_with: list[bool] = []  # threads_raised when the failing INSERT returned

    def failing(self: chunk_import.ChunkImporter, sql: str, row_groups: int = 0) -> None:
        if not (armed and row_groups and not failed_with):
            return insert(self, sql, row_groups)
        # A DuckDB error inside the statement, as a full disk would raise.
        sql = sql.replace("SELECT ", "SELECT error('No space left on device')::BIGINT + ", 1)
        try:
            insert(self, sql, row_groups)
        finally:
            failed_with.append(self.threads_raised)

    monkeypatch.setattr(chunk_import.ChunkImporter, "_insert_events", failing)
    with CaseFile.create(tmp_path / "case.caseline") as case:
        import_paths(case, [first])
        before = snapshot(case)
        armed.append(True)
        case.cursor().execute("SET threads = 1")
        with pytest.raises(ImportResourceError, match="No space left"):  # see test_write_space
            import_paths(case, [more])
        assert failed_with == [True]  # it failed with its threads raised and not yet set back
        assert snapshot(case) == before
        assert case.cursor().execute("SELECT current_setting('threads')").fetchall()[0][0] == 1


@pytest.mark.parametrize("per_commit", ["chunk", "all chunks"])
def test_a_damaged_file_in_a_later_chunk_is_salvaged_without_repeating_earlier_ones(
    tmp_path: Path, tiny_chunks: None, monkeypatch: pytest.MonkeyPatch, per_commit: str
) -> None:
    """The chunk holding the damaged file rolls back, with the chunks before it since the last
    commit (all of them when they share one transaction), and those run again."""
    if per_commit == "all chunks":
        monkeypatch.setattr(chunk_import, "COMMIT_BYTES", 1 << 40)
    _, more = _evidence(tmp_path, files=6)
    damaged = more / "03.json.gz"
    whole = damaged.read_bytes()
    damaged.write_bytes(whole[: len(whole) * 2 // 3])
    progress: list[tuple[int, int, int]] = []

    def on_progress(p):
        progress.append((p.files_done, p.files_total, p.records))

    with CaseFile.create(tmp_path / "case.caseline") as case:
        report = import_paths(case, [more], ctx=JobContext(on_progress=on_progress, min_interval=0))
        by = {Path(f.path).name: f for f in report.files}
        assert all(f.reconciled for f in report.files)
        assert all(by[f"{i:02d}.json.gz"].counts.kept == 25 for i in (0, 1, 2, 4, 5))
        cut = by["03.json.gz"]
        assert cut.counts.kept < 25 and any("truncated" in w for w in cut.warnings)
        assert sum(len(f.warnings) for f in report.files) == len(cut.warnings)
        # No event twice: what committed before the damaged chunk was not imported again.
        dup = case.cursor().execute("SELECT count(*) - count(DISTINCT event_id) FROM events").fetchall()[0][0]
        assert dup == 0 and _committed(case) == report.total("kept")
    # The progress counts each file and record once, retried or not.
    assert all(done <= total for done, total, _ in progress)
    assert progress[-1][0] == 6 and max(r for *_, r in progress) == report.total("seen")


_KILLED_IMPORT = textwrap.dedent(
    """
    import os, signal, sys
    from viewer.core import chunk_import, ingest
    from viewer.core.case_file import CaseFile
    from viewer.core.jobs import JobContext

    ingest.CHUNK_FILES = 2
    chunk_import.COMMIT_BYTES = 1

    def on_progress(p):
        if p.phase == "importing" and p.files_done >= 4:
            os.kill(os.getpid(), signal.SIGKILL)  # no cleanup of any kind runs

    case = CaseFile.open(sys.argv[1])
    ingest.import_paths(case, [sys.argv[2]], ctx=JobContext(on_progress=on_progress, min_interval=0))
    """
)


def test_a_killed_import_is_taken_back_at_the_next_writable_open(tmp_path: Path) -> None:
    first, more = _evidence(tmp_path)
    path = tmp_path / "case.caseline"
    with CaseFile.create(path) as case:
        import_paths(case, [first])
        before = snapshot(case)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.run(
        [sys.executable, "-c", _KILLED_IMPORT, str(path), str(more)],
        env=env,
        capture_output=True,
        timeout=300,
    )
    assert run.returncode == -9, run.stderr.decode()
    taken_back = taken_back_at_next_open(path, before)
    assert len(taken_back) == 1 and taken_back[0]["events_removed"] >= 2 * 25
    with CaseFile.open(path) as case:
        report = import_paths(case, [more])
        assert report.total("kept") == 8 * 25 and _committed(case) == 5 + 8 * 25


def test_records_keep_their_index_in_a_big_stage_after_a_refused_chunk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Events are inserted in any row order; the records stage, which numbers records by rowid,
    still gives each record its index in its file, in a stage of two row groups read by both
    threads and after a refused chunk's aborted transaction: chunks of three files, the first
    refused, then retried as the salvaged file alone and the other three (2 x 70k records).
    The INSERT from the stage runs a thread per row group up to a bound (here: row groups of
    10,000, a database of one thread and at most three per thread), and the thread setting is
    the same again afterwards."""
    monkeypatch.setattr(ingest, "CHUNK_FILES", 3)
    monkeypatch.setattr(chunk_import, "COMMIT_BYTES", 1)
    monkeypatch.setattr(chunk_import, "ROW_GROUP", 10_000)
    monkeypatch.setattr(chunk_writer, "INSERT_THREADS_PER_CORE", 3)
    seen_threads: list[int] = []
    insert = chunk_import.ChunkImporter._insert_events

    class Probe:
        """The importer's cursor, reading DuckDB's thread setting as each events INSERT starts."""

        def __init__(self, cur: Any) -> None:
            self.cur = cur

        def execute(self, sql: str, *args: Any) -> Any:
            if sql.lstrip().startswith("INSERT INTO events"):
                got = self.cur.execute("SELECT current_setting('threads')").fetchall()[0][0]
                seen_threads.append(int(got))
            return self.cur.execute(sql, *args)

        def __getattr__(self, name: str) -> Any:
            return getattr(self.cur, name)

    def watched(self: chunk_import.ChunkImporter, sql: str, row_groups: int = 0) -> None:
        real, self.cur = self.cur, Probe(self.cur)  # type: ignore[assignment]
        try:
            insert(self, sql, row_groups)
        finally:
            self.cur = real

    monkeypatch.setattr(chunk_import.ChunkImporter, "_insert_events", watched)
    more = tmp_path / "more"
    more.mkdir()
    whole = write_gz(more / "00.json.gz", records(30)).read_bytes()
    (more / "00.json.gz").write_bytes(whole[: len(whole) // 2])  # refused: salvaged alone
    write_gz(more / "01.json.gz", records(3))
    n = 70_000
    for f in (2, 3):
        small = [
            {
                "eventVersion": "1.08",
                "eventTime": "2024-05-01T10:00:00Z",
                "eventSource": "s3.amazonaws.com",
                "eventName": "GetObject",
                "eventID": f"{f}-{i}",
                "awsRegion": "us-east-1",
            }
            for i in range(n)
        ]
        write_gz(more / f"{f:02d}.json.gz", small)
    with CaseFile.create(tmp_path / "case.caseline") as case:
        case.cursor().execute("SET threads = 1")
        report = import_paths(case, [more])
        assert all(f.reconciled for f in report.files)
        # A stage of 70k records is 7 groups of 10,000: a thread each, at most three times one.
        assert max(seen_threads) == 3
        assert case.cursor().execute("SELECT current_setting('threads')").fetchall()[0][0] == 1
        wrong = (
            case.cursor()
            .execute(
                "SELECT count(*) FROM events WHERE event_uid LIKE '_-%' "
                "AND event_uid <> split_part(event_uid, '-', 1) || '-' || record_index"
            )
            .fetchall()[0][0]
        )
        assert _committed(case) >= 2 * n and wrong == 0
