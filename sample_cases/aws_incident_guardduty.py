"""GuardDuty findings of the AWS incident sample case, as `aws guardduty get-findings` prints them.

The responder exported them after the incident from the security account (the delegated
administrator), so the file is the CLI's answer: ``{"Findings": [...]}`` with the SDK's
PascalCase member names. Each finding is built from the evidence it is about: first and last
seen, API names, key ids, addresses and user agents are read from the CloudTrail records and
the flow records passed in, so the three sources agree by construction.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_incident_attack import ADMIN, ADMIN_TEMP_KEY, BACKUP, BACKUP_KEY, CI, IP_EXFIL, IP_STAGING
from aws_incident_background import CI_KEY
from aws_incident_flows import FlowLogFile
from aws_incident_model import DATA_BUCKET, PROD, TRAILS, Event, Principal, stable_hex
from aws_incident_network import (
    LOGGING_FINDING_ID,
    OPEN_DEBUG_PORT,
    VPC_ID,
    VPC_REGION,
    Interface,
    member_detector,
)

DETECTOR = member_detector(PROD, VPC_REGION)
# Where GuardDuty's threat intelligence places the intruder's addresses (documentation ASNs).
_GEO = {
    IP_STAGING: (
        "64501",
        "EXAMPLE-VPS",
        "Example VPS Hosting",
        "Netherlands",
        "NL",
        "Amsterdam",
        52.37,
        4.89,
    ),
    IP_EXFIL: ("64509", "EXAMPLE-TRANSIT", "Example Transit Ltd", "Romania", "RO", "Bucharest", 44.43, 26.1),
}


def z(dt: datetime, ms: int = 0) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{ms:03d}Z"


def remote_ip(ip: str) -> dict[str, Any]:
    asn, asn_org, isp, country, code, city, lat, lon = _GEO[ip]
    return {
        "City": {"CityName": city},
        "Country": {"CountryCode": code, "CountryName": country},
        "GeoLocation": {"Lat": lat, "Lon": lon},
        "IpAddressV4": ip,
        "Organization": {"Asn": asn, "AsnOrg": asn_org, "Isp": isp, "Org": isp},
    }


def key_details(who: Principal, key: str) -> dict[str, Any]:
    principal = f"{who.principal_id}:{who.session}" if who.kind == "AssumedRole" else who.principal_id
    return {"AccessKeyId": key, "PrincipalId": principal, "UserName": who.name, "UserType": who.kind}


def finding(
    kind: str, key: str, severity: float, resource: dict[str, Any], action: dict[str, Any], seen: list[datetime],
    title: str, feature: str, created_after: timedelta, finding_id: str = "", info: dict[str, Any] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """One finding; ``seen`` are the times of the activity it reports (first and last seen).
    GuardDuty counts repeats of the same finding, not the calls inside one: Count is 1."""
    fid = finding_id or stable_hex(f"finding:{kind}:{key}", 32)
    created = max(seen) + created_after
    return {
        "AccountId": PROD,
        "Arn": f"arn:aws:guardduty:{VPC_REGION}:{PROD}:detector/{DETECTOR}/finding/{fid}",
        "CreatedAt": z(created, int(stable_hex("ms" + fid, 3), 16) % 1000),
        "Description": title + ".",
        "Id": fid,
        "Partition": "aws",
        "Region": VPC_REGION,
        "Resource": resource,
        "SchemaVersion": "2.0",
        "Service": {
            "Action": action,
            "Archived": False,
            "Count": 1,
            "DetectorId": DETECTOR,
            "EventFirstSeen": z(min(seen)),
            "EventLastSeen": z(max(seen)),
            "ResourceRole": "TARGET",
            "ServiceName": "guardduty",
            "AdditionalInfo": {"Value": json.dumps(info or {}, separators=(",", ":")), "Type": "default"},
            "FeatureName": feature,
        },
        "Severity": severity,
        "Title": title,
        "Type": kind,
        "UpdatedAt": z(created, int(stable_hex("ms" + fid, 3), 16) % 1000),
    }


def api_action(rec: dict[str, Any], affected: dict[str, str] | None = None) -> dict[str, Any]:
    """``AwsApiCallAction`` of the call that raised the finding, as CloudTrail recorded it."""
    call: dict[str, Any] = {
        "Api": rec["eventName"],
        "CallerType": "Remote IP",
        "RemoteIpDetails": remote_ip(rec["sourceIPAddress"]),
        "ServiceName": rec["eventSource"],
        "UserAgent": rec["userAgent"],
        "AffectedResources": affected or {},
    }
    if rec.get("errorCode"):
        call["ErrorCode"] = rec["errorCode"]
    return {"ActionType": "AWS_API_CALL", "AwsApiCallAction": call}


def select(events: list[Event], want: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
    recs = [e.record for e in events if want(e.record)]
    if not recs:
        raise AssertionError("a finding has no CloudTrail record behind it")
    return sorted(recs, key=lambda r: (r["eventTime"], r["eventID"]))


def when(rec: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(rec["eventTime"].replace("Z", "+00:00"))


def by_key(key: str, ip: str) -> Callable[[dict[str, Any]], bool]:
    return lambda r: r["userIdentity"].get("accessKeyId") == key and r["sourceIPAddress"] == ip


def anomalous(
    kind: str, who: Principal, key: str, recs: list[dict[str, Any]], severity: float, title: str
) -> dict[str, Any]:
    """An ``...:IAMUser/AnomalousBehavior`` finding: the first unusual call, and all of them listed."""
    apis = sorted({r["eventName"] for r in recs})
    info = {
        "anomalies": {"anomalousAPIs": {r["eventSource"]: apis for r in recs[:1]}},
        "unusual": {"remoteIp": recs[0]["sourceIPAddress"]},
    }
    resource = {"AccessKeyDetails": key_details(who, key), "ResourceType": "AccessKey"}
    return finding(
        kind,
        key,
        severity,
        resource,
        api_action(recs[0]),
        [when(r) for r in recs],
        title,
        "CloudTrail",
        timedelta(minutes=17),
        info=info,
    )


def discovery(events: list[Event]) -> dict[str, Any]:
    recs = select(
        events, lambda r: by_key(CI_KEY, IP_STAGING)(r) and r["readOnly"] and r["eventName"] != "AssumeRole"
    )
    title = f"APIs commonly used in discovery tactics were invoked by user IAMUser : {CI.name} under unusual circumstances"
    return anomalous("Discovery:IAMUser/AnomalousBehavior", CI, CI_KEY, recs, 5.0, title)


def persistence(events: list[Event]) -> dict[str, Any]:
    writes = {"CreateUser", "CreateAccessKey", "AttachUserPolicy"}
    recs = select(events, lambda r: by_key(ADMIN_TEMP_KEY, IP_STAGING)(r) and r["eventName"] in writes)
    title = (
        f"APIs commonly used in persistence tactics were invoked by user AssumedRole : {ADMIN.name} "
        "under unusual circumstances"
    )
    return anomalous("Persistence:IAMUser/AnomalousBehavior", ADMIN, ADMIN_TEMP_KEY, recs, 5.0, title)


def exfiltration(events: list[Event]) -> dict[str, Any]:
    recs = select(events, lambda r: by_key(BACKUP_KEY, IP_EXFIL)(r) and r["eventName"] == "GetObject")
    bucket = {
        "Arn": f"arn:aws:s3:::{DATA_BUCKET}",
        "CreatedAt": "2021-06-02T14:21:37.000Z",
        "DefaultServerSideEncryption": {"EncryptionType": "AES256"},
        "Name": DATA_BUCKET,
        "Owner": {"Id": stable_hex("s3-canonical:" + PROD, 64)},
        "PublicAccess": {"EffectivePermission": "NOT_PUBLIC"},
        "Tags": [{"Key": "data-classification", "Value": "confidential"}],
        "Type": "Destination",
    }
    resource = {
        "AccessKeyDetails": key_details(BACKUP, BACKUP_KEY),
        "ResourceType": "S3Bucket",
        "S3BucketDetails": [bucket],
    }
    info = {"anomalies": {"anomalousAPIs": {"s3.amazonaws.com": ["GetObject"]}}, "objectsRead": len(recs)}
    title = f"Anomalous S3 data reads from bucket {DATA_BUCKET} by IAMUser : {BACKUP.name}"
    action = api_action(recs[0], {"AWS::S3::Bucket": DATA_BUCKET})
    return finding(
        "Exfiltration:S3/AnomalousBehavior",
        BACKUP_KEY,
        8.0,
        resource,
        action,
        [when(r) for r in recs],
        title,
        "S3DataEvents",
        timedelta(minutes=21),
        info=info,
    )


def logging_disabled(events: list[Event]) -> dict[str, Any]:
    recs = select(events, lambda r: by_key(BACKUP_KEY, IP_EXFIL)(r) and r["eventName"] == "StopLogging")
    resource = {"AccessKeyDetails": key_details(BACKUP, BACKUP_KEY), "ResourceType": "AccessKey"}
    action = api_action(recs[0], {"AWS::CloudTrail::Trail": TRAILS[PROD]})
    title = f"AWS CloudTrail trail {TRAILS[PROD]} was disabled"
    return finding(
        "Stealth:IAMUser/CloudTrailLoggingDisabled",
        BACKUP_KEY,
        2.0,
        resource,
        action,
        [when(r) for r in recs],
        title,
        "CloudTrail",
        timedelta(minutes=6),
        LOGGING_FINDING_ID,
    )


def port_probe(flow_files: list[FlowLogFile], instance: Interface) -> dict[str, Any]:
    """The unprotected port the intruder's scan found, on the instance the flow records name."""
    probes = [
        r for f in flow_files for r in f.records
        if "scan" in r.tags and r.iface == instance and r.dport == OPEN_DEBUG_PORT and r.direction == "ingress"
    ]  # fmt: skip
    if not probes:
        raise AssertionError("no accepted probe of the open port in the flow records")
    seen = [datetime.fromtimestamp(r.start, UTC) for r in probes]
    nic = {
        "NetworkInterfaceId": instance.eni,
        "PrivateDnsName": f"ip-{instance.private_ip.replace('.', '-')}.ec2.internal",
        "PrivateIpAddress": instance.private_ip,
        "PrivateIpAddresses": [{"PrivateIpAddress": instance.private_ip}],
        "PublicIp": instance.public_ip,
        "SecurityGroups": [{"GroupId": "sg-0" + stable_hex("sg:prod-app", 16), "GroupName": "prod-app"}],
        "SubnetId": instance.subnet,
        "VpcId": VPC_ID,
    }
    resource = {
        "InstanceDetails": {
            "AvailabilityZone": instance.az,
            "IamInstanceProfile": {"Arn": f"arn:aws:iam::{PROD}:instance-profile/app-server-role"},
            "ImageId": "ami-0" + stable_hex("ami:al2023", 16),
            "InstanceId": instance.instance_id,
            "InstanceState": "running",
            "InstanceType": "m6i.large",
            "LaunchTime": "2024-02-19T09:02:11.000Z",
            "NetworkInterfaces": [nic],
            "Tags": [{"Key": "Name", "Value": f"prod-{instance.name}"}],
        },
        "ResourceType": "Instance",
    }
    detail = {
        "LocalIpDetails": {"IpAddressV4": instance.private_ip},
        "LocalPortDetails": {"Port": OPEN_DEBUG_PORT, "PortName": "HTTP_ALT"},
        "RemoteIpDetails": remote_ip(IP_STAGING),
    }
    action = {"ActionType": "PORT_PROBE", "PortProbeAction": {"Blocked": False, "PortProbeDetails": [detail]}}
    title = f"Unprotected port on EC2 instance {instance.instance_id} is being probed"
    return finding(
        "Recon:EC2/PortProbeUnprotectedPort",
        instance.instance_id,
        2.0,
        resource,
        action,
        seen,
        title,
        "FlowLogs",
        timedelta(minutes=9),
    )


def build_findings(
    events: list[Event], flow_files: list[FlowLogFile], instance: Interface
) -> list[dict[str, Any]]:
    """The findings the responder exported, oldest first."""
    found = [
        discovery(events),
        port_probe(flow_files, instance),
        persistence(events),
        exfiltration(events),
        logging_disabled(events),
    ]
    return sorted(found, key=lambda f: (f["CreatedAt"], f["Id"]))


def findings_document(findings: list[dict[str, Any]]) -> bytes:
    """The CLI's output: indented by 4, keys in the SDK's order is not kept by the CLI either."""
    return (json.dumps({"Findings": findings}, indent=4) + "\n").encode()
