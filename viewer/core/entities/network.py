"""Network attribution: which instance an address or a flow record belonged to at that moment,
and who launched it (formats.md 3.2); GuardDuty findings' links (3.3).

Private addresses are reused, so every lookup is "the latest binding that started at or before
the time, and had not ended". An ENI seen without an address is resolved to its instance by the
latest attachment before the time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb

from viewer.core.entities.actors import actor_chain
from viewer.core.entities.kinds import normalize_ip


@dataclass(frozen=True)
class Attribution:
    ip: str | None
    eni: str | None
    instance_id: str | None
    launched_by: str | None  # principal of the RunInstances record
    launched_by_actor: str | None  # who was behind that principal (actor resolution)
    launch_event_id: int | None
    evidence: str  # where the binding was seen: RunInstances, vpcflow, guardduty ...


def instance_for_ip(cur: duckdb.DuckDBPyConnection, ip: str, at: dt.datetime) -> Attribution | None:
    """The instance `ip` was bound to at time `at` (None when no binding is known)."""
    rows = cur.execute(
        """SELECT ip, eni, instance_id, origin FROM net_binding
           WHERE ip = ? AND seen_from <= ? AND (seen_to IS NULL OR seen_to >= ? OR origin <> 'vpcflow')
           ORDER BY seen_from DESC, instance_id IS NULL LIMIT 1""",
        [normalize_ip(ip), at, at],
    ).fetchall()
    if not rows:
        return None
    bound_ip, eni, instance, origin = rows[0]
    return _with_launch(cur, bound_ip, eni, instance or _instance_for_eni(cur, eni, at), origin)


def _instance_for_eni(cur: duckdb.DuckDBPyConnection, eni: str | None, at: dt.datetime) -> str | None:
    if eni is None:
        return None
    rows = cur.execute(
        """SELECT instance_id FROM net_binding WHERE eni = ? AND instance_id IS NOT NULL AND seen_from <= ?
           ORDER BY seen_from DESC LIMIT 1""",
        [eni, at],
    ).fetchall()
    return rows[0][0] if rows else None


def _with_launch(
    cur: duckdb.DuckDBPyConnection, ip: str | None, eni: str | None, instance: str | None, origin: str
) -> Attribution:
    launch = []
    if instance:
        launch = cur.execute(
            "SELECT principal_id, event_id FROM instance_launch WHERE instance_id = ? ORDER BY launched_ts LIMIT 1",
            [instance],
        ).fetchall()
    principal, launch_event = launch[0] if launch else (None, None)
    actor = None
    if launch_event is not None:
        chain = actor_chain(cur, int(launch_event))
        actor = chain.actor if chain else None
    return Attribution(ip, eni, instance, principal, actor, launch_event, origin)


def attribute_event(cur: duckdb.DuckDBPyConnection, event_id: int) -> list[Attribution]:
    """For a flow record (or any event with addresses): the instance behind each of its
    addresses at the record's time, and who launched it. A VPC flow record names its ENI and,
    from version 3, its instance; those win over address bindings."""
    rows = cur.execute(
        """SELECT ts, src_ip, dst_ip, source_type,
                  nullif(raw->>'$.fields."interface-id"', '-'), nullif(raw->>'$.fields."instance-id"', '-')
           FROM events WHERE event_id = ?""",
        [event_id],
    ).fetchall()
    if not rows:
        return []
    ts, src, dst, source_type, eni, instance = rows[0]
    out: list[Attribution] = []
    if source_type == "vpcflow" and eni:
        out.append(
            _with_launch(cur, None, eni, instance or _instance_for_eni(cur, eni, ts), "vpcflow record")
        )
    for ip in (src, dst):
        if ip:
            found = instance_for_ip(cur, ip, ts)
            if found is not None and all(found.instance_id != a.instance_id for a in out):
                out.append(found)
    return out


def finding_links(cur: duckdb.DuckDBPyConnection, event_id: int) -> dict[str, list[str]]:
    """A GuardDuty finding's resources, addresses, ENIs and access keys, by kind."""
    links: dict[str, list[str]] = {}
    for kind, value in cur.execute(
        "SELECT DISTINCT link_kind, value FROM finding_link WHERE event_id = ? ORDER BY 1, 2", [event_id]
    ).fetchall():
        links.setdefault(kind, []).append(value)
    return links
