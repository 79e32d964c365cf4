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
