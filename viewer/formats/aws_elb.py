"""Elastic Load Balancing logs (formats.md 1.11): ALB access logs, ALB connection logs, NLB (TLS)
access logs and Classic Load Balancer access logs.

All are space-separated lines with some fields in double quotes, delivered to S3 as .log.gz (a
file per load balancer node every 5 minutes). Each line's own shape decides its fields, so a
folder or even a file mixing them reads record by record:
  * ALB access: first field the request type (http, https, h2, grpcs, ws, wss). ALB appends
    fields over time; a line may stop after request_creation_time, and fields newer than
    conn_trace_id are kept in the raw line;
  * NLB TLS access: first field 'tls', no quoted fields;
  * Classic access: starts with the ISO time then the load balancer name, two quoted fields;
  * ALB connection: starts with the ISO time then the client IP and port as separate fields.
"""

from __future__ import annotations

import re

from viewer.formats.base import FormatSpec, Head, Mapping, Reader, ReaderKind, TextLayout, TextSyntax

ALB = (
    "type time elb client:port target:port request_processing_time target_processing_time "
    "response_processing_time elb_status_code target_status_code received_bytes sent_bytes "
    '"request" "user_agent" ssl_cipher ssl_protocol target_group_arn "trace_id" "domain_name" '
    '"chosen_cert_arn" matched_rule_priority request_creation_time "actions_executed" "redirect_url" '
    '"error_reason" "target:port_list" "target_status_code_list" "classification" '
    '"classification_reason" conn_trace_id'
)
ALB_MIN_FIELDS = 22  # through request_creation_time
NLB = (
    "type version time elb listener client:port destination:port connection_time tls_handshake_time "
    "received_bytes sent_bytes incoming_tls_alert chosen_cert_arn chosen_cert_serial tls_cipher "
    "tls_protocol_version tls_named_group domain_name alpn_fe_protocol alpn_be_protocol "
    "alpn_client_preference_list tls_connection_creation_time"
)
CLASSIC = (
    "timestamp elb client:port backend:port request_processing_time backend_processing_time "
    "response_processing_time elb_status_code backend_status_code received_bytes sent_bytes "
    '"request" "user_agent" ssl_cipher ssl_protocol'
)
_CONNECTION = (
    "time client_ip client_port listener_port tls_protocol tls_cipher tls_handshake_latency "
    "{subject} leaf_client_cert_validity leaf_client_cert_serial_number tls_verify_status conn_trace_id"
)
_ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z?"

LAYOUTS = (
    TextLayout("alb access", ALB, first_token="https?|h2|grpcs|wss?", min_fields=ALB_MIN_FIELDS),
    TextLayout("nlb tls access", NLB, first_token="tls"),
    TextLayout("classic access", CLASSIC, first_token=_ISO),
    # The client certificate subject is quoted when there is one, a bare '-' otherwise.
    TextLayout("alb connection", _CONNECTION.format(subject='"leaf_client_cert_subject"'), first_token=_ISO),
    TextLayout("alb connection", _CONNECTION.format(subject="leaf_client_cert_subject"), first_token=_ISO),
)

_NAMES = sorted(
    {n.strip('"') for lay in (ALB, NLB, CLASSIC, _CONNECTION) for n in lay.split()} - {"{subject}"}
)
_NAMES.append("leaf_client_cert_subject")


def _key(name: str) -> str:
    # 'client:port' (ALB) and 'client_port' (connection logs) are different fields.
    return re.sub(r"\W", "_", name.replace(":port", "_and_port"))


def _v(name: str) -> str:
    return f"nullif({{{_key(name)}}}, '-')"


_CLIENT = f"coalesce({_v('client:port')}, {_v('client_ip')} || ':' || {_v('client_port')})"
_DEST = f"coalesce({_v('target:port')}, {_v('destination:port')}, {_v('backend:port')})"
_STATUS = "TRY_CAST({elb_status_code} AS INTEGER)"
_HTTP = "({request} IS NOT NULL)"  # ALB and Classic access lines carry the request line
_ARN = f"coalesce({_v('target_group_arn')}, {_v('chosen_cert_arn')})"


# Address and port split at the last colon (IPv6 addresses have colons of their own); string
# functions, not a regular expression: measured cheaper per line.
def _ip(pair: str) -> str:
    return f"nullif(left({pair}, length({pair}) - strpos(reverse({pair}), ':')), '')"


def _port(pair: str) -> str:
    return f"TRY_CAST(right({pair}, strpos(reverse({pair}), ':') - 1) AS INTEGER)"


