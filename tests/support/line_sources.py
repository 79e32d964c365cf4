"""Importing the same evidence with its lines cut into statements and batches in two ways."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from viewer.core import chunk_writer
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
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    paths: list[Path],
    batch_rows: int,
    plans: list | None = None,
) -> tuple[Imported, Imported]:
    """The case read in small batches of `batch_rows` lines (every chunk under a "row group"),
    then the case read with row groups of `batch_rows` lines (`insert_batches.statements`:
    whole groups, rests split in halves and read first, or two statements of small batches)."""
    monkeypatch.setattr(chunk_writer, "INSERT_SMALL_BATCH", batch_rows)
    monkeypatch.setattr(chunk_writer, "INSERT_ROW_GROUP", 10**9)
    small = _imported(tmp_path / "small.caseline", paths)
    monkeypatch.setattr(chunk_writer, "INSERT_SMALL_BATCH", 2)
    monkeypatch.setattr(chunk_writer, "INSERT_ROW_GROUP", batch_rows)
    if plans is not None:  # the batch sizes of each chunk's statements, as the import ran them
        cut = chunk_writer.statements

        def recorded(*args: object) -> list:
            parts = cut(*args)  # type: ignore[arg-type]
            plans.append([[b.num_rows for b in part] for part in parts])
            return parts

        monkeypatch.setattr(chunk_writer, "statements", recorded)
    return small, _imported(tmp_path / "groups.caseline", paths)


def resolver_record(i: int, **extra: object) -> str:
    """A Route 53 Resolver query log line (JSON lines), its time and names varied by `i`."""
    rec = {
        "version": "1.100000",
        "account_id": "111122223333",
        "region": "us-east-1",
        "vpc_id": "vpc-0123456789abcdef0",
        "query_timestamp": f"2024-05-01T10:{i // 60 % 60:02d}:{i % 60:02d}Z",
        "query_name": f"host{i}.example.com.",
        "query_type": "A",
        "query_class": "IN",
        "rcode": "NOERROR",
        "answers": [],
        "srcaddr": "10.0.1.5",
        "srcport": str(1024 + i),
        "transport": "UDP",
        "srcids": {"instance": "i-0abcdef1234567890"},
    }
    rec.update(extra)
    return json.dumps(rec, ensure_ascii=False)
