"""Entity cards: what an analyst wants on one screen about a principal, an IP or a resource.

Each card is a few GROUP BYs over the events of that entity (a selective filter, so they stay
fast at 10M events) plus the correlation tables for credentials, roles and instances.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import duckdb

from viewer.core.entities.actors import identities_of
from viewer.core.entities.pivots import selection_filter
from viewer.core.entities.resources import other_names, resource_sql

Rows = list[dict[str, Any]]


def _rows(cur: duckdb.DuckDBPyConnection, sql: str, params: Sequence[object]) -> Rows:
    result = cur.execute(sql, list(params))
    names = [d[0] for d in result.description or []]
    return [dict(zip(names, r, strict=True)) for r in result.fetchall()]


def _span(cur: duckdb.DuckDBPyConnection, where: str, params: Sequence[object]) -> dict[str, Any]:
    r = _rows(
        cur,
        f"""SELECT count(*) AS events, count(*) FILTER (WHERE outcome = 'failure') AS failures,
                   min(ts) AS first_seen, max(ts) AS last_seen,
                   list_sort(list(DISTINCT source_type)) AS sources, list_sort(list(DISTINCT provider)) AS clouds
            FROM events WHERE {where}""",
        params,
    )
    return r[0]


def principal_card(cur: duckdb.DuckDBPyConnection, principal_id: str, limit: int = 20) -> dict[str, Any]:
    """Actions by service, IPs, regions, failures, credentials and roles, first/last seen, and
    the other identities of the same actor."""
    where, params = "principal_id = ?", [principal_id]
    card: dict[str, Any] = {"principal_id": principal_id, **_span(cur, where, params)}
    card["actions"] = _rows(
        cur,
        f"""SELECT service, action, count(*) AS events, count(*) FILTER (WHERE outcome = 'failure') AS failures
            FROM events WHERE {where} GROUP BY ALL ORDER BY events DESC, service, action LIMIT {limit}""",
        params,
    )
    for column, name in (("src_ip", "ips"), ("region", "regions"), ("user_agent", "user_agents")):
        card[name] = _rows(
            cur,
            f"""SELECT {column} AS value, count(*) AS events, min(ts) AS first_seen, max(ts) AS last_seen
                FROM events WHERE {where} AND {column} IS NOT NULL GROUP BY 1 ORDER BY events DESC, 1 LIMIT {limit}""",
            params,
        )
    card["failures_by_error"] = _rows(
        cur,
        f"""SELECT error_code, count(*) AS events FROM events WHERE {where} AND outcome = 'failure'
            GROUP BY 1 ORDER BY events DESC, 1 LIMIT {limit}""",
        params,
    )
    card["credentials"] = _rows(
        cur,
        """SELECT u.credential_id, u.session_issuer AS role, sum(u.n)::BIGINT AS events, min(u.first_ts) AS first_seen,
                  max(u.last_ts) AS last_seen, any_value(a.actor) AS actor
           FROM credential_use u LEFT JOIN credential_actor a USING (credential_id)
           WHERE u.principal_id = ? GROUP BY 1, 2 ORDER BY first_seen""",
        [principal_id],
    )
    card["roles_assumed"] = _rows(
        cur,
        """SELECT role_arn, issued_to AS session, credential_id, issued_ts, source_identity
           FROM credential_issue WHERE issued_by_principal = ? AND kind <> 'CreateAccessKey' ORDER BY issued_ts""",
        [principal_id],
    )
    keys, aliases = identities_of(cur, principal_id)
    card["same_actor"] = {"credentials": sorted(keys), "principals": sorted(set(aliases) - {principal_id})}
    return card


def ip_card(cur: duckdb.DuckDBPyConnection, ip: str, limit: int = 20) -> dict[str, Any]:
    """Principals and user agents seen with the address, flows in and out with bytes, sources,
    and the instances it was bound to."""
    pf = selection_filter(cur, "ip", [ip])
    card: dict[str, Any] = {"ip": pf.params[0], **_span(cur, pf.where_sql, pf.params)}
    for column, name in (("principal_id", "principals"), ("user_agent", "user_agents")):
        card[name] = _rows(
            cur,
            f"""SELECT {column} AS value, count(*) AS events, min(ts) AS first_seen, max(ts) AS last_seen
                FROM events WHERE {pf.where_sql} AND {column} IS NOT NULL
                GROUP BY 1 ORDER BY events DESC, 1 LIMIT {limit}""",
            pf.params,
        )
    values = [v for v in pf.params[: len(pf.params) // 2]]
    card["flows"] = _rows(
        cur,
        """SELECT CASE WHEN src_ip IN (SELECT unnest(?::VARCHAR[])) THEN 'out' ELSE 'in' END AS direction,
                  source_type, count(*) AS records, sum(bytes)::BIGINT AS bytes, sum(packets)::BIGINT AS packets
           FROM events WHERE (src_ip IN (SELECT unnest(?::VARCHAR[])) OR dst_ip IN (SELECT unnest(?::VARCHAR[])))
                 AND bytes IS NOT NULL GROUP BY ALL ORDER BY 1, 2""",
        [values, values, values],
    )
    card["bindings"] = _rows(
        cur,
        """SELECT eni, instance_id, seen_from, seen_to, origin FROM net_binding
           WHERE ip IN (SELECT unnest(?::VARCHAR[])) ORDER BY seen_from""",
        [values],
    )
    return card


def resource_card(cur: duckdb.DuckDBPyConnection, target_id: str, limit: int = 50) -> dict[str, Any]:
    """Who touched the resource and how: per principal and action, with the actor behind it.
    The resource under every name the logs give it (`resources.resource_sql`): a bucket's ARN,
    bare name and objects, a role's ARN and bare name in its account."""
    span_params: list[object] = []
    params: list[object] = []
    card: dict[str, Any] = {
        "target_id": target_id,
        **_span(cur, resource_sql(target_id, span_params), span_params),
        "also_named": other_names(cur, target_id),
    }
    where = resource_sql(target_id, params, alias="e.")
    card["touched_by"] = _rows(
        cur,
        f"""SELECT e.principal_id, any_value(coalesce(ca.actor, pa.actor, e.principal_id)) AS actor, e.action,
                   count(*) AS events, count(*) FILTER (WHERE e.outcome = 'failure') AS failures,
                   min(e.ts) AS first_seen, max(e.ts) AS last_seen
            FROM events e LEFT JOIN credential_actor ca ON ca.credential_id = e.credential_id
            LEFT JOIN principal_actor pa ON pa.principal_id = e.principal_id AND pa.provider = e.provider
            WHERE {where} GROUP BY e.principal_id, e.action ORDER BY first_seen LIMIT {limit}""",
        params,
    )
    return card


def jsonable(value: Any) -> Any:
    """Cards and pivots as JSON: times in ISO 8601 with their offset."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


#: Entity kinds (`kinds.KINDS` names) that have a card, and the function that builds it.
CARDS: dict[str, Callable[[duckdb.DuckDBPyConnection, str], dict[str, Any]]] = {
    "principal_id": principal_card,
    "ip": ip_card,
    "target_id": resource_card,
}
