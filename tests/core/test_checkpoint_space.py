"""No room at a checkpoint (viewer.core.write_space): DuckDB invalidates the case's database for
the rest of the process when a checkpoint cannot write the file. An import committed before it
stands and says so; a take-back whose checkpoint fails leaves the case as before; the deferred
builds say whether they were kept; and `CaseFile.database_lost` tells the callers to open the
case again. The disk is a file size limit (tests.support.disk_limit)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.disk_limit import files_limited_to, limited_cli, no_room_past
from tests.support.import_evidence import records, snapshot, write_gz
from viewer.core import derived
from viewer.core.case_file import CaseError, CaseFile
from viewer.core.ingest import import_paths
from viewer.core.write_space import NOTHING_ADDED, DeferredSpaceError, ImportResourceError

REPO = Path(__file__).resolve().parents[2]


def _case(tmp_path: Path) -> Path:
    """A case of 2,000 events, checkpointed and closed (~4.4 MB)."""
    path = tmp_path / "case.caseline"
    with CaseFile.create(path) as case:
        import_paths(case, [write_gz(tmp_path / "first.json.gz", records(2_000, 900_000))])
    return path


def _events(path: Path) -> int:
    with CaseFile.open(path, read_only=True) as case:
        return int(case.cursor().execute("SELECT count(*) FROM events").fetchall()[0][0])


def test_an_import_committed_before_its_checkpoint_found_no_room_stands(tmp_path: Path) -> None:
    """500 events fit the write-ahead log; the checkpoint after the import cannot grow the case
    file. Before, the import's report was lost to a FatalException traceback although the import
    was committed; now the report comes back saying so, and the case, opened again, holds it."""
    path = _case(tmp_path)
    evidence = write_gz(tmp_path / "ev" / "more.json.gz", records(500))
    case = CaseFile.open(path)
    with files_limited_to(no_room_past(path)):
        report = import_paths(case, [evidence])
    assert report.total("kept") == 500
    assert report.unfolded is not None
    assert report.unfolded.startswith(
        "the import is complete, but DuckDB could not fold it into the case file"
    )
    assert f"disk space in {tmp_path}" in report.unfolded and "case.caseline.wal" in report.unfolded
    assert case.database_lost()
    case.close()
    assert _events(path) == 2_500  # read-only: the write-ahead log read, nothing written
    with CaseFile.open(path) as reopened:
        rows = reopened.cursor().execute("SELECT count(*), count(finished_at) FROM imports").fetchall()
        assert rows == [(2, 2)]  # finished: not an unfinished import to take back
        assert not reopened.database_lost()


def test_a_take_back_whose_checkpoint_found_no_room_leaves_the_case_as_before(tmp_path: Path) -> None:
    """6,000 events overflow the write-ahead log: the chunk's commit fails, the take-back commits
    (a few rows) but its checkpoint cannot write, and DuckDB gives up the database. What the
    error says (nothing added) holds once the case is opened again."""
    path = _case(tmp_path)
    evidence = write_gz(tmp_path / "ev" / "more.json.gz", records(6_000))
    case = CaseFile.open(path)
    before = snapshot(case)
    with files_limited_to(no_room_past(path)), pytest.raises(ImportResourceError) as failed:
        import_paths(case, [evidence])
    assert NOTHING_ADDED in str(failed.value) and failed.value.taken_back
    assert case.database_lost()
    case.close()
    with CaseFile.open(path) as reopened:
        assert snapshot(reopened) == before


def _search_index_built(path: Path) -> bool:
    with CaseFile.open(path, read_only=True) as case:
        rows = case.cursor().execute("SELECT 1 FROM case_meta WHERE key = 'derived:search_index'").fetchall()
    return bool(rows)


def test_deferred_builds_with_no_room_say_whether_they_were_kept(tmp_path: Path) -> None:
    """The search index and raw fields, built after an import: with no room for the write-ahead
    log the build rolls back (not built, the database still usable); with room for the log but
    not the checkpoint it is committed and kept in the log (built, the database given up)."""
    path = _case(tmp_path)
    assert not _search_index_built(path)

    case = CaseFile.open(path)
    with files_limited_to(64 * 1024), pytest.raises(DeferredSpaceError) as not_built:
        derived.update_deferred(case)
    assert not not_built.value.built
    assert str(not_built.value).startswith(
        "the search index and raw fields were not built for want of disk space"
    )
    assert "`caseline reindex CASE`" in str(not_built.value)
    assert not case.database_lost()
    case.close()
    assert not _search_index_built(path)

    case = CaseFile.open(path)
    with files_limited_to(no_room_past(path)), pytest.raises(DeferredSpaceError) as kept:
        derived.update_deferred(case)
    assert kept.value.built
    assert "kept in the case's write-ahead log (case.caseline.wal)" in str(kept.value)
    assert case.database_lost()
    case.close()
    assert _search_index_built(path)


def test_the_cli_reports_an_import_its_checkpoint_could_not_fold_in(tmp_path: Path) -> None:
    """The import's summary as usual, then a warning (exit 0: the import is in); the deferred
    builds are not attempted in a process whose database DuckDB gave up."""
    path = _case(tmp_path)
    evidence = write_gz(tmp_path / "ev" / "more.json.gz", records(500))
    run = limited_cli(no_room_past(path), "import", str(path), str(evidence))
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    assert "seen 500 = kept 500 + rejected 0 + duplicate 0" in run.stdout
    assert "warning: the import is complete, but DuckDB could not fold it into the case file" in run.stderr
    assert "search index" not in run.stdout
    assert _events(path) == 2_500


def test_the_cli_warns_when_the_search_index_finds_no_room(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`caseline import` builds the search index after the import has committed: a build with no
    room is a warning naming `caseline reindex`, not an error (the import stands)."""
    from viewer.cli import _build_deferred

    path = _case(tmp_path)
    with CaseFile.open(path) as case, files_limited_to(64 * 1024):
        _build_deferred(case)
    err = capsys.readouterr().err
    assert "warning: the search index and raw fields were not built for want of disk space" in err
    assert "Traceback" not in err
    assert not _search_index_built(path) and _events(path) == 2_000


