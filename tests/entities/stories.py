"""Small multi-source evidence in the real shapes of each format, with the truth known.

The network story: a leaked key of `mallory-ci` assumes a deployer role, launches an instance and
gives it a public address; the instance's flow log shows it sending data out; GuardDuty flags it;
the same attacker address signs in to Entra (logged as an IPv4-mapped IPv6 address).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ACCOUNT = "444455556666"
ATTACKER_IP = "198.51.100.99"
USER_ARN = f"arn:aws:iam::{ACCOUNT}:user/mallory-ci"
USER_KEY = "AKIAMALLORYCI000001"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/Deployer"
SESSION_ARN = f"arn:aws:sts::{ACCOUNT}:assumed-role/Deployer/deploy-1"
SESSION_KEY = "ASIADEPLOYSESSION01"
INSTANCE = "i-0a1b2c3d4e5f60001"
ENI = "eni-0a1b2c3d4e5f60001"
PRIVATE_IP = "10.0.5.20"
PUBLIC_IP = "203.0.113.200"
EXFIL_DEST = "192.0.2.200"
EXFIL_BYTES = 5_000_000


def _user(key: str = USER_KEY) -> dict[str, Any]:
    return {
        "type": "IAMUser",
        "principalId": "AIDAMALLORY0000001",
        "arn": USER_ARN,
        "accountId": ACCOUNT,
        "accessKeyId": key,
        "userName": "mallory-ci",
    }


def _session() -> dict[str, Any]:
    return {
        "type": "AssumedRole",
        "principalId": "AROADEPLOYER000001:deploy-1",
        "arn": SESSION_ARN,
        "accountId": ACCOUNT,
        "accessKeyId": SESSION_KEY,
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": "AROADEPLOYER000001",
                "arn": ROLE_ARN,
                "accountId": ACCOUNT,
                "userName": "Deployer",
            },
            "attributes": {"creationDate": "2024-05-01T10:00:00Z", "mfaAuthenticated": "false"},
        },
    }


def ct(event_id: str, when: str, who: dict[str, Any], source: str, name: str, **kw: Any) -> dict[str, Any]:
    rec = {
        "eventVersion": "1.09",
        "userIdentity": who,
        "eventTime": when,
        "eventSource": source,
        "eventName": name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": ATTACKER_IP,
        "userAgent": "aws-cli/2.15.0",
        "requestParameters": kw.get("params"),
        "responseElements": kw.get("response"),
        "requestID": f"req-{event_id}",
        "eventID": event_id,
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
    }
    return rec


def assume_role() -> dict[str, Any]:
    return ct(
        "e-assume",
        "2024-05-01T10:00:00Z",
        _user(),
        "sts.amazonaws.com",
        "AssumeRole",
        params={"roleArn": ROLE_ARN, "roleSessionName": "deploy-1"},
        response={
            "credentials": {
                "accessKeyId": SESSION_KEY,
                "sessionToken": "IQoJb3JpZ2luX2VjEXAMPLE",
                "expiration": "May 1, 2024, 11:00:00 AM",
            },
            "assumedRoleUser": {"assumedRoleId": "AROADEPLOYER000001:deploy-1", "arn": SESSION_ARN},
        },
    )


def session_calls() -> list[dict[str, Any]]:
    run = ct(
        "e-run",
        "2024-05-01T10:02:00Z",
        _session(),
        "ec2.amazonaws.com",
        "RunInstances",
        params={
            "instancesSet": {"items": [{"imageId": "ami-0123456789abcdef0", "minCount": 1, "maxCount": 1}]},
            "instanceType": "c5.4xlarge",
        },
        response={
            "reservationId": "r-0a1b2c3d4e5f60001",
            "ownerId": ACCOUNT,
            "instancesSet": {
                "items": [
                    {
                        "instanceId": INSTANCE,
                        "imageId": "ami-0123456789abcdef0",
                        "privateIpAddress": PRIVATE_IP,
                        "networkInterfaceSet": {
                            "items": [
                                {
                                    "networkInterfaceId": ENI,
                                    "privateIpAddress": PRIVATE_IP,
                                    "subnetId": "subnet-0a1b2c3d",
                                    "vpcId": "vpc-0a1b2c3d",
                                }
                            ]
                        },
                    }
                ]
            },
        },
    )
    assoc = ct(
        "e-assoc",
        "2024-05-01T10:03:00Z",
        _session(),
        "ec2.amazonaws.com",
        "AssociateAddress",
        params={"publicIp": PUBLIC_IP, "instanceId": INSTANCE},
        response={"requestId": "r1", "_return": True, "associationId": "eipassoc-0a1b2c3d"},
    )
    describe = ct(
        "e-desc",
        "2024-05-01T10:01:00Z",
        _session(),
        "ec2.amazonaws.com",
        "DescribeInstances",
        params={"instancesSet": {}, "filterSet": {}},
    )
    return [describe, run, assoc]


def write_cloudtrail(path: Path, records: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"Records": records}))
    return path


def write_flow_log(path: Path) -> Path:
    """VPC flow logs, custom format with v5 fields (instance-id, flow-direction), space separated."""
    head = (
        "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end "
        "action log-status instance-id flow-direction"
    )
    lines = [
        head,
        f"5 {ACCOUNT} {ENI} {ATTACKER_IP} {PRIVATE_IP} 51515 22 6 12 2048 1714557900 1714557960 ACCEPT OK "
        f"{INSTANCE} ingress",
        f"5 {ACCOUNT} {ENI} {PRIVATE_IP} {EXFIL_DEST} 40404 443 6 4000 {EXFIL_BYTES} 1714558200 1714558260 "
        f"ACCEPT OK {INSTANCE} egress",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def write_guardduty(path: Path, sample: Path) -> Path:
    """The bundled GuardDuty sample finding, moved onto the story's instance and addresses."""
    finding = json.loads(sample.read_text())
    finding["accountId"] = ACCOUNT
    details = finding["resource"]["instanceDetails"]
    details["instanceId"] = INSTANCE
    nic = details["networkInterfaces"][0]
    nic.update({"networkInterfaceId": ENI, "privateIpAddress": PRIVATE_IP, "publicIp": PUBLIC_IP})
    nic["privateIpAddresses"] = [{"privateIpAddress": PRIVATE_IP}]
    finding["service"]["eventFirstSeen"] = "2024-05-01T10:10:00.000Z"
    finding["service"]["eventLastSeen"] = "2024-05-01T10:12:00.000Z"
    path.write_text(json.dumps(finding))
    return path


