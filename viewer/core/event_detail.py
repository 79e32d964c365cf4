"""One event in full: normalized fields, the raw record, and where it came from.

Lookups are by event_id. There is no index on it (an ART index over 10M ids would cost memory
and import time); the table is appended per evidence file, so event_id grows along the table and
DuckDB's min/max zone maps skip every row group but one or two.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import duckdb

from viewer.core.json_depth import SHOWN_LEVELS, cut_below, deeper_than
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
    raw_text: str  # pretty-printed raw JSON, keys in their original order (see `parse_raw`)
    provenance: Provenance


_COLUMNS = [f.name for f in NORMALIZED_FIELDS]


def parse_raw(raw_text: str) -> tuple[Any, str]:
    """The raw record parsed, and its text to copy: pretty-printed, keys in their order. A record
    nested deeper than a person reads (see `core.json_depth`) is parsed cut at SHOWN_LEVELS, and
    its text is the record as stored, every level of it."""
    try:
        raw = json.loads(raw_text)
        if not deeper_than(raw, SHOWN_LEVELS):  # the tree and the pretty text recurse per level
            return raw, json.dumps(raw, indent=2, ensure_ascii=False)
    except RecursionError:
        pass
    return json.loads(cut_below(raw_text)), raw_text


def fetch_raw(cur: duckdb.DuckDBPyConnection, event_id: int) -> tuple[str, int, int] | None:
    """(raw JSON text, evidence id, record index) of the event, or None: the record as imported,
    read without the normalized columns (what an auditor checks against the evidence)."""
    rows = cur.execute(
        "SELECT raw, evidence_id, record_index FROM events WHERE event_id = ?", [event_id]
    ).fetchall()  # fetchall: a half-read result would block the cursor's next query
    return (rows[0][0], int(rows[0][1]), int(rows[0][2])) if rows else None


def fetch_event(cur: duckdb.DuckDBPyConnection, event_id: int) -> EventDetail | None:
    """The event with this id, or None.

    One point query for the normalized fields and the raw record, then the evidence row: a join
    planned a hash join over the evidence table and measured ~2.5x slower at 10M events. Each
    lookup's cost is decompressing the vector that holds the row in every column read (2048 raw
    records, ~3 MB of zstd; dictionaries of ~45 columns). Reading the fields and the raw record
    on two cursors in parallel overlapped those on an idle machine but measured ~2x slower than
    one query when the cores were busy (benchmarks/read_paths.py), so it is one query. `raw`, not
    `raw::VARCHAR`: the cast measured 2.5x slower; JSON arrives as text.
    """
    rows = cur.execute(
        f"SELECT {', '.join(_COLUMNS)}, raw, evidence_id, record_index FROM events WHERE event_id = ?",
        [event_id],
    ).fetchall()  # fetchall: a half-read result would block the cursor's next query
    if not rows:
        return None
    values = rows[0]
    n = len(_COLUMNS)
    fields = {name: value for name, value in zip(_COLUMNS, values[:n], strict=True) if value is not None}
    raw_text, evidence_id, record_index = values[n:]
    ev = cur.execute(
        "SELECT path, sha256, format FROM evidence WHERE evidence_id = ?", [evidence_id]
    ).fetchall()
    path, sha256, fmt = ev[0] if ev else (None, None, None)
    raw, pretty = parse_raw(raw_text) if raw_text is not None else (None, "null")
    return EventDetail(
        event_id=int(event_id),
        fields=fields,
        raw=raw,
        raw_text=pretty,
        provenance=Provenance(int(evidence_id), int(record_index), path, sha256, fmt),
    )
