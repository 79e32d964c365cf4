"""Derived structures: tables computed from `events` that make reading fast.

The timeline rollup, the page anchors and the free-text index are caches, not evidence: they can
always be rebuilt from the events. So they are not schema migrations. Each has a version; when the
code's version differs from the one a case was built with, its tables are dropped and rebuilt
from the events at the next write (an import, or `caseline reindex`). Until then the readers see
that the stored state does not match and fall back to the events table, slower but still exact.
Every update is incremental. The cheap ones (`inline`) run inside the import's transaction, so
an import and its rollup and anchors commit or roll back together. The free-text index costs about
as much as the import itself (tokenizing ~1.7 KB of JSON per record), so it is *deferred*: built
in its own transaction after the import commits, by the GUI in the background or by the CLI right
after `caseline import`. Search stays exact meanwhile: events above the index's high-water mark
are always checked directly. The raw fields the query library reads are deferred the same way
(they re-parse every raw record): their views read the events above the mark until it is built.

The correlation tables of the pivot panels and actor resolution (`viewer.core.entities.builder`)
are inline: counting the new events into per-hour entity rollups costs ~20-25% of the import
of 1M CloudTrail events (benchmarks/pivots.py, pairs of imports with and without it), and an
import that commits with its panels and actors current is what the analyst expects; readers fall
back to counting from events when they are not current.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

import duckdb

from viewer.core import raw_fields, search_index, time_order, timeline
from viewer.core.case_file import WRITE_MEMORY_LIMIT, CaseFile, fetch_one
from viewer.core.entities import builder as entities
from viewer.core.jobs import Cancelled, JobContext
from viewer.core.write_space import DeferredSpaceError, resource_failure


@dataclass(frozen=True)
class Derived:
    name: str
    version: int
    ddl: list[str]
    update: Callable[[duckdb.DuckDBPyConnection, JobContext | None], object]
    inline: bool = True  # updated inside the import transaction; else deferred to its own
    # Deferred only: True when the structure covers every event (else it has work pending).
    is_current: Callable[[duckdb.DuckDBPyConnection], bool] | None = None

    @property
    def tables(self) -> list[str]:
        """Tables and views the DDL creates (a rebuild drops them, whichever they were before)."""
        pattern = r"CREATE (?:TABLE IF NOT EXISTS|OR REPLACE VIEW) (\w+)"
        return [m.group(1) for sql in self.ddl for m in [re.search(pattern, sql)] if m]


DERIVED: tuple[Derived, ...] = (
    # Version 2: events before 1970 counted in the grain holding them (`time_floor`), not the next.
    Derived("timeline_rollup", 2, timeline.DDL, timeline.update_rollup),
    # Version 2: the whole time order (time_order) instead of sparse keyset anchors.
    # Version 3: and where each event is stored (row_runs).
    # Version 4: time_order a view over time_order_rows (ts and event_id stored in halves).
    Derived("page_anchors", 4, time_order.DDL, time_order.update),
    # Pivot panels, credential graph and actors, network bindings (issue #5). After the time
    # order: time-filtered panels find their edge events through it.
    Derived("entities", entities.VERSION, entities.DDL, entities.update),
    # Raw JSON fields the query library reads (issue #4): the tables and views exist from the
    # first import (inline, no work: the views read the events above the mark); the extraction
    # is deferred.
    Derived("raw_fields", raw_fields.VERSION, raw_fields.DDL, lambda cur, ctx: None),
    Derived(
        "raw_fields_build",
        raw_fields.VERSION,
        [],
        raw_fields.update,
        inline=False,
        is_current=raw_fields.is_current,
    ),
    # Version 2: each (token, block) says which columns hold the token, and if raw text alone does.
    # Version 3: and whether every event of the block holds it (every_check).
    # Version 4: the sources as a code into search_source_masks.
    # Version 5: token hash and block offset in one key (term_key, block_base).
    Derived(
        "search_index",
        5,
        search_index.DDL,
        search_index.update_index,
        inline=False,
        is_current=search_index.is_ready,
    ),
)


def _built_version(cur: duckdb.DuckDBPyConnection, d: Derived) -> int | None:
    row = fetch_one(cur, "SELECT value FROM case_meta WHERE key = ?", [f"derived:{d.name}"])
    return int(row[0]) if row else None


def update_all(
    cur: duckdb.DuckDBPyConnection,
    ctx: JobContext | None = None,
    deferred: bool = False,
    only: Collection[str] | None = None,
) -> dict[str, float]:
    """Bring the inline (or, with `deferred`, every) derived structure up to date with the events,
    or of those, the ones named in `only`.

    Runs inside the caller's transaction; returns seconds per structure updated."""
    # Bounded like an import: without it the index build of a 1M case peaked at 5.4 GB RSS
    # (1.3 GB with it), of a 10M case at 13 GB.
    cur.execute(f"SET memory_limit = '{WRITE_MEMORY_LIMIT}'")
    timings: dict[str, float] = {}
    for d in DERIVED:
        if not (d.inline or deferred) or (only is not None and d.name not in only):
            continue
        if ctx is not None:
            ctx.check()
            ctx.progress.phase = f"indexing: {d.name.replace('_', ' ')}"
            ctx.report(force=True)
        started = time.perf_counter()
        if _built_version(cur, d) != d.version:
            views = {
                r[0]
                for r in cur.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()
            }
            for table in d.tables:
                cur.execute(f"DROP {'VIEW' if table in views else 'TABLE'} IF EXISTS {table}")
            for sql in d.ddl:
                cur.execute(sql)
            cur.execute(
                "INSERT OR REPLACE INTO case_meta VALUES (?, ?)", [f"derived:{d.name}", str(d.version)]
            )
        d.update(cur, ctx)
        timings[d.name] = time.perf_counter() - started
    return timings


def pending(cur: duckdb.DuckDBPyConnection) -> bool:
    """True when a deferred structure is missing, outdated or behind the events, or an inline
    one is outdated (a case from an older Caseline: `update_deferred` rebuilds every structure,
    and until then readers fall back to the events table)."""
    for d in DERIVED:
        if _built_version(cur, d) != d.version:
            return True
        if not d.inline and d.is_current is not None and not d.is_current(cur):
            return True
    return False


def update_deferred(
    case: CaseFile,
    ctx: JobContext | None = None,
    only: Collection[str] | None = None,
    with_inline: bool = False,
) -> dict[str, float]:
    """Build the deferred structures (or those named in `only`) in their own transaction, after
    an import has committed; returns seconds per deferred structure (`with_inline`: per
    structure, the inline ones checked or rebuilt on the way too, as `caseline reindex` says)."""
    ctx = ctx or JobContext()
    cur = case.cursor()
    remove = ctx.token.on_cancel(cur.interrupt)
    try:
        with case.transaction(cur):
            timings = update_all(cur, ctx, deferred=True, only=only)
            ctx.check()
    except duckdb.InterruptException as exc:
        raise Cancelled() from exc
    except duckdb.Error as exc:
        if resource_failure(exc):  # a full disk: the case is as before, the readers scan
            raise DeferredSpaceError(case.path, exc, built=False) from exc
        raise
    finally:
        remove()
    try:
        cur.execute("CHECKPOINT")
    except duckdb.Error as exc:
        if resource_failure(exc):  # committed: in the write-ahead log
            raise DeferredSpaceError(case.path, exc, built=True) from exc
        raise
    return {k: v for k, v in timings.items() if with_inline or not _is_inline(k)}


def _is_inline(name: str) -> bool:
    return next(d.inline for d in DERIVED if d.name == name)
