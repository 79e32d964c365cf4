"""Normal activity for the AWS incident sample case: the haystack around the attack.

Students only learn to separate an intrusion from normal work if normal work looks
real: engineers in working-hours bursts through SSO, CI pipelines, Lambda and EC2
roles around the clock, AWS services acting on their own behalf, and the odd
throttle or AccessDenied that means nothing. Everything is drawn from one seeded RNG
in a fixed order so the output is reproducible byte for byte.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aws_incident_model import (
    ARTIFACT_BUCKET,
    DEV,
    PROD,
    REGIONS,
    SECURITY,
    TRAILS,
    Call,
    Principal,
    assume_role_response,
    rand_key,
    rand_uuid,
    role_resource,
    s3_extra,
    s3_object_resources,
    stable_hex,
    stable_id,
)

Details = dict[str, Any]

UA_MAC_CLI = "aws-cli/2.15.17 Python/3.11.6 Darwin/23.3.0 exe/x86_64 prompt/off command/{cmd}"
UA_LINUX_CLI = (
    "aws-cli/2.15.10 Python/3.11.6 Linux/6.5.0-21-generic exe/x86_64.ubuntu.22 prompt/off command/{cmd}"
)
UA_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/122.0.0.0 Safari/537.36"
)
UA_SAFARI = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.3.1 Safari/605.1.15"
)
UA_CI = "aws-cli/2.15.10 Python/3.11.6 Linux/5.15.0-1053-aws exe/x86_64.ubuntu.22 prompt/off command/{cmd}"
UA_LAMBDA = (
    "Boto3/1.34.42 md/Botocore#1.34.42 ua/2.0 os/linux#5.10.209-220.812.amzn2.x86_64 "
    "md/arch#x86_64 lang/python#3.12.2 md/pyimpl#CPython exec-env/AWS_Lambda_python3.12 "
    "cfg/retry-mode#legacy Botocore/1.34.42"
)
UA_SSM = "aws-sdk-go/1.50.10 (go1.21.6; linux; amd64) amazon-ssm-agent/3.3.40.0"
UA_GHA = "aws-sdk-nodejs/2.1560.0 linux/v20.11.1 configure-aws-credentials-for-github-actions promise"
UA_REPORT = (
    "aws-cli/2.13.25 Python/3.11.5 Linux/4.18.0-513.el8.x86_64 exe/x86_64.rhel.8 prompt/off command/{cmd}"
)

OFFICE_IPS = [f"198.51.100.{n}" for n in (10, 11, 12, 13, 14)]
VPN_IPS = [f"198.51.100.{n}" for n in range(60, 71)]
CI_IPS = ["198.51.100.21", "198.51.100.22", "198.51.100.23"]
VPCE = {PROD: "vpce-0a1b2c3d4e5f60718", DEV: "vpce-0f9e8d7c6b5a40312"}
INSTANCES = {
    (PROD, "us-east-1"): ["i-0" + stable_hex("prod-app-1", 16), "i-0" + stable_hex("prod-app-2", 16)],
    (PROD, "eu-west-1"): ["i-0" + stable_hex("prod-eu-app-1", 16)],
    (DEV, "us-west-2"): ["i-0" + stable_hex("dev-build-1", 16)],
}
SSO_DOMAIN = "acme.example"
CI_KEY = stable_id("AKIA", "key:ci-deploy:2023-09", 20)
CI_KEY_ROTATED = stable_id("AKIA", "key:ci-deploy:2024-03-13", 20)
REPORT_KEY = stable_id("AKIA", "key:svc-reporting", 20)


def kebab(name: str) -> str:
    """``DescribeInstances`` -> ``describe-instances``, as the CLI puts it in its UA."""
    return re.sub(r"(?<!^)(?=[A-Z])", "-", re.sub(r"\d{8}(v2)?$", "", name)).lower()


def cli_ua(template: str, api: str) -> str:
    service, name = api.split(":", 1)
    return template.format(cmd=f"{service}.{kebab(name)}")


def sso_role(account: str, permission_set: str) -> str:
    return f"AWSReservedSSO_{permission_set}_{stable_hex(account + permission_set)}"


def sso_session(rng: random.Random, account: str, pset: str, user: str, when: datetime) -> Principal:
    """An Identity Center session: the role lives under the aws-reserved path."""
    return Principal(
        "AssumedRole",
        account,
        sso_role(account, pset),
        f"{user}@{SSO_DOMAIN}",
        rand_key(rng),
        iso_s(when),
        "/aws-reserved/sso.amazonaws.com/",
    )


def iso_s(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def work_time(rng: random.Random, day: datetime) -> datetime:
    """Start of a human work session, weighted towards office hours (UTC, London office)."""
    hour = rng.choices(range(7, 20), weights=[1, 4, 8, 9, 9, 6, 8, 9, 8, 6, 3, 2, 1])[0]
    return day + timedelta(hours=hour, seconds=rng.randrange(3600))


def _bucket_params(bucket: str, region: str, **more: Any) -> Details:
    return {"bucketName": bucket, "Host": f"{bucket}.s3.{region}.amazonaws.com", **more}


def _object_key(rng: random.Random) -> str:
    return f"orders/2024/03/{rng.randint(1, 15):02d}/order-{rng.randint(100000, 999999)}.json"


# Per-API request details for the read-mostly calls people and services make. Each
# entry receives (rng, account, region) and returns Call keyword arguments.
CATALOG: dict[str, Callable[[random.Random, str, str], Details]] = {
    "ec2:DescribeInstances": lambda r, a, g: {"params": {"instancesSet": {}, "filterSet": {}}},
    "ec2:DescribeSecurityGroups": lambda r, a, g: {
        "params": {"securityGroupSet": {}, "securityGroupIdSet": {}, "filterSet": {}}
    },
    "ec2:DescribeVpcs": lambda r, a, g: {"params": {"vpcSet": {}, "filterSet": {}}},
    "ec2:DescribeVolumes": lambda r, a, g: {"params": {"volumeSet": {}, "filterSet": {}}},
    "ec2:StopInstances": lambda r, a, g: {
        "params": {
            "instancesSet": {
                "items": [{"instanceId": r.choice(INSTANCES.get((a, g), ["i-0" + stable_hex(a + g)]))}]
            },
            "force": False,
        }
    },
    "s3:ListBuckets": lambda r, a, g: {"params": {"Host": "s3.amazonaws.com"}},
    "s3:GetBucketLocation": lambda r, a, g: {"params": _bucket_params(ARTIFACT_BUCKET, g, location="")},
    "s3:GetBucketAcl": lambda r, a, g: {"params": _bucket_params(ARTIFACT_BUCKET, g, acl="")},
    "logs:DescribeLogGroups": lambda r, a, g: {"params": {"limit": 50}},
    "logs:DescribeLogStreams": lambda r, a, g: {
        "params": {
            "logGroupName": r.choice(["/aws/lambda/order-processor", "/ecs/web", "/aws/lambda/thumbnailer"]),
            "orderBy": "LastEventTime",
            "descending": True,
        }
    },
    "logs:StartQuery": lambda r, a, g: {
        "params": {
            "logGroupName": "/aws/lambda/order-processor",
            "queryString": "fields @timestamp, @message "
            "| filter @message like /ERROR/ | sort @timestamp desc | limit 50",
        },
        "response": {"queryId": rand_uuid(r)},
    },
    "lambda:ListFunctions20150331": lambda r, a, g: {"params": None},
    "lambda:GetFunction20150331v2": lambda r, a, g: {"params": {"functionName": "order-processor"}},
    "cloudformation:DescribeStacks": lambda r, a, g: {"params": {"stackName": "orders-service"}},
    "sts:GetCallerIdentity": lambda r, a, g: {},
    "ssm:GetParameter": lambda r, a, g: {
        "params": {"name": "/orders/config/feature-flags", "withDecryption": False}
    },
    "iam:ListRoles": lambda r, a, g: {"params": {"maxItems": 100}},
    "iam:GetRole": lambda r, a, g: {"params": {"roleName": "order-processor-role"}},
    "iam:ListUsers": lambda r, a, g: {"params": None},
    "iam:GenerateCredentialReport": lambda r, a, g: {
        "response": {
            "state": "STARTED",
            "description": "No report exists. Starting a new report generation task",
        }
    },
    "iam:GetCredentialReport": lambda r, a, g: {},
    "cloudtrail:DescribeTrails": lambda r, a, g: {"params": {"includeShadowTrails": True}},
    "cloudtrail:GetTrailStatus": lambda r, a, g: {
        "params": {"name": f"arn:aws:cloudtrail:us-east-1:{a}:trail/{TRAILS[a]}"}
    },
    "cloudtrail:LookupEvents": lambda r, a, g: {
        "params": {
            "maxResults": 50,
            "lookupAttributes": [
                {"attributeKey": "EventName", "attributeValue": r.choice(["ConsoleLogin", "CreateUser"])}
            ],
        }
    },
    "guardduty:ListDetectors": lambda r, a, g: {},
    "guardduty:ListFindings": lambda r, a, g: {
        "params": {"detectorId": stable_hex("gd" + a + g, 32), "maxResults": 50}
    },
    "athena:StartQueryExecution": lambda r, a, g: {
        "params": {
            "queryString": "SELECT eventname, count(*) FROM cloudtrail_logs WHERE eventtime > '2024-03-10' "
            "GROUP BY 1 ORDER BY 2 DESC LIMIT 20",
            "workGroup": "security",
        },
        "response": {"queryExecutionId": rand_uuid(r)},
    },
    "athena:GetQueryResults": lambda r, a, g: {"params": {"queryExecutionId": rand_uuid(r)}},
    "ecr:GetAuthorizationToken": lambda r, a, g: {"params": {"registryIds": []}},
    "ce:GetCostAndUsage": lambda r, a, g: {
        "params": {
            "timePeriod": {"start": "2024-03-01", "end": "2024-03-31"},
            "granularity": "DAILY",
            "metrics": ["UnblendedCost"],
        }
    },
    "dynamodb:DescribeTable": lambda r, a, g: {"params": {"tableName": "orders-dev"}},
    "kms:ListAliases": lambda r, a, g: {"params": None},
}


@dataclass(frozen=True)
class Persona:
    """A human with a permission set, a place they work from and habits."""

    user: str
    account: str
    pset: str
    console: bool
    apis: tuple[tuple[str, int], ...]
    sessions: tuple[int, int]
    calls: tuple[int, int]
    regions: tuple[int, int, int]  # weights for REGIONS
    ips: tuple[str, ...]


PERSONAS = (
    Persona(
        "alice.nguyen",
        PROD,
        "PowerUserAccess",
        False,
        (
            ("ec2:DescribeInstances", 6),
            ("logs:DescribeLogGroups", 3),
            ("logs:DescribeLogStreams", 4),
            ("logs:StartQuery", 3),
            ("lambda:GetFunction20150331v2", 2),
            ("cloudformation:DescribeStacks", 3),
            ("s3:ListBuckets", 2),
            ("sts:GetCallerIdentity", 1),
            ("ssm:GetParameter", 2),
        ),
        (1, 3),
        (10, 30),
        (8, 3, 0),
        tuple(VPN_IPS[:3]),
    ),
    Persona(
        "bob.martinez",
        PROD,
        "ReadOnlyAccess",
        True,
        (
            ("ec2:DescribeInstances", 6),
            ("ec2:DescribeVpcs", 2),
            ("logs:DescribeLogGroups", 3),
            ("s3:ListBuckets", 3),
            ("s3:GetBucketLocation", 2),
            ("iam:ListRoles", 1),
            ("ec2:StopInstances", 1),
        ),
        (1, 3),
        (8, 22),
        (6, 4, 0),
        tuple(OFFICE_IPS[:2]),
    ),
    Persona(
        "erin.kowalski",
        SECURITY,
        "AdministratorAccess",
        True,
        (
            ("guardduty:ListFindings", 4),
            ("athena:StartQueryExecution", 3),
            ("athena:GetQueryResults", 4),
            ("cloudtrail:DescribeTrails", 2),
            ("cloudtrail:GetTrailStatus", 2),
            ("s3:ListBuckets", 1),
        ),
        (1, 3),
        (8, 20),
        (9, 1, 1),
        tuple(OFFICE_IPS[2:4]),
    ),
    Persona(
        "dan.okafor",
        SECURITY,
        "SecurityAudit",
        True,
        (
            ("cloudtrail:LookupEvents", 5),
            ("guardduty:ListDetectors", 1),
            ("guardduty:ListFindings", 3),
            ("iam:GenerateCredentialReport", 1),
            ("iam:GetCredentialReport", 1),
            ("kms:ListAliases", 1),
        ),
        (1, 2),
        (6, 16),
        (9, 1, 0),
        tuple(OFFICE_IPS[3:5]),
    ),
    Persona(
        "frank.li",
        DEV,
        "DeveloperAccess",
        False,
        (
            ("ec2:DescribeInstances", 5),
            ("lambda:ListFunctions20150331", 3),
            ("logs:DescribeLogStreams", 5),
            ("logs:DescribeLogGroups", 2),
            ("dynamodb:DescribeTable", 3),
            ("ecr:GetAuthorizationToken", 2),
            ("sts:GetCallerIdentity", 2),
            ("cloudformation:DescribeStacks", 2),
        ),
        (2, 3),
        (10, 30),
        (3, 0, 7),
        tuple(VPN_IPS[4:8]),
    ),
    Persona(
        "alice.nguyen",
        DEV,
        "DeveloperAccess",
        False,
        (
            ("ec2:DescribeInstances", 3),
            ("lambda:ListFunctions20150331", 2),
            ("logs:DescribeLogStreams", 3),
            ("dynamodb:DescribeTable", 2),
        ),
        (0, 1),
        (4, 12),
        (2, 0, 8),
        tuple(VPN_IPS[:3]),
    ),
)


def _error_for(rng: random.Random, api: str, who: Principal) -> tuple[str, str] | None:
    """Background errors: real trails are never clean, and students should learn that."""
    if api == "ec2:StopInstances":
        return (
            "Client.UnauthorizedOperation",
            "You are not authorized to perform this operation. "
            "User: " + who.arn + " is not authorized to perform: ec2:StopInstances",
        )
    if api.startswith("logs:") and rng.random() < 0.04:
        return ("ThrottlingException", "Rate exceeded")
    return None


def persona_call(rng: random.Random, p: Persona, who: Principal, api: str, when: datetime, ip: str) -> Call:
    region = rng.choices(REGIONS, weights=p.regions)[0]
    if api.startswith(("iam:", "ce:")) or api in ("s3:ListBuckets",):
        region = "us-east-1"
    ua = (UA_CHROME if p.user != "bob.martinez" else UA_SAFARI) if p.console else cli_ua(UA_MAC_CLI, api)
    det = CATALOG[api](rng, p.account, region)
    return Call(when, who, api, region, ip, ua, error=_error_for(rng, api, who), console=p.console, **det)


def console_login(who: Principal, when: datetime, ip: str, ua: str, mfa: str) -> Call:
    """A successful sign-in; SSO sessions report MFAUsed No (MFA happened at the IdP)."""
    extra = {"MobileVersion": "No", "MFAUsed": mfa}
    if who.kind == "IAMUser":
        extra = {
            "LoginTo": "https://console.aws.amazon.com/console/home?state=hashArgs%23&isauthcode=true",
            **extra,
        }
    return Call(
        when,
        who,
        "signin:ConsoleLogin",
        "us-east-1",
        ip,
        ua,
        response={"ConsoleLogin": "Success"},
        extra=extra,
        event_type="AwsConsoleSignIn",
    )


def persona_day(rng: random.Random, p: Persona, day: datetime) -> Iterator[Call]:
    for _ in range(rng.randint(*p.sessions)):
        start = work_time(rng, day)
        ip = rng.choice(p.ips)
        who = sso_session(rng, p.account, p.pset, p.user, start)
        if p.console:
            yield console_login(who, start, ip, UA_SAFARI if p.user == "bob.martinez" else UA_CHROME, "No")
        t = start
        names = [api for api, _ in p.apis]
        weights = [w for _, w in p.apis]
        for _ in range(rng.randint(*p.calls)):
            t += timedelta(seconds=2 + int(rng.expovariate(1 / 50)))
            yield persona_call(rng, p, who, rng.choices(names, weights)[0], t, ip)


def mwilson_day(rng: random.Random, day: datetime) -> Iterator[Call]:
    """A legacy IAM console user in dev with MFA, who sometimes mistypes the password."""
    start = work_time(rng, day)
    who = Principal("IAMUser", DEV, "mwilson")
    if rng.random() < 0.4:
        yield Call(
            start - timedelta(seconds=40),
            who,
            "signin:ConsoleLogin",
            "us-east-1",
            OFFICE_IPS[0],
            UA_CHROME,
            response={"ConsoleLogin": "Failure"},
            error=("", "Failed authentication"),
            extra={
                "LoginTo": "https://console.aws.amazon.com/console/home",
                "MobileVersion": "No",
                "MFAUsed": "Yes",
            },
            event_type="AwsConsoleSignIn",
        )
    yield console_login(who, start, OFFICE_IPS[0], UA_CHROME, "Yes")
    session = Principal("IAMUser", DEV, "mwilson", access_key=rand_key(rng), created=iso_s(start), mfa=True)
    t = start
    for api in rng.choices(
        ["ec2:DescribeInstances", "ce:GetCostAndUsage", "s3:ListBuckets", "iam:ListUsers"],
        k=rng.randint(3, 9),
    ):
        t += timedelta(seconds=5 + int(rng.expovariate(1 / 40)))
        yield Call(
            t,
            session,
            api,
            "us-east-1",
            OFFICE_IPS[0],
            UA_CHROME,
            console=True,
            **CATALOG[api](rng, DEV, "us-east-1"),
        )


def ci_key_at(when: datetime, deactivated: datetime, rotated: datetime) -> str | None:
    """The ci-deploy key for a run starting at ``when``; None while CI is broken after containment.

    A run lasts under ten minutes, so none may start just before the key is disabled.
    """
    if when + timedelta(minutes=10) < deactivated:
        return CI_KEY
    return CI_KEY_ROTATED if when >= rotated else None


def ci_pipeline(rng: random.Random, when: datetime, key: str) -> Iterator[Call]:
    """One deploy of the orders service by the ci-deploy IAM user (the leaked key's owner)."""
    who = Principal("IAMUser", PROD, "ci-deploy", access_key=key)
    ip, t = rng.choice(CI_IPS), when
    change_set = f"orders-{when:%Y%m%d%H%M}"
    artifact = f"orders-service/{rand_uuid(rng)[:8]}/lambda.zip"
    steps: list[tuple[str, Details]] = [
        ("sts:GetCallerIdentity", {}),
        ("ecr:GetAuthorizationToken", CATALOG["ecr:GetAuthorizationToken"](rng, PROD, "us-east-1")),
        (
            "s3:PutObject",
            {
                "params": _bucket_params(ARTIFACT_BUCKET, "us-east-1", key=artifact),
                "response": {"x-amz-server-side-encryption": "AES256"},
                "resources": s3_object_resources(ARTIFACT_BUCKET, artifact, PROD),
                "extra": s3_extra(rng, 0, rng.randint(4_000_000, 9_000_000)),
            },
        ),
        ("cloudformation:DescribeStacks", {"params": {"stackName": "orders-service"}}),
        (
            "cloudformation:CreateChangeSet",
            {
                "params": {
                    "stackName": "orders-service",
                    "changeSetName": change_set,
                    "changeSetType": "UPDATE",
                },
                "response": {
                    "id": f"arn:aws:cloudformation:us-east-1:{PROD}:changeSet/{change_set}/{rand_uuid(rng)}"
                },
            },
        ),
        (
            "cloudformation:DescribeChangeSet",
            {"params": {"changeSetName": change_set, "stackName": "orders-service"}},
        ),
        (
            "cloudformation:ExecuteChangeSet",
            {"params": {"changeSetName": change_set, "stackName": "orders-service"}},
        ),
        ("cloudformation:DescribeStacks", {"params": {"stackName": "orders-service"}}),
        (
            "lambda:UpdateFunctionCode20150331v2",
            {
                "params": {
                    "functionName": "order-processor",
                    "s3Bucket": ARTIFACT_BUCKET,
                    "s3Key": artifact,
                    "publish": True,
                }
            },
        ),
    ]
    for api, det in steps:
        t += timedelta(seconds=3 + rng.randrange(40))
        yield Call(t, who, api, "us-east-1", ip, cli_ua(UA_CI, api), **det)


def github_pipeline(rng: random.Random, when: datetime) -> Iterator[Call]:
    """Dev deploys: an OIDC web-identity AssumeRole, then a few calls as the role."""
    provider = f"arn:aws:iam::{DEV}:oidc-provider/token.actions.githubusercontent.com"
    subject = "repo:acme/orders-service:ref:refs/heads/main"
    web = Principal("WebIdentityUser", DEV, provider, subject)
    role = Principal("AssumedRole", DEV, "github-actions-dev", "GitHubActions", rand_key(rng), iso_s(when))
    ip = "198.51.100.25"
    yield Call(
        when,
        web,
        "sts:AssumeRoleWithWebIdentity",
        "us-east-1",
        ip,
        UA_GHA,
        params={"roleArn": role.role_arn, "roleSessionName": "GitHubActions", "durationSeconds": 3600},
        response={
            **assume_role_response(role, when),
            "subjectFromWebIdentityToken": subject,
            "provider": provider,
            "audience": "sts.amazonaws.com",
        },
        resources=role_resource(role),
    )
    t = when
    for api in (
        "sts:GetCallerIdentity",
        "ecr:GetAuthorizationToken",
        "cloudformation:DescribeStacks",
        "lambda:GetFunction20150331v2",
        "cloudformation:DescribeStacks",
    ):
        t += timedelta(seconds=4 + rng.randrange(30))
        yield Call(
            t,
            role,
            api,
            "us-west-2" if api.startswith(("cloudformation", "lambda")) else "us-east-1",
            ip,
            UA_GHA.replace(" configure-aws-credentials-for-github-actions", ""),
            **CATALOG[api](rng, DEV, "us-west-2"),
        )
