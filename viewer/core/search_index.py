"""Free-text search through the block index: which blocks can hold a word, and where in them.

The index (`viewer.core.search_build`) keeps, per block of `BLOCK_EVENTS` consecutive events and
per token, which searchable columns hold it and whether some raw record holds it outside the
columns. For one query word this gives, per block: may it match here at all (`cand`), which columns
to check (`fields`), and whether the raw record must be checked too (`raw`). The exact predicate
built from that (`NeedlePlan.sql`) is the documented semantics (`viewer.core.search_text`) for
every event, so ranges may be widened freely; it only decides which work DuckDB skips:

* a word in no block answers without touching `events`;
* a word held by columns (an action, a user, an IP) is checked on those columns only, ~100x
  cheaper than scanning raw JSON;
* only blocks where the word may lie in raw text alone read and scan raw records;
* a block where every event holds the word (`every`) matches whole, without reading a row.

Events above the index's high-water mark (imported, not yet indexed) and every event of a case
without a usable index form *tail blocks*, cut per evidence file, always checked in full: results
stay exact while the index catches up. `viewer.core.text_view` walks the blocks in time order.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import duckdb
import numpy as np

from viewer.core import search_build
from viewer.core.jobs import CancelToken
from viewer.core.search_build import (
    BLOCK_EVENTS,
    BLOCK_ID_SQL,
    DDL,
    RAW_ONLY,
    SLICE_BLOCKS,
    IndexBuildStats,
    create_tables,
    high_water_mark,
    is_ready,
    term_lookup_sql,
    update_index,
    usable,
)
from viewer.core.search_text import (
    Needle,
    column_match_sql,
    lower_all,
    make_needle,
    match_sql,
    negate,
    parse_query,
    raw_match_sql,
    searchable_columns,
    text_sql,
)

__all__ = [
    "BLOCK_EVENTS",
    "DDL",
    "SLICE_BLOCKS",
    "BlockTable",
    "IndexBuildStats",
    "Needle",
    "NeedlePlan",
    "SearchHits",
    "build_index",
    "create_tables",
    "filter_sql",
    "high_water_mark",
    "is_ready",
    "load_blocks",
    "make_needle",
    "match_sql",
    "negate",
    "parse_query",
    "plan_needle",
    "ranges_sql",
    "search",
    "text_sql",
    "token_ranges_sql",
    "update_index",
    "usable",
]

#: A check query names at most this many event id ranges; neighbours are merged beyond it (a wider
#: range is always safe: the predicate is exact for any event).
MAX_RANGES = 48
_FAR = 2**62  # a time bound outside any log (blocks without a time sort first or last)
TOKEN_LITERAL = re.compile(r"[a-z0-9_.@-]+")  # a lower-cased index token
ALL_FIELDS = (1 << len(searchable_columns())) - 1


def build_index(cur: duckdb.DuckDBPyConnection, ctx: object = None) -> IndexBuildStats:
    """Alias of `update_index` for existing callers (benchmarks, tools)."""
    return update_index(cur, ctx)  # type: ignore[arg-type]


@dataclass(frozen=True)
class SearchHits:
    """One message of a streaming search (`search`): first hits, then the complete count."""

    event_ids: list[int]
    total: int | None  # None until the search is complete
    done: bool


@dataclass(frozen=True)
class BlockTable:
    """The blocks of a search, in event id order: index blocks, then tail blocks.

    Arrays are aligned; times are epoch microseconds (min and max ts of the block's events).
    """

    lo: np.ndarray
    hi: np.ndarray
    events: np.ndarray
    ts_min: np.ndarray
    ts_max: np.ndarray
    indexed: int  # blocks [0, indexed) are index blocks (position = block_id); the rest are tail

    def __len__(self) -> int:
        return len(self.lo)


def load_blocks(cur: duckdb.DuckDBPyConnection, index: bool = True) -> BlockTable:
    """Index blocks (when the index is usable and wanted) plus tail blocks for the events it does
    not cover."""
    if index and usable(cur):
        got = cur.execute(
            "SELECT block_id AS b, event_id_lo AS lo, event_id_hi AS hi, events AS n, "
            f"coalesce(epoch_us(ts_min), {-_FAR}) AS t0, coalesce(epoch_us(ts_max), {_FAR}) AS t1 "
            "FROM search_blocks ORDER BY block_id"
        ).fetchnumpy()
        if not np.array_equal(np.asarray(got["b"]), np.arange(len(got["b"]))):
            raise RuntimeError("search_blocks ids are not consecutive; run `caseline reindex`")
        mark = high_water_mark(cur)
    else:
        got = {k: np.zeros(0, np.int64) for k in ("lo", "hi", "n", "t0", "t1")}
        mark = None
    tail = _tail_blocks(cur, mark)
    lo, hi, n, t0, t1 = (
        np.concatenate([np.asarray(got[k], np.int64), tail[i]])
        for i, k in enumerate(("lo", "hi", "n", "t0", "t1"))
    )
    return BlockTable(lo, hi, n, t0, t1, indexed=len(got["lo"]))


def _tail_blocks(cur: duckdb.DuckDBPyConnection, mark: int | None) -> list[np.ndarray]:
    """Unindexed events as pseudo-blocks: whole evidence files packed up to BLOCK_EVENTS events
    (a file never spans two blocks unless it alone exceeds that), so they too have a time range
    and a search can walk them in time order. Five narrow columns of the unindexed events."""
    got = cur.execute(
        f"SELECT min(event_id) AS lo, max(event_id) AS hi, count(*) AS n, coalesce(epoch_us(min(ts)), {-_FAR}) "
        f"AS t0, coalesce(epoch_us(max(ts)), {_FAR}) AS t1 FROM events WHERE event_id > ? "
        "GROUP BY event_id >> 32 ORDER BY lo",
        [-(2**63) if mark is None else mark],
    ).fetchnumpy()
    lo, hi, n = (np.asarray(got[k], np.int64) for k in ("lo", "hi", "n"))
    t0, t1 = (np.asarray(got[k], np.int64) for k in ("t0", "t1"))
    if len(n) == 0:
        return [np.zeros(0, np.int64)] * 5
    # Greedy packing: a new block starts where the running total would pass BLOCK_EVENTS.
    starts = [0]
    acc = 0
    for i, k in enumerate(n.tolist()):
        if acc and acc + k > search_build.BLOCK_EVENTS:
            starts.append(i)
            acc = 0
        acc += k
    s = np.asarray(starts)
    e = np.append(s[1:], len(n)) - 1
    return [lo[s], hi[e], np.add.reduceat(n, s), np.minimum.reduceat(t0, s), np.maximum.reduceat(t1, s)]


@dataclass(frozen=True)
class NeedlePlan:
    """Where one query word can match, per block of a `BlockTable`."""

    needle: Needle
    low: str  # lower-cased as DuckDB does
    cand: np.ndarray  # bool: the block may hold a match
    fields: np.ndarray  # uint32: searchable columns (bit i = searchable_columns()[i]) to check
    raw: np.ndarray  # bool: the raw record must be checked too
    every: np.ndarray  # bool: every event of the block matches (nothing to check)

    def sql(self, blocks: BlockTable, mask: np.ndarray, params: list[object], narrow: bool) -> str:
        """Exact predicate for events of the blocks in `mask` (a bool array over blocks).

        `narrow` adds the candidate ranges first, so zone maps skip the rest: wanted when the
        caller's rows are not already limited to candidate blocks (a negated word, `where_sql`).
        """
        cand = self.cand & mask
        if not cand.any():
            return "false"
        head = ""
        if narrow:
            head = f"{ranges_sql(blocks, cand)} AND "
        parts = []
        every = exact_runs(self.every & cand)
        if every:
            # Exact ranges (never widened: they are matches, not places to look).
            parts.append(id_ranges_sql(blocks, every))
            for a, b in every:
                cand[a:b] = False
        bits = int(np.bitwise_or.reduce(self.fields[cand])) if cand.any() else 0
        cols = [c for i, c in enumerate(searchable_columns()) if bits >> i & 1]
        if cols:
            parts.append(column_match_sql(self.needle, self.low, cols, params))
        raw = self.raw & cand
        if raw.any():
            parts.append(f"({ranges_sql(blocks, raw)} AND {raw_match_sql(self.needle, self.low, params)})")
        body = "(" + " OR ".join(parts) + ")" if parts else "false"
        return f"({head}{body})"


def plan_needle(
    cur: duckdb.DuckDBPyConnection, blocks: BlockTable, needle: Needle, low: str | None = None
) -> NeedlePlan:
    """Look the needle's whole tokens up in the index (one query per token)."""
    low = low if low is not None else lower_all([needle.text], cur)[0]
    n = len(blocks)
    cand = np.ones(n, bool)
    fields = np.full(n, ALL_FIELDS, np.uint32)
    raw = np.ones(n, bool)
    every = np.zeros(n, bool)
    tokens = sorted(set(needle.index_tokens))
    if not tokens or blocks.indexed == 0:
        return NeedlePlan(needle, low, cand, fields, raw, every)
    idx = slice(0, blocks.indexed)
    for tok in tokens:
        got = cur.execute(
            f"SELECT {BLOCK_ID_SQL} AS b, m.mask AS s, "
            "coalesce(every_check = (hash(lower($t)) & 4294967295)::UINTEGER, false) AS e "
            "FROM search_block_terms JOIN search_source_masks m ON m.code = source_code "
            f"WHERE {term_lookup_sql('lower($t)')}",
            {"t": tok},
        ).fetchnumpy()
        here = np.zeros(blocks.indexed, bool)
        src = np.zeros(blocks.indexed, np.uint32)
        b = np.asarray(got["b"], np.int64)
        here[b] = True
        np.bitwise_or.at(src, b, np.asarray(got["s"], np.uint32))
        cand[idx] &= here
        fields[idx] &= src  # a match inside a column holds every whole token in that column
        if needle.is_single_token:
            raw[idx] = (src & np.uint32(RAW_ONLY)) != 0
            # The needle is this one token, and every event holds it: all of them match.
            every[b[np.asarray(got["e"], bool)]] = True
    fields[idx] &= np.uint32(ALL_FIELDS)
    raw &= ~every
    return NeedlePlan(needle, low, cand, fields, raw, every)


def block_runs(mask: np.ndarray, max_n: int = MAX_RANGES) -> list[tuple[int, int]]:
    """[start, stop) runs of True blocks, at most max_n, closing the smallest gaps first."""
    idx = np.flatnonzero(mask)
    if len(idx) == 0:
        return []
    cut = np.flatnonzero(np.diff(idx) > 1)
    starts = np.concatenate([[idx[0]], idx[cut + 1]])
    stops = np.concatenate([idx[cut] + 1, [idx[-1] + 1]])
    if len(starts) > max_n:
        gaps = starts[1:] - stops[:-1]
        keep = np.sort(np.argsort(gaps, kind="stable")[len(gaps) - (max_n - 1) :])  # widest gaps stay
        starts = np.concatenate([[starts[0]], starts[keep + 1]])
        stops = np.concatenate([stops[keep], [stops[-1]]])
    return list(zip(starts.tolist(), stops.tolist(), strict=True))


def exact_runs(mask: np.ndarray, max_n: int = MAX_RANGES) -> list[tuple[int, int]]:
    """[start, stop) runs of True blocks, never widened: the `max_n` longest runs when there are
    more (the other blocks then simply get checked)."""
    runs = block_runs(mask, max_n=len(mask) + 1)
    if len(runs) > max_n:
        runs = sorted(sorted(runs, key=lambda r: r[0] - r[1])[:max_n])
    return runs


def ranges_sql(blocks: BlockTable, mask: np.ndarray, max_n: int = MAX_RANGES) -> str:
    """`event_id BETWEEN` ranges covering the blocks in `mask` (possibly more, never fewer)."""
    return id_ranges_sql(blocks, block_runs(mask, max_n))


def id_ranges_sql(blocks: BlockTable, runs: list[tuple[int, int]]) -> str:
    """`event_id BETWEEN` the id ranges of these [start, stop) block runs. The bounds are written
    as integer literals (ints read from the block table), so a caller need not carry parameters."""
    if not runs:
        return "false"
    return (
        "("
        + " OR ".join(f"event_id BETWEEN {int(blocks.lo[a])} AND {int(blocks.hi[b - 1])}" for a, b in runs)
        + ")"
    )


def token_ranges_sql(
    cur: duckdb.DuckDBPyConnection, need: Sequence[frozenset[str]], column: str = "event_id"
) -> str | None:
    """Ranges of `column` (the event id) holding every event whose raw record can hold, for each
    clause of `need`, one of its tokens (`viewer.core.search_regex`: lower-cased), plus the events
    the index does not cover yet; None when that narrows nothing (no requirement, no usable index,
    every block a candidate).

    A block qualifies when the index has the token for it in any source: a token of a record's raw
    text is in the index whether or not a searchable column holds it too (`search_build`). Three
    statements, no block table (`load_blocks` alone took 3.8 ms at 10M events): Show SQL and every
    run of a Logs Insights `@message` filter translate through here."""
    tokens = sorted(set().union(*need)) if need else []
    if not tokens or not all(TOKEN_LITERAL.fullmatch(t) for t in tokens):
        return None
    try:  # `usable`, the high-water mark and the block ids' bound in one statement
        ok, mark, top = search_build.one_row(
            cur,
            f"SELECT {search_build.USABLE_SQL}, max(event_id_max), (SELECT max(block_id) FROM search_blocks) "
            "FROM search_index_batches",
            [search_build.fields_key()],
        )
    except (duckdb.BinderException, duckdb.CatalogException):  # no index, or an older layout
        return None
    if not ok or mark is None or top is None:
        return None
    n_blocks, mark = int(str(top)) + 1, int(str(mark))
    # One statement, one equality per token: each prunes to the row groups holding its hash (an
    # IN list read more of the table: 10M events, three tokens, 13 against 4 ms). Tokens are
    # made of letters, digits and `_ . @ -` only (search_regex), so they are safe as literals.
    lookups = []
    for t in tokens:
        quoted = f"'{t}'"
        lookups.append(
            f"SELECT {quoted} AS token, {BLOCK_ID_SQL} AS block_id FROM search_block_terms "
            f"WHERE {term_lookup_sql(quoted)}"
        )
    got = cur.execute(" UNION ALL ".join(lookups)).fetchnumpy()
    token, block = np.asarray(got["token"], object), np.asarray(got["block_id"], np.int64)
    cand = np.ones(n_blocks, bool)
    for clause in need:
        held = np.zeros(n_blocks, bool)
        held[block[np.isin(token, list(clause))]] = True
        cand &= held
    if cand.all():
        return None
    runs = block_runs(cand)
    ends = sorted({b for a, z in runs for b in (a, z - 1)})
    bounds = {
        int(b): (int(lo), int(hi))
        for b, lo, hi in cur.execute(
            "SELECT block_id, event_id_lo, event_id_hi FROM search_blocks WHERE block_id IN "
            f"({', '.join(map(str, ends)) if ends else 'NULL'})"
        ).fetchall()
    }
    parts = [f"{column} BETWEEN {bounds[a][0]} AND {bounds[z - 1][1]}" for a, z in runs]
    return "(" + " OR ".join([*parts, f"{column} > {mark}"]) + ")"


def filter_sql(needles: list[Needle], cur: duckdb.DuckDBPyConnection | None) -> tuple[str, list[object]]:
    """Exact predicate for `event_query.where_sql`: per word, the candidate ranges and the
    sources to check there (`NeedlePlan.sql`); without a cursor, the plain check of everything."""
    if cur is None or not needles:
        return match_sql(needles, cur)
    blocks = load_blocks(cur)
    every = np.ones(len(blocks), bool)
    params: list[object] = []
    lows = lower_all([n.text for n in needles], cur)
    parts = [
        plan_needle(cur, blocks, n, low).sql(blocks, every, params, narrow=True)
        for n, low in zip(needles, lows, strict=True)
    ]
    return "(" + " AND ".join(parts) + ")", params


def search(
    cur: duckdb.DuckDBPyConnection, text: str, limit: int = 1000, token: CancelToken | None = None
) -> Iterator[SearchHits]:
    """Stream a search: the earliest `limit` hits, then the exact total (`text_view.search`)."""
    from viewer.core import text_view  # it builds on this module

    return text_view.search(cur, text, limit, token)
