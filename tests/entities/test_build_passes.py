"""The correlation build's work split in passes gives the tables a single pass gives."""

from __future__ import annotations

import itertools
from pathlib import Path
from unittest import mock

from support.sample_case import build_sample_case

from viewer.core.entities import actors, builder, identity_build, panel_stats


def _tables(cur) -> dict[str, list[tuple]]:
    return {
        t: sorted(cur.execute(f"SELECT * FROM {t}").fetchall(), key=repr)
        for t in ("credential_use", "credential_actor", "principal_actor", "credential_issue")
    }


def test_credential_use_in_passes_equals_one_pass_and_the_events(tmp_path: Path) -> None:
    case, _ = build_sample_case(tmp_path)
    cur = case.cursor()
    builder.update(cur)
    one_pass = _tables(cur)
    cur.execute("DELETE FROM entity_state")  # forget the mark: the next update rebuilds everything
    keys = cur.execute("SELECT entities FROM entity_kinds WHERE kind = 'credential_id'").fetchall()[0][0]
    assert keys >= 3
    statements: list[str] = []
    real = cur.execute

    class Counting:
        """The cursor, noting the INSERTs into credential_use_rows and the temporary _user."""

        def execute(self, sql: str, *args, **kwargs):
            if sql.lstrip().startswith(("INSERT INTO credential_use_rows", "INSERT INTO _user")):
                statements.append(sql.split()[2])
            return real(sql, *args, **kwargs)

        def __getattr__(self, name: str):
            return getattr(cur, name)

    # The representative users in passes too (arg_max), as when some key has several users.
    several = mock.patch.object(identity_build, "_one_user_per_key", return_value=False)
    with mock.patch.object(identity_build, "USE_GROUPS_PER_PASS", 2), several:
        builder.update(Counting())  # type: ignore[arg-type]
    passes = -(-keys // 2)
    assert statements == ["credential_use_rows"] * passes + ["_user"] * (passes - 1)
    actors.create_views(cur)
    assert _tables(cur) == one_pass
    # and the uses are the events' own, counted in plain SQL
    truth = cur.execute(
        """SELECT credential_id, principal_id, count(*), min(ts), max(ts) FROM events
           WHERE credential_id IS NOT NULL AND credential_id <> '' GROUP BY ALL ORDER BY ALL"""
    ).fetchall()
    got = cur.execute(
        "SELECT credential_id, principal_id, n, first_ts, last_ts FROM credential_use ORDER BY ALL"
    ).fetchall()
    assert got == truth and got


def test_rollup_in_hour_shares_equals_one_pass(tmp_path: Path) -> None:
    case, _ = build_sample_case(tmp_path)
    cur = case.cursor()
    builder.update(cur)
    tables = ("entity_rollup", "entity_totals", "entity_kinds", "entity_day_cum", "entity_state")

    def snapshot() -> dict[str, list[tuple]]:
        return {t: sorted(cur.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in tables}

    one_pass = snapshot()
    first, last, events = cur.execute(
        "SELECT epoch_us(min(ts)), epoch_us(max(ts)), count(*) FROM events"
    ).fetchall()[0]
    per_pass = mock.patch.object(panel_stats, "ROLLUP_ROWS_PER_PASS", events // 4)
    with per_pass:
        shares = panel_stats.hour_shares(first, last, events)
        assert len(shares) >= 4 and panel_stats.hour_shares(first, last, events // 4) == ["true"]
        # every event in exactly one share
        in_shares = cur.execute(f"SELECT {' + '.join(f'({s})::INT' for s in shares)} FROM events").fetchall()
        assert {r[0] for r in in_shares} == {1}
        cur.execute("DELETE FROM entity_state")  # the next update rebuilds everything
        builder.update(cur)
    assert snapshot() == one_pass


def test_totals_are_stored_kind_by_kind_in_first_seen_order(tmp_path: Path) -> None:
    """Range panels bound a kind's entities by first_us and let zone maps skip the rest
    (`panel_stats.kind_bounds`): each kind's rows must lie together, in first-seen order."""
    case, _ = build_sample_case(tmp_path)
    cur = case.cursor()
    builder.update(cur)
    rows = cur.execute(
        "SELECT kind, first_s * 1000000 + first_frac FROM entity_totals_rows ORDER BY rowid"
    ).fetchall()
    kinds: list[str] = []
    for kind, group in itertools.groupby(rows, key=lambda r: r[0]):
        assert kind not in kinds, f"{kind} rows are not together"
        kinds.append(kind)
        firsts = [r[1] for r in group]
        assert firsts == sorted(firsts), kind
    assert len(kinds) > 5
