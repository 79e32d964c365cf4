"""Ground truth for the AWS incident sample case, computed from what was written.

Other components' tests compare their results against ``truth.json``, so every
count here is derived from the generated files (records actually on disk, digests
actually written), never typed in by hand.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from aws_incident_attack import (
    ADMIN,
    ADMIN_TEMP_KEY,
    BACKUP,
    BACKUP_KEY,
    CI,
    DEV_ROLE,
    DEV_TEMP_KEY,
    FLOW_LOG_ID,
    IP_EXFIL,
    IP_STAGING,
    SOURCE_IDENTITY,
    START_LOGGING,
    STOP_LOGGING,
    UA_BOTO,
    UA_FIREFOX,
    UA_KALI,
)
from aws_incident_background import CI_KEY, CI_KEY_ROTATED
from aws_incident_model import (
    ACCOUNT_NAMES,
    DATA_BUCKET,
    HOME_REGION,
    LOG_BUCKET,
    PROD,
    REGIONS,
    TRAILS,
    iso_offset,
)

STAGES = ("initial_access", "discovery", "role_assumption", "persistence", "exfiltration", "defense_evasion")


class _File(Protocol):
    key: str
    account: str
    region: str
    records: list[dict[str, Any]]


class _Digest(Protocol):
    key: str
    account: str
    region: str
    body: dict[str, Any]


def z_to_offset(text: str) -> str:
    """CloudTrail's ``...Z`` as ``...+00:00``, the form truth.json uses throughout."""
    return iso_offset(datetime.fromisoformat(text.replace("Z", "+00:00")))


def unique_records(files: Sequence[_File]) -> dict[str, dict[str, Any]]:
    """First copy of each eventID; asserts that any re-delivered copy is identical."""
    seen: dict[str, dict[str, Any]] = {}
    for f in files:
        for rec in f.records:
            first = seen.setdefault(rec["eventID"], rec)
            if first != rec:
                raise AssertionError(f"eventID {rec['eventID']} reused for different records")
    return seen


def stage_summary(records: dict[str, dict[str, Any]], stage_of: dict[str, str]) -> list[dict[str, Any]]:
    out = []
    for n, stage in enumerate(STAGES + ("response",), start=1):
        recs = [r for eid, r in records.items() if stage_of.get(eid) == stage]
        times = sorted(r["eventTime"] for r in recs)
        out.append(
            {
                "stage": n if stage != "response" else None,
                "name": stage,
                "event_count": len(recs),
                "first_event_time": z_to_offset(times[0]),
                "last_event_time": z_to_offset(times[-1]),
                "accounts": sorted({r["recipientAccountId"] for r in recs}),
                "event_names": sorted({r["eventName"] for r in recs}),
                "errors": sorted(
                    {
                        f"{r['eventName']}:{r.get('errorCode') or r.get('errorMessage')}"
                        for r in recs
                        if "errorCode" in r or "errorMessage" in r
                    }
                ),
                "event_ids": sorted(r["eventID"] for r in recs),
            }
        )
    return out


def duplicates(files: Sequence[_File]) -> list[dict[str, Any]]:
    where: dict[str, list[str]] = defaultdict(list)
    names: dict[str, str] = {}
    for f in files:
        for rec in f.records:
            where[rec["eventID"]].append(f.key)
            names[rec["eventID"]] = rec["eventName"]
    return [
        {"eventID": eid, "eventName": names[eid], "copies": len(keys), "files": sorted(keys)}
        for eid, keys in sorted(where.items())
        if len(keys) > 1
    ]


def cross_account(records: dict[str, dict[str, Any]], stage_of: dict[str, str]) -> list[dict[str, Any]]:
    """Attacker sharedEventID pairs: the same AssumeRole seen from both accounts."""
    pairs: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for eid, rec in records.items():
        if "sharedEventID" in rec and eid in stage_of and stage_of[eid] != "response":
            pairs[rec["sharedEventID"]].append(rec)
    return [
        {
            "sharedEventID": sid,
            "eventTime": z_to_offset(recs[0]["eventTime"]),
            "records": sorted(
                (
                    {
                        "eventID": r["eventID"],
                        "recipientAccountId": r["recipientAccountId"],
                        "userIdentityType": r["userIdentity"]["type"],
                    }
                    for r in recs
                ),
                key=lambda x: x["recipientAccountId"],
            ),
        }
        for sid, recs in sorted(pairs.items())
    ]


