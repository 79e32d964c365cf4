"""The per-entity counts behind the pivot panels, kept incrementally by `builder.update`.

`entity_rollup` holds, per panel kind, entity and hour: events, failures, first time (epoch
microseconds) and the last as microseconds after it, and the sources it was seen in as a
bitmask. `entity_totals` holds one row
per entity over the whole case (the whole-case panel, read with a sort and a limit) and is the
dictionary from an entity's key to its text.

Why keys and bitmasks: a time-filtered panel sums the rollup rows of its range per entity. For a
high-cardinality kind (65k addresses, 2M session keys at 10M events) that is ~400k rows for three
days; summing them grouped by a 64-bit key with `bit_or` took 93 ms where grouping by the text
with `list_distinct(list(source))` took 1.8 s (benchmarks/pivots.py, 1M case). The key is
DuckDB's `hash(entity)`: free next to the GROUP BY, where `md5_number_lower` added ~1.2 CPU
seconds per 1M events to the build. `hash` may change between DuckDB versions, so the build
stores the hash of a fixed probe (`KEY_PROBE_SQL`) and the tables count as current only while
the running DuckDB hashes it the same (else the next update rebuilds them). A collision of two
entities of one kind (odds ~1e-6 at 4M entities) is detected at build and makes readers count from
events instead (`entity_state.exact`).

Each import adds the rollup rows of its events (a key may repeat within or across imports:
readers sum) and merges their totals into `entity_totals`, each import's new entities in
first-seen order; the rollup is re-summed every few imports. `entity_kinds` holds per kind the
number of entities and the longest life of one (`kind_bounds`), which bounds the first-seen time
of the entities a time range can hold.
"""

from __future__ import annotations

import duckdb

from viewer.core.entities import day_totals, panel_snapshot
from viewer.core.entities.kinds import KINDS, EntityKind, ip_entity_sql
from viewer.core.entities.resources import target_entity_sql
from viewer.core.jobs import JobContext
from viewer.core.packed_halves import us_halves, us_joined
from viewer.core.serial_insert import insert_serially
from viewer.core.time_floor import floor_multiple_sql

HOUR_US = 3_600_000_000
#: The order of the rollup's rows within a kind (see DDL); `hour` is the stored hour number.
ROW_ORDER = "hour // 24, k, hour"
COMPACT_AFTER = 8
#: Rollup rows (at most) grouped in one pass over a batch's events (`hour_shares`).
ROLLUP_ROWS_PER_PASS = 4_000_000
#: Source bits: one per (source_type, provider) pair; pairs beyond the last bit share it.
MAX_SOURCE_BIT = 62


DDL: list[str] = [
    # The rollup's times are stored as whole seconds and the microseconds left over
    # (`packed_halves`): at 1M CloudTrail events first_us and span_us took 10.75 MiB, these four
    # columns 5.5 (entity_rollup_rows; readers use the view). Its rows are sorted by day, then
    # key (`ROW_ORDER`): the random 64-bit keys took 13.5 of its 19 MiB in hour order, and in
    # day order an entity's hours of a day are one run of its key (DuckDB stores a run once);
    # the hour is then a small number (hours since 1970) rather than microseconds, which
    # bit-packing would store in 37 bits. 1M events: 76 -> 58 blocks of 256 KB. Zone maps
    # still skip the days outside a range.
    """CREATE TABLE IF NOT EXISTS entity_rollup_rows (
        kind VARCHAR NOT NULL,          -- panel (entities.kinds): a pivot column, or 'ip'
        k UBIGINT NOT NULL,             -- hash(entity); the text is in entity_totals
        hour INTEGER NOT NULL,          -- hour start: hours since 1970 (the view's hour_us)
        n BIGINT NOT NULL, n_fail BIGINT NOT NULL,
        first_s INTEGER NOT NULL,       -- first event: first_s seconds and first_frac
        first_frac INTEGER NOT NULL,    -- after the hour's start
        -- last event minus first (span_s seconds and span_frac microseconds): stored as the last
        -- time itself took 7.1 MB at 1M CloudTrail events, as a span 3.9 MB (mostly 0)
        span_s INTEGER NOT NULL,
        span_frac INTEGER NOT NULL,
        sources BIGINT NOT NULL         -- bit i set: seen in entity_sources.bit = i
    )""",
    f"""CREATE OR REPLACE VIEW entity_rollup AS
        SELECT kind, k, hour, hour_us, n, n_fail, hour_us + {us_joined("first_s", "first_frac")} AS first_us,
               {us_joined("span_s", "span_frac")} AS span_us, sources
        FROM (SELECT *, hour::BIGINT * {HOUR_US} AS hour_us FROM entity_rollup_rows)""",
    # Times as halves too (1M CloudTrail events: 52 -> 44 blocks); the view adds first_s and
    # last_s, which readers comparing first_us or last_us compare too (`packed_halves.us_compare_sql`).
    """CREATE TABLE IF NOT EXISTS entity_totals_rows (
        kind VARCHAR NOT NULL, k UBIGINT NOT NULL,
        entity VARCHAR NOT NULL,        -- canonical value (IPs normalized)
        n BIGINT NOT NULL, n_fail BIGINT NOT NULL,
        first_s BIGINT NOT NULL, first_frac INTEGER NOT NULL,
        last_s BIGINT NOT NULL, last_frac INTEGER NOT NULL,
        sources BIGINT NOT NULL
    )""",
    f"""CREATE OR REPLACE VIEW entity_totals AS
        SELECT kind, k, entity, n, n_fail, {us_joined("first_s", "first_frac")} AS first_us,
               {us_joined("last_s", "last_frac")} AS last_us, sources, first_s, last_s
        FROM entity_totals_rows""",
    """CREATE TABLE IF NOT EXISTS entity_sources (
        bit INTEGER NOT NULL, source_type VARCHAR, provider VARCHAR
    )""",
    """CREATE TABLE IF NOT EXISTS entity_kinds (
        kind VARCHAR NOT NULL,
        entities BIGINT NOT NULL,       -- rows of the kind in entity_totals
        max_life_us BIGINT NOT NULL     -- longest last_us - first_us of an entity of the kind
    )""",
    """CREATE TABLE IF NOT EXISTS entity_alias (
        kind VARCHAR NOT NULL,          -- only where a stored value differs from its entity
        entity VARCHAR NOT NULL,
        stored VARCHAR NOT NULL
    )""",
]
TABLES = ("entity_rollup_rows", "entity_totals_rows", "entity_sources", "entity_kinds", "entity_alias")


