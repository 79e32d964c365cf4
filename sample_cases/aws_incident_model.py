"""Who acts in the AWS incident sample case, and how one CloudTrail record is shaped.

Split from the story (``aws_incident_story``) and the S3 layout
(``generate_aws_incident``) so that each file can be read in one sitting. Only the
standard library is used so the generator runs anywhere Python 3.11 runs.

Identifiers that the README and ``truth.json`` quote (key ids, principal ids, role
names) are derived from names with SHA-256, never drawn from the RNG: editing the
background noise must not silently change the ground truth students are given.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

PROD, SECURITY, DEV = "111111111111", "222222222222", "333333333333"
ACCOUNT_NAMES = {PROD: "acme-prod", SECURITY: "acme-security", DEV: "acme-dev"}
REGIONS = ("us-east-1", "eu-west-1", "us-west-2")
HOME_REGION = "us-east-1"
TRAILS = {PROD: "acme-prod-mgmt", SECURITY: "acme-security-mgmt", DEV: "acme-dev-mgmt"}
LOG_BUCKET = "acme-cloudtrail-logs-222222222222"
DATA_BUCKET = "acme-prod-customer-data"
ARTIFACT_BUCKET = "acme-prod-build-artifacts"
UTC = UTC

_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

# Services whose calls carry the newer record version; the rest stay on 1.08, as in
# real trails where versions differ by service for months after a format bump.
_V109_SOURCES = {"sts", "iam", "signin", "s3", "cloudtrail"}
_READ_PREFIXES = ("Get", "List", "Describe", "Lookup", "Head", "BatchGet", "Filter", "Search")
_READ_EXTRA = {"AssumeRole", "AssumeRoleWithWebIdentity", "Decrypt", "GenerateDataKey"}
_DATA_EVENTS = {"GetObject", "PutObject", "ListObjects", "HeadObject", "DeleteObject"}
_HOST_OVERRIDES = {"signin": "signin.amazonaws.com", "lambda": "lambda.amazonaws.com"}


def stable_id(prefix: str, seed: str, length: int = 21) -> str:
    """An AWS-looking id (AIDA..., AROA..., AKIA...) that depends only on ``seed``."""
    digest = hashlib.sha256(seed.encode()).digest()
    body = "".join(_B32[b % 32] for b in digest)
    return prefix + body[: length - len(prefix)]


def stable_hex(seed: str, length: int = 16) -> str:
    """Hex suffixes (SSO role names, instance ids) that depend only on ``seed``."""
    return hashlib.sha256(seed.encode()).hexdigest()[:length]


def rand_uuid(rng: random.Random) -> str:
    """A v4 UUID drawn from the seeded RNG, so reruns give byte-identical files."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def rand_alnum(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(_ALNUM) for _ in range(n))


def rand_key(rng: random.Random, prefix: str = "ASIA") -> str:
    return prefix + "".join(rng.choice(_B32) for _ in range(16))


def iso(dt: datetime) -> str:
    """CloudTrail's own timestamp format: second precision, ``Z`` suffix."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_offset(dt: datetime) -> str:
    """The explicit ``+00:00`` form used in truth.json, unambiguous for any parser."""
    return dt.astimezone(UTC).isoformat()


def ts(text: str) -> datetime:
    """Parse ``2024-03-12T22:47:13`` as UTC; the story is written in these literals."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@dataclass(frozen=True)
class Principal:
    """One acting identity as CloudTrail's ``userIdentity`` describes it.

    ``kind`` is the CloudTrail ``type``. For ``AssumedRole`` the role name is
    ``name`` and the role session name is ``session``; ``created`` is the session's
    creation time, which CloudTrail repeats in ``sessionContext.attributes``.
    """

    kind: str
    account: str
    name: str
    session: str = ""
    access_key: str = ""
    created: str = ""
    role_path: str = "/"
    mfa: bool = False
    source_identity: str = ""
    caller_id: str = ""  # AWSAccount view: the principalId seen from the other account

    @property
    def principal_id(self) -> str:
        if self.kind == "IAMUser":
            return stable_id("AIDA", f"user:{self.account}:{self.name}")
        if self.kind in ("AssumedRole", "Role"):
            return stable_id("AROA", f"role:{self.account}:{self.name}")
        return self.caller_id

    @property
    def role_arn(self) -> str:
        return f"arn:aws:iam::{self.account}:role{self.role_path}{self.name}"

    @property
    def arn(self) -> str:
        if self.kind == "IAMUser":
            return f"arn:aws:iam::{self.account}:user/{self.name}"
        if self.kind == "AssumedRole":
            return f"arn:aws:sts::{self.account}:assumed-role/{self.name}/{self.session}"
        return ""


