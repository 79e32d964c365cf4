"""The window on a full disk: DuckDB gives up a case's database for the rest of the process when
a checkpoint cannot write the file, and every query fails from then on. The window opens the case
again (which reads the file and its write-ahead log, and takes back an unfinished import) and
says what happened: after an import stopped, an import committed before its checkpoint, and the
search index built in the background. The status bar says when a background build found no room
(search index, entity tables), and the import window when the rest of an import may not fit.
The disk is a file size limit (tests.support.disk_limit)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.disk_limit import files_limited_to, no_room_past, sigxfsz_ignored
from tests.support.import_evidence import records, snapshot, write_gz
from viewer.core import derived, ingest
from viewer.core.case_file import CaseFile

from .conftest import WAIT_MS, open_window


def _case(tmp_path: Path, events: int) -> Path:
    path = tmp_path / "case.caseline"
    with CaseFile.create(path) as case:
        ingest.import_paths(case, [write_gz(tmp_path / "first.json.gz", records(events, 900_000))])
    return path


def _limit_imports(monkeypatch: pytest.MonkeyPatch, limit: int) -> None:
    """Files limited while an import runs (only then: the window's own reads and the reopening
    have room). Before the import window is made: it takes `run_import` when made."""
    real_run = ingest.run_import

    def run_with_a_full_disk(*args, **kwargs):  # type: ignore[no-untyped-def]
        with files_limited_to(limit):
            return real_run(*args, **kwargs)

    monkeypatch.setattr(ingest, "run_import", run_with_a_full_disk)


def _run_import_window(qtbot, win, evidence: Path, signal: str):  # type: ignore[no-untyped-def]
    dialog = win.show_import_dialog()
    assert dialog is not None
    with qtbot.waitSignal(dialog.planReady, timeout=WAIT_MS):
        dialog.set_paths([str(evidence)])
    with sigxfsz_ignored(), qtbot.waitSignal(getattr(dialog, signal), timeout=60_000):
        dialog.start_import()
    return dialog


def _import_with_files_limited(qtbot, win, evidence: Path, limit: int, monkeypatch, signal: str):  # type: ignore[no-untyped-def]
    _limit_imports(monkeypatch, limit)
    return _run_import_window(qtbot, win, evidence, signal)


def test_a_full_disk_at_a_commit_reopens_the_case_and_takes_the_import_back(  # type: ignore[no-untyped-def]
    qtbot, settings, tmp_path, monkeypatch, told
) -> None:
    """The case file may not grow past 6 MB while the import runs: a chunk's commit fails, and
    DuckDB refuses the case's database from then on in this process. The window opens the case
    again, which takes the import back, and says so; the case is as before and usable."""
    path = _case(tmp_path, 5)
    with CaseFile.open(path) as case:
        before = snapshot(case)
    for i in range(20):
        write_gz(tmp_path / "ev" / f"{i:02d}.json.gz", records(2_000, i * 2_000))
    win = open_window(qtbot, settings, path, read_only=False)
    dialog = _import_with_files_limited(qtbot, win, tmp_path / "ev", 6 * 1024**2, monkeypatch, "importFailed")
    assert len(told) == 1 and told[0].startswith("Import stopped: not enough disk space"), (
        told,
        dialog.status_label.text(),
    )
    assert "was taken back" in told[0]
    assert win.session is not None and win.session.path == path and win.import_dialog is None
    qtbot.waitUntil(lambda: win.count_label.text() == "5 events in case", timeout=WAIT_MS)
    after = snapshot(win.session.case)
    log = after.pop("activity_log")
    assert {k: v for k, v in before.items() if k != "activity_log"} == after
    assert [row[3] for row in log[len(before["activity_log"]) :]] == ["unfinished_import_removed"]


def test_a_take_back_whose_checkpoint_found_no_room_reopens_the_case(  # type: ignore[no-untyped-def]
    qtbot, settings, tmp_path, monkeypatch, told
) -> None:
    """6,000 events overflow the write-ahead log: the import stops and is taken back, but the
    take-back's checkpoint cannot write and DuckDB gives up the database. The message (nothing
    added) is true; before, the window stayed on a database every query then failed on."""
    path = _case(tmp_path, 2_000)
    with CaseFile.open(path) as case:
        before = snapshot(case)
    evidence = write_gz(tmp_path / "ev" / "more.json.gz", records(6_000))
    win = open_window(qtbot, settings, path, read_only=False)
    _import_with_files_limited(qtbot, win, evidence, no_room_past(path), monkeypatch, "importFailed")
    assert len(told) == 1 and told[0].startswith("Import stopped: not enough disk space"), told
    assert "Nothing was added to the case" in told[0] and "the case was opened again." in told[0]
    assert win.session is not None and not win.session.case.database_lost()
    qtbot.waitUntil(lambda: win.count_label.text() == "2,000 events in case", timeout=WAIT_MS)
    assert snapshot(win.session.case) == before


def test_an_import_whose_checkpoint_found_no_room_is_kept_and_the_case_opened_again(  # type: ignore[no-untyped-def]
    qtbot, settings, tmp_path, monkeypatch, told
) -> None:
    """500 events fit the write-ahead log, the checkpoint after the import cannot grow the case
    file: the import is committed. Before, the window took the import for failed (a FatalException
    traceback) and every query failed after it; now it says the import is in, opens the case
    again, and shows its events."""
    path = _case(tmp_path, 2_000)
    evidence = write_gz(tmp_path / "ev" / "more.json.gz", records(500))
    win = open_window(qtbot, settings, path, read_only=False)
    _import_with_files_limited(qtbot, win, evidence, no_room_past(path), monkeypatch, "imported")
    assert len(told) == 1, told
    assert told[0].startswith(
        "Import complete, disk full: Imported 500 events; the import is complete, but DuckDB "
        "could not fold it into the case file"
    ), told
    assert "the case was opened again" in told[0]
    assert win.session is not None and win.session.path == path and win.import_dialog is None
    assert not win.session.case.database_lost()
    qtbot.waitUntil(lambda: win.count_label.text() == "2,500 events in case", timeout=WAIT_MS)
    qtbot.waitUntil(lambda: win.table_model.rowCount() == 2_500, timeout=WAIT_MS)


def test_a_search_index_with_no_room_is_said_and_the_case_opened_again(  # type: ignore[no-untyped-def]
    qtbot, settings, tmp_path, told
) -> None:
    """A case without its search index, opened while the disk has room for the write-ahead log
    but not the checkpoint: the background build commits, its checkpoint fails and DuckDB gives
    up the database. The window opens the case again, which finds the index built (in the log),
    and says so."""
    path = _case(tmp_path, 2_000)
    with files_limited_to(no_room_past(path)):
        win = open_window(qtbot, settings, path, read_only=False)
        qtbot.waitUntil(lambda: len(told) == 1, timeout=60_000)
        assert told[0].startswith("Search index: the search index and raw fields are built"), told
        assert "the case was opened again" in told[0]
        assert win.session is not None and win.session.path == path
        assert not win.session.case.database_lost()
        qtbot.waitUntil(lambda: not win.indexer.running, timeout=WAIT_MS)
        assert not derived.pending(win.session.case.cursor())
    qtbot.waitUntil(lambda: win.count_label.text() == "2,000 events in case", timeout=WAIT_MS)
    assert len(told) == 1


def test_a_search_index_with_no_room_for_its_log_is_said_in_the_status_bar(  # type: ignore[no-untyped-def]
    qtbot, settings, tmp_path, told
) -> None:
    """No room even for the write-ahead log: the build rolls back, the case stays usable (the
    readers scan what is not indexed), and the status bar says the disk is full, with the whole
    message in its tooltip; no box, no reopening."""
    path = _case(tmp_path, 2_000)
    with files_limited_to(64 * 1024):
        win = open_window(qtbot, settings, path, read_only=False)
        qtbot.waitUntil(lambda: "disk full" in win.indexer.label.text(), timeout=60_000)
        qtbot.waitUntil(lambda: not win.indexer.running, timeout=WAIT_MS)
    assert win.indexer.label.isVisible()
    assert win.indexer.label.text().endswith("⚠ search index: disk full</span>")
    assert "were not built for want of disk space" in win.indexer.label.toolTip()
    assert told == []
    assert win.session is not None and not win.session.case.database_lost()
    assert derived.pending(win.session.case.cursor())
    qtbot.waitUntil(lambda: win.count_label.text() == "2,000 events in case", timeout=WAIT_MS)


def test_the_import_window_warns_while_the_import_runs_that_the_disk_may_fill(  # type: ignore[no-untyped-def]
    qtbot, settings, tmp_path, monkeypatch, told
) -> None:
    """Twenty files committed one at a time (each commit checkpointed, as a big import's are)
    into a case that may grow by 2 MB (they need ~3.5 MB more): the forecast from the first
    commits shows under the progress figures, before the disk fills and the import stops."""
    from viewer.core import chunk_import

    monkeypatch.setattr(ingest, "CHUNK_FILES", 1)
    monkeypatch.setattr(chunk_import, "COMMIT_BYTES", 1)
    path = _case(tmp_path, 2_000)
    for i in range(20):
        write_gz(tmp_path / "ev" / f"{i:02d}.json.gz", records(2_000, i * 2_000))
    win = open_window(qtbot, settings, path, read_only=False)
    win.session.case.cursor().execute("SET checkpoint_threshold = '64KB'")
    _limit_imports(monkeypatch, path.stat().st_size + 2 * 1024**2)
    dialog = win.show_import_dialog()
    assert dialog is not None
    shown: list[str] = []
    real_set = dialog.progress_label.setText
    dialog.progress_label.setText = lambda text: (shown.append(text), real_set(text))  # type: ignore[method-assign]
    _run_import_window(qtbot, win, tmp_path / "ev", "importFailed")
    warned = [text for text in shown if "\n⚠ the disk may fill before this import ends" in text]
    assert warned, shown
    assert warned[0].startswith("importing · files ")
    assert len(told) <= 1  # the failure itself may reopen the case (tested above)


def test_entity_tables_with_no_room_say_so_in_the_status_bar(qtbot, settings, tmp_path, told) -> None:  # type: ignore[no-untyped-def]
    """A case whose entity tables are stale is brought up to date when it opens; with no room for
    the write-ahead log the build rolls back and the status bar says the disk is full, the
    panels counting from the events (before: "Entity tables failed:" and DuckDB's error)."""
    import duckdb

    path = _case(tmp_path, 2_000)
    with duckdb.connect(str(path)) as con:
        con.execute("DELETE FROM entity_state")  # the tables no longer match the events
    with files_limited_to(8 * 1024):  # a few entities (the records differ in time and id only)
        win = open_window(qtbot, settings, path, read_only=False)
        tables = win.features[0].tables
        qtbot.waitUntil(lambda: "disk full" in tables.label.text(), timeout=60_000)
        qtbot.waitUntil(lambda: not tables.running, timeout=WAIT_MS)
    assert tables.label.text() == "Entity tables not built: disk full (counts come from the events)"
    assert tables.label.toolTip().startswith(
        "the entity tables could not be written for want of disk space: "
    )
    assert "File too large" in tables.label.toolTip()
    assert told == [] and win.session is not None and not win.session.case.database_lost()


def test_entity_tables_whose_checkpoint_found_no_room_reopen_the_case(  # type: ignore[no-untyped-def]
    qtbot, settings, tmp_path, told
) -> None:
    """The entity tables, stale in an open case, built again with room for the write-ahead log
    but not for the checkpoint (every commit checkpointed, as a big case's build is): DuckDB gives
    up the database, and the window opens the case again, which finds the tables built. A
    principal, key and address per event, so that the tables need more than the file's free
    blocks (2,000 records differing in time and id only fit in them)."""
    many = records(2_000, 900_000)
    for i, r in enumerate(many):
        r["sourceIPAddress"] = f"10.0.{i // 256}.{i % 256}"
        r["userIdentity"]["arn"] = f"arn:aws:iam::111122223333:user/u{i}"
        r["userIdentity"]["accessKeyId"] = f"AKIA{i:016d}"
    path = tmp_path / "case.caseline"
    with CaseFile.create(path) as case:
        ingest.import_paths(case, [write_gz(tmp_path / "first.json.gz", many)])
    win = open_window(qtbot, settings, path, read_only=False)
    tables = win.features[0].tables
    qtbot.waitUntil(lambda: not tables.running and not win.indexer.running, timeout=60_000)
    cur = win.session.case.cursor()
    cur.execute("SET checkpoint_threshold = '64KB'")
    cur.execute("DELETE FROM entity_state")  # the tables no longer match the events
    cur.execute("CHECKPOINT")
    with files_limited_to(no_room_past(path)):
        tables.start(win.session.case)
        qtbot.waitUntil(lambda: len(told) == 1, timeout=60_000)
    assert told[0].startswith(
        "Entity tables: the entity tables could not be written for want of disk space"
    ), told
    assert "the case was opened again" in told[0]
    assert win.session is not None and not win.session.case.database_lost()
    qtbot.waitUntil(lambda: win.count_label.text() == "2,000 events in case", timeout=WAIT_MS)
