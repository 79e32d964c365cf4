"""The credential graph and the compact credential -> actor tables (formats.md section 3.1, 3.4, 3.5).

`credential_issue` has one row per credential-issuing record: STS AssumeRole* / GetSessionToken /
GetFederationToken (the new `responseElements.credentials.accessKeyId`, who asked with which key,
the session it became, sourceIdentity, sharedEventID) and IAM CreateAccessKey (who created a
long-term key for which user). Rows are appended per import from the new events only.

`credential_actor` and `principal_actor` are recomputed from the whole graph after every import,
so the order in which evidence arrives does not matter: an AssumeRole imported after the calls
made with its key (another file, another region, a later import) re-links them at that update.
"""

from __future__ import annotations

import duckdb

from viewer.core.entities import raw_picks
from viewer.core.jobs import JobContext
from viewer.core.packed_halves import us_halves, us_joined

ISSUING_ACTIONS = (
    "AssumeRole",
    "AssumeRoleWithSAML",
    "AssumeRoleWithWebIdentity",
    "GetSessionToken",
    "GetFederationToken",
)
MAX_DEPTH = 16  # role chains are short; this only stops a cycle of bad data
#: Keys (with their users) grouped in one pass over the events for credential_use.
USE_GROUPS_PER_PASS = 400_000

DDL: list[str] = [
    """CREATE TABLE IF NOT EXISTS credential_issue (
        credential_id VARCHAR NOT NULL,      -- the key issued (ASIA... / AKIA...)
        kind VARCHAR NOT NULL,               -- the issuing API (AssumeRole, CreateAccessKey, ...)
        issued_ts TIMESTAMPTZ, expires_ts TIMESTAMPTZ,
        issued_to VARCHAR,                   -- assumed-role session ARN, or the key's user name
        role_arn VARCHAR, session_name VARCHAR,
        issued_by_credential VARCHAR,        -- the caller's key; NULL for SAML/OIDC and AWSAccount copies
        issued_by_principal VARCHAR,         -- the caller's principal_id as the events table has it
        issued_by_type VARCHAR,              -- the caller's userIdentity.type
        source_identity VARCHAR, shared_event_id VARCHAR,
        account VARCHAR,                     -- recipient account of the issuing record
        event_id BIGINT NOT NULL
    )""",
    # Readers use the view credential_use; its times are stored as halves (`packed_halves`: 1M
    # CloudTrail events, 199k keys: 20 -> 17 blocks of 256 KB).
    """CREATE TABLE IF NOT EXISTS credential_use_rows (
        credential_id VARCHAR NOT NULL, provider VARCHAR, principal_id VARCHAR, principal_type VARCHAR,
        principal_name VARCHAR, session_issuer VARCHAR, n BIGINT NOT NULL,
        first_s BIGINT, first_frac INTEGER,  -- first use
        last_s BIGINT, last_frac INTEGER     -- last use
    )""",
    f"""CREATE OR REPLACE VIEW credential_use AS
        SELECT credential_id, provider, principal_id, principal_type, principal_name, session_issuer, n,
               make_timestamptz({us_joined("first_s", "first_frac")}) AS first_ts,
               make_timestamptz({us_joined("last_s", "last_frac")}) AS last_ts
        FROM credential_use_rows""",
    # Readers use the view credential_actor. Most keys are their own root (no issuing record in
    # the case): root_credential is stored only where it differs, as a dense copy of the key took
    # 2.5 MiB at 1M CloudTrail events (199k keys, every one its own root).
    """CREATE TABLE IF NOT EXISTS credential_actor_rows (
        credential_id VARCHAR NOT NULL,
        actor VARCHAR,                       -- who is really behind the key
        actor_type VARCHAR,
        root_credential VARCHAR,             -- the first key of its chain; NULL: the key itself
        depth INTEGER NOT NULL,              -- issuing hops from the root
        source_identity VARCHAR,
        gap BOOLEAN NOT NULL                 -- the chain stops at a key whose issuing record is missing
    )""",
    """CREATE OR REPLACE VIEW credential_actor AS
        SELECT credential_id, actor, actor_type, coalesce(root_credential, credential_id) AS root_credential,
               depth, source_identity, gap
        FROM credential_actor_rows""",
    """CREATE TABLE IF NOT EXISTS principal_actor (
        provider VARCHAR NOT NULL, principal_id VARCHAR NOT NULL, actor VARCHAR NOT NULL, via VARCHAR
    )""",
    # Per import, per Entra object id (a sign-in's userId) that differs from its principal_id:
    # the principal_id (the UPN) of its latest sign-in in that import.
    """CREATE TABLE IF NOT EXISTS entra_user_name (
        uid VARCHAR NOT NULL, principal_id VARCHAR NOT NULL, ts TIMESTAMPTZ NOT NULL
    )""",
]
TABLES = (
    "credential_issue",
    "credential_use_rows",
    "credential_actor_rows",
    "principal_actor",
    "entra_user_name",
)

