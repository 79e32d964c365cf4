"""Reading `raw` for a few rows of `events` without decoding it for all of them.

A filter DuckDB cannot push into the scan (an OR of conditions on two columns, say) runs above
it, so the scan hands up every projected column of every row, `raw` included: at 1M CloudTrail
events, selecting the STS issuing records (none in the benchmark) took 1.7 CPU seconds, all of
it decoding JSON text. Finding the ids first reads only the narrow columns; the rows are then
read by `event_id BETWEEN` runs that zone maps prune (the way `viewer.core.row_fetch` pages).
"""

from __future__ import annotations

import duckdb
import numpy as np

from viewer.core.row_fetch import id_runs

#: More id runs than this: keep the plain filter (an OR of thousands of ranges costs more).
MAX_RUNS = 512


def narrowed(cur: duckdb.DuckDBPyConnection, where: str) -> str:
    """`where`, preceded by id ranges that hold exactly its rows ("false" when none match).

    `where` must only use columns other than `raw` for this to pay off, and literals rather than
    parameters; it is kept in the result, so the predicate selects the same rows either way."""
    got = cur.execute(f"SELECT event_id FROM events WHERE {where}").fetchnumpy()
    ids = np.asarray(got["event_id"], np.int64)
    if len(ids) == 0:
        return "false"
    runs = id_runs(ids)
    if len(runs) > MAX_RUNS:
        return f"({where})"
    ranges = " OR ".join(f"event_id BETWEEN {lo} AND {hi}" for lo, hi in runs)
    return f"({ranges}) AND ({where})"
