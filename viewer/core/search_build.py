"""Building the free-text index: a block-level skip index that knows where each token lies.

Why blocks: ILIKE over the raw JSON reads ~17 GB of text at 10M events (~16 s) and the fts
extension is not available offline. A per-event inverted index (one posting per token per event)
measured ~100 s per 1M events to build and ~0.7x the gzipped evidence on disk; most of its
postings were tokens present in nearly every event. Here the unit is a *block*: a run of
`BLOCK_EVENTS` consecutive event ids.

Why sources: a word an analyst searches for (an action, a user, an IP) is usually held by a
searchable column, and its raw record says it again. Each (token, block) row therefore carries a
bit per searchable column holding the token in some event of the block, plus `RAW_ONLY` when some
event's raw record holds the token while none of that event's searchable columns does. A block
without `RAW_ONLY` can be checked on the named columns alone, which is ~100x cheaper than
decompressing and scanning the raw records.

Tables (`DDL`):

* ``search_blocks``: one row per block - its event id range, count and time range.
* ``search_block_terms(term_key, block_base, source_code, every_check)``: one row per distinct
  token per block. ``term_key`` is the token's 32-bit hash shifted left by `OFFSET_BITS`, plus
  the block's offset from ``block_base``, the first block of its slice (`SLICE_BLOCKS` blocks,
  so the offset fits; `BLOCK_ID_SQL` and `term_lookup_sql` undo it). Each slice's rows are
  sorted by key, so zone maps prune a lookup to a few row groups, and the key bit-packs as
  deltas: ~22 bits a row for hash and block together, where the two columns apart filled two
  256 KB blocks per row group to ~78% (1M CloudTrail events: 31.0 -> 26.0 MiB); ``block_base``
  is one value per slice (constant segments). ``source_code`` numbers the source masks in
  ``search_source_masks(code, mask)``: a case holds a few dozen distinct masks, and the mask
  itself, 17 bits wide whenever RAW_ONLY is set, bit-packed at ~17 bits a row (15.8 MiB of the
  46.3 MiB index at 1M CloudTrail events), where its code takes 2-4. The hash is the upper 32 bits of DuckDB's `hash()`: a
  collision only adds candidate blocks or sources. (The raw-only test compares full 64-bit
  hashes within one event, so a collision there would need two tokens of one event to share
  64 bits.)
  ``every_check`` is set when *every* event of the block holds the token (in a column or its raw
  record): the lower 32 bits of the hash, so with the key's hash a whole 64-bit hash confirms it. A
  block like that matches the word without reading a row: 182 tokens at the 10M benchmark case
  (JSON keys, constants such as AwsApiCall) sit in the raw records of nearly every event and in
  no column, and searching one of them scanned all raw JSON (~40 s at 10M).
* ``search_index_batches``: what each build covered (high-water mark), `hash('caseline')`, since
  `hash()` is stable only within a DuckDB release, and the searchable columns the source bits
  name: a change of either makes the index unusable (`usable`) and search scans instead of
  silently missing hits.

The index holds the tokens of 2+ characters; a word without such a token cannot narrow a search.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import duckdb

from viewer.core.jobs import JobContext
from viewer.core.search_text import TOKEN_RE2_ANYCASE, searchable_columns

#: Events per block: larger blocks mean fewer postings for common tokens, more rows to check.
BLOCK_EVENTS = 2048
#: Blocks tokenized per statement (~1M events): bounds the memory of the aggregation.
SLICE_BLOCKS = 512
#: `sources` bit of a token some event holds in its raw record but in none of its searchable
#: columns. Bits 0..n-1 are the searchable columns in schema order (`searchable_columns`). The
#: column costs ~2 bytes a row bit-packed: the index grew from 321 to 483 MB at 10M events.
RAW_ONLY = 1 << len(searchable_columns())
HASH32 = "(hash({}) >> 32)::UINTEGER"
#: Low bits of `term_key` holding a block's offset in its slice.
OFFSET_BITS = 9
assert SLICE_BLOCKS <= 1 << OFFSET_BITS, "a slice's block offsets must fit in the key's low bits"
#: A row's block id.
BLOCK_ID_SQL = f"(block_base + (term_key & {(1 << OFFSET_BITS) - 1})::INTEGER)"


def term_lookup_sql(token_sql: str) -> str:
    """SQL condition on `search_block_terms`: the rows of the (lower-cased) token `token_sql`."""
    low = f"({HASH32.format(token_sql)}::UBIGINT << {OFFSET_BITS})"
    return f"term_key BETWEEN {low} AND {low} + {(1 << OFFSET_BITS) - 1}"


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
        term_key UBIGINT NOT NULL,      -- upper 32 bits of hash(token) << 9 | block - block_base
        block_base INTEGER NOT NULL,    -- first block of the slice the row was built in
        source_code UINTEGER NOT NULL,  -- search_source_masks.code of its sources
        every_check UINTEGER            -- lower 32 bits of hash(token) when every event holds it
    )""",
    """CREATE TABLE IF NOT EXISTS search_source_masks (
        code UINTEGER NOT NULL,
        mask UINTEGER NOT NULL          -- bit i: searchable column i holds it; the next bit: RAW_ONLY
    )""",
    """CREATE TABLE IF NOT EXISTS search_index_batches (
        block_lo INTEGER NOT NULL,
        block_hi INTEGER NOT NULL,
        event_id_max BIGINT NOT NULL,   -- high-water mark: events above it are not indexed yet
        events BIGINT NOT NULL,
        terms BIGINT NOT NULL,
        hash_check UBIGINT NOT NULL,    -- hash('caseline') when built: detects a changed hash()
        fields VARCHAR NOT NULL,        -- what the source bits mean (fields_key)
        built_at TIMESTAMPTZ NOT NULL
    )""",
]

