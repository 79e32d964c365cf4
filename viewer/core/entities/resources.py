"""One resource under every name the logs give it: the events a resource card, a resource pivot
and the filter term `resource:VALUE` are about.

Why: CloudTrail names one resource several ways. A bucket is `acme-data` in the request of a
GetBucketPolicy and `arn:aws:s3:::acme-data` in the `resources` of a ListObjects; its objects are
`arn:aws:s3:::acme-data/<key>`; a role is `deploy` in AttachRolePolicy and its ARN in AssumeRole;
GuardDuty names the bucket bare. Matched on the exact text, "who touched the bucket" in the sample
incident found 2 of its 1,338 events and missed the exfiltration (187 GetObject of its objects).

The events of a value (`resource_sql`):
* an ARN: itself; the bare name it ends with, in events of its account that give that name the
  ARN's type (a role ARN does not take in a Lambda function of the same name, nor a role of that
  name in another account); for a bucket, its bare name in any event (bucket names are global;
  GuardDuty types it `S3Bucket`) and its objects;
* a bare name: itself; every ARN ending in `/name` or `:name` (the analyst typed a name: all
  resources so named, as a principal pivot on a user name does) and the objects of a bucket so
  named;
* an S3 object ARN: itself (a key is not a name other records use);
* an Azure resource id: itself in any letter case (Azure ids are case-insensitive, and the
  diagnostic-settings export writes them in capitals where the portal does not) and the
  resources under it (a server's firewall rules, everything in a resource group);
* a GCP resource name (`projects/...`, `//service/...`): itself and the resources under it.
A bare name also finds the Azure ids and GCP names ending in `/name`.
Plain SQL on `events` (no lookup first), so the filter language compiles it like any other term.

The Target panel needs a partition instead: each event counted once, under one entity
(`target_entity_sql`). There an S3 object counts as its bucket, a bare name typed as a bucket as
the bucket's ARN, and an Azure id in lower case; every other value as it is. So the bucket of the
sample's exfiltration is one row of 1,338 events, not 1,329 rows of one object each below its 9
other events, and an Azure VM exported in two letter cases is one row. The filter term
`target:VALUE` selects exactly a row's events (`resource:` takes in more: same-named resources
and the resources under an Azure id, which overlap).
"""

from __future__ import annotations

import duckdb

S3_PREFIX = "arn:aws:s3:::"
AZURE_PREFIX = "/subscriptions/"
GCP_PREFIXES = ("projects/", "//")
#: `target_type` of an S3 bucket: CloudFormation's name (CloudTrail) and GuardDuty's.
BUCKET_TYPES = ("AWS::S3::Bucket", "S3Bucket")
#: Other names listed on a card.
MAX_NAMES = 20


def _is_object(arn: str) -> bool:
    return arn.startswith(S3_PREFIX) and "/" in arn[len(S3_PREFIX) :]


def _object_sql(col: str) -> str:
    """SQL: `col` is an S3 object ARN (`_is_object`)."""
    return f"(starts_with({col}, '{S3_PREFIX}') AND contains(substr({col}, {len(S3_PREFIX) + 1}), '/'))"


def target_entity_sql(col: str = "target_id", type_col: str = "target_type") -> str:
    """SQL: the Target panel's entity of an event's target (see the module's docstring)."""
    buckets = ", ".join(f"'{t}'" for t in BUCKET_TYPES)
    return (
        f"(CASE WHEN {_object_sql(col)} "
        f"THEN '{S3_PREFIX}' || split_part(substr({col}, {len(S3_PREFIX) + 1}), '/', 1) "
        f"WHEN {type_col} IN ({buckets}) AND NOT contains({col}, ':') AND NOT contains({col}, '/') "
        f"THEN '{S3_PREFIX}' || {col} "
        f"WHEN lower(left({col}, {len(AZURE_PREFIX)})) = '{AZURE_PREFIX}' THEN lower({col}) "
        f"ELSE {col} END)"
    )


def target_entity(value: str, whole: bool = True) -> str:
    """The Python twin of `target_entity_sql` for a value an analyst typed (whose type is unknown:
    a bucket is written by its ARN); `whole=False` for the start of one (an Azure id's letter case
    folds, an object's key is kept)."""
    if whole and _is_object(value):
        return S3_PREFIX + value[len(S3_PREFIX) :].split("/", 1)[0]
    return value.lower() if value.lower().startswith(AZURE_PREFIX) else value


