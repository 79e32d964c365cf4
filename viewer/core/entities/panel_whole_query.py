"""A pivot panel page over the whole case: `entity_totals` (one row per entity) sorted, one page.

Sorted by a number, the page is read in two steps: the value the reach-th row has (a top-N over
that column alone), then the rows at least that far up, with their text. The filter on a literal
runs in the scan, so only those rows' text is decoded; a top-N on (column, text) decoded the
text of every entity of the kind, and looking the page's keys up afterwards scanned the kind's
keys once more (2M credential ids at 10M events: 21 ms of 62). Ties at the page's end are all
read, for the tie-break on the text; when they are many (failures ascending: most entities
have none), the page is sorted in SQL instead.
"""

from __future__ import annotations

import duckdb

from viewer.core.entities.kinds import EntityKind
from viewer.core.entities.panel_query import RawRow
from viewer.core.entities.panel_stats import kind_bounds

#: More rows tied with the page's last than this (beyond the page): sort in SQL.
MAX_TIED_ROWS = 5_000
COLUMNS = "entity, n, n_fail, first_us, last_us, sources"


def read_page(
    cur: duckdb.DuckDBPyConnection,
    kind: EntityKind,
    search: str,
    order: str,
    descending: bool,
    limit: int,
    offset: int,
) -> tuple[list[RawRow], int]:
    """(rows of the page, entities matching `search`, lower-cased, "" for all)."""
    of_kind = f"FROM entity_totals WHERE kind = '{kind.name}'"
    if order != "entity" and not search:
        direction, edge, cmp = ("DESC", "min", ">=") if descending else ("ASC", "max", "<=")
        got = cur.execute(
            f"SELECT {edge}(v) FROM (SELECT {order} AS v {of_kind} ORDER BY v {direction} LIMIT {int(limit + offset)})"
        ).fetchall()[0][0]
        total = kind_bounds(cur, kind)[0]
        if got is None:
            return [], total
        tied = cur.execute(f"SELECT count(*) {of_kind} AND {order} = {int(got)}").fetchall()[0][0]
        if int(tied) <= limit + offset + MAX_TIED_ROWS:
            rows = [
                RawRow(*r)
                for r in cur.execute(f"SELECT {COLUMNS} {of_kind} AND {order} {cmp} {int(got)}").fetchall()
            ]
            rows.sort(key=lambda r: r.entity)  # stable sorts: the text breaks ties either way
            rows.sort(key=lambda r: getattr(r, order), reverse=descending)
            return rows[offset : offset + limit], total
    params: list[object] = []
    if search:
        of_kind += " AND contains(lower(entity), ?)"
        params.append(search)
    direction = "DESC" if descending else "ASC"
    rows = [
        RawRow(*r)
        for r in cur.execute(
            f"SELECT {COLUMNS} {of_kind} ORDER BY {order} {direction}, entity LIMIT {int(limit)} OFFSET {int(offset)}",
            params,
        ).fetchall()
    ]
    # A separate count: a window count makes DuckDB carry every row through the sort.
    total = int(cur.execute(f"SELECT count(*) {of_kind}", params).fetchall()[0][0])
    return rows, total
