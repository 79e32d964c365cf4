"""Machine activity for the AWS incident sample case, and the whole background mix.

Roles and AWS services act around the clock, which is what makes a 23:00 UTC burst
by a *human-looking* client stand out, and what keeps every account/region stream
busy enough that digest files and delivery windows look like a live trail. Several
of these calls come from service host names (``config.amazonaws.com``,
``cloudtrail.amazonaws.com``) rather than IP addresses, as in real records.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta

from aws_incident_background import (
    CATALOG,
    INSTANCES,
    PERSONAS,
    REPORT_KEY,
    UA_LAMBDA,
    UA_REPORT,
    UA_SSM,
    VPCE,
    _bucket_params,
    _object_key,
    ci_key_at,
    ci_pipeline,
    cli_ua,
    github_pipeline,
    iso_s,
    mwilson_day,
    persona_day,
    work_time,
)
from aws_incident_model import (
    DATA_BUCKET,
    DEV,
    LOG_BUCKET,
    PROD,
    REGIONS,
    SECURITY,
    TRAILS,
    Call,
    Principal,
    assume_role_calls,
    rand_key,
    s3_extra,
    s3_object_resources,
    stable_hex,
)
from aws_incident_network import INSTANCE_IPS

UA_SCANNER = UA_LAMBDA.replace("python3.12", "python3.11")


def lambda_hour(rng: random.Random, hour: datetime) -> Iterator[Call]:
    """order-processor reads and writes customer objects through the S3 VPC endpoint."""
    busy = 8 <= hour.hour < 20
    n = rng.randint(10, 22) if busy else rng.randint(1, 6)
    if not n:
        return
    who = Principal(
        "AssumedRole",
        PROD,
        "order-processor-role",
        "order-processor",
        rand_key(rng),
        iso_s(hour - timedelta(seconds=rng.randrange(60, 600))),
    )
    for _ in range(n):
        t = hour + timedelta(seconds=rng.randrange(3600))
        key = _object_key(rng)
        ip = f"10.20.{rng.choice((11, 12, 13))}.{rng.randint(10, 250)}"
        api = "s3:GetObject" if rng.random() < 0.6 else "s3:PutObject"
        size = rng.randint(800, 24_000)
        out_b, in_b = (size, 0) if api == "s3:GetObject" else (0, size)
        resp = None if api == "s3:GetObject" else {"x-amz-server-side-encryption": "AES256"}
        yield Call(
            t,
            who,
            api,
            "us-east-1",
            ip,
            UA_LAMBDA,
            params=_bucket_params(DATA_BUCKET, "us-east-1", key=key),
            response=resp,
            resources=s3_object_resources(DATA_BUCKET, key, PROD),
            extra=s3_extra(rng, out_b, in_b),
            vpce=VPCE[PROD],
        )
    if rng.random() < 0.3:  # a cold start fetches the database secret
        t = hour + timedelta(seconds=rng.randrange(3600))
        yield Call(
            t,
            who,
            "secretsmanager:GetSecretValue",
            "us-east-1",
            f"10.20.11.{rng.randint(10, 250)}",
            UA_LAMBDA,
            params={"secretId": "prod/orders/db"},
            vpce=VPCE[PROD],
        )


def ssm_agents(rng: random.Random, day: datetime) -> Iterator[Call]:
    """SSM agents check in all day; each instance profile session lasts about six hours."""
    for (account, region), instances in INSTANCES.items():
        for inst in instances:
            t = day + timedelta(seconds=rng.randrange(5400))
            who, renew = None, t
            while t < day + timedelta(days=1):
                if who is None or t >= renew:
                    who = Principal(
                        "AssumedRole",
                        account,
                        "app-server-role" if account == PROD else "dev-build-role",
                        inst,
                        rand_key(rng),
                        iso_s(t - timedelta(minutes=3)),
                    )
                    renew = t + timedelta(hours=6)
                # The draws stay (the RNG order is the seed's contract); an instance has one address.
                drawn = f"10.{20 if account == PROD else 40}.{rng.randint(1, 30)}.{rng.randint(10, 250)}"
                ip = INSTANCE_IPS.get(inst, drawn)
                yield Call(
                    t,
                    who,
                    "ssm:UpdateInstanceInformation",
                    region,
                    ip,
                    UA_SSM,
                    params={
                        "instanceId": inst,
                        "agentVersion": "3.3.40.0",
                        "agentStatus": "Active",
                        "platformType": "Linux",
                        "platformName": "Amazon Linux",
                        "platformVersion": "2023",
                        "iPAddress": ip,
                    },
                    vpce=VPCE.get(account, ""),
                )
                t += timedelta(seconds=5400 + rng.randrange(-300, 300))


def config_sweep(rng: random.Random, account: str, region: str, when: datetime) -> Iterator[Call]:
    """AWS Config assumes its service-linked role, then describes resources."""
    svc = Principal("AWSService", account, "config.amazonaws.com")
    role = Principal(
        "AssumedRole",
        account,
        "AWSServiceRoleForConfig",
        "AWSConfig-Describe",
        rand_key(rng),
        iso_s(when),
        "/aws-service-role/config.amazonaws.com/",
    )
    host = "config.amazonaws.com"
    for call in assume_role_calls(rng, svc, role, when, host, host, 900):
        call.region = region
        yield call
    t = when
    for api in rng.sample(
        [
            "ec2:DescribeSecurityGroups",
            "ec2:DescribeVpcs",
            "ec2:DescribeVolumes",
            "logs:DescribeLogGroups",
            "ec2:DescribeInstances",
        ],
        k=rng.randint(1, 3),
    ):
        t += timedelta(seconds=1 + rng.randrange(20))
        err = (
            ("ThrottlingException", "Rate exceeded")
            if api.startswith("logs") and rng.random() < 0.15
            else None
        )
        yield Call(t, role, api, region, host, host, error=err, **CATALOG[api](rng, account, region))


def cloudtrail_kms(rng: random.Random, account: str, when: datetime) -> Call:
    """The trail's SSE-KMS key is used by CloudTrail itself to encrypt each log file."""
    svc = Principal("AWSService", account, "cloudtrail.amazonaws.com")
    trail_arn = f"arn:aws:cloudtrail:us-east-1:{account}:trail/{TRAILS[account]}"
    key_arn = (
        f"arn:aws:kms:us-east-1:{account}:key/{stable_hex('trail-key' + account, 8)}-"
        f"{stable_hex('k2' + account, 4)}-4{stable_hex('k3' + account, 3)}-8{stable_hex('k4' + account, 3)}-"
        f"{stable_hex('k5' + account, 12)}"
    )
    return Call(
        when,
        svc,
        "kms:GenerateDataKey",
        "us-east-1",
        "cloudtrail.amazonaws.com",
        "cloudtrail.amazonaws.com",
        params={
            "keyId": key_arn,
            "keySpec": "AES_256",
            "encryptionContext": {
                "aws:cloudtrail:arn": trail_arn,
                "aws:s3:arn": f"arn:aws:s3:::{LOG_BUCKET}/AWSLogs/{account}/",
            },
        },
        resources=[{"accountId": account, "type": "AWS::KMS::Key", "ARN": key_arn}],
    )


