"""VPC Flow Logs and Transit Gateway flow logs (formats.md 1.7), as text and as Parquet.

Text: space-separated fields, '-' for a value that does not apply. Files delivered to S3 start
with a header line naming the fields in their order, which is how custom formats (any subset and
order of the v2-v8 fields) are read. Lines delivered to CloudWatch Logs carry no header: they are
recognised by the documented field orders (the default v2 format; all fields of v3, v4, v5 in the
documented order; the Transit Gateway default, which is all its fields), or read with a field
order the user gives once (`with_field_order`).

Parquet (S3 delivery with the Parquet file format): the same fields as typed columns whose names
use underscores (`account_id`, `log_status`); each row is one record.

A NODATA or SKIPDATA row is a record of its own (the window had no traffic, or records were
skipped): kept, with action NODATA / SKIPDATA, outcome unknown and no addresses.

A flow record has no natural id, so `event_uid` stays NULL: identical records are still dropped as
duplicates (the pipeline compares whole records by a hash of the raw record). Using the line as
its own id stored every line a second time: 16% of a flow-log case (202 -> 169 MB per 1M lines).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from viewer.formats.base import (
    FormatSpec,
    Head,
    Mapping,
    Reader,
    ReaderKind,
    TextLayout,
    TextSyntax,
    with_text_layout,
)

V2 = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"
V3 = V2 + " vpc-id subnet-id instance-id tcp-flags type pkt-srcaddr pkt-dstaddr"
V4 = V3 + " region az-id sublocation-type sublocation-id"
V5 = V4 + " pkt-src-aws-service pkt-dst-aws-service flow-direction traffic-path"
V7 = (
    " ecs-cluster-arn ecs-cluster-name ecs-container-instance-arn ecs-container-instance-id"
    " ecs-container-id ecs-second-container-id ecs-service-name ecs-task-definition-arn ecs-task-arn"
    " ecs-task-id"
)
V8 = " reject-reason"
# Transit Gateway flow logs: with no format given, a TGW flow log writes all its fields.
TGW_DEFAULT = (
    "version resource-type account-id tgw-id tgw-attachment-id tgw-src-vpc-account-id "
    "tgw-dst-vpc-account-id tgw-src-vpc-id tgw-dst-vpc-id tgw-src-subnet-id tgw-dst-subnet-id "
    "tgw-src-eni tgw-dst-eni tgw-src-az-id tgw-dst-az-id tgw-pair-attachment-id srcaddr dstaddr "
    "srcport dstport protocol packets bytes start end log-status type packets-lost-no-route "
    "packets-lost-blackhole packets-lost-mtu-exceeded packets-lost-ttl-expired tcp-flags region "
    "flow-direction pkt-src-aws-service pkt-dst-aws-service"
)
FIELD_NAMES = frozenset((V5 + V7 + V8 + " " + TGW_DEFAULT).split())

_NAME = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")


def header_fields(line: str) -> tuple[str, ...] | None:
    """The field order a header line declares: every token a field name (lower-case, hyphenated),
    at least two of them flow fields. A record line has numbers and ids, never only names."""
    names = line.split()
    if len(names) < 2 or not all(_NAME.fullmatch(n) for n in names):
        return None
    return tuple(names) if len(FIELD_NAMES.intersection(names)) >= 2 else None


def _text_path(name: str) -> str:
    return f'$.fields."{name}"'


def _parquet_path(name: str) -> str:
    return "$." + name.replace("-", "_")


_PROTOCOLS = {
    1: "icmp",
    2: "igmp",
    6: "tcp",
    17: "udp",
    47: "gre",
    50: "esp",
    51: "ah",
    58: "ipv6-icmp",
    132: "sctp",
}
_USED = (
    "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end "
    "action log-status instance-id pkt-srcaddr pkt-dstaddr region flow-direction reject-reason "
    "tgw-attachment-id tgw-id"
).split()


def _v(name: str) -> str:
    """A field's value, NULL when absent or '-'."""
    return f"nullif({{{name.replace('-', '_')}}}, '-')"


def _epoch(name: str) -> str:
    """Epoch seconds to a time; out of range is no time (to_timestamp would abort the import)."""
    n = f"TRY_CAST({_v(name)} AS BIGINT)"
    return f"CASE WHEN {n} BETWEEN 0 AND 253402300799 THEN to_timestamp({n}) END"