def test_a_fetch_stops_after_a_batch_whose_checkpoint_found_no_room(tmp_path: Path) -> None:
    """A live fetch imports its downloads batch by batch into the case: once a batch is in but
    DuckDB gave up the database over its checkpoint, the fetch stops there, saying the batch is
    in (the next batch would fail on the database, and read as nothing added)."""
    from viewer.core.fetch.acquisition import Acquisition, import_fetched
    from viewer.core.jobs import JobContext

    path = _case(tmp_path)
    batch = write_gz(tmp_path / "cache" / "batch-1.json.gz", records(500))
    acq = Acquisition(api="cloudtrail:LookupEvents", params={}, target={})
    case = CaseFile.open(path)
    with files_limited_to(no_room_past(path)), pytest.raises(CaseError) as stopped:
        import_fetched(case, [batch], acq, JobContext(), "live:aws-test")
    assert str(stopped.value).startswith(
        "500 records imported, then the disk was full: the import is complete"
    )
    assert acq.records_imported == 500
    case.close()
    assert _events(path) == 2_500


def test_reindex_on_a_full_disk_says_so(tmp_path: Path) -> None:
    """`caseline reindex` builds every derived structure; with no room for the write-ahead log it
    fails with the deferred builds' words (before: DuckDB's error), exit 2, the case unchanged."""
    path = _case(tmp_path)
    run = limited_cli(64 * 1024, "reindex", str(path))
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr
    assert run.stderr.startswith(
        "error: the search index and raw fields were not built for want of disk space"
    )
    assert not _search_index_built(path) and _events(path) == 2_000