MAPPING = Mapping(
    paths={_key(n): f'$.fields."{n}"' for n in _NAMES},
    columns={
        "event_uid": (
            "CASE WHEN {type} IS NOT NULL THEN nullif({trace_id}, '-') "
            "WHEN {tls_verify_status} IS NOT NULL THEN nullif({conn_trace_id}, '-') END"
        ),
        "ts": "TRY_CAST(coalesce({time}, {timestamp}) AS TIMESTAMPTZ)",
        "log_name": (
            "CASE WHEN {type} = 'tls' THEN 'nlb_access' WHEN {type} IS NOT NULL THEN 'alb_access' "
            "WHEN {tls_verify_status} IS NOT NULL THEN 'alb_connection' ELSE 'classic_access' END"
        ),
        "event_class": f"CASE WHEN {_HTTP} THEN 'http_request' ELSE 'tls_connection' END",
        "service": "'elasticloadbalancing.amazonaws.com'",
        "action": f"CASE WHEN {_HTTP} THEN nullif(split_part({{request}}, ' ', 1), '-') ELSE 'connection' END",
        "outcome": (
            f"CASE WHEN {_HTTP} THEN CASE WHEN {_STATUS} < 400 THEN 'success' WHEN {_STATUS} >= 400 THEN 'failure' "
            "ELSE 'unknown' END "
            "WHEN {tls_verify_status} IS NOT NULL THEN CASE WHEN {tls_verify_status} = 'Success' THEN 'success' "
            "ELSE 'failure' END "
            "WHEN {type} = 'tls' THEN CASE WHEN {incoming_tls_alert} = '-' THEN 'success' ELSE 'failure' END "
            "ELSE 'unknown' END"
        ),
        "error_code": (
            f"coalesce({_v('error_reason')}, CASE WHEN {_STATUS} >= 400 THEN {{elb_status_code}} END, "
            f"{_v('incoming_tls_alert')}, nullif(nullif({{tls_verify_status}}, 'Success'), '-'))"
        ),
        "src_ip": _ip(_CLIENT),
        "src_port": _port(_CLIENT),
        "dst_ip": _ip(_DEST),
        "dst_port": _port(_DEST),
        "protocol": (
            "CASE WHEN {type} IS NOT NULL THEN {type} "
            "WHEN {request} IS NOT NULL THEN nullif(lower(regexp_extract({request}, ' ([a-zA-Z]+)://', 1)), '') "
            "ELSE 'tls' END"
        ),
        "bytes": f"TRY_CAST({_v('sent_bytes')} AS BIGINT)",
        "user_agent": _v("user_agent"),
        "target_type": (
            f"CASE WHEN {_HTTP} AND split_part({{request}}, ' ', 2) NOT IN ('', '-') THEN 'url' "
            "ELSE 'AWS::ElasticLoadBalancingV2::LoadBalancer' END"
        ),
        "target_id": (
            f"coalesce(CASE WHEN {_HTTP} THEN nullif(nullif(split_part({{request}}, ' ', 2), ''), '-') END, "
            f"{_v('domain_name')}, {_v('elb')})"
        ),
        "target_name": _v("elb"),
        "cloud_account": f"nullif(split_part({_ARN}, ':', 5), '')",
        "region": f"nullif(split_part({_ARN}, ':', 4), '')",
        "correlation_id": f"coalesce({_v('trace_id')}, {_v('conn_trace_id')})",
    },
    ts_missing_reason="no parseable time",
)

_FIRST = re.compile(
    rf"(?:(?:https?|h2|grpcs|wss?) {_ISO} \S+ \S+:\d+ "  # ALB access
    rf"|tls \d+\.\d+ {_ISO} \S+ \S+ \S+:\d+ "  # NLB TLS access
    rf"|{_ISO} [\w-]+ \S+:\d+ \S+ -?\d"  # Classic access
    rf"|{_ISO} [0-9a-fA-F.:]+ \d+ \d+ )"  # ALB connection
)


def _sniff(head: Head) -> bool:
    return _FIRST.match(head.first_line) is not None


ACCESS_LOGS = FormatSpec(
    name="aws_elb",
    title="Elastic Load Balancing logs (ALB, NLB, Classic; ALB connection logs)",
    source_type="elb",
    provider="aws",
    priority=50,
    sniff=_sniff,
    reader=Reader(ReaderKind.TEXT, text=TextSyntax(layouts=LAYOUTS, allow_extra_fields=True)),
    mapping=MAPPING,
    description=(
        "Load balancer access logs (Application, Network TLS, Classic) and Application Load "
        "Balancer connection logs, one request or connection per line; shapes may mix."
    ),
    how_to_obtain=(
        "The load balancer's access-log / connection-log S3 location: aws s3 sync "
        "s3://<bucket>/<prefix>/AWSLogs/<account>/elasticloadbalancing/<region>/YYYY/MM/DD/ ./elb-logs"
    ),
)

SPECS = (ACCESS_LOGS,)
