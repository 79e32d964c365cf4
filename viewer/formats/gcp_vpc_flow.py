"""GCP VPC Flow Logs (formats.md 1.14): LogEntry objects whose jsonPayload describes one flow.

The same two shapes as the audit logs: `gcloud logging read ... --format=json` (a JSON array)
and one entry per line (the Cloud Storage sink's `compute.googleapis.com/vpc_flows/...` files).
A flow seen by both ends is reported twice (reporter SRC and DEST), as two entries with their
own insertId: both are kept, and `event_class` says which side reported it.
"""

from __future__ import annotations

from viewer.formats.base import FormatSpec, Head, Mapping, Reader, ReaderKind, has_key
from viewer.formats.gcp_audit import json_path, log_id, logentry_time, logname_parent

_P = "jsonPayload"
_FIELDS = {
    "insertId": "insertId",
    "logName": "logName",
    "timestamp": "timestamp",
    "receiveTimestamp": "receiveTimestamp",
    "projectId": "resource.labels.project_id",
    "location": "resource.labels.location",
    "startTime": f"{_P}.start_time",
    "endTime": f"{_P}.end_time",
    "srcIp": f"{_P}.connection.src_ip",
    "srcPort": f"{_P}.connection.src_port",
    "destIp": f"{_P}.connection.dest_ip",
    "destPort": f"{_P}.connection.dest_port",
    "protocol": f"{_P}.connection.protocol",
    "bytesSent": f"{_P}.bytes_sent",
    "packetsSent": f"{_P}.packets_sent",
    "reporter": f"{_P}.reporter",
    "srcVm": f"{_P}.src_instance.vm_name",
    "srcRegion": f"{_P}.src_instance.region",
    "srcProject": f"{_P}.src_instance.project_id",
    "destVm": f"{_P}.dest_instance.vm_name",
    "destRegion": f"{_P}.dest_instance.region",
    "destProject": f"{_P}.dest_instance.project_id",
}

# The reporting side's own VM is the resource the record is about.
_OWN = "CASE {reporter} WHEN 'SRC' THEN {src} WHEN 'DEST' THEN {dest} END"

GCP_VPC_FLOW_MAPPING = Mapping(
    paths={name: json_path(p) for name, p in _FIELDS.items()},
    columns={
        # insertId, as for the audit logs; SRC and DEST reports of one flow are distinct entries.
        "event_uid": "nullif({insertId}, '')",
        # The flow's aggregation interval; the entry's own timestamp is only the write time.
        "ts": f"coalesce({logentry_time('{startTime}')}, {logentry_time('{timestamp}')})",
        "ts_end": logentry_time("{endTime}"),
        "ingest_ts": logentry_time("{receiveTimestamp}"),
        "log_name": log_id("{logName}"),
        "event_class": "{reporter}",
        "src_ip": "{srcIp}",
        "src_port": "TRY_CAST({srcPort} AS INTEGER)",
        "dst_ip": "{destIp}",
        "dst_port": "TRY_CAST({destPort} AS INTEGER)",
        "protocol": (
            "CASE TRY_CAST({protocol} AS INTEGER) WHEN 6 THEN 'tcp' WHEN 17 THEN 'udp' WHEN 1 THEN 'icmp' "
            "WHEN 58 THEN 'icmpv6' ELSE {protocol} END"
        ),
        "bytes": "TRY_CAST({bytesSent} AS BIGINT)",
        "packets": "TRY_CAST({packetsSent} AS BIGINT)",
        "target_type": f"CASE WHEN {_OWN.format(reporter='{reporter}', src='{srcVm}', dest='{destVm}')} "
        "IS NOT NULL THEN 'gce_instance' END",
        "target_id": _OWN.format(reporter="{reporter}", src="{srcVm}", dest="{destVm}"),
        "cloud_account": (
            "coalesce({projectId}, "
            + _OWN.format(reporter="{reporter}", src="{srcProject}", dest="{destProject}")
            + f", {logname_parent('{logName}')})"
        ),
        "region": (
            "coalesce("
            + _OWN.format(reporter="{reporter}", src="{srcRegion}", dest="{destRegion}")
            + ", {location})"
        ),
    },
    ts_missing_reason="flow has no valid start_time or timestamp",
)


def _is_flow_entry(obj: object) -> bool:
    if not isinstance(obj, dict) or not isinstance(obj.get(_P), dict):
        return False
    conn = obj[_P].get("connection")
    return isinstance(conn, dict) and "src_ip" in conn and "dest_ip" in conn


def _sniff_lines(head: Head) -> bool:
    return _is_flow_entry(head.first_line_object)


def _sniff_array(head: Head) -> bool:
    text = head.text
    return (
        head.first_char == "["
        and has_key(text, _P)
        and has_key(text, "connection")
        and has_key(text, "dest_ip")
        and (has_key(text, "reporter") or "vpc_flows" in text)
        and not has_key(text, "protoPayload")
    )


def _spec(name: str, title: str, priority: int, sniff, reader: Reader, how: str) -> FormatSpec:  # type: ignore[no-untyped-def]
    return FormatSpec(
        name=name,
        title=title,
        source_type="gcp_vpcflow",
        provider="gcp",
        priority=priority,
        sniff=sniff,
        reader=reader,
        mapping=GCP_VPC_FLOW_MAPPING,
        description="VPC Flow Logs records (5-tuple, bytes and packets sent, the reporting VM) "
        "as Cloud Logging entries; one record per reporting side and aggregation interval.",
        how_to_obtain=how,
    )


FLOW_LINES = _spec(
    "gcp_vpc_flow",
    "GCP VPC Flow Logs, one entry per line (Cloud Storage sink / JSONL)",
    70,
    _sniff_lines,
    Reader(ReaderKind.LINES),
    "Sync the sink bucket (gcloud storage cp -r gs://BUCKET/compute.googleapis.com/vpc_flows ./evidence), "
    "or gcloud logging read 'logName:\"vpc_flows\"' --format=json | jq -c '.[]' > flows.jsonl.",
)
FLOW_ARRAY = _spec(
    "gcp_vpc_flow_array",
    "GCP VPC Flow Logs (gcloud logging read --format=json)",
    80,
    _sniff_array,
    Reader(ReaderKind.DOCUMENT, records_path="$"),
    "gcloud logging read 'logName:\"compute.googleapis.com%2Fvpc_flows\"' --project=PROJECT "
    "--freshness=1d --format=json > flows.json",
)

SPECS = (FLOW_LINES, FLOW_ARRAY)