def entity_expr(kind: EntityKind, column: str) -> str:
    """SQL for the canonical entity of `column` in an events row (NULL: none, as a service name
    in an address column)."""
    if kind.is_ip:
        return ip_entity_sql(column)
    if kind.is_resource:
        return target_entity_sql(column)
    return column if column != "dst_port" else f"CAST({column} AS VARCHAR)"


def no_entity_dropped(column: str, value: str) -> str:
    """The condition, after `column IS NOT NULL` (which zone maps can answer), that drops values
    that are no entity (a service name in an address column)."""
    return "" if value == column else f" AND {value} IS NOT NULL"


def key_sql(entity: str) -> str:
    """SQL for the stored key of an entity expression."""
    return f"hash({entity})"


#: The key of a fixed text: equal at build and read time, or the keys are not comparable.
KEY_PROBE_SQL = panel_snapshot.KEY_PROBE_SQL


def _literal(value: str | None) -> str:
    return "NULL" if value is None else "'" + value.replace("'", "''") + "'"


def source_bits(cur: duckdb.DuckDBPyConnection) -> dict[int, list[tuple[str | None, str | None]]]:
    """bit -> the (source_type, provider) pairs it stands for."""
    snap = panel_snapshot.current(cur)
    if snap is not None:
        return snap.sources
    bits: dict[int, list[tuple[str | None, str | None]]] = {}
    for bit, source, provider in cur.execute(
        "SELECT bit, source_type, provider FROM entity_sources ORDER BY bit, source_type"
    ).fetchall():
        bits.setdefault(int(bit), []).append((source, provider))
    return bits


def source_bit_sql(bits: dict[int, list[tuple[str | None, str | None]]]) -> str:
    """SQL for the source bit (as a BIGINT mask) of an events row."""
    whens = [
        f"WHEN source_type IS NOT DISTINCT FROM {_literal(s)} AND provider IS NOT DISTINCT FROM {_literal(p)} "
        f"THEN {1 << bit}"
        for bit, pairs in bits.items()
        for s, p in pairs
    ]
    return f"(CASE {' '.join(whens)} ELSE 0 END)::BIGINT" if whens else "0::BIGINT"


