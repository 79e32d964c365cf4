"""The correlation build's work split in passes gives the tables a single pass gives."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

from support.sample_case import build_sample_case

from viewer.core.entities import actors, builder, identity_build


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
        """The cursor, counting the INSERTs into credential_use."""

        def execute(self, sql: str, *args, **kwargs):
            if sql.lstrip().startswith("INSERT INTO credential_use"):
                statements.append(sql)
            return real(sql, *args, **kwargs)

        def __getattr__(self, name: str):
            return getattr(cur, name)

    with mock.patch.object(identity_build, "USE_GROUPS_PER_PASS", 2):
        builder.update(Counting())  # type: ignore[arg-type]
    assert len(statements) == -(-keys // 2)
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
