"""CloudTrail's target: the resource a call acts on, for records that list no `resources` (most
management events), read from the request or response parameters that name it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from viewer.core.case_file import CaseFile
from viewer.core.ingest import import_paths

ACCOUNT = "123456789012"


def _record(
    i: int, source: str, name: str, request: dict | None, response: dict | None = None, **extra: object
) -> dict:
    return {
        "eventVersion": "1.09",
        "userIdentity": {"type": "IAMUser", "arn": f"arn:aws:iam::{ACCOUNT}:user/ops", "accountId": ACCOUNT},
        "eventTime": f"2024-05-03T08:{i:02d}:00Z",
        "eventSource": source,
        "eventName": name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": "198.51.100.9",
        "requestParameters": request,
        "responseElements": response,
        "eventID": f"00000000-0000-4000-8000-{i:012d}",
        "eventType": "AwsApiCall",
        "recipientAccountId": ACCOUNT,
        **extra,
    }


POLICY = "arn:aws:iam::aws:policy/AdministratorAccess"
#: (record, target_type, target_id)
CASES = [
    # A role's policy changes the role, a user's the user: not the policy they attach.
    (
        _record(1, "iam.amazonaws.com", "AttachRolePolicy", {"roleName": "deploy", "policyArn": POLICY}),
        "AWS::IAM::Role",
        "deploy",
    ),
    (
        _record(2, "iam.amazonaws.com", "AttachUserPolicy", {"userName": "mallory", "policyArn": POLICY}),
        "AWS::IAM::User",
        "mallory",
    ),
    (
        _record(3, "iam.amazonaws.com", "CreatePolicyVersion", {"policyArn": POLICY, "setAsDefault": True}),
        "AWS::IAM::ManagedPolicy",
        POLICY,
    ),
    # The new group's id is only in the response.
    (
        _record(
            4,
            "ec2.amazonaws.com",
            "CreateSecurityGroup",
            {"groupName": "open", "groupDescription": "x"},
            {"_return": True, "groupId": "sg-0123456789abcdef0"},
        ),
        "AWS::EC2::SecurityGroup",
        "sg-0123456789abcdef0",
    ),
    (
        _record(
            5,
            "ec2.amazonaws.com",
            "RunInstances",
            {"instanceType": "t3.micro"},
            {"instancesSet": {"items": [{"instanceId": "i-0aaaabbbbccccdddd"}]}},
        ),
        "AWS::EC2::Instance",
        "i-0aaaabbbbccccdddd",
    ),
    (
        _record(
            6, "lambda.amazonaws.com", "UpdateFunctionCode20150331v2", {"functionName": "billing-export"}
        ),
        "AWS::Lambda::Function",
        "billing-export",
    ),
    (
        _record(7, "secretsmanager.amazonaws.com", "GetSecretValue", {"secretId": "prod/db"}),
        "AWS::SecretsManager::Secret",
        "prod/db",
    ),
    # `name` is a trail to CloudTrail, a parameter to SSM.
    (
        _record(8, "cloudtrail.amazonaws.com", "StopLogging", {"name": "org-trail"}),
        "AWS::CloudTrail::Trail",
        "org-trail",
    ),
    (
        _record(9, "ssm.amazonaws.com", "GetParameter", {"name": "/prod/api-key", "withDecryption": True}),
        "AWS::SSM::Parameter",
        "/prod/api-key",
    ),
    (
        _record(10, "logs.amazonaws.com", "DeleteLogGroup", {"logGroupName": "/aws/lambda/billing"}),
        "AWS::Logs::LogGroup",
        "/aws/lambda/billing",
    ),
    # A listed resource wins over the request.
    (
        _record(
            11,
            "kms.amazonaws.com",
            "ScheduleKeyDeletion",
            {"keyId": "alias/backup"},
            None,
            resources=[{"ARN": f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd", "type": "AWS::KMS::Key"}],
        ),
        "AWS::KMS::Key",
        f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd",
    ),
    # Nothing names a resource: no target, and no type without one.
    (_record(12, "sts.amazonaws.com", "GetCallerIdentity", None), None, None),
]


@pytest.fixture(scope="module")
def targets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str | None, str | None]]:
    folder = tmp_path_factory.mktemp("cloudtrail_targets")
    evidence = folder / "trail.json"
    evidence.write_text(json.dumps({"Records": [c[0] for c in CASES]}))
    case = CaseFile.create(folder / "targets.caseline")
    report = import_paths(case, [Path(evidence)])
    assert report.total("kept") == len(CASES)
    rows = case.cursor().execute("SELECT event_uid, target_type, target_id FROM events").fetchall()
    return {uid: (kind, target) for uid, kind, target in rows}


@pytest.mark.parametrize(("record", "kind", "target"), CASES, ids=[c[0]["eventName"] for c in CASES])
def test_the_target_is_the_resource_acted_on(
    targets: dict[str, tuple[str | None, str | None]], record: dict, kind: str | None, target: str | None
) -> None:
    assert targets[record["eventID"]] == (kind, target)