assert len(searchable_columns()) < 31, "source bits: one per searchable column, plus RAW_ONLY"


@dataclass(frozen=True)
class IndexBuildStats:
    events: int
    blocks: int
    terms: int
    seconds: float


def create_tables(cur: duckdb.DuckDBPyConnection) -> None:
    """Run DDL (tests and tools; in a case `viewer.core.derived` does this)."""
    for stmt in DDL:
        cur.execute(stmt)


def one_row(
    cur: duckdb.DuckDBPyConnection, sql: str, params: list[object] | None = None
) -> tuple[object, ...]:
    rows = cur.execute(sql, params or []).fetchall()  # never fetchone(): see case_file.fetch_one
    return tuple(rows[0]) if rows else ()


def fields_key() -> str:
    """What the source bits mean: the columns in bit order, then the RAW_ONLY bit."""
    return (
        ",".join(searchable_columns())
        + f";raw_only={RAW_ONLY.bit_length() - 1};every_check;source_codes;term_key={OFFSET_BITS}"
    )


def high_water_mark(cur: duckdb.DuckDBPyConnection) -> int | None:
    """The largest indexed event id; later events are not indexed yet."""
    mark = one_row(cur, "SELECT max(event_id_max) FROM search_index_batches")
    return None if not mark or mark[0] is None else int(str(mark[0]))


#: Over `search_index_batches`, with `fields_key()` as its parameter: every build used this
#: DuckDB's hash() and these searchable columns (true with no build yet).
USABLE_SQL = "coalesce(bool_and(hash_check = hash('caseline') AND fields = ?), true)"


def usable(cur: duckdb.DuckDBPyConnection) -> bool:
    """True when the index tables exist and were built with this DuckDB's hash() and these
    searchable columns (coverage may lag: search checks unindexed events exactly)."""
    try:
        row = one_row(cur, f"SELECT {USABLE_SQL} FROM search_index_batches", [fields_key()])
    except duckdb.BinderException:  # the batches table of an older index layout
        return False
    except duckdb.CatalogException:
        return False
    return bool(row[0])


def is_ready(cur: duckdb.DuckDBPyConnection) -> bool:
    """True when the index is usable and covers every event."""
    if not usable(cur):
        return False
    mark = high_water_mark(cur)
    top = one_row(cur, "SELECT max(event_id) FROM events")
    return top[0] is None or (mark is not None and int(str(top[0])) <= mark)


