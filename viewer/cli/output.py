"""Printing results: a table for people, CSV or JSON lines for pipes."""

from __future__ import annotations

import csv
import datetime as dt
import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any


def jsonable(v: Any) -> Any:
    if isinstance(v, dt.datetime):
        return v.isoformat()
    if isinstance(v, (dt.date, dt.timedelta)):
        return str(v)
    return v


def write_rows(cols: list[str], rows: Iterable[Sequence[Any]], fmt: str) -> int:
    """Print `rows` as a table, CSV or JSON lines; returns how many were printed.

    CSV and JSON lines are written as the rows come (`rows` may be a stream of any length); a
    table needs every row first, for its column widths."""
    n = 0
    if fmt == "json":
        for r in rows:
            print(json.dumps({c: jsonable(v) for c, v in zip(cols, r, strict=True)}, default=str))
            n += 1
    elif fmt == "csv":
        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow(cols)
        for r in rows:
            w.writerow([jsonable(v) for v in r])
            n += 1
    else:
        text = [[("" if v is None else str(jsonable(v))) for v in r] for r in rows]
        widths = [min(60, max([len(c)] + [len(t[i]) for t in text])) for i, c in enumerate(cols)]
        print("  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)))
        print("  ".join("-" * w for w in widths))
        for t in text:
            print("  ".join(v[:w].ljust(w) for v, w in zip(t, widths, strict=True)))
        print(f"({len(text)} rows)")
        n = len(text)
    return n
