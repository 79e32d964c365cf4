"""The halves derived tables store give every value back, and their bounds keep every value of
a range (readers prune on the stored seconds, then filter on the whole value)."""

from __future__ import annotations

import duckdb

from viewer.core.packed_halves import seconds_bounds_sql, us_compare_sql, us_halves, us_joined

# Microsecond values around second boundaries, on both sides of 1970.
VALUES = [
    s * 1_000_000 + f for s in (-3, -2, -1, 0, 1, 2, 1_714_521_600) for f in (-999_999, -1, 0, 1, 999_999)
]


def test_halves_join_back_to_every_value_before_and_after_1970() -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE v AS SELECT unnest(?::BIGINT[]) AS us", [VALUES])
    con.execute(f"CREATE TABLE h AS SELECT us, {us_halves('us', ('s', 'f'))} FROM v")
    assert con.execute(f"SELECT count(*) FROM h WHERE {us_joined('s', 'f')} <> us").fetchall() == [(0,)]


def test_seconds_bounds_keep_every_value_of_the_range() -> None:
    con = duckdb.connect()
    con.execute(
        f"CREATE TABLE h AS SELECT us, {us_halves('us', ('s', 'f'))} FROM (SELECT unnest(?::BIGINT[]) AS us)",
        [VALUES],
    )
    ends = sorted({v + d for v in VALUES for d in (-1, 0, 1)})
    for a in ends[::7]:
        for b in ends[::5]:
            inside = {
                r[0] for r in con.execute("SELECT us FROM h WHERE us >= ? AND us < ?", [a, b]).fetchall()
            }
            bounded = con.execute(f"SELECT us FROM h WHERE {seconds_bounds_sql('s', a, b)}").fetchall()
            assert inside <= {r[0] for r in bounded}, (a, b)


def test_compare_with_the_seconds_test_first_selects_what_the_whole_value_does() -> None:
    con = duckdb.connect()
    con.execute(
        f"CREATE TABLE h AS SELECT x_us, {us_halves('x_us', ('x_s', 'f'))} FROM (SELECT unnest(?::BIGINT[]) AS x_us)",
        [VALUES],
    )
    for v in sorted({v + d for v in VALUES for d in (-1, 0, 1)})[::3]:
        for op in ("<", "<=", ">", ">="):
            plain = con.execute(f"SELECT x_us FROM h WHERE x_us {op} ? ORDER BY 1", [v]).fetchall()
            led = con.execute(f"SELECT x_us FROM h WHERE {us_compare_sql('x', op, v)} ORDER BY 1").fetchall()
            assert led == plain, (op, v)
