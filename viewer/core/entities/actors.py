"""Actor resolution: who really did an event, as a chain of identities and as a query column.

AWS: the event's key -> the AssumeRole* / GetSessionToken record that issued it -> the key of
the caller -> ... up to a long-term key (its IAM user), a SAML / web-identity user, or a gap where
the issuing record is not in the case (then the session and its sourceIdentity are what is known).
Cross-account hops are followed through the caller's copy of the record; the role owner's copy
(an `AWSAccount` caller) is tied to it by sharedEventID. GCP: the first authority of
`serviceAccountDelegationInfo` (delegation order, original first). Kubernetes: `user.username` is
the real caller and `impersonatedUser` the identity borrowed. Azure: the `oid` of Activity records is
given the UPN of the sign-ins that carry the same user id.

The query editor gets `event_actor(event_id, actor)` and `events_actor` (every column of `events`
plus `actor`), views over the compact credential and principal tables, so they are current after
every import. "Everything this human did under any identity" is `WHERE actor = '...'` there, or
`actor_filter` (a predicate over `events`) for the timeline.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import duckdb

from viewer.core.entities.identity_build import MAX_DEPTH

# coalesce order: an explicit delegation in the record, then the key's chain, then the principal's
# other name, then the principal itself.
ACTOR_SQL = """coalesce(
    CASE WHEN e.provider = 'gcp' THEN e.session_issuer END,
    ca.actor, pa.actor, e.principal_id)"""

_ACTOR_JOINS = """FROM events e
    LEFT JOIN credential_actor ca ON ca.credential_id = e.credential_id
    LEFT JOIN principal_actor pa ON pa.principal_id = e.principal_id AND pa.provider = e.provider"""
ACTOR_VIEW = f"""CREATE OR REPLACE VIEW event_actor AS
    SELECT e.event_id, {ACTOR_SQL} AS actor {_ACTOR_JOINS}"""
#: The events with their resolved actor as a column, for the query editor.
EVENTS_ACTOR_VIEW = f"""CREATE OR REPLACE VIEW events_actor AS
    SELECT e.*, {ACTOR_SQL} AS actor {_ACTOR_JOINS}"""
#: Relations the query editor should know next to `events`.
VIEWS = ("event_actor", "events_actor")


def create_views(cur: duckdb.DuckDBPyConnection) -> None:
    """Create `event_actor` and `events_actor` in the case (the builder's tables must exist)."""
    cur.execute(ACTOR_VIEW)
    cur.execute(EVENTS_ACTOR_VIEW)


def create_view(cur: duckdb.DuckDBPyConnection) -> None:
    """Kept for callers of the first version: creates both views."""
    create_views(cur)


NO_PRINCIPAL = "(no principal)"  # the first hop of an event without a principal


@dataclass(frozen=True)
class Hop:
    """One identity in the chain, from the event's own identity back to the actor."""

    identity: str  # ARN, key id, e-mail, UPN ...
    kind: str  # event principal, session, key, user, delegate, impersonated, gap, created by ...
    credential_id: str | None = None
    event_id: int | None = None  # the record that shows this link (an AssumeRole, a CreateAccessKey)
    ts: dt.datetime | None = None
    note: str = ""


@dataclass(frozen=True)
class ActorChain:
    event_id: int
    actor: str | None
    hops: list[Hop] = field(default_factory=list)
    source_identity: str | None = None
    gap: bool = False  # an issuing record is missing: the actor is the last identity known


_EVENT_COLS = (
    "provider, source_type, principal_id, principal_type, principal_name, credential_id, session_issuer, "
    "source_identity, ts"
)


def actor_chain(cur: duckdb.DuckDBPyConnection, event_id: int) -> ActorChain | None:
    """The chain of identities behind one event; None when there is no such event.

    >>> chain = actor_chain(cur, event_id)  # doctest: +SKIP
    >>> [h.identity for h in chain.hops]  # doctest: +SKIP
    ['arn:aws:sts::333333333333:assumed-role/CrossAccountDeployRole/ops-sync', 'ASIA2JKAUIPPPGI6PIGL',
     'arn:aws:sts::111111111111:assumed-role/OrganizationAccountAccessRole/ci-deploy-maint',
     'ASIAXVAOJOD5IN5MBLWJ', 'arn:aws:iam::111111111111:user/ci-deploy', 'AKIAEGMMBOSVCVFYSJGQ']
    """
    rows = cur.execute(f"SELECT {_EVENT_COLS} FROM events WHERE event_id = ?", [event_id]).fetchall()
    if not rows:
        return None
    provider, source_type, principal, ptype, pname, key, issuer, sid, ts = rows[0]
    hops = [Hop(principal or NO_PRINCIPAL, f"event principal ({ptype or '?'})", key, event_id, ts)]
    if provider == "gcp":
        return _gcp_chain(cur, event_id, hops)
    if provider == "k8s" and issuer:
        hops.append(Hop(issuer, "impersonated (acting as)", note="the principal above is the real caller"))
        return ActorChain(event_id, principal, hops)
    actor, gap = principal, False
    if key:
        actor, gap, sid = _walk_keys(cur, key, hops, sid)
    if not key or actor is None:
        other = cur.execute(
            "SELECT actor, via FROM principal_actor WHERE principal_id = ? AND provider = ?",
            [principal, provider],
        ).fetchall()
        if other:
            hops.append(Hop(other[0][0], f"same actor ({other[0][1]})"))
            actor = other[0][0]
    return ActorChain(event_id, actor, hops, sid, gap)


# Every credential_issue row of the keys up the chain of `key` (all issuers, the walk picks one
# per key the way identity_build._PARENT does) and the stored actor of `key`: one statement for
# any depth (each DuckDB statement costs ~2-7 ms at 10M events, most of it fixed).
_CHAIN_ROWS = f"""
    WITH RECURSIVE up(k, depth) AS (
        SELECT $key::VARCHAR, 0
        UNION
        SELECT ci.issued_by_credential, up.depth + 1 FROM up JOIN credential_issue ci ON ci.credential_id = up.k
        WHERE ci.issued_by_credential IS NOT NULL AND ci.kind <> 'CreateAccessKey' AND up.depth < {MAX_DEPTH})
    SELECT 'issue' AS what, credential_id, issued_to, issued_by_credential, issued_by_principal, issued_by_type,
           source_identity, event_id, issued_ts, kind, role_arn, NULL::BOOLEAN AS gap
    FROM credential_issue WHERE credential_id IN (SELECT k FROM up)
    UNION ALL
    SELECT 'actor', credential_id, actor, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, gap
    FROM credential_actor WHERE credential_id = $key"""


def _chain_rows(
    cur: duckdb.DuckDBPyConnection, key: str
) -> tuple[dict[str, list[tuple]], tuple[str | None, bool] | None]:
    """(issue rows by key, each list without the leading `what` and key, the stored (actor, gap) of `key`)."""
    by_key: dict[str, list[tuple]] = {}
    stored = None
    for r in cur.execute(_CHAIN_ROWS, {"key": key}).fetchall():
        if r[0] == "actor":
            stored = (r[2], bool(r[11]))
        else:
            by_key.setdefault(r[1], []).append(r[2:11])
    return by_key, stored


def _walk_keys(
    cur: duckdb.DuckDBPyConnection, key: str, hops: list[Hop], sid: str | None
) -> tuple[str | None, bool, str | None]:
    """Follow issuing records from `key` up to its root; append the hops."""
    by_key, stored = _chain_rows(cur, key)
    current: str | None = key
    for _ in range(MAX_DEPTH):
        assert current is not None
        rows = by_key.get(current, [])
        # The issuing record of the key, as identity_build._PARENT picks it: the caller's copy
        # (with a key) first, then the earliest; NULL times last, like SQL.
        issues = sorted(
            (r for r in rows if r[7] != "CreateAccessKey"),
            key=lambda r: (r[1] is None, r[6] is None, r[6], r[5]),
        )
        if not issues:
            break
        to, by_key_id, by_principal, by_type, issue_sid, ev, its, api, role = issues[0]
        sid = sid or issue_sid
        hops.append(Hop(current, "temporary key", current, ev, its, f"{api} of {role or to}"))
        if by_key_id is None:
            label = "AWS account (role owner's copy)" if by_type == "AWSAccount" else f"{by_type} (no key)"
            hops.append(Hop(by_principal, label, None, ev, its))
            return (stored[0] if stored else None), by_type == "AWSAccount", sid
        hops.append(Hop(by_principal, f"assumed by ({by_type})", by_key_id, ev, its))
        current = by_key_id
    hops.append(Hop(current or key, "root key", current))
    created = sorted(
        (r for r in by_key.get(current or key, []) if r[7] == "CreateAccessKey"),
        key=lambda r: (r[6] is None, r[6]),
    )
    if created:
        hops.append(
            Hop(
                created[0][2],
                "key created by",
                None,
                created[0][5],
                created[0][6],
                "provenance, not the actor",
            )
        )
    actor, gap = stored if stored else (None, False)
    if gap:
        hops.append(Hop(current or key, "gap", current, note="issuing record not in the case"))
    return actor, gap, sid


def _gcp_chain(cur: duckdb.DuckDBPyConnection, event_id: int, hops: list[Hop]) -> ActorChain:
    rows = cur.execute(
        """SELECT coalesce(d->>'$.firstPartyPrincipal.principalEmail', d->>'$.principalSubject',
                           d->>'$.thirdPartyPrincipal.thirdPartyClaims.email')
           FROM (SELECT unnest(CAST(raw->'$.protoPayload.authenticationInfo.serviceAccountDelegationInfo'
                                    AS JSON[])) AS d FROM events WHERE event_id = ?)""",
        [event_id],
    ).fetchall()
    authorities = [r[0] for r in rows if r[0]]
    # Delegation order: the original authority first, each later one acting for the one before.
    for n, who in enumerate(reversed(authorities)):
        hops.append(Hop(who, "delegated by" if n < len(authorities) - 1 else "original authority"))
    actor = authorities[0] if authorities else hops[0].identity
    return ActorChain(event_id, actor, hops)


def identities_of(cur: duckdb.DuckDBPyConnection, actor: str) -> tuple[list[str], list[str]]:
    """(keys, principal ids) through which `actor` acted: every credential whose chain ends at the
    actor and every principal known to be the actor under another name."""
    keys = [
        r[0]
        for r in cur.execute("SELECT credential_id FROM credential_actor WHERE actor = ?", [actor]).fetchall()
    ]
    principals = [
        r[0]
        for r in cur.execute("SELECT principal_id FROM principal_actor WHERE actor = ?", [actor]).fetchall()
    ]
    return keys, [actor, *principals]


def actor_filter(cur: duckdb.DuckDBPyConnection, actor: str) -> tuple[str, list[object]]:
    """SQL predicate over `events` for "everything this actor did, under any identity"."""
    keys, principals = identities_of(cur, actor)
    parts: list[str] = ["principal_id IN (SELECT unnest(?::VARCHAR[]))"]
    params: list[object] = [principals]
    if keys:
        parts.append("credential_id IN (SELECT unnest(?::VARCHAR[]))")
        params.append(keys)
    parts.append("(provider = 'gcp' AND session_issuer = ?)")
    params.append(actor)
    return "(" + " OR ".join(parts) + ")", params
