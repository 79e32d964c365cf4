"""`stats` with a count_distinct as two groupings: by the groups and the distinct value, then by
the groups.

Why: DuckDB's count(DISTINCT) per group costs more than a second grouping (the KQL translator
does the same for dcount, viewer/core/query/kql/summarize.py; 10M events, the library's rare user
agents: see the commit). The answer is the same when every other aggregate of the stats splits
exactly: count(*) and count(x) as sums of counts, min and max of numbers and times as the min or
max of the inner ones. A sum or an average of reals does not (its rounding depends on the order of
additions), nor a min or max of text (Logs Insights' own order), nor an aggregate inside
arithmetic: then the stats stays one grouping.
"""

from __future__ import annotations

from viewer.core.query.insights.expressions import Expr

_DISTINCT = "__li_distinct"


def two_groupings(
    source: str, groups: list[tuple[str, Expr]], aggregates: list[tuple[str, Expr]]
) -> str | None:
    """The SELECT of the stats as two groupings over `source` (FROM and WHERE), or None when it
    does not split exactly. Names are quoted identifiers."""
    splits = [e.split for _, e in aggregates]
    distinct = {s.distinct for s in splits if s is not None and s.distinct is not None}
    if len(distinct) != 1 or any(s is None for s in splits):
        return None
    value = distinct.pop()
    # Grouped by the value's 64-bit hash, NULL kept NULL (count_distinct skips it): a long text
    # such as a user agent costs more to group by than a number (see kql/summarize.py).
    inner = [f"{e.sql} AS {n}" for n, e in groups] + [
        f"CASE WHEN ({value}) IS NOT NULL THEN hash({value}) END AS {_DISTINCT}"
    ]
    outer = [n for n, _ in groups]
    for i, (name, _) in enumerate(aggregates):
        split = splits[i]
        assert split is not None
        if split.distinct is not None:
            outer.append(f"count({_DISTINCT}) AS {name}")
            continue
        inner.append(f"{split.inner} AS __li_part{i}")
        value = split.outer.format(p=f"__li_part{i}")
        if split.inner.startswith("count(") and not groups:  # no rows: a count is 0, not NULL
            value = f"coalesce({value}, 0)"
        outer.append(f"{value} AS {name}")
    sql = f"SELECT {', '.join(outer)} FROM (SELECT {', '.join(inner)} FROM {source} GROUP BY ALL)"
    return sql + (" GROUP BY ALL" if groups else "")