def unpaired_shared_events(records: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Cross-account calls whose other half is missing: the prod trail was stopped then."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for rec in records.values():
        if "sharedEventID" in rec:
            groups[rec["sharedEventID"]].append(rec)
    return [
        {
            "sharedEventID": sid,
            "eventID": recs[0]["eventID"],
            "eventName": recs[0]["eventName"],
            "eventTime": z_to_offset(recs[0]["eventTime"]),
            "recipientAccountId": recs[0]["recipientAccountId"],
            "roleArn": recs[0]["requestParameters"]["roleArn"],
        }
        for sid, recs in sorted(groups.items())
        if len(recs) == 1
    ]


def exfil_summary(records: dict[str, dict[str, Any]], stage_of: dict[str, str]) -> dict[str, Any]:
    gets = [
        r
        for eid, r in records.items()
        if stage_of.get(eid) == "exfiltration" and r["eventName"] == "GetObject"
    ]
    times = sorted(r["eventTime"] for r in gets)
    return {
        "bucket": DATA_BUCKET,
        "source_ip": IP_EXFIL,
        "principal_arn": BACKUP.arn,
        "get_object_count": len(gets),
        "distinct_objects": len({r["requestParameters"]["key"] for r in gets}),
        "bytes_transferred_out": sum(r["additionalEventData"]["bytesTransferredOut"] for r in gets),
        "first_get_object": z_to_offset(times[0]),
        "last_get_object": z_to_offset(times[-1]),
    }


def digest_summary(digests: Sequence[_Digest]) -> dict[str, Any]:
    heads = [
        d.key
        for d in digests
        if d.body["previousDigestS3Object"]
        and d.body["previousDigestS3Object"] not in {x.key for x in digests}
    ]
    restarts = [d.key for d in digests if d.body["previousDigestS3Object"] is None]
    prod = sorted((d for d in digests if d.account == PROD), key=lambda d: d.body["digestEndTime"])
    before = {
        r: max(
            (d.key for d in prod if d.region == r and d.body["digestEndTime"] < iso_z(START_LOGGING)),
            key=lambda k: k[-24:],
        )
        for r in REGIONS
    }
    return {
        "count": len(digests),
        "per_account_region": dict(sorted(Counter(f"{d.account}/{d.region}" for d in digests).items())),
        "hash_of_log_file": "SHA-256 hex of the uncompressed (gunzipped) log file bytes",
        "previous_digest_hash": "SHA-256 hex of the uncompressed previous digest file bytes",
        "signatures_are_fake": True,
        "chain_heads_pointing_outside_collection": sorted(heads),
        "chain_restarts_after_gap": sorted(restarts),
        "last_prod_digest_before_gap": before,
    }


def iso_z(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def attacker_summary() -> dict[str, Any]:
    return {
        "ips": [IP_STAGING, IP_EXFIL],
        "user_agents": [UA_BOTO, UA_FIREFOX, UA_KALI],
        "long_term_access_keys": {
            CI_KEY: "ci-deploy (leaked)",
            BACKUP_KEY: "backup-admin (created by attacker)",
        },
        "temporary_access_keys": {ADMIN_TEMP_KEY: ADMIN.arn, DEV_TEMP_KEY: DEV_ROLE.arn},
        "principal_arns": [CI.arn, ADMIN.role_arn, ADMIN.arn, DEV_ROLE.role_arn, DEV_ROLE.arn, BACKUP.arn],
        "source_identity": SOURCE_IDENTITY,
        "created_user": BACKUP.arn,
        "attached_policy": "arn:aws:iam::aws:policy/AdministratorAccess",
        "deleted_flow_log": FLOW_LOG_ID,
        "rotated_ci_deploy_key": CI_KEY_ROTATED,
    }


def counts(
    files: Sequence[_File],
    digests: Sequence[_Digest],
    records: dict[str, dict[str, Any]],
    stage_of: dict[str, str],
    size: int,
) -> dict[str, Any]:
    on_disk = [r for f in files for r in f.records]
    attacker_ids = {eid for eid, s in stage_of.items() if s != "response"}
    by_stream = Counter(f"{f.account}/{f.region}" for f in files for _ in f.records)
    return {
        "log_files": len(files),
        "digest_files": len(digests),
        "bytes_on_disk": size,
        "records_on_disk": len(on_disk),
        "unique_event_ids": len(records),
        "identical_duplicate_records": len(on_disk) - len(records),
        "attacker_unique_events": len(attacker_ids & records.keys()),
        "attacker_records_on_disk": sum(1 for r in on_disk if r["eventID"] in attacker_ids),
        "response_events": sum(1 for s in stage_of.values() if s == "response"),
        "records_by_account_region": dict(sorted(by_stream.items())),
        "unique_events_by_account": dict(
            sorted(Counter(r["recipientAccountId"] for r in records.values()).items())
        ),
    }


def build_truth(
    seed: int, files: Sequence[_File], digests: Sequence[_Digest], stage_of: dict[str, str], size: int
) -> dict[str, Any]:
    records = unique_records(files)
    times = sorted(r["eventTime"] for r in records.values())
    hidden = [
        eid
        for eid, r in records.items()
        if r["userIdentity"].get("userName") == "HIDDEN_DUE_TO_SECURITY_REASONS"
    ]
    return {
        "case": "aws_incident",
        "generator": "sample_cases/generate_aws_incident.py",
        "seed": seed,
        "accounts": ACCOUNT_NAMES,
        "regions": list(REGIONS),
        "trail_home_region": HOME_REGION,
        "trails": TRAILS,
        "log_bucket": LOG_BUCKET,
        "time_range": {"first_event": z_to_offset(times[0]), "last_event": z_to_offset(times[-1])},
        "counts": counts(files, digests, records, stage_of, size),
        "attacker": attacker_summary(),
        "stages": stage_summary(records, stage_of),
        "cross_account_assume_role": cross_account(records, stage_of),
        "exfiltration": exfil_summary(records, stage_of),
        "logging_gap": {
            "account": PROD,
            "trail": TRAILS[PROD],
            "regions": list(REGIONS),
            "stopped_at": iso_offset(STOP_LOGGING),
            "restarted_at": iso_offset(START_LOGGING),
            "records_between": sum(
                1
                for r in records.values()
                if r["recipientAccountId"] == PROD
                and iso_z(STOP_LOGGING) < r["eventTime"] < iso_z(START_LOGGING)
            ),
            "shared_events_missing_their_prod_half": unpaired_shared_events(records),
        },
        "duplicates": duplicates(files),
        "hidden_username_event_ids": hidden,
        "digests": digest_summary(digests),
    }
