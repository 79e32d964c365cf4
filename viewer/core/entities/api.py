"""What `caseline entities` and `caseline pivot` call (the CLI only parses arguments and prints).

    $ caseline entities CASE --kind principal [--json]
        -> entities_report(cur, "principal")
    $ caseline pivot CASE principal ci-deploy [--json]
        -> pivot_report(cur, "principal", "ci-deploy")

VALUE may be the canonical id (an ARN, a key id, an address) or what an analyst would type:
a user or session name, the tail of an ARN, an IPv4-mapped or port-suffixed address.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import duckdb

from viewer.core.entities import builder
from viewer.core.entities.actors import actor_chain, actor_filter
from viewer.core.entities.cards import CARDS, jsonable
from viewer.core.entities.filter_terms import resource_text
from viewer.core.entities.kinds import entity_kind, normalize_ip
from viewer.core.entities.panel_stats import entity_expr
from viewer.core.entities.pivots import PivotFilter, panel_rows, selection_filter
from viewer.core.entities.resources import resource_sql, target_entity

EVENT_COLUMNS = "event_id, ts, source_type, action, outcome, principal_id, credential_id, src_ip, target_id"
#: Kinds that are an identity: their pivot resolves the actor behind them.
IDENTITY_KINDS = ("principal_id", "credential_id", "session_id", "principal_name")


def entities_report(
    cur: duckdb.DuckDBPyConnection, kind: str, search: str = "", sort: str = "events", limit: int = 100
) -> dict[str, Any]:
    """The panel of one kind as plain data (JSON-ready).

    >>> entities_report(cur, "credential", limit=2)["entities"][0]["entity"]  # doctest: +SKIP
    'ASIAXVAOJOD5IN5MBLWJ'
    """
    page = panel_rows(cur, kind, search=search, sort=sort, limit=limit)
    return jsonable(
        {"kind": page.kind, "total": page.total_entities, "entities": [asdict(r) for r in page.rows]}
    )


def resolve(cur: duckdb.DuckDBPyConnection, kind: str, value: str) -> list[str]:
    """Canonical entities for what the analyst typed: an exact id first; else, for principals, a
    user or session name; else an ARN ending in `/value` or `:value`."""
    k = entity_kind(kind)
    wanted = normalize_ip(value) if k.is_ip else target_entity(value) if k.is_resource else value
    exact = _entities(cur, k.name, "entity = ?", [wanted])
    if exact:
        return exact
    if k.name == "principal_id":
        named = [
            r[0]
            for r in cur.execute(
                "SELECT DISTINCT principal_id FROM events WHERE principal_name = ? AND principal_id IS NOT NULL "
                "ORDER BY 1",
                [value],
            ).fetchall()
        ]
        if named:
            return named
    return _entities(
        cur, k.name, "ends_with(entity, '/' || ?) OR ends_with(entity, ':' || ?)", [value, value]
    )


def _entities(cur: duckdb.DuckDBPyConnection, kind: str, cond: str, params: list[object]) -> list[str]:
    if builder.is_ready(cur):
        sql = f"SELECT entity FROM entity_totals WHERE kind = ? AND ({cond}) ORDER BY n DESC, entity LIMIT 50"
        return [r[0] for r in cur.execute(sql, [kind, *params]).fetchall()]
    k = entity_kind(kind)
    parts = " UNION ".join(f"SELECT {entity_expr(k, c)}::VARCHAR AS entity FROM events" for c in k.columns)
    sql = f"SELECT DISTINCT entity FROM ({parts}) WHERE entity IS NOT NULL AND ({cond}) ORDER BY 1 LIMIT 50"
    return [r[0] for r in cur.execute(sql, params).fetchall()]


def pivot_report(cur: duckdb.DuckDBPyConnection, kind: str, value: str, events: int = 50) -> dict[str, Any]:
    """Events of an entity, counts by source, the actor chain and, for principals and
    credentials, everything the actor behind it did under any identity.

    >>> r = pivot_report(cur, "credential", "ASIA2JKAUIPPPGI6PIGL")  # doctest: +SKIP
    >>> r["actor"], [h["identity"] for h in r["actor_chain"]["hops"]][-1]  # doctest: +SKIP
    ('arn:aws:iam::111111111111:user/ci-deploy', 'AKIAEGMMBOSVCVFYSJGQ')
    """
    k = entity_kind(kind)
    matches = resolve(cur, k.name, value)
    report: dict[str, Any] = {"kind": k.name, "value": value, "matches": matches}
    if not matches:
        return jsonable(report)
    if k.is_resource and len(matches) == 1:
        # One resource: every name the logs give it (a bucket's ARN, bare name and objects).
        params: list[object] = []
        pf = PivotFilter(resource_text(matches[0]), resource_sql(matches[0], params), params)
    else:
        pf = selection_filter(cur, k.name, matches)
    report["filter_text"] = pf.filter_text
    report["filter_sql"] = pf.where_sql
    report["counts_by_source"] = _count_by_source(cur, pf.where_sql, pf.params)
    report["events"] = _events(cur, pf.where_sql, pf.params, events)
    # The actor behind an identity; a resource, an address or an action has many (the card lists
    # who touched a resource), and the actor of one of its events would read as its owner.
    latest = report["events"][-1]["event_id"] if report["events"] and k.name in IDENTITY_KINDS else None
    chain = actor_chain(cur, latest) if latest is not None else None
    report["actor_chain"] = asdict(chain) if chain else None
    report["actor"] = chain.actor if chain else None
    if chain and chain.actor:
        where, params = actor_filter(cur, chain.actor)
        report["actor_activity"] = {
            "filter_sql": where,
            "counts_by_source": _count_by_source(cur, where, params),
            "identities": [
                r[0]
                for r in cur.execute(
                    f"SELECT DISTINCT principal_id FROM events WHERE {where} ORDER BY 1", params
                ).fetchall()
            ],
        }
    card = CARDS.get(k.name)
    if card is not None and len(matches) == 1:
        report["card"] = card(cur, matches[0])
    return jsonable(report)


def _count_by_source(
    cur: duckdb.DuckDBPyConnection, where: str, params: list[object]
) -> list[dict[str, Any]]:
    rows = cur.execute(
        f"""SELECT source_type, count(*), count(*) FILTER (WHERE outcome = 'failure'), min(ts), max(ts)
            FROM events WHERE {where} GROUP BY 1 ORDER BY 2 DESC, 1""",
        params,
    ).fetchall()
    return [
        {"source": r[0], "events": int(r[1]), "failures": int(r[2]), "first_seen": r[3], "last_seen": r[4]}
        for r in rows
    ]


def _events(
    cur: duckdb.DuckDBPyConnection, where: str, params: list[object], limit: int
) -> list[dict[str, Any]]:
    result = cur.execute(
        f"SELECT {EVENT_COLUMNS} FROM events WHERE {where} ORDER BY ts, event_id LIMIT ?", [*params, limit]
    )
    names = [d[0] for d in result.description or []]
    return [dict(zip(names, r, strict=True)) for r in result.fetchall()]