def write_entra_signin(path: Path, sample: Path) -> Path:
    """One sign-in of the bundled Graph page, from the attacker's address in IPv4-mapped form."""
    page = json.loads(sample.read_text())
    first = page["value"][0]
    first.update({"ipAddress": f"::ffff:{ATTACKER_IP}", "createdDateTime": "2024-05-01T09:55:00Z"})
    page["value"] = [first]
    page.pop("@odata.nextLink", None)
    path.write_text(json.dumps(page))
    return path


# -- a cross-account hop: the deployer session assumes a role in another account --------------
OTHER_ACCOUNT = "777788889999"
SOURCE_IDENTITY = "mallory@example.org"
AUDIT_ROLE_ARN = f"arn:aws:iam::{OTHER_ACCOUNT}:role/AuditReader"
AUDIT_SESSION_ARN = f"arn:aws:sts::{OTHER_ACCOUNT}:assumed-role/AuditReader/hop-2"
AUDIT_KEY = "ASIAAUDITCROSS00001"
SHARED_EVENT_ID = "5b2e1c0a-0000-4000-8000-0000000000aa"


def assume_role_with_source_identity() -> dict[str, Any]:
    """The user's AssumeRole of the deployer role, setting a sourceIdentity."""
    rec = assume_role()
    rec["requestParameters"]["sourceIdentity"] = SOURCE_IDENTITY
    rec["responseElements"]["sourceIdentity"] = SOURCE_IDENTITY
    return rec