def bare_name(arn: str) -> str | None:
    """The name an ARN ends with: after the last `/` of its resource part, else its last `:`
    (`arn:aws:iam::1:role/path/deploy` -> `deploy`, `arn:aws:s3:::acme-data` -> `acme-data`,
    `...:function:billing` -> `billing`); None for an S3 object or a value that is no ARN."""
    if not arn.startswith("arn:") or _is_object(arn) or arn.count(":") < 5:
        return None
    name = arn.split(":", 5)[-1].rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    return name or None


def resource_sql(value: str, params: list[object], alias: str = "") -> str:
    """The condition selecting the events about the resource `value` (parameters appended)."""
    col, account, kind = f"{alias}target_id", f"{alias}cloud_account", f"{alias}target_type"
    name = bare_name(value)
    if value.startswith(S3_PREFIX) and name is not None:  # a bucket by its ARN
        params.extend([value, name, value + "/"])
        return f"({col} = ? OR {col} = ? OR starts_with({col}, ?))"
    if value.startswith("arn:") and name is not None:
        params.extend([value, name, value.split(":")[4], value])
        return (
            f"({col} = ? OR ({col} = ? AND {account} = ? AND {kind} IN "
            "(SELECT target_type FROM events WHERE target_id = ?)))"
        )
    if value.startswith("arn:"):  # an object, or an ARN without a name
        params.append(value)
        return f"{col} = ?"
    if value.lower().startswith(AZURE_PREFIX):
        params.extend([value.lower(), value.lower() + "/"])
        return f"(lower({col}) = ? OR starts_with(lower({col}), ?))"
    if value.startswith(GCP_PREFIXES):
        params.extend([value, value + "/"])
        return f"({col} = ? OR starts_with({col}, ?))"
    params.extend([value, value, value, S3_PREFIX + value + "/", value.lower(), value])
    gcp = " OR ".join(f"starts_with({col}, '{p}')" for p in GCP_PREFIXES)
    return (
        f"({col} = ? OR (starts_with({col}, 'arn:') AND (ends_with({col}, '/' || ?) OR ends_with({col}, ':' || ?)) "
        f"AND NOT {_object_sql(col)}) "
        f"OR starts_with({col}, ?) "
        f"OR (lower(left({col}, {len(AZURE_PREFIX)})) = '{AZURE_PREFIX}' AND ends_with(lower({col}), '/' || ?)) "
        f"OR (({gcp}) AND ends_with({col}, '/' || ?)))"
    )


def other_names(cur: duckdb.DuckDBPyConnection, value: str) -> list[str]:
    """The other names its events give the resource, most used first, then one line each for a
    bucket's objects and for the resources under an Azure id or GCP name (counted, not listed:
    a resource group can hold thousands)."""
    params: list[object] = []
    where = resource_sql(value, params)
    kind = f"CASE WHEN {_object_sql('target_id')} THEN 'object' WHEN starts_with(lower(target_id), ?) THEN 'under' ELSE 'name' END"
    scoped = f"SELECT {kind} AS kind, target_id FROM events WHERE {where} AND target_id <> ?"
    args = [value.lower() + "/", *params, value]
    rows = cur.execute(
        f"""SELECT kind, CASE WHEN kind = 'name' THEN target_id END AS name, count(DISTINCT target_id), count(*)
            FROM ({scoped}) GROUP BY 1, 2 ORDER BY 4 DESC, 2""",
        args,
    ).fetchall()
    names = [r[1] for r in rows if r[0] == "name"][:MAX_NAMES]
    objects = sum(r[2] for r in rows if r[0] == "object")
    under = sum(r[2] for r in rows if r[0] == "under")
    if objects:
        bucket = bare_name(value) if value.startswith("arn:") else value
        names.append(f"{objects:,} object{'s' if objects != 1 else ''} ({S3_PREFIX}{bucket}/...)")
    if under:
        names.append(f"{under:,} resource{'s' if under != 1 else ''} under it ({value}/...)")
    return names
