"""Derived structures: tables computed from `events` that make reading fast.

The timeline rollup, the page anchors and the free-text index are caches, not evidence: they can
always be rebuilt from the events. So they are not schema migrations. Each has a version; when the
code's version differs from the one a case was built with, its tables are dropped and rebuilt
from the events at the next write (an import, or `caseline reindex`). Until then the readers see
that the stored state does not match and fall back to the events table, slower but still exact.
Every update is incremental and runs inside the import's transaction, so an import and its
derived data commit or roll back together.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import duckdb

from viewer.core import paging, timeline
from viewer.core.case_file import fetch_one
from viewer.core.jobs import JobContext


@dataclass(frozen=True)
class Derived:
    name: str
    version: int
    ddl: list[str]
    update: Callable[[duckdb.DuckDBPyConnection, JobContext | None], object]

    @property
    def tables(self) -> list[str]:
        return [
            m.group(1) for sql in self.ddl for m in [re.search(r"CREATE TABLE IF NOT EXISTS (\w+)", sql)] if m
        ]


DERIVED: tuple[Derived, ...] = (
    Derived("timeline_rollup", 1, timeline.DDL, timeline.update_rollup),
    Derived("page_anchors", 1, paging.DDL, paging.update_anchors),
)
# The free-text index joins this list once its build is cheap enough to run inside every import.


def _built_version(cur: duckdb.DuckDBPyConnection, d: Derived) -> int | None:
    row = fetch_one(cur, "SELECT value FROM case_meta WHERE key = ?", [f"derived:{d.name}"])
    return int(row[0]) if row else None


def update_all(cur: duckdb.DuckDBPyConnection, ctx: JobContext | None = None) -> dict[str, float]:
    """Bring every derived structure up to date with the events; returns seconds per structure."""
    timings: dict[str, float] = {}
    for d in DERIVED:
        if ctx is not None:
            ctx.check()
            ctx.progress.phase = f"indexing: {d.name.replace('_', ' ')}"
            ctx.report(force=True)
        started = time.perf_counter()
        if _built_version(cur, d) != d.version:
            for table in d.tables:
                cur.execute(f"DROP TABLE IF EXISTS {table}")
            for sql in d.ddl:
                cur.execute(sql)
            cur.execute(
                "INSERT OR REPLACE INTO case_meta VALUES (?, ?)", [f"derived:{d.name}", str(d.version)]
            )
        d.update(cur, ctx)
        timings[d.name] = time.perf_counter() - started
    return timings