def user_identity(p: Principal) -> dict[str, Any]:
    """Render ``userIdentity`` the way each principal type appears in real records."""
    if p.kind == "AWSService":
        return {"type": "AWSService", "invokedBy": p.name}
    if p.kind == "AWSAccount":
        return {"type": "AWSAccount", "principalId": p.caller_id, "accountId": p.account}
    if p.name == "HIDDEN_DUE_TO_SECURITY_REASONS":  # failed sign-in with an unknown user name
        return {
            "type": "IAMUser",
            "principalId": p.account,
            "accountId": p.account,
            "accessKeyId": "",
            "userName": p.name,
        }
    if p.kind == "IAMUser":
        ident: dict[str, Any] = {
            "type": "IAMUser",
            "principalId": p.principal_id,
            "arn": p.arn,
            "accountId": p.account,
            "accessKeyId": p.access_key,
            "userName": p.name,
        }
        if p.created:
            ident["sessionContext"] = {
                "attributes": {"creationDate": p.created, "mfaAuthenticated": str(p.mfa).lower()}
            }
        return ident
    if p.kind == "WebIdentityUser":
        return {
            "type": "WebIdentityUser",
            "principalId": f"{p.name}:sts.amazonaws.com:{p.session}",
            "userName": p.session,
            "identityProvider": p.name,
        }
    issuer = {
        "type": "Role",
        "principalId": p.principal_id,
        "arn": p.role_arn,
        "accountId": p.account,
        "userName": p.name,
    }
    ctx: dict[str, Any] = {
        "sessionIssuer": issuer,
        "webIdFederationData": {},
        "attributes": {"creationDate": p.created, "mfaAuthenticated": str(p.mfa).lower()},
    }
    if p.source_identity:
        ctx["sourceIdentity"] = p.source_identity
    return {
        "type": "AssumedRole",
        "principalId": f"{p.principal_id}:{p.session}",
        "arn": p.arn,
        "accountId": p.account,
        "accessKeyId": p.access_key,
        "sessionContext": ctx,
    }


@dataclass
class Call:
    """Everything needed to render one API call as a CloudTrail record.

    ``api`` is ``service:EventName`` (``iam:CreateUser``); the service prefix gives
    ``eventSource``. ``stream`` overrides the (account, region) log stream the record
    is delivered in; it is only set for the duplicate-delivery quirk.
    """

    when: datetime
    who: Principal
    api: str
    region: str
    ip: str
    ua: str
    params: Any = None
    response: Any = None
    resources: list[dict[str, Any]] | None = None
    extra: dict[str, Any] | None = None
    error: tuple[str, str] | None = None
    recipient: str = ""
    shared_event_id: str = ""
    vpce: str = ""
    console: bool = False
    event_type: str = "AwsApiCall"
    request_id: str = ""


@dataclass
class Event:
    """A rendered record plus what the generator knows about it (never written)."""

    record: dict[str, Any]
    when: datetime
    account: str
    region: str
    stage: str | None = None
    tags: set[str] = field(default_factory=set)

    @property
    def is_data(self) -> bool:
        return self.record.get("eventCategory") == "Data"


def split_api(api: str) -> tuple[str, str]:
    service, name = api.split(":", 1)
    return service, name


def event_source(service: str) -> str:
    return _HOST_OVERRIDES.get(service, f"{service}.amazonaws.com")


def tls_host(service: str, region: str, params: Any) -> str:
    """The host header the client sent; IAM and the console sign-in are global."""
    if service == "iam":
        return "iam.amazonaws.com"
    if service == "signin":
        return "signin.aws.amazon.com"
    if service == "s3":
        bucket = params.get("bucketName") if isinstance(params, dict) else None
        return f"{bucket}.s3.{region}.amazonaws.com" if bucket else "s3.amazonaws.com"
    return f"{service}.{region}.amazonaws.com"


def is_read_only(name: str) -> bool:
    return name.startswith(_READ_PREFIXES) or name in _READ_EXTRA


def request_id(rng: random.Random, service: str) -> str:
    """S3 uses 16 upper-case hex characters; everything else here uses UUIDs."""
    if service == "s3":
        return "".join(rng.choice("0123456789ABCDEF") for _ in range(16))
    return rand_uuid(rng)