_ACTIONS_SQL = ", ".join(f"'{a}'" for a in ISSUING_ACTIONS)
_ISSUE_PATHS = (
    "$.responseElements.credentials.accessKeyId",  # 1
    "$.responseElements.credentials.expiration",  # 2
    "$.responseElements.assumedRoleUser.arn",  # 3
    "$.requestParameters.roleArn",  # 4
    "$.requestParameters.roleSessionName",  # 5
    "$.userIdentity.accessKeyId",  # 6
    "$.responseElements.sourceIdentity",  # 7
    "$.requestParameters.sourceIdentity",  # 8
    "$.sharedEventID",  # 9
    "$.responseElements.accessKey.accessKeyId",  # 10
    "$.responseElements.accessKey.userName",  # 11
    "$.requestParameters.userName",  # 12
)
# STS writes `expiration` as "Mar 13, 2024, 12:16:40 AM" in CloudTrail; some tools write ISO
# (append_new reads either).


def issuing_pick(mark: int) -> tuple[str, tuple[str, ...]]:
    """The issuing records above `mark` and the paths read from them (`raw_picks.create`)."""
    where = f"""event_id > {int(mark)} AND error_code IS NULL
                AND ((service = 'sts.amazonaws.com' AND action IN ({_ACTIONS_SQL}))
                     OR (service = 'iam.amazonaws.com' AND action = 'CreateAccessKey'))"""
    return where, _ISSUE_PATHS


def append_new(cur: duckdb.DuckDBPyConnection, mark: int, offset: int, ctx: JobContext | None) -> None:
    """Add the issuing records (read by `raw_picks.create`: `issuing_pick`'s paths start at
    `offset` in `v`) and the key usage found in events above `mark`."""
    if ctx is not None:
        ctx.check()
    v = [f"v[{offset + i}]" for i in range(-1, len(_ISSUE_PATHS))]  # v[1] is the first path
    picked = f"""FROM {raw_picks.TABLE} WHERE ((service = 'sts.amazonaws.com' AND action IN ({_ACTIONS_SQL}))
                 OR (service = 'iam.amazonaws.com' AND action = 'CreateAccessKey'))"""
    expires = f"coalesce(TRY_CAST({v[2]} AS TIMESTAMPTZ), try_strptime({v[2]}, '%b %d, %Y, %I:%M:%S %p')::TIMESTAMPTZ)"
    cur.execute(
        f"""INSERT INTO credential_issue
            SELECT {v[1]}, action, ts, {expires}, {v[3]}, {v[4]}, {v[5]}, nullif({v[6]}, ''), principal_id,
                   principal_type, coalesce({v[7]}, {v[8]}, source_identity), {v[9]}, cloud_account, event_id
            {picked} AND action <> 'CreateAccessKey' AND {v[1]} IS NOT NULL"""
    )
    cur.execute(
        f"""INSERT INTO credential_issue
            SELECT {v[10]}, action, ts, NULL, coalesce({v[11]}, {v[12]}, principal_name), NULL, NULL,
                   nullif({v[6]}, ''), principal_id, principal_type, source_identity, NULL, cloud_account, event_id
            {picked} AND action = 'CreateAccessKey' AND {v[10]} IS NOT NULL"""
    )
    if ctx is not None:
        ctx.check()
    _append_entra_user_names(cur, mark)
    # Keys in passes of at most USE_GROUPS_PER_PASS (estimated from the case's keys, which
    # panel_stats has just counted): the build runs under a 1 GB memory limit, and grouping 2M
    # keys with their principals' text at once spilled to disk (10M events, read-only test under
    # the same limit: 18.6 CPU s in one pass, 10.2 in five; 24-26 s inside the build).
    for share in _key_shares(cur):
        cur.execute(
            f"""INSERT INTO credential_use_rows
                SELECT credential_id, any_value(provider), principal_id, any_value(principal_type),
                       any_value(principal_name), any_value(session_issuer), count(*),
                       {us_halves("epoch_us(min(ts))")}, {us_halves("epoch_us(max(ts))")}
                FROM events WHERE event_id > $mark AND credential_id IS NOT NULL AND credential_id <> '' AND {share}
                GROUP BY credential_id, principal_id""",
            {"mark": mark},
        )


