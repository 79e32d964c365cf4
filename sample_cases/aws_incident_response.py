"""The response to the intrusion (`aws_incident_attack`), and the whole script in story order.

The responder signs in to the console inside the logging gap, reads GuardDuty, restores the
trail and its event selectors, disables and rotates the leaked keys and replaces the deleted flow
log. Times are literals, as in the attack, so the README timeline stays true.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

from aws_incident_attack import (
    BACKUP_KEY,
    CI,
    CI_KEY_ROTATED_AT,
    IP_STAGING,
    UA_BOTO,
    Step,
    c,
    defense_evasion,
    discovery,
    exfiltration,
    iam_date,
    persistence,
    role_assumption,
)
from aws_incident_background import CI_KEY, CI_KEY_ROTATED, OFFICE_IPS, UA_CHROME, sso_session
from aws_incident_model import DATA_BUCKET, DEV, PROD, SECURITY, TRAILS, Principal, ts
from aws_incident_network import ADMIN_DETECTOR, FLOW_BUCKET, LOGGING_FINDING_ID, NEW_FLOW_LOG_ID, VPC_ID


def _data_selectors() -> list[dict[str, Any]]:
    return [
        {
            "readWriteType": "All",
            "includeManagementEvents": True,
            "excludeManagementEventSources": [],
            "dataResources": [
                {
                    "type": "AWS::S3::Object",
                    "values": [f"arn:aws:s3:::{DATA_BUCKET}/", "arn:aws:s3:::acme-prod-build-artifacts/"],
                }
            ],
        }
    ]


def response(rng: random.Random) -> Iterator[Step]:
    """The responder's actions. Her console sign-in fell inside the logging gap."""
    erin_sec = sso_session(rng, SECURITY, "AdministratorAccess", "erin.kowalski", ts("2024-03-13T08:49:55"))
    erin = sso_session(rng, PROD, "AdministratorAccess", "erin.kowalski", ts("2024-03-13T09:05:31"))
    erin_dev = sso_session(rng, DEV, "AdministratorAccess", "erin.kowalski", ts("2024-03-13T09:38:12"))
    ip, ua = OFFICE_IPS[2], UA_CHROME
    trail = TRAILS[PROD]
    gd = {"detectorId": ADMIN_DETECTOR, "maxResults": 50}
    steps: list[tuple[str, Principal, str, dict[str, Any]]] = [
        ("2024-03-13T08:51:02", erin_sec, "guardduty:ListFindings", {"params": gd}),
        (
            "2024-03-13T08:51:40",
            erin_sec,
            "guardduty:GetFindings",
            {"params": {"detectorId": gd["detectorId"], "findingIds": [LOGGING_FINDING_ID]}},
        ),
        ("2024-03-13T09:07:22", erin, "cloudtrail:StartLogging", {"params": {"name": trail}}),
        (
            "2024-03-13T09:08:40",
            erin,
            "cloudtrail:PutEventSelectors",
            {"params": {"trailName": trail, "eventSelectors": _data_selectors()}},
        ),
        ("2024-03-13T09:10:05", erin, "iam:ListAccessKeys", {"params": {"userName": "backup-admin"}}),
        (
            "2024-03-13T09:11:30",
            erin,
            "iam:UpdateAccessKey",
            {"params": {"userName": "backup-admin", "accessKeyId": BACKUP_KEY, "status": "Inactive"}},
        ),
        (
            "2024-03-13T09:12:02",
            erin,
            "iam:UpdateAccessKey",
            {"params": {"userName": "ci-deploy", "accessKeyId": CI_KEY, "status": "Inactive"}},
        ),
        (
            "2024-03-13T09:14:20",
            erin,
            "iam:DetachUserPolicy",
            {
                "params": {
                    "userName": "backup-admin",
                    "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess",
                }
            },
        ),
        (
            "2024-03-13T09:15:00",
            erin,
            "iam:DeleteAccessKey",
            {"params": {"userName": "backup-admin", "accessKeyId": BACKUP_KEY}},
        ),
        ("2024-03-13T09:15:40", erin, "iam:DeleteUser", {"params": {"userName": "backup-admin"}}),
        (
            "2024-03-13T09:20:12",
            erin,
            "ec2:CreateFlowLogs",
            {
                "params": {
                    "CreateFlowLogsRequest": {
                        "ResourceId": {"content": VPC_ID, "tag": 1},
                        "ResourceType": "VPC",
                        "TrafficType": "ALL",
                        "LogDestinationType": "s3",
                        "LogDestination": f"arn:aws:s3:::{FLOW_BUCKET}",
                    }
                },
                "response": {
                    "CreateFlowLogsResponse": {
                        "xmlns": "http://ec2.amazonaws.com/doc/2016-11-15/",
                        "requestId": "",
                        "flowLogIdSet": {"item": NEW_FLOW_LOG_ID},
                        "unsuccessful": "",
                    }
                },
            },
        ),
        (
            "2024-03-13T09:25:47",
            erin,
            "iam:UpdateAssumeRolePolicy",
            {
                "params": {
                    "roleName": "OrganizationAccountAccessRole",
                    "policyDocument": '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":'
                    '"arn:aws:iam::999999999999:root"},"Action":"sts:AssumeRole"}]}',
                }
            },
        ),
        (
            "2024-03-13T09:41:09",
            erin_dev,
            "iam:UpdateAssumeRolePolicy",
            {
                "params": {
                    "roleName": "CrossAccountDeployRole",
                    "policyDocument": '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":{"AWS":"*"},'
                    '"Action":"sts:AssumeRole"}]}',
                }
            },
        ),
        (
            "2024-03-13T09:43:30",
            erin_dev,
            "secretsmanager:RotateSecret",
            {"params": {"secretId": "dev/rds/master"}},
        ),
        (
            "2024-03-13T10:40:31",
            erin,
            "iam:CreateAccessKey",
            {
                "params": {"userName": "ci-deploy"},
                "response": {
                    "accessKey": {
                        "userName": "ci-deploy",
                        "accessKeyId": CI_KEY_ROTATED,
                        "status": "Active",
                        "createDate": iam_date(CI_KEY_ROTATED_AT),
                    }
                },
            },
        ),
        (
            "2024-03-13T10:41:02",
            erin,
            "iam:DeleteAccessKey",
            {"params": {"userName": "ci-deploy", "accessKeyId": CI_KEY}},
        ),
    ]
    for when, who, api, det in steps:
        region = "us-west-2" if api.startswith("secretsmanager") else "us-east-1"
        yield Step(None, c(when, who, api, ip, ua, region, console=True, **det))


def attack_and_response(rng: random.Random) -> list[Step]:
    """The full script in story order; stage 1 is the first use of the leaked key."""
    steps = [
        Step("initial_access", c("2024-03-12T22:47:13", CI, "sts:GetCallerIdentity", IP_STAGING, UA_BOTO))
    ]
    steps += discovery()
    steps += role_assumption(rng)
    steps += persistence()
    steps += exfiltration(rng)
    steps += defense_evasion()
    steps += response(rng)
    return steps
