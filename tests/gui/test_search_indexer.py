"""The free-text index is built in the background when a writable case is opened, not when read-only."""

from __future__ import annotations

import hashlib
from pathlib import Path

from viewer.core import derived, search_index
from viewer.core.case_file import CaseFile
from viewer.core.ingest import import_paths

from .conftest import WAIT_MS, open_window, slow_to_stop

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "formats" / "aws_cloudtrail"


def _imported_case(tmp_path: Path) -> Path:
    path = tmp_path / "c.caseline"
    with CaseFile.create(path) as case:
        import_paths(case, [SAMPLE])  # the import itself leaves the search index for later
        assert derived.pending(case.cursor())
    return path


def test_writable_case_gets_indexed_in_background(qtbot, settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = _imported_case(tmp_path)
    win = open_window(qtbot, settings, path, read_only=False)
    qtbot.waitUntil(lambda: not win.indexer.running, timeout=WAIT_MS)
    cur = win.session.case.cursor()
    assert not derived.pending(cur)
    assert search_index.is_ready(cur)
    win.close_case()


def test_read_only_case_is_never_indexed(qtbot, settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = _imported_case(tmp_path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    win = open_window(qtbot, settings, path, read_only=True)
    assert not win.indexer.running
    win.close_case()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest


def test_the_build_runs_outside_the_shared_pool_and_closing_waits_for_it(  # type: ignore[no-untyped-def]
    qtbot, settings, tmp_path, monkeypatch
) -> None:
    """A build of minutes must leave the global pool (pages, bars, detail) its threads: on a 10M
    case it held one while a free-text timeline scan held the other, and the table's first rows
    waited over a minute. Closing the case cancels the build and waits for it to roll back."""
    import threading

    from PySide6.QtCore import QThreadPool

    from viewer.gui import search_indexer

    started, ended = threading.Event(), threading.Event()

    def gated(case, ctx) -> bool:  # type: ignore[no-untyped-def]
        started.set()
        try:
            while True:  # until cancelled: the real build's statements check the token so
                ctx.check()
                threading.Event().wait(0.01)
        finally:
            ended.set()

    monkeypatch.setattr(search_indexer, "_build_if_needed", gated)
    path = _imported_case(tmp_path)
    win = open_window(qtbot, settings, path, read_only=False)
    assert started.wait(WAIT_MS / 1000) and win.indexer.running
    qtbot.waitUntil(lambda: QThreadPool.globalInstance().activeThreadCount() == 0, timeout=WAIT_MS)
    assert win.indexer.running  # building, and no thread of the shared pool busy with it
    assert win.close_case()
    assert ended.is_set()  # close_case returned only once the build had stopped


def test_a_build_that_does_not_stop_in_time_keeps_the_case_open(
    qtbot, settings, tmp_path, monkeypatch, told
) -> None:  # type: ignore[no-untyped-def]
    """Closing the connection under a build still in DuckDB would crash the window: the close is
    refused, and the index is built once the cancelled build has stopped."""
    from viewer.gui import search_indexer

    gate = slow_to_stop(monkeypatch, search_indexer, "_build_if_needed", "STOP_WAIT_MS")
    path = _imported_case(tmp_path)
    win = open_window(qtbot, settings, path, read_only=False)
    assert win.indexer.running
    assert not win.close_case() and win.session is not None
    assert told and "still stopping" in told[-1]
    gate.set()
    qtbot.waitUntil(lambda: search_index.is_ready(win.session.case.cursor()), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: not win.indexer.running, timeout=WAIT_MS)
    assert win.close_case() and win.session is None