def _key_shares(cur: duckdb.DuckDBPyConnection, within: str | None = None) -> list[str]:
    """Conditions on `credential_id` that split the case's keys (or those of table `within`) into
    shares of at most USE_GROUPS_PER_PASS (the case's by the count panel_stats keeps; ["true"]
    when one pass holds them)."""
    count = (
        f"SELECT count(*) FROM {within}"
        if within
        else "SELECT entities FROM entity_kinds WHERE kind = 'credential_id'"
    )
    keys = cur.execute(count).fetchall()
    passes = max(1, -(-int(keys[0][0] if keys else 0) // USE_GROUPS_PER_PASS))
    return [f"hash(credential_id) % {passes} = {i}" for i in range(passes)] if passes > 1 else ["true"]


def rebuild_actors(
    cur: duckdb.DuckDBPyConnection, compact_use: bool, first_build: bool = False, mark: int | None = None
) -> None:
    """Bring credential_actor and principal_actor up to date with the whole graph (order-independent).
    `first_build`: credential_use holds one import's rows (one per key and principal). `mark`: the
    events above it are this update's; only the keys whose chain they can change are recomputed
    (`_affected_keys`), unless the whole table is (first build, compaction, `mark` None)."""
    if compact_use:
        cur.execute(
            """CREATE OR REPLACE TEMP TABLE _use_all AS
               SELECT credential_id, provider, principal_id, principal_type, principal_name, session_issuer,
                      sum(n)::BIGINT AS n, min(first_ts) AS first_ts, max(last_ts) AS last_ts
               FROM credential_use GROUP BY ALL"""
        )
        cur.execute("DELETE FROM credential_use_rows")
        cur.execute(
            f"""INSERT INTO credential_use_rows
                SELECT * EXCLUDE (first_ts, last_ts), {us_halves("epoch_us(first_ts)")},
                       {us_halves("epoch_us(last_ts)")}
                FROM _use_all ORDER BY credential_id"""
        )
        cur.execute("DROP TABLE _use_all")
        cur.execute(
            """CREATE OR REPLACE TEMP TABLE _names_all AS
               SELECT uid, arg_max(principal_id, ts) AS principal_id, max(ts) AS ts FROM entra_user_name GROUP BY uid"""
        )
        cur.execute("DELETE FROM entra_user_name")
        cur.execute("INSERT INTO entra_user_name SELECT * FROM _names_all")
        cur.execute("DROP TABLE _names_all")
    # Compacted or just built, credential_use has one row per user of a key: summing it again
    # cost ~0.2 CPU s at 1M events for nothing.
    summed = not (compact_use or first_build)
    whole = compact_use or first_build or mark is None
    if not whole:
        cur.execute(
            "CREATE OR REPLACE TEMP TABLE _azure_before AS SELECT * FROM principal_actor WHERE provider = 'azure'"
        )
    _rebuild_credential_actor(cur, summed, None if whole or mark is None else int(mark))
    _rebuild_principal_actor(cur)
    if not whole:
        # A new sign-in that names another user for an object id changes the actor of keys
        # outside the affected ones (their stored actor is already the old name): all of them.
        moved = cur.execute(
            """SELECT count(*) FROM ((SELECT * FROM _azure_before EXCEPT SELECT * FROM principal_actor
                                      WHERE provider = 'azure')
                                     UNION ALL (SELECT * FROM principal_actor WHERE provider = 'azure'
                                                EXCEPT SELECT * FROM _azure_before))"""
        ).fetchall()[0][0]
        cur.execute("DROP TABLE _azure_before")
        if moved:
            _rebuild_credential_actor(cur, summed, None)
            whole = True
    # A token seen in Azure Activity names its user by object id: give it the sign-in's UPN.
    only = (
        "" if whole else " AND credential_actor_rows.credential_id IN (SELECT credential_id FROM _affected)"
    )
    cur.execute(
        f"""UPDATE credential_actor_rows SET actor = pa.actor FROM principal_actor pa
            WHERE pa.provider = 'azure' AND pa.principal_id = credential_actor_rows.actor{only}"""
    )
    cur.execute("DROP TABLE IF EXISTS _affected")


def _affected_keys(cur: duckdb.DuckDBPyConnection, mark: int) -> None:
    """TEMP TABLE _affected: the keys whose credential_actor row the events above `mark` can
    change, and _scope: those and every key above them in a chain. A key's row depends only on
    its chain up to its root (their issuing records, the root's users), so it changes when a key
    of that chain has a new issuing record or new uses: the keys with either, and every key
    below one of them. Recomputing every key instead cost ~0.9 CPU s per 1M events in the case
    at each import (8.5 s at 10M), whatever the import's size."""
    cur.execute(
        f"""CREATE OR REPLACE TEMP TABLE _affected AS
            WITH RECURSIVE down(credential_id) AS (
                SELECT credential_id FROM (
                    SELECT credential_id FROM credential_issue WHERE event_id > {mark}
                    UNION SELECT credential_id FROM events
                          WHERE event_id > {mark} AND credential_id IS NOT NULL AND credential_id <> '')
                UNION SELECT p.credential_id FROM _parent p JOIN down ON p.parent = down.credential_id
            )
            SELECT credential_id FROM down"""
    )
    cur.execute(
        """CREATE OR REPLACE TEMP TABLE _scope AS
           WITH RECURSIVE up(credential_id) AS (
               SELECT credential_id FROM _affected
               UNION SELECT p.parent FROM _parent p JOIN up USING (credential_id) WHERE p.parent IS NOT NULL
           )
           SELECT credential_id FROM up"""
    )


# The issuing record of each temporary key: of the two copies of a cross-account AssumeRole the
# caller's (with the caller's key) wins over the role owner's (which names only an AWSAccount).
_PARENT = """
    SELECT credential_id, issued_by_credential AS parent, issued_by_principal, issued_by_type,
           source_identity, issued_to
    FROM credential_issue WHERE kind <> 'CreateAccessKey'
    QUALIFY row_number() OVER (PARTITION BY credential_id
                               ORDER BY issued_by_credential IS NULL, issued_ts, event_id) = 1"""

# One representative user of each key: the principal seen with it most often. `{use}` is
# credential_use, or its rows summed when the same user of a key may have several (appended by
# separate imports since the last compaction).
_USER = """
    SELECT credential_id, arg_max(principal_id, n) AS principal_id, arg_max(principal_type, n) AS principal_type,
           arg_max(principal_name, n) AS principal_name, arg_max(session_issuer, n) AS session_issuer,
           arg_max(provider, n) AS provider
    FROM {use} WHERE {share} GROUP BY credential_id"""
_USE_SUMMED = """(SELECT credential_id, principal_id, principal_type, principal_name, session_issuer, provider,
                  sum(n) AS n FROM credential_use WHERE {where} GROUP BY ALL)"""


# credential_actor's columns from a key's chain ({r}: start, root, depth, sid), the issuing record
# of its root (rp) and the root's representative user (ru).
_ACTOR_COLUMNS = """
    {r}.start,
    CASE
      WHEN rp.credential_id IS NOT NULL AND rp.issued_by_type <> 'AWSAccount'
        THEN rp.issued_by_principal                        -- SAML / OIDC / user without key
      WHEN rp.credential_id IS NOT NULL THEN 'AWSAccount:' || rp.issued_by_principal
      WHEN ru.session_issuer LIKE '%/aws-reserved/sso.amazonaws.com/%'
        THEN ru.principal_name                            -- Identity Center: session = user
      ELSE ru.principal_id END,
    CASE
      WHEN rp.credential_id IS NOT NULL THEN rp.issued_by_type
      WHEN ru.session_issuer LIKE '%/aws-reserved/sso.amazonaws.com/%' THEN 'IdentityCenterUser'
      ELSE ru.principal_type END,
    {r}.root, {r}.depth::INTEGER, coalesce({r}.sid, rp.source_identity),
    -- a temporary key whose issuing record is not in the case, or an AWSAccount copy
    -- (coalesce: a key seen without a principal type, as in the console CSV export)
    coalesce(rp.credential_id IS NULL AND ru.principal_type = 'AssumedRole'
       AND coalesce(ru.session_issuer, '') NOT LIKE '%/aws-reserved/sso.amazonaws.com/%', false)
    OR coalesce(rp.issued_by_type = 'AWSAccount', false)"""


def _rebuild_credential_actor(cur: duckdb.DuckDBPyConnection, summed: bool, mark: int | None) -> None:
    """credential_actor for every key, or with `mark` for the keys the events above it can
    change (`_affected_keys`). `summed`: a user of a key may have several rows in credential_use."""
    cur.execute(f"CREATE OR REPLACE TEMP TABLE _parent AS {_PARENT}")
    if mark is None:
        cur.execute("CREATE OR REPLACE TEMP TABLE _affected AS SELECT NULL::VARCHAR AS credential_id LIMIT 0")
        scope = affected = "true"
    else:
        _affected_keys(cur, mark)
        scope = "credential_id IN (SELECT credential_id FROM _scope)"
        affected = "credential_id IN (SELECT credential_id FROM _affected)"
    use = _USE_SUMMED.format(where=scope) if summed else "credential_use"
    single = not summed and _one_user_per_key(cur, scope)
    if single:  # each row is its key's user: no arg_max (1M events: 93 against 32 ms)
        cur.execute(
            f"""CREATE OR REPLACE TEMP TABLE _user AS
                SELECT credential_id, principal_id, principal_type, principal_name, session_issuer, provider
                FROM credential_use WHERE {scope}"""
        )
    # In shares of the keys, as credential_use is built: arg_max over 2M keys' text spilled too.
    for i, share in enumerate([] if single else _key_shares(cur, None if mark is None else "_scope")):
        users = _USER.format(use=use, share=f"{share} AND {scope}")
        cur.execute(
            f"CREATE OR REPLACE TEMP TABLE _user AS {users}" if i == 0 else f"INSERT INTO _user {users}"
        )
    # Walk every key that has an issuing record up to its root: the recursion's size is the
    # number of temporary keys times their depth. A key without one is its own root (depth 0):
    # its row comes from its user alone, without the walk and the joins (most keys of a case:
    # the walk over all of them cost ~0.5 CPU s at 1M events).
    cur.execute(
        f"""CREATE OR REPLACE TEMP TABLE _root AS
            WITH RECURSIVE up(start, cur, depth, sid) AS (
                SELECT credential_id, credential_id, 0, source_identity FROM (
                    SELECT credential_id, source_identity FROM _parent WHERE {affected}
                    UNION SELECT credential_id, NULL FROM _user
                          WHERE credential_id IN (SELECT credential_id FROM _parent) AND {affected})
                UNION ALL
                SELECT up.start, p.parent, up.depth + 1, coalesce(up.sid, p2.source_identity)
                FROM up JOIN _parent p ON p.credential_id = up.cur
                LEFT JOIN _parent p2 ON p2.credential_id = p.parent
                WHERE p.parent IS NOT NULL AND up.depth < {MAX_DEPTH}
            )
            SELECT start, arg_max(cur, depth) AS root, max(depth) AS depth,
                   arg_max(sid, depth) AS sid FROM up GROUP BY start"""
    )
    if mark is None:
        cur.execute("DELETE FROM credential_actor_rows")
    else:
        cur.execute(f"DELETE FROM credential_actor_rows WHERE {affected}")
    no_record = """(SELECT NULL::VARCHAR AS credential_id, NULL::VARCHAR AS issued_by_type,
                           NULL::VARCHAR AS issued_by_principal, NULL::VARCHAR AS source_identity)"""
    cur.execute(
        f"""INSERT INTO credential_actor_rows
            SELECT k, actor, actor_type, nullif(root, k), depth, sid, gap FROM (
                SELECT {_ACTOR_COLUMNS.format(r="r")}
                FROM _root r
                LEFT JOIN _parent rp ON rp.credential_id = r.root
                LEFT JOIN _user ru ON ru.credential_id = r.root
                UNION ALL
                SELECT {_ACTOR_COLUMNS.format(r="ru")}
                FROM (SELECT *, credential_id AS start, credential_id AS root, 0 AS depth, NULL::VARCHAR AS sid
                      FROM _user WHERE credential_id NOT IN (SELECT credential_id FROM _parent) AND {affected}) AS ru,
                     {no_record} AS rp
            ) AS c(k, actor, actor_type, root, depth, sid, gap) ORDER BY 1"""
    )
    for t in ("_parent", "_user", "_root", "_scope"):
        cur.execute(f"DROP TABLE IF EXISTS {t}")


def _one_user_per_key(cur: duckdb.DuckDBPyConnection, scope: str) -> bool:
    """True when credential_use has one row per key within `scope` (as a key has one owner,
    bar odd data): each row is then its key's representative user."""
    rows = cur.execute(f"SELECT count(*) = count(DISTINCT credential_id) FROM credential_use WHERE {scope}")
    return bool(rows.fetchall()[0][0])


def _rebuild_principal_actor(cur: duckdb.DuckDBPyConnection) -> None:
    """Identities that carry no key of their own but are someone else under another name."""
    cur.execute("DELETE FROM principal_actor")
    # Cross-account AssumeRole: the role owner's copy names the caller only as an AWSAccount
    # principal; the caller's copy (same sharedEventID) has the key and so the actor.
    cur.execute(
        """INSERT INTO principal_actor
           SELECT DISTINCT 'aws', owner.issued_by_principal, ca.actor, 'sharedEventID'
           FROM credential_issue owner
           JOIN credential_issue caller ON caller.shared_event_id = owner.shared_event_id
                AND caller.issued_by_credential IS NOT NULL
           JOIN credential_actor ca ON ca.credential_id = caller.issued_by_credential
           WHERE owner.issued_by_type = 'AWSAccount' AND ca.actor IS NOT NULL"""
    )
    # Azure Activity names users by object id (the `oid` claim); Entra sign-ins carry the same
    # object id as `userId` next to the UPN an analyst knows: the latest name of each.
    cur.execute(
        """INSERT INTO principal_actor
           SELECT 'azure', uid, arg_max(principal_id, ts), 'entra userId' FROM entra_user_name GROUP BY uid"""
    )


def _append_entra_user_names(cur: duckdb.DuckDBPyConnection, mark: int) -> None:
    """Add the object ids named by the Entra sign-ins above `mark` (`entra_user_name`). Only the
    new sign-ins' raw records are read: rebuilding the names from every sign-in's raw record at
    each import cost 0.8-1.0 s per 200k sign-ins in the case, whatever was imported."""
    cur.execute(
        """INSERT INTO entra_user_name
           SELECT uid, arg_max(principal_id, ts), max(ts)
           FROM (SELECT coalesce(u[1], u[2]) AS uid, principal_id, ts
                 FROM (SELECT json_extract_string(raw, ['$.properties.userId', '$.userId']) AS u, principal_id, ts
                       FROM events
                       WHERE source_type = 'entra_signin' AND event_id > $mark AND principal_id IS NOT NULL))
           WHERE uid IS NOT NULL AND uid <> principal_id GROUP BY uid""",
        {"mark": mark},
    )
