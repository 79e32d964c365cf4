"""Free-text search: a block-level skip index in the case file, then an exact check.

Why: ILIKE over the raw JSON reads ~17 GB of text at 10M events (~16 s) and the fts extension is
not available offline. A per-event inverted index (one posting per token per event) measured
~100 s per 1M events to build and ~0.7x the gzipped evidence on disk; most of its postings were
tokens present in nearly every event. Here the unit is a *block*: a run of `BLOCK_EVENTS`
consecutive event ids (roughly consecutive in time, since events are appended in file order).

Tables (`DDL`):

* ``search_blocks``: one row per block - its event id range, count and time range.
* ``search_block_terms(term_hash, block_id)``: one row per distinct token per block, sorted by
  hash within each build batch so zone maps prune a lookup to a few row groups. The hash is the
  upper 32 bits of DuckDB's `hash()`: collisions only add candidate blocks, never lose hits.
* ``search_index_batches``: what each build covered (high-water mark) and `hash('caseline')`,
  because `hash()` is stable only within a DuckDB release: a changed hash makes the index unusable
  (`usable`) and search scans instead of silently missing hits.

What matches (documented semantics, the same with or without the index):

* The searched text of an event is its searchable fields and its raw record, lower-cased; a match
  lies within one of them (a query word cannot hold the newline that joins them).
* *Token characters* are ASCII letters, digits and ``_ . @ -``; every other character is a
  separator (non-ASCII ones too: RE2 splits ~20% faster on an ASCII class). So an IP, an e-mail
  address, a host name or a UUID is one token, while ``arn:aws:iam::1:user/alice`` holds the
  tokens ``arn aws iam 1 user alice``, and ``josé`` holds ``jos``.
* A query word (or quoted phrase) ``w`` matches when ``lower(w)`` occurs in the text with a
  separator or the text's edge on both sides; ``w*`` only needs the boundary on the left (a token
  prefix). Leading and trailing ASCII separators of ``w`` are ignored; all words must match.
  So ``alice`` finds ``user/alice`` but not ``malice``; ``10.0.0.1`` does not find ``10.0.0.10``;
  ``10.0.0.1*`` does.

The index holds the tokens of 2+ characters; a word without such a token (``a``, ``東京``, a
lone prefix ``ab*``) cannot narrow the search and is checked over every event.

Search: the tokens of the query words (whole ones, 2+ characters) select the blocks holding all
of them; only those blocks are checked with the exact predicate (`match_sql`), in time order, so
the first page arrives after a few blocks. Events above the high-water mark (imported but not
yet indexed) are always checked, so results stay exact while the index catches up.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

import duckdb

from viewer.core.jobs import CancelToken, JobContext
from viewer.schema import searchable_fields

#: Events per block: larger blocks mean fewer postings for common tokens, more rows to check.
BLOCK_EVENTS = 2048
#: Blocks tokenized per statement (~1M events): bounds the memory of the DISTINCT.
SLICE_BLOCKS = 512
#: A check query names at most this many event id ranges; neighbours are merged beyond it
#: (a wider range is always safe, the exact predicate decides).
MAX_RANGES = 48

DDL: list[str] = [
    """CREATE TABLE IF NOT EXISTS search_blocks (
        block_id INTEGER NOT NULL,
        event_id_lo BIGINT NOT NULL,
        event_id_hi BIGINT NOT NULL,
        events INTEGER NOT NULL,
        ts_min TIMESTAMPTZ,
        ts_max TIMESTAMPTZ
    )""",
    """CREATE TABLE IF NOT EXISTS search_block_terms (
        term_hash UINTEGER NOT NULL,    -- upper 32 bits of hash(token); see search_index.py
        block_id INTEGER NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS search_index_batches (
        block_lo INTEGER NOT NULL,
        block_hi INTEGER NOT NULL,
        event_id_max BIGINT NOT NULL,   -- high-water mark: events above it are not indexed yet
        events BIGINT NOT NULL,
        terms BIGINT NOT NULL,
        hash_check UBIGINT NOT NULL,    -- hash('caseline') when built: detects a changed hash()
        built_at TIMESTAMPTZ NOT NULL
    )""",
]

#: Separators, as RE2 classes: anything but ASCII letters, digits and _ . @ -  (an ASCII-only class
#: splits ~20% faster than one admitting non-ASCII letters; case folding never crosses it).
_SEP_RE2 = "[^a-z0-9_.@-]"
_SEP_RE2_ANYCASE = "[^A-Za-z0-9_.@-]"
_SEP_PY = re.compile(r"[^A-Za-z0-9_.@-]+")
_ASCII_SEP = "".join(c for c in map(chr, range(128)) if not (c.isascii() and (c.isalnum() or c in "_.@-")))
_RE2_META = set("\\.^$|?*+()[]{}")
_HASH32 = "(hash({}) >> 32)::UINTEGER"


@dataclass(frozen=True)
class IndexBuildStats:
    events: int
    blocks: int
    terms: int
    seconds: float


@dataclass(frozen=True)
class SearchHits:
    """One message of a streaming search: first hits, then the complete count."""

    event_ids: list[int]
    total: int | None  # None until the search is complete
    done: bool


@dataclass(frozen=True)
class Needle:
    """One query word or phrase: `text` as typed (stripped of edge separators), prefix if `w*`."""

    text: str
    prefix: bool = False

    @property
    def index_tokens(self) -> list[str]:
        """Tokens the index can look up: whole ones (not a prefix's last piece), 2+ characters."""
        pieces = [p for p in _SEP_PY.split(self.text) if p]
        if self.prefix and pieces:
            pieces = pieces[:-1]
        return [p for p in pieces if len(p) >= 2]


def make_needle(text: str, prefix: bool = False) -> Needle | None:
    """A needle from a query word without its edge ASCII separators, or None if nothing is left."""
    core = text.strip(_ASCII_SEP)
    return Needle(core, prefix) if core else None


def parse_query(text: str) -> list[Needle]:
    """Whitespace-separated words of the search box; a trailing * makes a prefix."""
    out = []
    for word in text.split():
        prefix = word.endswith("*") and len(word) > 1
        needle = make_needle(word[:-1] if prefix else word, prefix)
        if needle is not None and needle not in out:
            out.append(needle)
    return out


# -- the exact predicate --------------------------------------------------------------------------
def text_sql() -> str:
    """The searched text of an event (see module docstring)."""
    cols = ", ".join(f.name for f in searchable_fields())
    return f"lower(concat_ws(chr(10), {cols}, raw::VARCHAR))"


def _re2_escape(s: str) -> str:
    return "".join("\\" + c if c in _RE2_META else c for c in s)


def match_sql(needles: list[Needle], cur: duckdb.DuckDBPyConnection | None) -> tuple[str, list[object]]:
    """Exact SQL predicate: every needle occurs at token boundaries (see module docstring).

    A cheap filter runs first and the regex on the lower-cased text only confirms boundaries:
    ILIKE over each field (measured 2x faster than building the concatenated text of every row)
    for ASCII needles, whose case folding ILIKE and lower() agree on.
    """
    if not needles:
        return "true", []
    parts: list[str] = []
    params: list[object] = []
    for needle, low in zip(needles, _lower_all([n.text for n in needles], cur), strict=True):
        tail = "" if needle.prefix else f"({_SEP_RE2}|$)"
        parts.append(f"({_prefilter_sql(low, params)} AND regexp_matches({text_sql()}, ?))")
        params.append(f"(^|{_SEP_RE2}){_re2_escape(low)}{tail}")
    return "(" + " AND ".join(parts) + ")", params


def _prefilter_sql(low: str, params: list[object]) -> str:
    """A necessary condition, cheap: without ESCAPE, ``_`` and ``%`` in the word act as wildcards,
    which only widens the filter (ILIKE with ESCAPE measured 1.6x slower)."""
    if not low.isascii():
        params.append(low)
        return f"contains({text_sql()}, ?)"
    cols = ["raw::VARCHAR"] + [f.name for f in searchable_fields()]
    params.extend([f"%{low}%"] * len(cols))
    return "(" + " OR ".join(f"coalesce({c} ILIKE ?, false)" for c in cols) + ")"


def _lower_all(words: list[str], cur: duckdb.DuckDBPyConnection | None) -> list[str]:
    """Lower-case as DuckDB does (Unicode rules may differ from Python's for rare letters)."""
    if cur is None:
        return [w.lower() for w in words]
    return [str(r[0]) for r in cur.execute("SELECT lower(unnest(?))", [words]).fetchall()]


# -- building -------------------------------------------------------------------------------------
def create_tables(cur: duckdb.DuckDBPyConnection) -> None:
    """Run DDL (tests and tools; in a case the schema migration does this)."""
    for stmt in DDL:
        cur.execute(stmt)


def _one(cur: duckdb.DuckDBPyConnection, sql: str, params: list[object] | None = None) -> tuple[object, ...]:
    rows = cur.execute(sql, params or []).fetchall()  # never fetchone(): see case_file.fetch_one
    return tuple(rows[0]) if rows else ()


def high_water_mark(cur: duckdb.DuckDBPyConnection) -> int | None:
    """The largest indexed event id; later events are not indexed yet."""
    mark = _one(cur, "SELECT max(event_id_max) FROM search_index_batches")
    return None if not mark or mark[0] is None else int(str(mark[0]))


def update_index(cur: duckdb.DuckDBPyConnection, ctx: JobContext | None = None) -> IndexBuildStats:
    """Index every event above the high-water mark, in the caller's transaction.

    Never commits or rolls back: the import calls it inside its own transaction, so a cancel
    (ctx.token interrupts the running statement) leaves the case exactly as before.
    """
    started = time.monotonic()
    create_tables(cur)
    remove = ctx.token.on_cancel(cur.interrupt) if ctx else None
    try:
        if ctx:
            ctx.check()
            ctx.progress.phase = "indexing text"
        events, blocks, terms = _index_new_events(cur, ctx)
    except duckdb.InterruptException:
        if ctx:
            ctx.check()
        raise
    finally:
        if remove:
            remove()
    return IndexBuildStats(events, blocks, terms, time.monotonic() - started)


def build_index(cur: duckdb.DuckDBPyConnection, ctx: JobContext | None = None) -> IndexBuildStats:
    """Alias of `update_index` for existing callers (benchmarks, tools)."""
    return update_index(cur, ctx)


def _index_new_events(cur: duckdb.DuckDBPyConnection, ctx: JobContext | None) -> tuple[int, int, int]:
    mark = high_water_mark(cur)
    lo = -(2**63) if mark is None else mark + 1
    first_block = int(str(_one(cur, "SELECT coalesce(max(block_id) + 1, 0) FROM search_blocks")[0]))
    # Blocks: ranks in event id order over two narrow columns (cheap), cut every BLOCK_EVENTS.
    cur.execute(
        f"""CREATE OR REPLACE TEMP TABLE _si_new_blocks AS
        SELECT $first + rn // {BLOCK_EVENTS} AS block_id, min(event_id) AS event_id_lo,
               max(event_id) AS event_id_hi, count(*)::INTEGER AS events, min(ts) AS ts_min, max(ts) AS ts_max
        FROM (SELECT event_id, ts, row_number() OVER (ORDER BY event_id) - 1 AS rn
              FROM events WHERE event_id >= $lo)
        GROUP BY 1 ORDER BY 1""",
        {"first": first_block, "lo": lo},
    )
    n_blocks, n_events = (
        int(str(x)) for x in _one(cur, "SELECT count(*), coalesce(sum(events), 0) FROM _si_new_blocks")
    )
    terms = done = 0
    for b0 in range(first_block, first_block + n_blocks, SLICE_BLOCKS):
        b1 = min(b0 + SLICE_BLOCKS, first_block + n_blocks) - 1
        terms += _index_slice(cur, b0, b1)
        if ctx:
            done += SLICE_BLOCKS * BLOCK_EVENTS
            ctx.progress.records = min(done, n_events)
            ctx.report()
            ctx.check()
    if n_blocks:
        cur.execute("INSERT INTO search_blocks SELECT * FROM _si_new_blocks ORDER BY block_id")
        cur.execute(
            "INSERT INTO search_index_batches SELECT min(block_id), max(block_id), max(event_id_hi), "
            "sum(events), ?, hash('caseline'), now() FROM _si_new_blocks",
            [terms],
        )
    cur.execute("DROP TABLE _si_new_blocks")
    return n_events, n_blocks, terms


def _index_slice(cur: duckdb.DuckDBPyConnection, b0: int, b1: int) -> int:
    """Distinct (token hash, block) pairs of blocks b0..b1, written sorted by hash."""
    # Split before lower-casing (measured ~1.5x faster); the class matches either case.
    cols = ", ".join(f.name for f in searchable_fields())
    tokens = f"regexp_split_to_array(concat_ws(' ', {cols}, raw::VARCHAR), '{_SEP_RE2_ANYCASE}+')"
    cur.execute(
        f"""CREATE OR REPLACE TEMP TABLE _si_terms AS
        SELECT DISTINCT {_HASH32.format("lower(tok)")} AS term_hash, block_id FROM (
          SELECT b.block_id, unnest({tokens}) AS tok
          FROM (SELECT * FROM events WHERE event_id BETWEEN $lo AND $hi) e
          ASOF JOIN (SELECT * FROM _si_new_blocks WHERE block_id BETWEEN $b0 AND $b1) b
            ON e.event_id >= b.event_id_lo)
        WHERE length(tok) >= 2""",
        {"lo": _bound(cur, b0, "lo"), "hi": _bound(cur, b1, "hi"), "b0": b0, "b1": b1},
    )
    cur.execute("INSERT INTO search_block_terms SELECT * FROM _si_terms ORDER BY term_hash, block_id")
    n = int(str(_one(cur, "SELECT count(*) FROM _si_terms")[0]))
    cur.execute("DROP TABLE _si_terms")
    return n


def _bound(cur: duckdb.DuckDBPyConnection, block: int, side: str) -> int:
    return int(str(_one(cur, f"SELECT event_id_{side} FROM _si_new_blocks WHERE block_id = ?", [block])[0]))


def usable(cur: duckdb.DuckDBPyConnection) -> bool:
    """True when the index tables exist and were built with this DuckDB's hash() (coverage may lag:
    search checks unindexed events exactly)."""
    try:
        row = _one(
            cur,
            "SELECT count(*), coalesce(bool_and(hash_check = hash('caseline')), true) FROM search_index_batches",
        )
    except duckdb.CatalogException:
        return False
    return bool(row[1])


def is_ready(cur: duckdb.DuckDBPyConnection) -> bool:
    """True when the index is usable and covers every event."""
    if not usable(cur):
        return False
    mark = high_water_mark(cur)
    top = _one(cur, "SELECT max(event_id) FROM events")
    return top[0] is None or (mark is not None and int(str(top[0])) <= mark)


# -- searching ------------------------------------------------------------------------------------
_ALL = (-(2**63), 2**63 - 1)


@dataclass(frozen=True)
class Candidate:
    """A block that may hold matches (block None: the not yet indexed tail, always checked)."""

    block: int | None
    lo: int
    hi: int
    ts_min: object


def candidates(cur: duckdb.DuckDBPyConnection, needles: list[Needle]) -> list[Candidate]:
    """Blocks holding every whole query token, plus the unindexed tail, in time order."""
    if not usable(cur):
        return [Candidate(None, *_ALL, None)]
    tokens = sorted({t for n in needles for t in n.index_tokens})
    lookup = f"SELECT block_id FROM search_block_terms WHERE term_hash = {_HASH32.format('lower(?)')}"
    where = f"WHERE block_id IN ({' INTERSECT '.join([lookup] * len(tokens))})" if tokens else ""
    rows = cur.execute(
        f"SELECT block_id, event_id_lo, event_id_hi, ts_min FROM search_blocks {where}", list(tokens)
    ).fetchall()
    out = [Candidate(int(b), int(lo), int(hi), ts) for b, lo, hi, ts in rows]
    mark = high_water_mark(cur)
    lo = _ALL[0] if mark is None else mark + 1
    tail = _one(cur, "SELECT min(ts), count(*) FROM events WHERE event_id >= ?", [lo])
    if tail and int(str(tail[1])):
        out.append(Candidate(None, lo, _ALL[1], tail[0]))
    # Blocks without a time (none after an import settles) first: they cannot be ordered.
    out.sort(key=lambda c: (c.ts_min is not None, c.ts_min or 0, c.lo))
    return out


def _runs(cands: list[Candidate]) -> list[tuple[int, int]]:
    """Event id ranges of the candidates, consecutive blocks merged (exact cover, no overlap)."""
    out: list[tuple[int, int]] = []
    prev: int | None = None
    for c in sorted(cands, key=lambda c: c.lo):
        if out and prev is not None and c.block == prev + 1:
            out[-1] = (out[-1][0], c.hi)
        else:
            out.append((c.lo, c.hi))
        prev = c.block
    return out


def _coarsen(ranges: list[tuple[int, int]], max_n: int) -> list[tuple[int, int]]:
    """At most max_n ranges covering `ranges` (sorted, disjoint), closing the smallest gaps."""
    if len(ranges) <= max_n:
        return ranges
    gaps = sorted(b[0] - a[1] for a, b in zip(ranges, ranges[1:], strict=False))
    limit = gaps[len(gaps) - max_n]
    out = [ranges[0]]
    for lo, hi in ranges[1:]:
        if lo - out[-1][1] <= limit:
            out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


def ranges_sql(ranges: list[tuple[int, int]]) -> tuple[str, list[object]]:
    if not ranges:
        return "false", []
    if ranges == [_ALL]:
        return "true", []
    params: list[object] = [x for r in ranges for x in r]
    return "(" + " OR ".join(["event_id BETWEEN ? AND ?"] * len(ranges)) + ")", params


def filter_sql(needles: list[Needle], cur: duckdb.DuckDBPyConnection | None) -> tuple[str, list[object]]:
    """Exact predicate for `event_query.where_sql`: candidate ranges (index) AND the check."""
    match, params = match_sql(needles, cur)
    if cur is None or not needles:
        return match, params
    ranges = _coarsen(_runs(candidates(cur, needles)), MAX_RANGES)
    rsql, rparams = ranges_sql(ranges)
    return f"({rsql} AND {match})", rparams + params


def search(
    cur: duckdb.DuckDBPyConnection, text: str, limit: int = 1000, token: CancelToken | None = None
) -> Iterator[SearchHits]:
    """Stream a search: the earliest `limit` hits in (ts, event_id) order, then the exact total.

    Candidate blocks are checked in time order in growing waves until the page cannot change
    (its last hit is earlier than any unchecked block); the rest is only counted. Cancelling
    `token` interrupts the running query (DuckDB raises InterruptException).
    """
    remove = token.on_cancel(cur.interrupt) if token is not None else None
    try:
        yield from _search(cur, parse_query(text), limit)
    finally:
        if remove:
            remove()


def _search(cur: duckdb.DuckDBPyConnection, needles: list[Needle], limit: int) -> Iterator[SearchHits]:
    if not needles:
        yield SearchHits([], 0, True)
        return
    match, mparams = match_sql(needles, cur)
    cands = candidates(cur, needles)
    hits: list[tuple[object, int]] = []
    i, wave = 0, 4
    while i < len(cands):
        group, i, wave = cands[i : i + wave], i + wave, min(wave * 2, MAX_RANGES)
        rsql, rparams = ranges_sql(_runs(group))
        hits += cur.execute(
            f"SELECT ts, event_id FROM events WHERE {rsql} AND {match}", rparams + mparams
        ).fetchall()
        hits.sort(key=_hit_key)
        if len(hits) >= limit and i < len(cands) and _page_final(hits[limit - 1], cands[i]):
            break
    first = [int(h[1]) for h in hits[:limit]]
    if i >= len(cands):
        yield SearchHits(first, len(hits), True)
        return
    yield SearchHits(first, None, False)
    total = len(hits)
    runs = _runs(cands[i:])
    for k in range(0, len(runs), MAX_RANGES):
        rsql, rparams = ranges_sql(runs[k : k + MAX_RANGES])
        total += int(
            str(_one(cur, f"SELECT count(*) FROM events WHERE {rsql} AND {match}", rparams + mparams)[0])
        )
    yield SearchHits(first, total, True)


def _hit_key(h: tuple[object, int]) -> tuple[bool, object, int]:
    return (h[0] is None, h[0] if h[0] is not None else 0, h[1])


def _page_final(last: tuple[object, int], nxt: Candidate) -> bool:
    """No unchecked block can hold a hit earlier than the page's last one."""
    return last[0] is not None and nxt.ts_min is not None and last[0] < nxt.ts_min  # type: ignore[operator]
