"""Import benchmark for the Azure Activity, Entra ID and Microsoft 365 audit formats.

    python benchmarks/ingest_azure_m365.py --events 200000 [--repeat 3] [--workdir /tmp/caseline-bench-azure]

For each format it generates N synthetic records in realistic files (gzipped JSON documents as
Event Hub captures and Graph pages arrive, plain JSON lines and CSV as storage blobs and portal
downloads are), cached in the work folder, then prints medians over --repeat runs of:
  * the floor measured in the same run: gunzip + orjson parse of every file with 2 processes
    (a JSONL or CSV file is parsed line by line / row by row);
  * `caseline import --no-search-index` in a fresh process: records/s and the ratio to the floor.
  * the storage floor (`storage_floor.py`): the imported rows written into a fresh events table
    from memory, nothing parsed, as a ratio to the same floor.
Targets: JSON formats within 2.5x the floor; text formats (CSV) at least 250k records/s on 2 cores.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import random
import statistics
import sys
import time
import uuid
import zlib
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from child_cpu import with_child_cpu  # noqa: E402
from ingest_cloudtrail import caseline_import  # noqa: E402  (a sibling script, not a package)
from storage_floor import measure as storage_floor  # noqa: E402

PER_FILE = 5000
TENANT = "aaaabbbb-0000-cccc-1111-dddd2222eeee"
SUBS = ["11111111-2222-3333-4444-555555555555", "22222222-3333-4444-5555-666666666666"]
OPS = [
    "MICROSOFT.COMPUTE/VIRTUALMACHINES/WRITE",
    "MICROSOFT.STORAGE/STORAGEACCOUNTS/LISTKEYS/ACTION",
    "MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/WRITE",
    "MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/WRITE",
]


def _iso(t: float, digits7: bool = True) -> str:
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t))
    return f"{base}.{int(t * 1e7) % 10**7:07d}Z" if digits7 else base


def _ip(rng: random.Random) -> str:
    return f"{rng.choice(['192.0.2', '198.51.100', '203.0.113'])}.{rng.randrange(1, 255)}"


def _guid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128)))


def activity_record(rng: random.Random, t: float) -> dict[str, Any]:
    sub = rng.choice(SUBS)
    rid = f"/SUBSCRIPTIONS/{sub.upper()}/RESOURCEGROUPS/RG-{rng.randrange(20)}/PROVIDERS/MICROSOFT.COMPUTE/VIRTUALMACHINES/VM-{rng.randrange(500)}"
    user = f"user{rng.randrange(300):03d}@contoso.example"
    return {
        "RoleLocation": "West Europe",
        "time": _iso(t),
        "resourceId": rid,
        "operationName": rng.choice(OPS),
        "category": "Administrative",
        "resultType": rng.choice(["Start", "Success", "Success", "Failure"]),
        "resultSignature": "Succeeded.OK",
        "durationMs": str(rng.randrange(5000)),
        "callerIpAddress": _ip(rng),
        "correlationId": _guid(rng),
        "identity": {
            "authorization": {
                "scope": rid.lower(),
                "action": "Microsoft.Compute/virtualMachines/write",
                "evidence": {
                    "role": "Contributor",
                    "principalId": _guid(rng).replace("-", ""),
                    "principalType": "User",
                },
            },
            "claims": {
                "aud": "https://management.core.windows.net/",
                "appid": "c44b4083-3bb0-49c1-b47d-974e53cbdf3c",
                "ipaddr": _ip(rng),
                "name": user,
                "http://schemas.microsoft.com/identity/claims/objectidentifier": _guid(rng),
                "http://schemas.microsoft.com/identity/claims/tenantid": TENANT,
                "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn": user,
                "uti": uuid.UUID(int=rng.getrandbits(128)).hex[:22],
            },
        },
        "level": "Information",
        "location": "global",
        "properties": {
            "eventCategory": "Administrative",
            "entity": rid.lower(),
            "message": "write",
            "hierarchy": f"{TENANT}/{sub}",
        },
    }


def signin_record(rng: random.Random, t: float) -> dict[str, Any]:
    code = rng.choice([0, 0, 0, 50126, 50140])
    user = f"user{rng.randrange(300):03d}@contoso.example"
    return {
        "id": _guid(rng),
        "createdDateTime": _iso(t, False) + "Z",
        "userDisplayName": user.split("@")[0],
        "userPrincipalName": user,
        "userId": _guid(rng),
        "appId": "c44b4083-3bb0-49c1-b47d-974e53cbdf3c",
        "appDisplayName": "Azure Portal",
        "ipAddress": _ip(rng),
        "clientAppUsed": "Browser",
        "userAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Example/1.0",
        "correlationId": _guid(rng),
        "conditionalAccessStatus": "notApplied",
        "isInteractive": True,
        "signInEventTypes": ["interactiveUser"],
        "uniqueTokenIdentifier": uuid.UUID(int=rng.getrandbits(128)).hex[:22],
        "sessionId": _guid(rng),
        "homeTenantId": TENANT,
        "resourceTenantId": TENANT,
        "resourceDisplayName": "Microsoft Graph",
        "resourceId": "00000003-0000-0000-c000-000000000000",
        "riskLevelDuringSignIn": "none",
        "status": {
            "errorCode": code,
            "failureReason": "Other." if code == 0 else "Invalid username or password.",
        },
        "deviceDetail": {"operatingSystem": "Windows10", "browser": "Edge 124.0.0"},
        "location": {"city": "Example City", "countryOrRegion": "NL"},
        "appliedConditionalAccessPolicies": [],
    }


def audit_record(rng: random.Random, t: float) -> dict[str, Any]:
    return {
        "id": f"Directory_{_guid(rng)}",
        "category": "UserManagement",
        "correlationId": _guid(rng),
        "result": "success",
        "resultReason": "",
        "activityDisplayName": "Update user",
        "activityDateTime": _iso(t),
        "loggedByService": "Core Directory",
        "operationType": "Update",
        "initiatedBy": {
            "app": None,
            "user": {
                "id": _guid(rng),
                "displayName": None,
                "userPrincipalName": f"admin{rng.randrange(5)}@contoso.example",
                "ipAddress": _ip(rng),
            },
        },
        "targetResources": [
            {
                "id": _guid(rng),
                "displayName": None,
                "type": "User",
                "userPrincipalName": f"user{rng.randrange(300):03d}@contoso.example",
                "modifiedProperties": [
                    {"displayName": "AccountEnabled", "oldValue": "[true]", "newValue": "[false]"}
                ],
            }
        ],
        "additionalDetails": [{"key": "UserType", "value": "Member"}],
    }


def ual_record(rng: random.Random, t: float) -> dict[str, Any]:
    return {
        "CreationTime": _iso(t, False),
        "Id": _guid(rng),
        "Operation": "MailItemsAccessed",
        "OrganizationId": TENANT,
        "RecordType": 50,
        "ResultStatus": "Succeeded",
        "UserKey": "10032000EXAMPLE1",
        "UserType": 0,
        "Version": 1,
        "Workload": "Exchange",
        "ClientIP": f"{_ip(rng)}:{rng.randrange(1024, 65535)}",
        "UserId": f"user{rng.randrange(300):03d}@contoso.example",
        "AppId": "d3590ed6-52b3-4102-aeff-aad2292ab01c",
        "ClientInfoString": "Client=OutlookService;Outlook/16.0",
        "ExternalAccess": False,
        "AppAccessContext": {
            "IssuedAtTime": _iso(t - 60, False),
            "UniqueTokenId": uuid.UUID(int=rng.getrandbits(128)).hex[:22],
        },
        "OperationProperties": [{"Name": "MailAccessType", "Value": "Bind"}],
        "Folders": [
            {"FolderItems": [{"InternetMessageId": f"<{_guid(rng)}@contoso.example>"}], "Path": "\\Inbox"}
        ],
    }


def _json_doc(key: str | None) -> Callable[[list[dict[str, Any]]], bytes]:
    return lambda recs: gzip.compress(orjson.dumps(recs if key is None else {key: recs}), 6)


def _jsonl(recs: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in recs)


def _ual_csv(recs: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_ALL)
    w.writerow(
        ["RecordType", "CreationDate", "UserIds", "Operations", "AuditData", "ResultIndex", "ResultCount"]
    )
    for i, r in enumerate(recs, 1):
        w.writerow(
            [
                "ExchangeItem",
                r["CreationTime"],
                r["UserId"],
                r["Operation"],
                orjson.dumps(r).decode(),
                i,
                len(recs),
            ]
        )
    return out.getvalue().encode()


def _signin_csv(recs: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(
        [
            "Date (UTC)",
            "Request ID",
            "User agent",
            "Correlation ID",
            "User ID",
            "User",
            "Username",
            "Unique token identifier",
            "Application",
            "Application ID ",
            "Resource",
            "Resource ID ",
            "Resource tenant ID",
            "Home tenant ID",
            "IP address",
            "Location",
            "Status",
            "Sign-in error code",
            "Failure reason",
            "Client app",
            "Session ID",
        ]
    )
    for r in recs:
        code = r["status"]["errorCode"]
        w.writerow(
            [
                r["createdDateTime"],
                r["id"],
                r["userAgent"],
                r["correlationId"],
                r["userId"],
                r["userDisplayName"],
                r["userPrincipalName"],
                r["uniqueTokenIdentifier"],
                r["appDisplayName"],
                r["appId"],
                r["resourceDisplayName"],
                r["resourceId"],
                TENANT,
                TENANT,
                r["ipAddress"],
                "Example City, , NL",
                "Success" if code == 0 else "Failure",
                code,
                r["status"]["failureReason"],
                "Browser",
                r["sessionId"],
            ]
        )
    return out.getvalue().encode()


# format name -> (record generator, file writer, file suffix)
FORMATS: dict[
    str, tuple[Callable[[random.Random, float], dict[str, Any]], Callable[[list[dict[str, Any]]], bytes], str]
] = {
    "azure_activity_records": (activity_record, _json_doc("records"), ".json.gz"),
    "azure_activity_jsonl": (activity_record, _jsonl, ".json"),
    "entra_signin": (signin_record, _json_doc("value"), ".json.gz"),
    "entra_audit": (audit_record, _json_doc("value"), ".json.gz"),
    "m365_audit": (ual_record, _json_doc(None), ".json.gz"),
    "m365_audit_csv": (ual_record, _ual_csv, ".csv"),
    "entra_signin_csv": (signin_record, _signin_csv, ".csv"),
}


def _write_file(args: tuple[str, Path, int, int]) -> int:
    name, path, seed, count = args
    make, write, _ = FORMATS[name]
    rng = random.Random(seed)
    t0 = 1714550400 + seed * 600
    path.write_bytes(write([make(rng, t0 + i * 0.1) for i in range(count)]))
    return count


def generate(root: Path, name: str, events: int) -> Path:
    folder = root / f"{name}-{events}"
    marker = root / f"{name}-{events}.complete"  # beside the folder: the import reads every file in it
    if not marker.exists():
        folder.mkdir(parents=True, exist_ok=True)
        suffix = FORMATS[name][2]
        jobs = [
            (name, folder / f"part-{k:05d}{suffix}", k, min(PER_FILE, events - k * PER_FILE))
            for k in range((events + PER_FILE - 1) // PER_FILE)
        ]
        with ProcessPoolExecutor(2) as pool:
            assert sum(pool.map(_write_file, jobs)) == events
        marker.touch()
    return folder


def _parse_file(path: Path) -> int:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = zlib.decompress(data, 31)
    if path.suffix == ".csv":
        rows = csv.reader(io.StringIO(data.decode()))
        next(rows)
        return sum(1 for _ in rows)
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        return sum(1 for line in data.splitlines() if orjson.loads(line))
    return len(doc) if isinstance(doc, list) else len(next(v for v in doc.values() if isinstance(v, list)))


def floor(folder: Path) -> float:
    files = sorted(p for p in folder.iterdir() if p.name.startswith("part-"))
    t = time.perf_counter()
    with ProcessPoolExecutor(2) as pool:
        assert sum(pool.map(_parse_file, files, chunksize=4)) > 0
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/caseline-bench-azure"))
    ap.add_argument("--formats", nargs="*", default=list(FORMATS))
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    print(f"{args.events:,} records per format, medians of {args.repeat} runs")
    for name in args.formats:
        folder = generate(args.workdir, name, args.events)
        floors = [with_child_cpu(floor, folder) for _ in range(args.repeat)]
        fl = statistics.median(t for t, _ in floors)
        case = args.workdir / f"{name}.caseline"
        runs = [with_child_cpu(caseline_import, folder, case) for _ in range(args.repeat)]
        secs = statistics.median(r[0] for r, _ in runs)
        store = storage_floor(case, args.repeat)[0]
        print(
            f"{name:24s} import {args.events / secs:>10,.0f} rec/s ({secs:6.2f}s, "
            f"{statistics.median(c for _, c in runs):5.1f} CPU-s)   floor {args.events / fl:>10,.0f} rec/s "
            f"({fl:5.2f}s, {statistics.median(c for _, c in floors):4.1f} CPU-s)   ratio {secs / fl:4.2f}x   storage floor {store:5.2f}s = {store / fl:4.2f}x the floor"
        )


if __name__ == "__main__":
    main()
