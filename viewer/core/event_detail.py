"""One event in full: normalized fields, the raw record, and where it came from.

Lookups are by event_id. There is no index on it (an ART index over 10M ids would cost memory
and import time); the table is appended per evidence file, so event_id grows along the table and
DuckDB's min/max zone maps skip every row group but one or two.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

import duckdb

from viewer.schema import NORMALIZED_FIELDS


@dataclass(frozen=True)
class Provenance:
    evidence_id: int
    record_index: int
    path: str | None
    sha256: str | None
    format: str | None


@dataclass(frozen=True)
class EventDetail:
    event_id: int
    fields: dict[str, Any]  # normalized fields in schema order; NULLs left out
    raw: Any  # the parsed raw record (usually a dict)
    raw_text: str  # pretty-printed raw JSON, keys in their original order
    provenance: Provenance


_COLUMNS = [f.name for f in NORMALIZED_FIELDS]


def fetch_event(cur: duckdb.DuckDBPyConnection, event_id: int) -> EventDetail | None:
    """The event with this id, or None.

    Three point queries, not a join: the join planned a hash join over the evidence table and
    measured ~2.5x slower at 10M events. The raw record and the normalized fields are read at
    the same time on two cursors: each lookup's cost is decompressing the vector that holds the
    row (the 2048 raw records around it, ~3 MB of zstd; dictionaries of ~40 columns), and the two
    overlap on two cores: 13.6 ms instead of 19-22 ms for random events at 10M, cold
    (benchmarks/read_paths.py).
    """
    raw_cur = cur.cursor()
    raw_rows: list[Any] = []
    failed: list[BaseException] = []

    def read_raw() -> None:
        try:
            # `raw`, not `raw::VARCHAR`: the cast measured 2.5x slower; JSON arrives as text.
            raw_rows.extend(
                raw_cur.execute(
                    "SELECT raw, evidence_id, record_index FROM events WHERE event_id = ?", [event_id]
                ).fetchall()  # fetchall: a half-read result would block the cursor's next query
            )
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            failed.append(exc)

    reader = threading.Thread(target=read_raw, name="fetch_event raw")
    reader.start()
    try:
        rows = cur.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM events WHERE event_id = ?", [event_id]
        ).fetchall()
    finally:
        reader.join()
        raw_cur.close()
    if failed:
        raise failed[0]
    if not rows or not raw_rows:
        return None
    fields = {name: value for name, value in zip(_COLUMNS, rows[0], strict=True) if value is not None}
    raw_text, evidence_id, record_index = raw_rows[0]
    ev = cur.execute(
        "SELECT path, sha256, format FROM evidence WHERE evidence_id = ?", [evidence_id]
    ).fetchall()
    path, sha256, fmt = ev[0] if ev else (None, None, None)
    raw = json.loads(raw_text) if raw_text is not None else None
    return EventDetail(
        event_id=int(event_id),
        fields=fields,
        raw=raw,
        raw_text=json.dumps(raw, indent=2, ensure_ascii=False),
        provenance=Provenance(int(evidence_id), int(record_index), path, sha256, fmt),
    )
