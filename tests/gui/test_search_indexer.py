"""The free-text index is built in the background when a writable case is opened, not when read-only."""

from __future__ import annotations

import hashlib
from pathlib import Path

from viewer.core import derived, search_index
from viewer.core.case_file import CaseFile
from viewer.core.ingest import import_paths

from .conftest import WAIT_MS, open_window

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