def flow_mapping(path_of: Callable[[str], str]) -> Mapping:
    paths = {n.replace("-", "_"): path_of(n) for n in _USED}
    protocol_names = " ".join(f"WHEN {k} THEN '{v}'" for k, v in _PROTOCOLS.items())
    status = "upper({log_status})"
    return Mapping(
        paths=paths,
        columns={
            "ts": _epoch("start"),
            "ts_end": _epoch("end"),
            "log_name": "{log_status}",
            "event_class": "'network_flow'",
            "service": "CASE WHEN {tgw_id} IS NOT NULL AND {tgw_id} <> '-' THEN 'transitgateway' ELSE 'vpc' END",
            "action": (
                f"CASE WHEN {status} IN ('NODATA', 'SKIPDATA') THEN {status} "
                f"ELSE coalesce({_v('flow-direction')}, 'flow') END"
            ),
            "outcome": (
                "CASE upper({action}) WHEN 'ACCEPT' THEN 'success' WHEN 'REJECT' THEN 'failure' ELSE 'unknown' END"
            ),
            "error_code": _v("reject-reason"),
            "src_ip": f"coalesce({_v('pkt-srcaddr')}, {_v('srcaddr')})",
            "dst_ip": f"coalesce({_v('pkt-dstaddr')}, {_v('dstaddr')})",
            "src_port": f"TRY_CAST({_v('srcport')} AS INTEGER)",
            "dst_port": f"TRY_CAST({_v('dstport')} AS INTEGER)",
            "protocol": (
                f"CASE TRY_CAST({_v('protocol')} AS INTEGER) {protocol_names} ELSE {_v('protocol')} END"
            ),
            "bytes": f"TRY_CAST({_v('bytes')} AS BIGINT)",
            "packets": f"TRY_CAST({_v('packets')} AS BIGINT)",
            "target_type": (
                f"CASE WHEN {_v('instance-id')} IS NOT NULL THEN 'AWS::EC2::Instance' "
                f"WHEN {_v('interface-id')} IS NOT NULL THEN 'AWS::EC2::NetworkInterface' "
                f"WHEN {_v('tgw-attachment-id')} IS NOT NULL THEN 'AWS::EC2::TransitGatewayAttachment' END"
            ),
            "target_id": f"coalesce({_v('instance-id')}, {_v('interface-id')}, {_v('tgw-attachment-id')})",
            "target_name": _v("interface-id"),
            "cloud_account": _v("account-id"),
            "region": _v("region"),
        },
        ts_missing_reason="no parseable start time",
    )


def _first_record_line(head: Head) -> str:
    for line in head.stripped.splitlines():
        if line.strip():
            return line.strip()
    return ""


_V2_LINE = re.compile(
    r"\d+ (\d{12}|unknown|-) (eni-[0-9a-f]+|-) \S+ \S+ \S+ \S+ \S+ \S+ \S+ \d+ \d+ \S+ (OK|NODATA|SKIPDATA)"
)
_TGW_LINE = re.compile(r"\d+ (TransitGateway|TransitGatewayAttachment) (\d{12}|-) (tgw-[0-9a-f]+|-) ")
_ALL_COUNTS = {len(V2.split()), len(V3.split()), len(V4.split()), len(V5.split()), len(TGW_DEFAULT.split())}


def _sniff_text(head: Head) -> bool:
    if head.first_char in "{[":
        return False
    line = head.first_line
    if header_fields(line):
        return line.startswith("version ") or len(FIELD_NAMES.intersection(line.split())) >= 4
    tokens = line.split()
    if len(tokens) not in _ALL_COUNTS:
        return False
    return bool(_V2_LINE.match(line) or _TGW_LINE.match(line))


def _sniff_parquet(head: Head) -> bool:
    # The head of a Parquet file is binary; the file starts with the magic 'PAR1' and its
    # schema (at the end) is not in the head, so the column names are looked for too.
    return head.text.startswith("PAR1") and ("srcaddr" in head.text or "log_status" in head.text)


TEXT_SYNTAX = TextSyntax(
    layouts=(
        TextLayout("v2 default", V2),
        TextLayout("v3 all fields", V3),
        TextLayout("v4 all fields", V4),
        TextLayout("v5 all fields", V5),
        TextLayout("transit gateway default", TGW_DEFAULT),
    ),
    header=header_fields,
)

_HOW = (
    "S3: s3://<bucket>/AWSLogs/<account>/vpcflowlogs/<region>/YYYY/MM/DD/*.log.gz (aws s3 sync). "
    "CloudWatch Logs: aws logs filter-log-events --log-group-name <group> --query 'events[].message' "
    "--output text, one record per line (give the flow log's format once when it is custom: "
    "aws ec2 describe-flow-logs shows LogFormat)."
)

TEXT = FormatSpec(
    name="aws_vpc_flow",
    title="VPC / Transit Gateway flow logs (text)",
    source_type="vpcflow",
    provider="aws",
    priority=50,
    sniff=_sniff_text,
    reader=Reader(ReaderKind.TEXT, text=TEXT_SYNTAX),
    mapping=flow_mapping(_text_path),
    description=(
        "VPC and Transit Gateway flow log records as delivered to S3 (header line, default or "
        "custom format) or to CloudWatch Logs (no header: default orders, or the format given once)."
    ),
    how_to_obtain=_HOW,
)

PARQUET = FormatSpec(
    name="aws_vpc_flow_parquet",
    title="VPC flow logs (Parquet)",
    source_type="vpcflow",
    provider="aws",
    priority=50,
    sniff=_sniff_parquet,
    reader=Reader(ReaderKind.PARQUET),
    mapping=flow_mapping(_parquet_path),
    description="VPC flow log records delivered to S3 with the Parquet file format (one row per record).",
    how_to_obtain=(
        "S3 flow log destination with file format Parquet: s3://<bucket>/AWSLogs/<account>/vpcflowlogs/"
        "<region>/YYYY/MM/DD/*.log.parquet (aws s3 sync)."
    ),
)


def with_field_order(format_string: str) -> FormatSpec:
    """The text spec reading every line with the flow log's own LogFormat, e.g.
    '${version} ${srcaddr} ${dstaddr} ...' (as `aws ec2 describe-flow-logs` shows it) or the
    plain names separated by spaces."""
    names = re.findall(r"\$\{([a-z0-9-]+)\}", format_string) or format_string.split()
    unknown = [n for n in names if n not in FIELD_NAMES]
    if not names or unknown:
        raise ValueError(f"not a flow log format: unknown fields {unknown}" if unknown else "no fields given")
    return with_text_layout(TEXT, TextLayout("given format", " ".join(names)))


SPECS = (TEXT, PARQUET)