def update_index(cur: duckdb.DuckDBPyConnection, ctx: JobContext | None = None) -> IndexBuildStats:
    """Index every event above the high-water mark, in the caller's transaction.

    Never commits or rolls back: the caller owns the transaction, so a cancel (ctx.token
    interrupts the running statement) leaves the case exactly as before.
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


def _index_new_events(cur: duckdb.DuckDBPyConnection, ctx: JobContext | None) -> tuple[int, int, int]:
    mark = high_water_mark(cur)
    lo = -(2**63) if mark is None else mark + 1
    first_block = int(str(one_row(cur, "SELECT coalesce(max(block_id) + 1, 0) FROM search_blocks")[0]))
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
        int(str(x)) for x in one_row(cur, "SELECT count(*), coalesce(sum(events), 0) FROM _si_new_blocks")
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
            "sum(events), ?, hash('caseline'), ?, now() FROM _si_new_blocks",
            [terms, fields_key()],
        )
    cur.execute("DROP TABLE _si_new_blocks")
    return n_events, n_blocks, terms


def _token_hashes(expr: str) -> str:
    """SQL: the 64-bit hashes of the lower-cased 2+ character tokens of `expr`, as a list.

    The tokens are extracted as runs of 2+ token characters, which is the same list as splitting
    on separators and dropping the shorter pieces, 12% faster (1.40 against 1.60 s for 50k
    CloudTrail records on one core). Each token is lower-cased after extraction, as it was after
    splitting (measured ~1.5x faster than lower-casing the whole text first); the class matches
    either case."""
    return (
        f"list_transform(regexp_extract_all({expr}, '{TOKEN_RE2_ANYCASE}{{2,}}'), lambda t: hash(lower(t)))"
    )


def _slice_sql() -> str:
    """(term_hash, block_id, sources, every_check) of the events in blocks $b0..$b1.

    Per event: the token hashes of each searchable column tagged with its column bit, and the raw
    record's distinct token hashes that none of the event's columns holds, tagged RAW_ONLY. Each
    token an event holds is counted once (`w`: the column tokens once more, distinct, untagged;
    the raw-only ones are distinct already), so `sum(w)` is the number of events of the block
    holding it. One unnest of three aligned lists (hash, bit, weight), then one aggregation per
    (hash, block): a single pass, which DuckDB runs on both cores.
    """
    cols = searchable_columns()
    per_col = [f"coalesce({_token_hashes(c)}, [])" for c in cols]
    hashes = f"list_concat({', '.join(per_col)})"
    bits = (
        "list_concat("
        + ", ".join(f"list_transform({h}, lambda x: {1 << i}::UINTEGER)" for i, h in enumerate(per_col))
        + ")"
    )
    return f"""
    SELECT (t.h >> 32)::UINTEGER AS term_hash, t.block_id, t.sources,
           CASE WHEN t.holders = b.events THEN (t.h & 4294967295)::UINTEGER END AS every_check
    FROM (
      SELECT h, block_id, bit_or(s) AS sources, sum(w) AS holders FROM (
        SELECT block_id,
               unnest(list_concat(ch, cd, ro)) AS h,
               unnest(list_concat(cb, list_transform(cd, lambda x: 0::UINTEGER),
                                  list_transform(ro, lambda x: {RAW_ONLY}::UINTEGER))) AS s,
               unnest(list_concat(list_transform(ch, lambda x: 0::UTINYINT),
                                  list_transform(cd, lambda x: 1::UTINYINT),
                                  list_transform(ro, lambda x: 1::UTINYINT))) AS w
        FROM (
          SELECT block_id, ch, cb, list_distinct(ch) AS cd,
                 list_distinct(list_filter({_token_hashes("raw::VARCHAR")}, lambda h: NOT list_contains(ch, h))) AS ro
          FROM (
            SELECT b.block_id, e.raw, {hashes} AS ch, {bits} AS cb
            FROM (SELECT * FROM events WHERE event_id BETWEEN $lo AND $hi) e
            ASOF JOIN (SELECT * FROM _si_new_blocks WHERE block_id BETWEEN $b0 AND $b1) b
              ON e.event_id >= b.event_id_lo)))
      GROUP BY ALL) t
    JOIN _si_new_blocks b USING (block_id)"""


def _index_slice(cur: duckdb.DuckDBPyConnection, b0: int, b1: int) -> int:
    """Distinct (token hash, block) rows of blocks b0..b1 with their sources, written sorted."""
    cur.execute(
        f"CREATE OR REPLACE TEMP TABLE _si_terms AS {_slice_sql()}",
        {"lo": _bound(cur, b0, "lo"), "hi": _bound(cur, b1, "hi"), "b0": b0, "b1": b1},
    )
    cur.execute(
        """INSERT INTO search_source_masks
           SELECT (SELECT coalesce(max(code) + 1, 0) FROM search_source_masks) + row_number() OVER (ORDER BY mask) - 1,
                  mask
           FROM (SELECT DISTINCT sources AS mask FROM _si_terms EXCEPT SELECT mask FROM search_source_masks)"""
    )
    cur.execute(
        f"""INSERT INTO search_block_terms
            SELECT (t.term_hash::UBIGINT << {OFFSET_BITS}) | (t.block_id - $b0)::UBIGINT, $b0, m.code, t.every_check
            FROM _si_terms t JOIN search_source_masks m ON m.mask = t.sources
            ORDER BY 1""",
        {"b0": b0},
    )
    n = int(str(one_row(cur, "SELECT count(*) FROM _si_terms")[0]))
    cur.execute("DROP TABLE _si_terms")
    return n


def _bound(cur: duckdb.DuckDBPyConnection, block: int, side: str) -> int:
    return int(
        str(one_row(cur, f"SELECT event_id_{side} FROM _si_new_blocks WHERE block_id = ?", [block])[0])
    )