def build_record(rng: random.Random, call: Call) -> Event:
    """Render a :class:`Call` with CloudTrail's field order and optional-field rules."""
    service, name = split_api(call.api)
    data = service == "s3" and name in _DATA_EVENTS
    rec: dict[str, Any] = {
        "eventVersion": "1.09" if service in _V109_SOURCES else "1.08",
        "userIdentity": user_identity(call.who),
        "eventTime": iso(call.when),
        "eventSource": event_source(service),
        "eventName": name,
        "awsRegion": call.region,
        "sourceIPAddress": call.ip,
        "userAgent": call.ua,
    }
    if call.error:
        code, message = call.error
        if code:  # failed console sign-ins carry only a message
            rec["errorCode"] = code
        rec["errorMessage"] = message
    rec["requestParameters"] = call.params
    rec["responseElements"] = call.response
    if call.extra is not None:
        rec["additionalEventData"] = call.extra
    if call.event_type == "AwsApiCall":
        rec["requestID"] = call.request_id or request_id(rng, service)
    rec["eventID"] = rand_uuid(rng)
    rec["readOnly"] = is_read_only(name)
    if call.resources is not None:
        rec["resources"] = call.resources
    rec["eventType"] = call.event_type
    rec["managementEvent"] = not data
    recipient = call.recipient or call.who.account
    rec["recipientAccountId"] = recipient
    if call.shared_event_id:
        rec["sharedEventID"] = call.shared_event_id
    if call.vpce:
        rec["vpcEndpointId"] = call.vpce
        rec["vpcEndpointAccountId"] = recipient
    rec["eventCategory"] = "Data" if data else "Management"
    if not call.ip.endswith(".amazonaws.com"):
        rec["tlsDetails"] = {
            "tlsVersion": "TLSv1.3",
            "cipherSuite": "TLS_AES_128_GCM_SHA256",
            "clientProvidedHostHeader": tls_host(service, call.region, call.params),
        }
    if call.console:
        rec["sessionCredentialFromConsole"] = "true"
    return Event(rec, call.when, recipient, call.region)


def sts_expiration(dt: datetime) -> str:
    """STS responses in CloudTrail carry this odd human format, not ISO 8601."""
    hour = dt.hour % 12 or 12
    return f"{dt:%b} {dt.day}, {dt.year}, {hour}:{dt:%M:%S} {'AM' if dt.hour < 12 else 'PM'}"


def assume_role_response(role: Principal, when: datetime, hours: int = 1) -> dict[str, Any]:
    """``responseElements`` of AssumeRole: the temporary key is what pivots follow."""
    token = hashlib.sha256(f"token:{role.access_key}".encode()).hexdigest()
    return {
        "credentials": {
            "accessKeyId": role.access_key,
            "sessionToken": f"IQoJb3JpZ2luX2VjE{token[:48]}",
            "expiration": sts_expiration(when + timedelta(hours=hours)),
        },
        "assumedRoleUser": {"assumedRoleId": f"{role.principal_id}:{role.session}", "arn": role.arn},
    }


def role_resource(role: Principal) -> list[dict[str, Any]]:
    return [{"accountId": role.account, "type": "AWS::IAM::Role", "ARN": role.role_arn}]


def s3_object_resources(bucket: str, key: str, owner: str) -> list[dict[str, Any]]:
    return [
        {"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{key}"},
        {"accountId": owner, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"},
    ]


def s3_extra(rng: random.Random, out_bytes: int = 0, in_bytes: int = 0) -> dict[str, Any]:
    """``additionalEventData`` of S3 data events; ``bytesTransferredOut`` sizes exfil."""
    amz_id = "".join(rng.choice(_ALNUM + "+/") for _ in range(76))
    return {
        "SignatureVersion": "SigV4",
        "CipherSuite": "TLS_AES_128_GCM_SHA256",
        "bytesTransferredIn": in_bytes,
        "AuthenticationMethod": "AuthHeader",
        "x-amz-id-2": amz_id,
        "bytesTransferredOut": out_bytes,
    }


def assume_role_calls(
    rng: random.Random,
    caller: Principal,
    role: Principal,
    when: datetime,
    ip: str,
    ua: str,
    duration: int = 3600,
) -> list[Call]:
    """AssumeRole as CloudTrail records it.

    Same-account (or service) calls give one record. Cross-account calls give one
    record in each account with the same ``sharedEventID`` and ``requestID``; the role
    owner only sees the caller as an ``AWSAccount``. Linking the two is an exercise.
    """
    params: dict[str, Any] = {
        "roleArn": role.role_arn,
        "roleSessionName": role.session,
        "durationSeconds": duration,
    }
    if role.source_identity:
        params["sourceIdentity"] = role.source_identity
    base: dict[str, Any] = {
        "params": params,
        "resources": role_resource(role),
        "response": assume_role_response(role, when, max(1, duration // 3600)),
    }
    if caller.kind == "AWSService" or caller.account == role.account:
        return [Call(when, caller, "sts:AssumeRole", "us-east-1", ip, ua, **base)]
    shared, req = rand_uuid(rng), rand_uuid(rng)
    viewer = Principal("AWSAccount", caller.account, "", caller_id=user_identity(caller)["principalId"])
    return [
        Call(
            when,
            caller,
            "sts:AssumeRole",
            "us-east-1",
            ip,
            ua,
            recipient=caller.account,
            shared_event_id=shared,
            request_id=req,
            **base,
        ),
        Call(
            when,
            viewer,
            "sts:AssumeRole",
            "us-east-1",
            ip,
            ua,
            recipient=role.account,
            shared_event_id=shared,
            request_id=req,
            **base,
        ),
    ]