def cross_account_assume() -> list[dict[str, Any]]:
    """Both copies of the deployer session's AssumeRole into the other account: the caller's
    (with the caller's key) and the role owner's (naming the caller only as an AWSAccount)."""
    params = {"roleArn": AUDIT_ROLE_ARN, "roleSessionName": "hop-2"}
    response = {
        "credentials": {"accessKeyId": AUDIT_KEY, "expiration": "May 1, 2024, 12:00:00 PM"},
        "assumedRoleUser": {"assumedRoleId": "AROAAUDIT000000001:hop-2", "arn": AUDIT_SESSION_ARN},
        "sourceIdentity": SOURCE_IDENTITY,
    }
    caller = ct(
        "e-hop-caller",
        "2024-05-01T10:20:00Z",
        _session(),
        "sts.amazonaws.com",
        "AssumeRole",
        params=params,
        response=response,
    )
    caller["sharedEventID"] = SHARED_EVENT_ID
    owner = ct(
        "e-hop-owner",
        "2024-05-01T10:20:00Z",
        {"type": "AWSAccount", "principalId": "AROADEPLOYER000001:deploy-1", "accountId": ACCOUNT},
        "sts.amazonaws.com",
        "AssumeRole",
        params=params,
        response=response,
    )
    owner["recipientAccountId"] = OTHER_ACCOUNT
    owner["sharedEventID"] = SHARED_EVENT_ID
    return [caller, owner]


def audit_session_calls() -> list[dict[str, Any]]:
    """Calls in the other account with the cross-account key."""
    who = {
        "type": "AssumedRole",
        "principalId": "AROAAUDIT000000001:hop-2",
        "arn": AUDIT_SESSION_ARN,
        "accountId": OTHER_ACCOUNT,
        "accessKeyId": AUDIT_KEY,
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": "AROAAUDIT000000001",
                "arn": AUDIT_ROLE_ARN,
                "accountId": OTHER_ACCOUNT,
                "userName": "AuditReader",
            },
            "attributes": {"creationDate": "2024-05-01T10:20:00Z", "mfaAuthenticated": "false"},
            "sourceIdentity": SOURCE_IDENTITY,
        },
    }
    calls = []
    for i, (source, name) in enumerate(
        (("s3.amazonaws.com", "ListBuckets"), ("s3.amazonaws.com", "GetObject"))
    ):
        rec = ct(
            f"e-audit-{i}",
            f"2024-05-01T10:2{i + 1}:00Z",
            who,
            source,
            name,
            params={"bucketName": "audit-logs"},
        )
        rec["recipientAccountId"] = OTHER_ACCOUNT
        calls.append(rec)
    return calls


# -- the attacker's address in other clouds' logs ------------------------------------------------
def write_gcp_audit(path: Path, sample: Path) -> Path:
    """The bundled GCP audit entries, the first one called from the attacker's address."""
    text = json.loads(sample.read_text())
    entries = text if isinstance(text, list) else text.get("entries", [text])
    entries[0]["protoPayload"]["requestMetadata"]["callerIp"] = ATTACKER_IP
    path.write_text("\n".join(json.dumps(e) for e in entries) + "\n")
    return path


def write_alb(folder: Path, sample: Path, client: str = "203.0.113.77") -> Path:
    """The bundled ALB log (same file name: it says what the file is), with the request from
    `client` now from the attacker's address."""
    import gzip

    folder.mkdir(parents=True, exist_ok=True)
    text = gzip.decompress(sample.read_bytes()).decode().replace(f"{client}:", f"{ATTACKER_IP}:")
    path = folder / sample.name
    path.write_bytes(gzip.compress(text.encode()))
    return path
