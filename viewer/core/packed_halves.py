"""SQL for values a derived table stores as two halves, which DuckDB packs in far fewer bits.

Why: DuckDB bit-packs integers by frame of reference, 2,048 values at a time: each value takes
the bits of the largest difference from the smallest of its run. A microsecond time whose
source wrote whole seconds still takes ~32 bits within an hour, where its seconds take 12 and
its microseconds (all 0) none. An event id (`evidence_id << 32 | record_index`) takes 33 bits or
more as soon as a run crosses a file boundary, where the evidence id and the record index take
a few each. Tables store the halves (`*_rows`) and views give the whole values back, with the
columns they always had. A view's computed column prunes nothing and is tested above the scan,
so a reader that filters on one adds the test on a stored half (`seconds_bounds_sql`,
`us_compare_sql`).

DuckDB divides integers towards zero and `%` takes the dividend's sign: the halves of any
microsecond value, negative included, add up to it, and the seconds never decrease as it grows.
"""

from __future__ import annotations

#: An event id from the `evidence_id` and `record_index` columns of the same row.
EVENT_ID_SQL = "(evidence_id::BIGINT << 32 | record_index)"


def _named(parts: tuple[str, str], names: tuple[str, str] | None) -> str:
    return ", ".join(parts if names is None else (f"{p} AS {n}" for p, n in zip(parts, names, strict=True)))


def event_id_halves(event_id: str = "event_id", names: tuple[str, str] | None = None) -> str:
    """SQL: the evidence id (INTEGER) and record index (UINTEGER) of an event id expression."""
    return _named((f"({event_id} >> 32)::INTEGER", f"({event_id} & 4294967295)::UINTEGER"), names)


def us_halves(us: str, names: tuple[str, str] | None = None) -> str:
    """SQL: whole seconds and the microseconds left over (INTEGER) of a microsecond expression."""
    return _named((f"({us}) // 1000000", f"(({us}) % 1000000)::INTEGER"), names)


def us_joined(seconds: str, micros: str) -> str:
    """SQL: the microseconds that `us_halves` split into the columns `seconds` and `micros`."""
    return f"({seconds}::BIGINT * 1000000 + {micros})"


def seconds_bounds_sql(seconds: str, start_us: int, end_us: int) -> str:
    """SQL condition on a stored `seconds` half, true for every value in [start_us, end_us):
    the condition zone maps prune on, which a reader adds to its own on the view's whole value.
    The seconds of a value never decrease as it grows, so those of the range's ends bound it."""
    return (
        f"{seconds} >= {int(start_us)}::BIGINT // 1000000 AND {seconds} <= {int(end_us)}::BIGINT // 1000000"
    )


def us_compare_sql(name: str, op: str, value_us: int) -> str:
    """SQL comparing the view column `<name>_us` with `value_us`, led by the same test on the
    stored `<name>_s` loosened to whole seconds: DuckDB applies that one in the scan, before it
    decodes the row's other columns, and zone maps prune on it; the view's computed column is
    tested above the scan, on every row."""
    v = int(value_us)
    loose = {"<": "<=", "<=": "<=", ">": ">=", ">=": ">="}[op]
    return f"{name}_s {loose} {v}::BIGINT // 1000000 AND {name}_us {op} {v}"
