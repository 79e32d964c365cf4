"""Importing the same evidence with lines read straight from Arrow and through a temp table."""

from __future__ import annotations

from pathlib import Path

import pytest

from viewer.core import chunk_import
from viewer.core.case_file import CaseFile
from viewer.core.ingest import import_paths

#: (per-file counts, events by event id, warnings). Not the order of rows in the table: events are
#: inserted with preserve_insertion_order off (chunk_import), so two threads may store their
#: ranges of ids either way round.
Imported = tuple[list[tuple], list[tuple], list[tuple]]


def _imported(case_path: Path, paths: list[Path]) -> Imported:
    with CaseFile.create(case_path) as case:
        report = import_paths(case, paths)
        counts = sorted((f.path, f.counts.seen, f.counts.kept, f.counts.rejected) for f in report.files)
        cur = case.cursor()
        events = cur.execute("SELECT * EXCLUDE (ingest_ts) FROM events ORDER BY event_id").fetchall()
        warnings = cur.execute(
            "SELECT evidence_id, path, position, position_kind, reason FROM import_warnings ORDER BY ALL"
        ).fetchall()
    return counts, events, warnings


def import_both_ways(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, paths: list[Path], batch_rows: int
) -> tuple[Imported, Imported]:
    """The case from Arrow batches of `batch_rows` lines, then the case through a temp table
    (`chunk_import.ARROW_DIRECT_ROWS` 0)."""
    monkeypatch.setattr(chunk_import, "ARROW_DIRECT_BATCH", batch_rows)
    from_arrow = _imported(tmp_path / "arrow.caseline", paths)
    monkeypatch.setattr(chunk_import, "ARROW_DIRECT_ROWS", 0)
    return from_arrow, _imported(tmp_path / "table.caseline", paths)
