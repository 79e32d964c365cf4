"""The intrusion and the response, as a fixed script of API calls.

Times, IPs, principals and key ids are literals or name-derived, not random, so that
the README timeline stays true when the background noise is tuned. Only the bulk
S3 download uses the RNG (object sizes and exact seconds); truth.json reports the
exact values that were written.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aws_incident_background import CI_KEY
from aws_incident_model import (
    DATA_BUCKET,
    DEV,
    PROD,
    REGIONS,
    TRAILS,
    Call,
    Principal,
    assume_role_calls,
    s3_extra,
    s3_object_resources,
    stable_id,
    ts,
)

IP_STAGING = "203.0.113.45"
IP_EXFIL = "192.0.2.77"
UA_BOTO = (
    "Boto3/1.34.51 md/Botocore#1.34.51 ua/2.0 os/linux#6.1.0-18-amd64 md/arch#x86_64 "
    "lang/python#3.11.2 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.51"
)
UA_KALI = "aws-cli/1.32.51 Python/3.11.8 Linux/6.5.0-kali3-amd64 botocore/1.34.51"
UA_FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0"

BACKUP_KEY = stable_id("AKIA", "key:backup-admin", 20)
ADMIN_TEMP_KEY = stable_id("ASIA", "session:OrganizationAccountAccessRole:ci-deploy-maint", 20)
DEV_TEMP_KEY = stable_id("ASIA", "session:CrossAccountDeployRole:ops-sync", 20)
FLOW_LOG_ID = "fl-0c5e1f2a3b4d56789"

ASSUME_ADMIN = ts("2024-03-12T23:16:40")
ASSUME_DEV = ts("2024-03-12T23:29:05")
STOP_LOGGING = ts("2024-03-13T01:35:50")
SELECTORS_CLEARED = ts("2024-03-13T01:33:20")
START_LOGGING = ts("2024-03-13T09:07:22")
SELECTORS_RESTORED = ts("2024-03-13T09:08:40")
CI_KEY_DEACTIVATED = ts("2024-03-13T09:12:02")
CI_KEY_ROTATED_AT = ts("2024-03-13T10:40:31")
SOURCE_IDENTITY = "ci-deploy"

CI = Principal("IAMUser", PROD, "ci-deploy", access_key=CI_KEY)
ADMIN = Principal(
    "AssumedRole",
    PROD,
    "OrganizationAccountAccessRole",
    "ci-deploy-maint",
    ADMIN_TEMP_KEY,
    "2024-03-12T23:16:40Z",
    source_identity=SOURCE_IDENTITY,
)
DEV_ROLE = Principal(
    "AssumedRole",
    DEV,
    "CrossAccountDeployRole",
    "ops-sync",
    DEV_TEMP_KEY,
    "2024-03-12T23:29:05Z",
    source_identity=SOURCE_IDENTITY,
)
BACKUP = Principal("IAMUser", PROD, "backup-admin", access_key=BACKUP_KEY)
HIDDEN = Principal("IAMUser", PROD, "HIDDEN_DUE_TO_SECURITY_REASONS")


@dataclass
class Step:
    """One scripted call and the stage it belongs to (None for responders)."""

    stage: str | None
    call: Call
    tags: tuple[str, ...] = ()


def iam_date(dt: datetime) -> str:
    """IAM's responseElements dates: like STS's, but without the comma after the year."""
    hour = dt.hour % 12 or 12
    return f"{dt:%b} {dt.day}, {dt.year} {hour}:{dt:%M:%S} {'AM' if dt.hour < 12 else 'PM'}"


def denied(
    who: Principal,
    action: str,
    resource: str,
    why: str = "because no identity-based policy allows the {a} action",
    code: str = "AccessDenied",
) -> tuple[str, str]:
    return (
        code,
        f"User: {who.arn} is not authorized to perform: {action} on resource: {resource} "
        + why.format(a=action),
    )


def c(when: str, who: Principal, api: str, ip: str, ua: str, region: str = "us-east-1", **kw: Any) -> Call:
    return Call(ts(when), who, api, region, ip, ua, **kw)


def discovery() -> Iterator[Step]:
    """Stage 2: the leaked key is probed for what it may do; several calls fail."""
    acct = f"arn:aws:iam::{PROD}:user/"
    s, ip, ua = "discovery", IP_STAGING, UA_BOTO
    yield Step(
        s, c("2024-03-12T22:48:02", CI, "iam:ListUsers", ip, ua, error=denied(CI, "iam:ListUsers", acct))
    )
    yield Step(
        s,
        c(
            "2024-03-12T22:48:05",
            CI,
            "iam:ListAttachedUserPolicies",
            ip,
            ua,
            params={"userName": "ci-deploy"},
        ),
    )
    yield Step(
        s,
        c(
            "2024-03-12T22:48:09",
            CI,
            "iam:GetAccountAuthorizationDetails",
            ip,
            ua,
            params={"filter": ["User", "Role", "Group", "LocalManagedPolicy"]},
            error=denied(CI, "iam:GetAccountAuthorizationDetails", "*"),
        ),
    )
    yield Step(s, c("2024-03-12T22:48:31", CI, "iam:ListRoles", ip, ua, params={"maxItems": 1000}))
    yield Step(s, c("2024-03-12T22:49:10", CI, "s3:ListBuckets", ip, ua, params={"Host": "s3.amazonaws.com"}))
    yield Step(
        s,
        c(
            "2024-03-12T22:49:40",
            CI,
            "s3:GetBucketPolicy",
            ip,
            ua,
            params={
                "bucketName": DATA_BUCKET,
                "Host": f"{DATA_BUCKET}.s3.us-east-1.amazonaws.com",
                "policy": "",
            },
            error=denied(CI, "s3:GetBucketPolicy", f"arn:aws:s3:::{DATA_BUCKET}"),
        ),
    )
    yield Step(
        s,
        c(
            "2024-03-12T22:50:02",
            CI,
            "ec2:DescribeRegions",
            ip,
            ua,
            params={"regionSet": {}, "allRegions": True},
        ),
    )
    for n, region in enumerate(REGIONS):
        yield Step(
            s,
            c(
                f"2024-03-12T22:50:{15 + 4 * n}",
                CI,
                "ec2:DescribeInstances",
                ip,
                ua,
                region,
                params={"instancesSet": {}, "filterSet": {}},
            ),
        )
    yield Step(
        s,
        c(
            "2024-03-12T22:51:00",
            CI,
            "secretsmanager:ListSecrets",
            ip,
            ua,
            params={"maxResults": 100},
            error=denied(CI, "secretsmanager:ListSecrets", "*", code="AccessDeniedException"),
        ),
    )
    yield Step(
        s,
        c(
            "2024-03-12T23:02:41",
            HIDDEN,
            "signin:ConsoleLogin",
            ip,
            UA_FIREFOX,
            response={"ConsoleLogin": "Failure"},
            error=("", "No username found in supplied account"),
            extra={
                "LoginTo": "https://console.aws.amazon.com/console/home?state=hashArgs%23&isauthcode=true",
                "MobileVersion": "No",
                "MFAUsed": "No",
            },
            event_type="AwsConsoleSignIn",
        ),
        ("hidden_username",),
    )
    yield Step(
        s,
        c(
            "2024-03-12T23:05:12",
            CI,
            "iam:GetRole",
            ip,
            ua,
            params={"roleName": "OrganizationAccountAccessRole"},
        ),
    )


def role_assumption(rng: random.Random) -> Iterator[Step]:
    """Stage 3: the admin role in prod, then a cross-account hop into dev."""
    s, ip, ua = "role_assumption", IP_STAGING, UA_BOTO
    for call in assume_role_calls(rng, CI, ADMIN, ASSUME_ADMIN, ip, ua):
        yield Step(s, call)
    yield Step(s, c("2024-03-12T23:17:30", ADMIN, "sts:GetCallerIdentity", ip, ua))
    yield Step(
        s,
        c(
            "2024-03-12T23:18:02",
            ADMIN,
            "iam:GetAccountAuthorizationDetails",
            ip,
            ua,
            params={"filter": ["User", "Role", "Group", "LocalManagedPolicy"]},
        ),
    )
    yield Step(s, c("2024-03-12T23:18:45", ADMIN, "iam:ListUsers", ip, ua))
    yield Step(s, c("2024-03-12T23:19:20", ADMIN, "iam:ListRoles", ip, ua, params={"maxItems": 1000}))
    for call in assume_role_calls(rng, ADMIN, DEV_ROLE, ASSUME_DEV, ip, ua):
        yield Step(s, call, ("cross_account",))
    yield Step(s, c("2024-03-12T23:30:10", DEV_ROLE, "sts:GetCallerIdentity", ip, ua))
    yield Step(
        s,
        c(
            "2024-03-12T23:31:02",
            DEV_ROLE,
            "secretsmanager:ListSecrets",
            ip,
            ua,
            "us-west-2",
            params={"maxResults": 100},
        ),
    )
    yield Step(
        s,
        c(
            "2024-03-12T23:31:40",
            DEV_ROLE,
            "secretsmanager:GetSecretValue",
            ip,
            ua,
            "us-west-2",
            params={"secretId": "dev/rds/master"},
        ),
    )
    yield Step(
        s,
        c(
            "2024-03-12T23:33:15",
            DEV_ROLE,
            "ec2:DescribeInstances",
            ip,
            ua,
            "us-west-2",
            params={"instancesSet": {}, "filterSet": {}},
        ),
    )
    yield Step(
        s, c("2024-03-12T23:34:00", DEV_ROLE, "s3:ListBuckets", ip, ua, params={"Host": "s3.amazonaws.com"})
    )


def persistence() -> Iterator[Step]:
    """Stage 4: a new IAM user with an access key and AdministratorAccess."""
    s, ip, ua = "persistence", IP_STAGING, UA_BOTO
    created = ts("2024-03-12T23:44:10")
    user = {
        "path": "/",
        "userName": "backup-admin",
        "userId": BACKUP.principal_id,
        "arn": BACKUP.arn,
        "createDate": iam_date(created),
    }
    yield Step(
        s,
        c(
            "2024-03-12T23:44:10",
            ADMIN,
            "iam:CreateUser",
            ip,
            ua,
            params={"userName": "backup-admin"},
            response={"user": user},
        ),
        ("duplicated",),
    )
    yield Step(
        s,
        c(
            "2024-03-12T23:44:52",
            ADMIN,
            "iam:CreateAccessKey",
            ip,
            ua,
            params={"userName": "backup-admin"},
            response={
                "accessKey": {
                    "userName": "backup-admin",
                    "accessKeyId": BACKUP_KEY,
                    "status": "Active",
                    "createDate": iam_date(ts("2024-03-12T23:44:52")),
                }
            },
        ),
    )
    yield Step(
        s,
        c(
            "2024-03-12T23:45:31",
            ADMIN,
            "iam:AttachUserPolicy",
            ip,
            ua,
            params={"userName": "backup-admin", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
        ),
    )


def _exfil_object(rng: random.Random, n: int) -> tuple[str, int]:
    region = ("us", "eu", "apac")[n % 3]
    return f"customers/{region}/export-2024-03/customers-{n:05d}.csv.gz", rng.randint(2_000_000, 38_000_000)


def exfiltration(rng: random.Random, objects: int = 187) -> Iterator[Step]:
    """Stage 5: the new user lists the customer bucket and downloads it in bursts."""
    s, ip, ua = "exfiltration", IP_EXFIL, UA_KALI
    host = f"{DATA_BUCKET}.s3.us-east-1.amazonaws.com"
    bucket_res = [{"accountId": PROD, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{DATA_BUCKET}"}]
    yield Step(s, c("2024-03-13T00:12:07", BACKUP, "sts:GetCallerIdentity", ip, ua))
    yield Step(
        s, c("2024-03-13T00:12:40", BACKUP, "s3:ListBuckets", ip, ua, params={"Host": "s3.amazonaws.com"})
    )
    for page in range(3):
        params: dict[str, Any] = {
            "bucketName": DATA_BUCKET,
            "Host": host,
            "list-type": "2",
            "prefix": "",
            "encoding-type": "url",
        }
        if page:
            params["continuation-token"] = f"1{rng.getrandbits(120):030x}"
        yield Step(
            s,
            c(
                f"2024-03-13T00:13:0{5 + 2 * page}",
                BACKUP,
                "s3:ListObjects",
                ip,
                ua,
                params=params,
                resources=bucket_res,
                extra=s3_extra(rng),
            ),
        )
    t = ts("2024-03-13T00:14:00")
    for n in range(objects):
        t += timedelta(seconds=rng.randint(120, 300) if n and n % 40 == 0 else rng.randint(1, 4))
        key, size = _exfil_object(rng, n)
        yield Step(
            s,
            Call(
                t,
                BACKUP,
                "s3:GetObject",
                "us-east-1",
                ip,
                ua,
                params={"bucketName": DATA_BUCKET, "Host": host, "key": key},
                resources=s3_object_resources(DATA_BUCKET, key, PROD),
                extra=s3_extra(rng, size),
            ),
            ("exfil_object",),
        )


def defense_evasion() -> Iterator[Step]:
    """Stage 6: flow logs deleted, data events dropped, trail deletion denied, logging stopped."""
    s, ip, ua = "defense_evasion", IP_EXFIL, UA_KALI
    trail = f"arn:aws:cloudtrail:us-east-1:{PROD}:trail/{TRAILS[PROD]}"
    trail_res = [{"accountId": PROD, "type": "AWS::CloudTrail::Trail", "ARN": trail}]
    yield Step(s, c("2024-03-13T01:31:18", BACKUP, "ec2:DescribeFlowLogs", ip, ua, params={"filterSet": {}}))
    yield Step(
        s,
        c(
            "2024-03-13T01:31:44",
            BACKUP,
            "ec2:DeleteFlowLogs",
            ip,
            ua,
            params={"DeleteFlowLogsRequest": {"FlowLogId": {"content": FLOW_LOG_ID, "tag": 1}}},
            response={
                "DeleteFlowLogsResponse": {
                    "xmlns": "http://ec2.amazonaws.com/doc/2016-11-15/",
                    "requestId": "",
                    "unsuccessful": "",
                }
            },
        ),
    )
    yield Step(
        s,
        c(
            "2024-03-13T01:33:02",
            BACKUP,
            "cloudtrail:GetEventSelectors",
            ip,
            ua,
            params={"trailName": TRAILS[PROD]},
        ),
    )
    yield Step(
        s,
        c(
            "2024-03-13T01:33:20",
            BACKUP,
            "cloudtrail:PutEventSelectors",
            ip,
            ua,
            params={
                "trailName": TRAILS[PROD],
                "eventSelectors": [
                    {
                        "readWriteType": "All",
                        "includeManagementEvents": True,
                        "dataResources": [],
                        "excludeManagementEventSources": [],
                    }
                ],
            },
            response={
                "trailARN": trail,
                "eventSelectors": [
                    {
                        "readWriteType": "All",
                        "includeManagementEvents": True,
                        "dataResources": [],
                        "excludeManagementEventSources": [],
                    }
                ],
            },
            resources=trail_res,
        ),
    )
    yield Step(
        s,
        c(
            "2024-03-13T01:34:05",
            BACKUP,
            "cloudtrail:DeleteTrail",
            ip,
            ua,
            params={"name": TRAILS[PROD]},
            error=denied(
                BACKUP, "cloudtrail:DeleteTrail", trail, "with an explicit deny in a service control policy"
            ),
            resources=trail_res,
        ),
    )
    yield Step(
        s,
        c(
            "2024-03-13T01:35:50",
            BACKUP,
            "cloudtrail:StopLogging",
            ip,
            ua,
            params={"name": TRAILS[PROD]},
            resources=trail_res,
        ),
    )