def security_scan(rng: random.Random, when: datetime) -> Iterator[Call]:
    """The security team's nightly scanner reads prod and dev through audit roles.

    It calls GetAccountAuthorizationDetails too: students must not flag every caller
    of that API, only the unexpected ones.
    """
    scanner = Principal(
        "AssumedRole",
        SECURITY,
        "security-scanner-role",
        "security-scanner",
        rand_key(rng),
        iso_s(when - timedelta(minutes=2)),
    )
    ip = f"10.30.4.{rng.randint(10, 250)}"
    t = when
    for target in (PROD, DEV):
        audit = Principal(
            "AssumedRole", target, "SecurityAuditReadOnly", "security-scanner", rand_key(rng), iso_s(t)
        )
        yield from assume_role_calls(rng, scanner, audit, t, ip, UA_SCANNER)
        for api in (
            "iam:GetAccountAuthorizationDetails",
            "s3:ListBuckets",
            "cloudtrail:DescribeTrails",
            "cloudtrail:GetTrailStatus",
            "ec2:DescribeSecurityGroups",
        ):
            for region in REGIONS if api.startswith("ec2") else ("us-east-1",):
                t += timedelta(seconds=1 + rng.randrange(6))
                det = (
                    {"params": {"filter": ["User", "Role", "Group", "LocalManagedPolicy"]}}
                    if api.startswith("iam")
                    else CATALOG[api](rng, target, region)
                )
                yield Call(t, audit, api, region, ip, UA_SCANNER, **det)


