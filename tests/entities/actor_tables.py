"""The actor tables as they stand, and as a build from scratch would give them: incremental
updates are checked against the latter."""

from __future__ import annotations

from viewer.core.entities import builder

TABLES = ("credential_actor", "principal_actor")


def actor_tables(cur) -> dict[str, list[tuple]]:
    return {t: sorted(cur.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in TABLES}


def rebuilt_actor_tables(cur) -> dict[str, list[tuple]]:
    """The actor tables a build from scratch gives (in a transaction rolled back)."""
    cur.execute("BEGIN")
    try:
        cur.execute("DELETE FROM entity_state")  # forget the mark: the update rebuilds everything
        builder.update(cur)
        return actor_tables(cur)
    finally:
        cur.execute("ROLLBACK")
