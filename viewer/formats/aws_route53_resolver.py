"""Route 53 (VPC) Resolver query logs: one JSON object per DNS query (formats.md 1.12).

Delivered to S3 (gzipped, one object per line), Firehose or CloudWatch Logs; the CloudWatch Logs
shapes reuse `RESOLVER_MAPPING` from aws_cloudwatch_logs. Field names and values follow the
Route 53 Developer Guide ("Values that appear in VPC Resolver query logs").

Choices (formats.md 2.3):
* There is no natural id, so `event_uid` stays NULL: identical lines are still dropped as
  duplicates (the pipeline compares whole records), and no two queries are ever mistaken for
  versions of one record. A hash would add nothing the raw record does not already give.
* `target_id` is the queried name without the root dot, so it matches the names other sources
  write (GuardDuty's dnsRequestAction.domain); the raw keeps `query_name` as logged.
* The asker is the principal: `srcids.instance` (an EC2 instance) or `srcids.resolver_endpoint`
  (an inbound endpoint forwarding on-premises queries). `log_name` is the VPC, the unit query
  logging is configured and delivered per.
* `outcome`: failure when DNS Firewall blocked the query or the rcode is not NOERROR.
"""

from __future__ import annotations

from viewer.formats.base import FormatSpec, Head, Mapping, Reader, ReaderKind

RESOLVER_MAPPING = Mapping(
    paths={
        "queryTimestamp": "$.query_timestamp",
        "queryName": "$.query_name",
        "queryType": "$.query_type",
        "rcode": "$.rcode",
        "srcaddr": "$.srcaddr",
        "srcport": "$.srcport",
        "transport": "$.transport",
        "instance": "$.srcids.instance",
        "resolverEndpoint": "$.srcids.resolver_endpoint",
        "firewallAction": "$.firewall_rule_action",
        "vpcId": "$.vpc_id",
        "accountId": "$.account_id",
        "region": "$.region",
    },
    columns={
        "ts": "TRY_CAST({queryTimestamp} AS TIMESTAMPTZ)",
        "log_name": "{vpcId}",
        "event_class": "'dns_query'",
        "service": "'route53resolver'",
        "action": "'dns_query:' || {queryType}",
        "outcome": (
            "CASE WHEN {firewallAction} = 'BLOCK' THEN 'failure' WHEN {rcode} = 'NOERROR' THEN 'success' "
            "WHEN {rcode} IS NOT NULL THEN 'failure' ELSE 'unknown' END"
        ),
        "error_code": "CASE WHEN {rcode} <> 'NOERROR' THEN {rcode} END",
        "principal_type": (
            "CASE WHEN {instance} IS NOT NULL THEN 'Instance' "
            "WHEN {resolverEndpoint} IS NOT NULL THEN 'ResolverEndpoint' END"
        ),
        "principal_id": "coalesce({instance}, {resolverEndpoint})",
        "src_ip": "{srcaddr}",
        "src_port": "TRY_CAST({srcport} AS INTEGER)",
        "protocol": "lower({transport})",
        "target_type": "'dns_name'",
        "target_id": "CASE WHEN {queryName} = '.' THEN '.' ELSE rtrim({queryName}, '.') END",
        "cloud_account": "{accountId}",
        "region": "{region}",
    },
    ts_missing_reason="query has no valid query_timestamp",
)


def is_resolver_record(obj: dict) -> bool:
    return "query_timestamp" in obj and "query_name" in obj and ("srcaddr" in obj or "rcode" in obj)


def _sniff_lines(head: Head) -> bool:
    obj = head.first_line_object
    return obj is not None and is_resolver_record(obj)


QUERY_LOG_LINES = FormatSpec(
    name="aws_route53_resolver",
    title="Route 53 Resolver query logs (JSON lines)",
    source_type="r53_resolver",
    provider="aws",
    priority=72,
    sniff=_sniff_lines,
    reader=Reader(ReaderKind.LINES),
    mapping=RESOLVER_MAPPING,
    description=(
        "One DNS query per line as Route 53 Resolver query logging writes it (version 1.1: "
        "query_timestamp, query_name, query_type, rcode, answers, srcaddr, srcport, srcids, and the "
        "firewall_* fields when DNS Firewall matched)."
    ),
    how_to_obtain=(
        "Route 53 console → Resolver → Query logging → configuration with an S3 destination; then "
        "aws s3 sync s3://BUCKET/AWSLogs/ACCOUNT/vpcdnsquerylogs/ ./evidence. For a CloudWatch Logs "
        "destination see the CloudWatch Logs formats."
    ),
)

SPECS = (QUERY_LOG_LINES,)
