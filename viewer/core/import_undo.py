"""Taking back an import that did not finish: after a cancel, a failure or a crash.

An import commits chunk by chunk (`viewer.core.ingest`): inside one long transaction DuckDB keeps
every stage table a chunk creates until the commit, so a 10M-event import spilled ~10 GB to the
temp folder and ran 24% slower. Its `imports` row is committed first with `finished_at` NULL, and
its evidence rows, ledger counts and derived structures in one last transaction that also sets
`finished_at`. So until that commit:

* every event of the import has an evidence id above the largest one in `evidence` (ids are
  handed out from there, and the import's own evidence rows are not written yet);
* its warnings carry its `import_id`.

That is all `undo` needs, in memory or after a crash: the events above the ledger's mark, the
warnings and the `imports` row of unfinished imports. Derived structures are only touched in the
last transaction, and their readers already treat events above their high-water mark as not
counted yet, so they need nothing.
"""

from __future__ import annotations

import threading
from pathlib import Path

import duckdb

# (case path, import id) of the imports running in this process: opening the same case again
# (DuckDB shares one database per file within a process) must not take back a live import.
_running: set[tuple[str, int]] = set()
_running_lock = threading.Lock()


def mark_running(path: Path, import_id: int) -> None:
    with _running_lock:
        _running.add((str(path.resolve()), import_id))


def mark_stopped(path: Path, import_id: int) -> None:
    with _running_lock:
        _running.discard((str(path.resolve()), import_id))


def unfinished(cur: duckdb.DuckDBPyConnection, path: Path) -> list[int]:
    """Import ids left unfinished by a cancel, failure or crash; none while an import of this
    case runs in this process (its events are above the same mark)."""
    key = str(path.resolve())
    with _running_lock:
        if any(p == key for p, _ in _running):
            return []
    return [
        int(r[0]) for r in cur.execute("SELECT import_id FROM imports WHERE finished_at IS NULL").fetchall()
    ]


def undo(cur: duckdb.DuckDBPyConnection, import_ids: list[int]) -> int:
    """Delete what unfinished imports `import_ids` committed; returns the events removed.

    Runs inside the caller's transaction."""
    mark = cur.execute("SELECT coalesce(max(evidence_id), 0) FROM evidence").fetchall()[0][0]
    # By event id, not evidence id: event ids are (evidence id << 32) + record index, and the
    # zone maps of event_id skip every row group written before the import.
    first = (int(mark) + 1) << 32
    removed = cur.execute("SELECT count(*) FROM events WHERE event_id >= ?", [first]).fetchall()[0][0]
    cur.execute("DELETE FROM events WHERE event_id >= ?", [first])
    cur.execute("DELETE FROM import_warnings WHERE list_contains(?, import_id)", [import_ids])
    cur.execute("DELETE FROM imports WHERE list_contains(?, import_id) AND finished_at IS NULL", [import_ids])
    return int(removed)