def decode_sources(
    mask: int, bits: dict[int, list[tuple[str | None, str | None]]]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(sources, clouds) named by a mask, each sorted."""
    sources: set[str] = set()
    clouds: set[str] = set()
    for bit, pairs in bits.items():
        if mask >> bit & 1:
            sources.update(s for s, _ in pairs if s is not None)
            clouds.update(p for _, p in pairs if p is not None)
    return tuple(sorted(sources)), tuple(sorted(clouds))


def kind_bounds(cur: duckdb.DuckDBPyConnection, kind: EntityKind) -> tuple[int, int]:
    """(entities of the kind, the longest life of one of them in microseconds). An entity with
    events in [start, end) has first_us in [start - longest life, end): with `entity_totals`
    in first-seen order, that bound lets zone maps skip most rows of a kind of short-lived ids
    (2M session keys at 10M events, each used within an hour) for any range."""
    snap = panel_snapshot.current(cur)
    if snap is not None:
        return snap.kinds.get(kind.name, (0, 0))
    got = cur.execute("SELECT entities, max_life_us FROM entity_kinds WHERE kind = ?", [kind.name]).fetchall()
    return (int(got[0][0]), int(got[0][1])) if got else (0, 0)


def _register_sources(cur: duckdb.DuckDBPyConnection, mark: int) -> str:
    """Give the new events' (source_type, provider) pairs their bits; returns the SQL of the
    source bit of an event above `mark`: a constant when they all share one pair (one import of
    one format, the usual case), which saved ~6% of the build at 1M events (a per-row CASE
    in each of the 16 passes over the events)."""
    pairs = cur.execute(
        "SELECT DISTINCT source_type, provider FROM events WHERE event_id > ? ORDER BY 1, 2", [mark]
    ).fetchall()
    known = {
        (s, p): int(b)
        for b, s, p in cur.execute("SELECT bit, source_type, provider FROM entity_sources").fetchall()
    }
    used = max(known.values(), default=-1) + 1
    for source, provider in pairs:
        if (source, provider) not in known:
            known[source, provider] = min(used, MAX_SOURCE_BIT)
            cur.execute(
                "INSERT INTO entity_sources VALUES (?, ?, ?)", [known[source, provider], source, provider]
            )
            used += 1
    if len(pairs) == 1:
        return f"{1 << known[pairs[0]]}::BIGINT"
    return source_bit_sql(source_bits(cur))


def kind_rows_sql(kind: EntityKind, where: str, bit_sql: str, bucket_us: int | None) -> str:
    """Rows (entity, [hour_us,] n, n_fail, first_us, last_us, sources) of the events matching
    `where`, grouped per entity (and hour). One SELECT per column of the kind; for IPs the
    destination is skipped when it is the source's address, so an event counts once per entity."""
    parts = []
    seen: list[str] = []
    hour = f"{floor_multiple_sql('epoch_us(ts)', bucket_us)} AS hour_us, " if bucket_us else ""
    for column in kind.columns:
        value = entity_expr(kind, column)
        same = "".join(f" AND {value} IS DISTINCT FROM {entity_expr(kind, c)}" for c in seen)
        parts.append(
            f"""SELECT {value} AS entity, {hour}count(*) AS n,
                       count(*) FILTER (WHERE outcome = 'failure') AS n_fail,
                       min(epoch_us(ts)) AS first_us, max(epoch_us(ts)) AS last_us, bit_or({bit_sql}) AS sources
                FROM events WHERE ({where}) AND {column} IS NOT NULL{no_entity_dropped(column, value)}{same} GROUP BY ALL"""
        )
        seen.append(column)
    return " UNION ALL ".join(parts)


def append_new(
    cur: duckdb.DuckDBPyConnection, mark: int, ctx: JobContext | None, day_deltas: dict | None = None
) -> bool:
    """Count events above `mark` into the rollup and the totals; False when two entities of a
    kind share a key (then the tables must not be read). Per kind with a day grid
    (`day_totals`), its per-day counts of these events go into `day_deltas`."""
    gridded = day_totals.current_kinds(cur) if day_deltas is not None else set()
    bit_sql = _register_sources(cur, mark)
    cur.execute(
        """CREATE OR REPLACE TEMP TABLE _entity_batch_totals (kind VARCHAR, k UBIGINT, entity VARCHAR,
               clash BOOLEAN, n BIGINT, n_fail BIGINT, first_us BIGINT, last_us BIGINT, sources BIGINT)"""
    )
    # One kind at a time (cancellable between kinds), so the rollup is sorted by hour alone and
    # the totals come out grouped by kind without sorting on the kind's text. Measured: a single
    # GROUPING SETS or UNION of all kinds was slower on two cores.
    first, last, events = cur.execute(
        f"SELECT epoch_us(min(ts)), epoch_us(max(ts)), count(*) FROM events WHERE event_id > {int(mark)}"
    ).fetchall()[0]
    for kind in KINDS:
        if ctx is not None:
            ctx.check()
        # An address seen as source in one event and destination in another of the same hour
        # has two rows: readers sum anyway, and re-summing ~1 row per event cost ~8% of the build.
        shares = hour_shares(first, last, int(events) * len(kind.columns))
        for i, share in enumerate(shares):
            sql = kind_rows_sql(kind, f"event_id > {int(mark)} AND {share}", bit_sql, HOUR_US)
            rows = f"SELECT {key_sql('entity')} AS k, * FROM ({sql})"
            cur.execute(
                f"CREATE OR REPLACE TEMP TABLE _entity_batch AS {rows}"
                if i == 0
                else f"INSERT INTO _entity_batch {rows}"
            )
        # Sorted share by share (the shares follow each other in time): one sort of 9.5M rows
        # (10M events, ip) outgrew the memory limit too.
        # Serially: a parallel insert per statement left free blocks in the file (serial_insert).
        for share in hour_shares(first, last, int(events) * len(kind.columns), "hour_us"):
            insert_serially(
                cur,
                f"""INSERT INTO entity_rollup_rows
                    SELECT '{kind.name}', k, {_hour_sql("hour_us")} AS hour, n, n_fail,
                           {us_halves("first_us - hour_us")}, {us_halves("last_us - first_us")}, sources
                    FROM _entity_batch WHERE {share} ORDER BY {ROW_ORDER}""",
            )
        if day_deltas is not None and kind.name in gridded:
            day_deltas[kind.name] = day_totals.batch_deltas(cur)
        _add_batch_totals(cur, kind)
    cur.execute("DROP TABLE _entity_batch")
    exact = _merge_totals(cur)
    _add_aliases(cur, mark)
    return exact


def hour_shares(first_us: int | None, last_us: int | None, rows: int, column: str = "ts") -> list[str]:
    """Conditions on `column` (`ts`, or an epoch-microseconds hour such as `hour_us`) splitting
    [first_us, last_us] into runs of whole hours, one per ROLLUP_ROWS_PER_PASS of `rows` (an upper
    bound of the batch's rollup rows: events times the kind's columns); ["true"] for one. A group
    (entity, hour) lies in one run, so the passes give the rows one pass would. Why: the build
    runs under a 1 GB memory limit, and grouping 10M events' addresses by hour at once (9.5M
    groups) spilled (read-only test under that limit: 11.8 CPU s in one pass, 7.9 in five)."""
    passes = -(-rows // ROLLUP_ROWS_PER_PASS)
    if first_us is None or last_us is None or passes <= 1:
        return ["true"]
    lo = (first_us // HOUR_US) * HOUR_US
    step = -(-(last_us + 1 - lo) // (passes * HOUR_US)) * HOUR_US
    at = [lo + i * step for i in range(1, passes)]
    cuts = [f"make_timestamptz({us}::BIGINT)" for us in at] if column == "ts" else [str(us) for us in at]
    shares = [f"({column} < {cuts[0]} OR {column} IS NULL)"]
    shares += [f"{column} >= {a} AND {column} < {b}" for a, b in zip(cuts, cuts[1:], strict=False)]
    return [*shares, f"{column} >= {cuts[-1]}"]


def _add_batch_totals(cur: duckdb.DuckDBPyConnection, kind: EntityKind) -> None:
    """The batch's totals of one kind, grouped by the entity's text: two entities sharing a key
    then show as fewer distinct keys than rows. Checking that instead of comparing each key's
    min(text) with its max(text) cost ~40% less (string aggregates; 1M events: 0.28 -> 0.15 s
    for addresses). A shared key (odds ~1e-6) is grouped by key after all and flagged."""
    totals = (
        """sum(n)::BIGINT, sum(n_fail)::BIGINT, min(first_us) AS first_us, max(last_us), bit_or(sources)"""
    )
    # In first-seen order: `_merge_totals` copies the rows as they are (see there).
    cur.execute(
        f"""INSERT INTO _entity_batch_totals
            SELECT '{kind.name}', any_value(k), entity, false, {totals} FROM _entity_batch GROUP BY entity
            ORDER BY first_us"""
    )
    shared = cur.execute(
        "SELECT count(*) - count(DISTINCT k) FROM _entity_batch_totals WHERE kind = ?", [kind.name]
    ).fetchall()[0][0]
    if shared:
        cur.execute("DELETE FROM _entity_batch_totals WHERE kind = ?", [kind.name])
        cur.execute(
            f"""INSERT INTO _entity_batch_totals
                SELECT '{kind.name}', k, min(entity), max(entity) <> min(entity), {totals}
                FROM _entity_batch GROUP BY k ORDER BY first_us"""
        )


def _merge_totals(cur: duckdb.DuckDBPyConnection) -> bool:
    clash = cur.execute("SELECT count(*) FROM _entity_batch_totals WHERE clash").fetchall()[0][0]
    if cur.execute("SELECT count(*) FROM (SELECT 1 FROM entity_totals LIMIT 1)").fetchall()[0][0]:
        clash += cur.execute(
            """SELECT count(*) FROM entity_totals t JOIN _entity_batch_totals b USING (kind, k)
               WHERE t.entity <> b.entity"""
        ).fetchall()[0][0]
        first = us_halves("least(t.first_us, b.first_us)", ("first_s", "first_frac"))
        last = us_halves("greatest(t.last_us, b.last_us)", ("last_s", "last_frac"))
        cur.execute(
            f"""UPDATE entity_totals_rows SET n = u.n, n_fail = u.n_fail, first_s = u.first_s,
                      first_frac = u.first_frac, last_s = u.last_s, last_frac = u.last_frac, sources = u.sources
               FROM (SELECT t.kind, t.k, t.n + b.n AS n, t.n_fail + b.n_fail AS n_fail, {first}, {last},
                            t.sources | b.sources AS sources
                     FROM entity_totals t JOIN _entity_batch_totals b USING (kind, k)) u
               WHERE entity_totals_rows.kind = u.kind AND entity_totals_rows.k = u.k"""
        )
        cur.execute(
            """DELETE FROM _entity_batch_totals b
               WHERE EXISTS (SELECT 1 FROM entity_totals_rows t WHERE t.kind = b.kind AND t.k = b.k)"""
        )
    # In first-seen order within each kind: readers bound a range's entities by first_us (see
    # `kind_bounds`), and zone maps then skip the rest of a kind with millions of short-lived ids.
    # The batch's rows are in that order already (`_add_batch_totals` sorts each kind's groups,
    # kind after kind, and the DELETE above keeps the order of the rows it leaves), so one copy
    # in insertion order keeps it: 1M events, 0.29 s for 16 sorted copies, one per kind.
    insert_serially(
        cur,
        f"""INSERT INTO entity_totals_rows
            SELECT kind, k, entity, n, n_fail, {us_halves("first_us")}, {us_halves("last_us")}, sources
            FROM _entity_batch_totals""",
    )
    cur.execute("DROP TABLE _entity_batch_totals")
    cur.execute("DELETE FROM entity_kinds")
    cur.execute(
        """INSERT INTO entity_kinds
           SELECT kind, count(*), max(last_us - first_us) FROM entity_totals GROUP BY kind"""
    )
    return int(clash) == 0


def _add_aliases(cur: duckdb.DuckDBPyConnection, mark: int) -> None:
    for kind in KINDS:
        if not kind.is_ip:
            continue
        for column in kind.columns:
            cur.execute(
                f"""INSERT INTO entity_alias
                    SELECT DISTINCT '{kind.name}', {entity_expr(kind, column)}, {column} FROM events
                    WHERE event_id > $mark AND contains({column}, ':')
                      AND {entity_expr(kind, column)} <> {column}
                    EXCEPT SELECT kind, entity, stored FROM entity_alias""",
                {"mark": mark},
            )


def _hour_sql(hour_us: str) -> str:
    """The stored hour number of an hour start in epoch microseconds (a multiple of HOUR_US)."""
    return f"({hour_us} // {HOUR_US})::INTEGER"


def compact(cur: duckdb.DuckDBPyConnection) -> None:
    """Re-sum repeated keys and restore the (kind, day, key) order of the rows (see DDL)."""
    cur.execute(
        """CREATE OR REPLACE TEMP TABLE _entity_rollup_all AS
           SELECT kind, k, hour_us, sum(n)::BIGINT AS n, sum(n_fail)::BIGINT AS n_fail, min(first_us) AS first_us,
                  max(first_us + span_us) - min(first_us) AS span_us, bit_or(sources) AS sources
           FROM entity_rollup GROUP BY ALL"""
    )
    cur.execute("DELETE FROM entity_rollup_rows")
    # In parallel: the old rows free the whole table's blocks anyway (1M events: 75 free blocks
    # after it either way), and one thread took 0.97 s against 0.65.
    cur.execute(
        f"""INSERT INTO entity_rollup_rows
            SELECT kind, k, {_hour_sql("hour_us")} AS hour, n, n_fail, {us_halves("first_us - hour_us")},
                   {us_halves("span_us")}, sources
            FROM _entity_rollup_all ORDER BY kind, {ROW_ORDER}"""
    )
    cur.execute("DROP TABLE _entity_rollup_all")