def reporting_job(rng: random.Random, day: datetime) -> Iterator[Call]:
    """A nightly report exports aggregates from the customer bucket with a static key."""
    who = Principal("IAMUser", PROD, "svc-reporting", access_key=REPORT_KEY)
    t = day + timedelta(hours=5, minutes=30, seconds=rng.randrange(600))
    ip = "198.51.100.40"
    yield Call(t, who, "sts:GetCallerIdentity", "us-east-1", ip, cli_ua(UA_REPORT, "sts:GetCallerIdentity"))
    t += timedelta(seconds=3)
    yield Call(
        t,
        who,
        "s3:ListObjects",
        "us-east-1",
        ip,
        cli_ua(UA_REPORT, "s3:Ls"),
        params=_bucket_params(
            DATA_BUCKET, "us-east-1", prefix="reports/daily/", delimiter="/", **{"list-type": "2"}
        ),
        resources=[{"accountId": PROD, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{DATA_BUCKET}"}],
        extra=s3_extra(rng),
    )
    for n in range(rng.randint(2, 4)):
        t += timedelta(seconds=2 + rng.randrange(10))
        key = f"reports/daily/{day:%Y-%m-%d}/part-{n:04d}.csv.gz"
        yield Call(
            t,
            who,
            "s3:GetObject",
            "us-east-1",
            ip,
            cli_ua(UA_REPORT, "s3:Cp"),
            params=_bucket_params(DATA_BUCKET, "us-east-1", key=key),
            resources=s3_object_resources(DATA_BUCKET, key, PROD),
            extra=s3_extra(rng, rng.randint(200_000, 900_000)),
        )


def machine_day(rng: random.Random, day: datetime) -> Iterator[Call]:
    for h in range(24):
        yield from lambda_hour(rng, day + timedelta(hours=h))
    yield from ssm_agents(rng, day)
    for account in (PROD, SECURITY, DEV):
        for region in REGIONS:
            for slot in range(0, 24, 3):
                yield from config_sweep(
                    rng, account, region, day + timedelta(hours=slot, seconds=rng.randrange(10800))
                )
        for slot in range(0, 24, 4):
            yield cloudtrail_kms(rng, account, day + timedelta(hours=slot, seconds=rng.randrange(14400)))
    yield from security_scan(rng, day + timedelta(hours=4, minutes=10, seconds=rng.randrange(300)))
    yield from reporting_job(rng, day)


def human_day(rng: random.Random, day: datetime, deactivated: datetime, rotated: datetime) -> Iterator[Call]:
    for persona in PERSONAS:
        yield from persona_day(rng, persona, day)
    yield from mwilson_day(rng, day)
    for _ in range(rng.randint(4, 7)):
        start = work_time(rng, day)
        key = ci_key_at(start, deactivated, rotated)
        if key:
            yield from ci_pipeline(rng, start, key)
    for _ in range(rng.randint(3, 6)):
        yield from github_pipeline(rng, work_time(rng, day))


def background_calls(
    rng: random.Random, days: list[datetime], deactivated: datetime, rotated: datetime
) -> list[Call]:
    """All normal activity, in a fixed generation order (the RNG order is the seed's contract)."""
    calls: list[Call] = []
    for day in days:
        calls.extend(machine_day(rng, day))
        calls.extend(human_day(rng, day, deactivated, rotated))
    return calls
