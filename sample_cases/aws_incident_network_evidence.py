"""The network half of the AWS incident sample case: VPC flow logs and GuardDuty findings.

Written beside the CloudTrail bucket's contents, as a responder would have collected them:

    <network>/acme-vpc-flow-logs-222222222222/AWSLogs/<account>/vpcflowlogs/<region>/YYYY/MM/DD/*.log.gz
    <network>/guardduty/get-findings-<detector>.json

and described in ``truth.json`` → ``network``: counts read back from what was written, the flow
log gap, the scan flows, and what each finding links to.
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aws_incident_attack import FLOW_LOG_ID, IP_STAGING
from aws_incident_flows import FIELDS, FlowLogFile, call_time
from aws_incident_guardduty import DETECTOR, build_findings, findings_document
from aws_incident_model import Event, iso_offset
from aws_incident_network import (
    ADMIN_DETECTOR,
    APP_SERVERS,
    ENDPOINT,
    FLOW_AGGREGATION_SECONDS,
    FLOW_BUCKET,
    LOGGING_FINDING_ID,
    NEW_FLOW_LOG_ID,
    OPEN_DEBUG_PORT,
    VPC_ID,
    VPC_REGION,
)
from aws_incident_traffic import build_flow_files

FINDINGS_FILE = f"guardduty/get-findings-{ADMIN_DETECTOR}.json"


def at(epoch: int) -> str:
    return iso_offset(datetime.fromtimestamp(epoch, UTC))


def write_network(out: Path, flow_files: list[FlowLogFile], findings: bytes) -> int:
    """Replace the flow-log bucket folder and the findings folder under ``out``; bytes written."""
    for sub in (FLOW_BUCKET, "guardduty"):
        if (out / sub).exists():
            shutil.rmtree(out / sub)
    total = 0
    for key, data in [(f"{FLOW_BUCKET}/{f.key}", f.gz) for f in flow_files] + [(FINDINGS_FILE, findings)]:
        path = out / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        total += len(data)
    return total


def flow_summary(files: list[FlowLogFile]) -> dict[str, Any]:
    records = [r for f in files for r in f.records]
    per_log: dict[str, Any] = {}
    for log in (FLOW_LOG_ID, NEW_FLOW_LOG_ID):
        mine = [r for r in records if r.flow_log == log]
        per_log[log] = {
            "files": sum(1 for f in files if f.flow_log == log),
            "records": len(mine),
            "first_start": at(min(r.start for r in mine)),
            "last_end": at(max(r.end for r in mine)),
        }
    by_eni = Counter(r.iface.eni for r in records)
    return {
        "bucket": FLOW_BUCKET,
        "vpc_id": VPC_ID,
        "region": VPC_REGION,
        "fields": FIELDS,
        "aggregation_seconds": FLOW_AGGREGATION_SECONDS,
        "files": len(files),
        "records": len(records),
        "nodata_records": sum(1 for r in records if r.status == "NODATA"),
        "reject_records": sum(1 for r in records if r.action == "REJECT"),
        "by_flow_log": per_log,
        "interfaces": [
            {
                "eni": i.eni,
                "private_ip": i.private_ip,
                "public_ip": i.public_ip or None,
                "instance_id": None if i.instance_id == "-" else i.instance_id,
                "subnet_id": i.subnet,
                "role": "vpc endpoint" if i is ENDPOINT else f"app server {i.name}",
                "records": by_eni[i.eni],
            }
            for i in (*APP_SERVERS, ENDPOINT)
        ],
    }


def gap_summary(events: list[Event], files: list[FlowLogFile]) -> dict[str, Any]:
    records = [r for f in files for r in f.records]
    return {
        "deleted_flow_log": FLOW_LOG_ID,
        "deleted_at": iso_offset(call_time(events, "ec2:DeleteFlowLogs")),
        "last_record_end": at(max(r.end for r in records if r.flow_log == FLOW_LOG_ID)),
        "new_flow_log": NEW_FLOW_LOG_ID,
        "created_at": iso_offset(call_time(events, "ec2:CreateFlowLogs")),
        "first_record_start": at(min(r.start for r in records if r.flow_log == NEW_FLOW_LOG_ID)),
    }


def scan_summary(files: list[FlowLogFile]) -> dict[str, Any]:
    scan = sorted((r for f in files for r in f.records if "scan" in r.tags), key=lambda r: (r.start, r.dport))
    return {
        "source_ip": IP_STAGING,
        "first_start": at(scan[0].start),
        "last_end": at(max(r.end for r in scan)),
        "open_port": OPEN_DEBUG_PORT,
        "flows": [
            {
                "direction": r.direction,
                "instance_id": r.iface.instance_id,
                "eni": r.iface.eni,
                "src_ip": r.src,
                "dst_ip": r.dst,
                "src_port": r.sport,
                "dst_port": r.dport,
                "action": r.action,
                "start": at(r.start),
            }
            for r in scan
        ],
    }


def finding_summary(f: dict[str, Any]) -> dict[str, Any]:
    """What one finding links to: the values an analyst pivots on from it."""
    res, action = f["Resource"], f["Service"]["Action"]
    key = res.get("AccessKeyDetails") or {}
    api = action.get("AwsApiCallAction") or {}
    probe = (action.get("PortProbeAction") or {}).get("PortProbeDetails", [{}])[0]
    nic = (res.get("InstanceDetails") or {}).get("NetworkInterfaces", [{}])[0]
    return {
        "id": f["Id"],
        "type": f["Type"],
        "severity": f["Severity"],
        "first_seen": iso_offset(datetime.fromisoformat(f["Service"]["EventFirstSeen"])),
        "last_seen": iso_offset(datetime.fromisoformat(f["Service"]["EventLastSeen"])),
        "created_at": iso_offset(datetime.fromisoformat(f["CreatedAt"])),
        "access_key_id": key.get("AccessKeyId"),
        "principal_id": key.get("PrincipalId"),
        "user_name": key.get("UserName"),
        "api": api.get("Api"),
        "remote_ip": (api.get("RemoteIpDetails") or probe.get("RemoteIpDetails") or {}).get("IpAddressV4"),
        "user_agent": api.get("UserAgent"),
        "bucket": (res.get("S3BucketDetails") or [{}])[0].get("Name"),
        "instance_id": (res.get("InstanceDetails") or {}).get("InstanceId"),
        "eni": nic.get("NetworkInterfaceId"),
        "private_ip": nic.get("PrivateIpAddress"),
        "public_ip": nic.get("PublicIp"),
        "local_port": (probe.get("LocalPortDetails") or {}).get("Port"),
    }


def build_network(
    seed: int, events: list[Event], days: list[datetime], out: Path, pack: Callable[[bytes], bytes]
) -> dict[str, Any]:
    """Build, write and describe the network evidence; returns truth.json's ``network`` part.
    ``pack`` is the generator's reproducible gzip, so both halves of the case compress alike."""
    flow_files = build_flow_files(seed, events, days)
    for f in flow_files:
        f.gz = pack(f.raw)
    findings = build_findings(events, flow_files, APP_SERVERS[0])
    size = write_network(out, flow_files, findings_document(findings))
    return {
        "folder_contents": [FLOW_BUCKET, "guardduty"],
        "bytes_on_disk": size,
        "flow_logs": flow_summary(flow_files),
        "flow_log_gap": gap_summary(events, flow_files),
        "port_scan": scan_summary(flow_files),
        "guardduty": {
            "file": FINDINGS_FILE,
            "administrator_detector_id": ADMIN_DETECTOR,
            "member_detector_id": DETECTOR,
            "opened_by_responder": LOGGING_FINDING_ID,
            "findings": [finding_summary(f) for f in findings],
        },
    }
