"""CloudWatch Logs events, as the API, subscriptions and exports hand them out (formats.md 1.6, 1.9).

Two JSON containers, each with the message either free text or a record of a known source:
* `aws logs filter-log-events` output `{"events":[{logStreamName, timestamp, message,
  ingestionTime, eventId}], "searchedLogStreams":[...]}` (the CLI merges every page);
* subscription-filter payloads, decoded (base64 + gzip undone): `{"messageType":"DATA_MESSAGE",
  "owner", "logGroup", "logStream", "subscriptionFilters", "logEvents":[{id, timestamp,
  message}]}`, one per file or one per line. A CONTROL_MESSAGE is CloudWatch Logs checking that the
  destination is reachable: not a log event. Each is counted as a rejected record with a warning
  saying so, so the file still reconciles.

What the messages are is read from the first ones in the file:
* CloudTrail records (a trail's CloudWatch Logs delivery): imported as CloudTrail with its own
  mapping; the raw record is the CloudTrail record exactly as CloudTrail wrote it, so the same
  event imported from the trail bucket and from CloudWatch Logs is one event (a duplicate), not
  two versions of it. The envelope adds nothing the record lacks (the stream is
  `<account>_CloudTrail_<region>`); the file and the event's position in it stay in provenance.
* Kubernetes audit events (EKS control-plane logging) and Route 53 Resolver query logs: likewise,
  with the k8s_audit and aws_route53_resolver mappings.
Export-task files (text lines `<ISO time> <message>`) are read as generic events only: the text
reader cannot yet hand the rest of a line to a JSON mapping, so CloudTrail exported this way stays
text (its line is the raw record).
* anything else: a generic CloudWatch Logs event. Its raw record is the API's event; a
  subscription's events also carry the payload's owner, log group and stream (as logGroupName and
  logStreamName, the API's names), which they need to be read alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any

from viewer.formats.aws_cloudtrail import CLOUDTRAIL_MAPPING
from viewer.formats.aws_route53_resolver import RESOLVER_MAPPING
from viewer.formats.base import (
    FormatSpec,
    Head,
    Mapping,
    Reader,
    ReaderKind,
    TextLayout,
    TextSyntax,
    has_key,
)
from viewer.formats.k8s_audit import K8S_AUDIT_MAPPING


def _epoch_ms(ref: str) -> str:
    # Exact (no float) and bounded: an absurd number must reject one record, not fail the batch.
    ms = f"TRY_CAST({ref} AS BIGINT)"
    return (
        f"CASE WHEN {ms} BETWEEN 0 AND 253402300799999 "
        f"THEN to_timestamp({ms} // 1000) + to_milliseconds({ms} % 1000) END"
    )


CWL_MAPPING = Mapping(
    paths={
        "eventId": "$.eventId",
        "id": "$.id",
        "timestamp": "$.timestamp",
        "ingestionTime": "$.ingestionTime",
        "logGroupName": "$.logGroupName",
        "logStreamName": "$.logStreamName",
        "owner": "$.owner",
    },
    columns={
        "event_uid": "coalesce({eventId}, nullif({id}, ''))",
        "ts": _epoch_ms("{timestamp}"),
        "ingest_ts": _epoch_ms("{ingestionTime}"),
        "log_name": "nullif(concat_ws(':', {logGroupName}, {logStreamName}), '')",
        # AWS services log to /aws/<service>/...: the group names the service.
        "service": (
            "CASE WHEN {logGroupName} LIKE '/aws/%' THEN nullif(split_part({logGroupName}, '/', 3), '') END"
        ),
        "outcome": "'unknown'",
        "cloud_account": "CASE WHEN regexp_full_match({owner}, '[0-9]+') THEN {owner} END",
    },
    ts_missing_reason="log event has no valid timestamp (epoch milliseconds)",
)

# --- what the messages hold ------------------------------------------------------------------

# Messages are JSON strings, so a JSON message shows its keys escaped: \"eventVersion\"
_MESSAGE = re.compile(r'"message"\s*:\s*"((?:[^"\\]|\\.){0,8000})')
_CONTROL_TEXT = "CWL CONTROL MESSAGE"


def _esc(key: str) -> str:
    return '\\"' + key + '\\"'


_KINDS: dict[str, Callable[[str], bool]] = {
    "cloudtrail": lambda m: (
        _esc("eventVersion") in m and (_esc("eventSource") in m or _esc("eventTime") in m)
    ),
    "k8s_audit": lambda m: _esc("auditID") in m and "audit.k8s.io/" in m,
    "r53_resolver": lambda m: _esc("query_timestamp") in m and _esc("query_name") in m,
}


def _message_kind(head: Head) -> str:
    """'cloudtrail', 'k8s_audit', 'r53_resolver' or 'generic', from the first real message."""
    for match in _MESSAGE.finditer(head.text):
        message = match.group(1)
        if message.startswith(_CONTROL_TEXT) or not message.strip():
            continue
        for kind, test in _KINDS.items():
            if test(message):
                return kind
        return "generic"
    return "generic"


# The shape checks are memoized per head: four formats each (CloudTrail, EKS audit, Resolver or
# generic messages) ask them of every file an import sniffs.
@lru_cache(maxsize=64)
def _is_filter_output(head: Head) -> bool:
    s = head.stripped
    return (
        s.startswith("{")
        and has_key(s, "events")
        and (has_key(s, "searchedLogStreams") or (has_key(s, "eventId") and has_key(s, "ingestionTime")))
        and has_key(s, "logStreamName")
    )


@lru_cache(maxsize=64)
def _is_subscription_payload(head: Head) -> bool:
    obj = head.first_line_object
    if obj is not None:
        return obj.get("messageType") in ("DATA_MESSAGE", "CONTROL_MESSAGE") and "logEvents" in obj
    s = head.stripped
    return (
        s.startswith("{")
        and '"messageType"' in s  # a plain scan rules most files out before the expression
        and re.search(r'"messageType"\s*:\s*"(DATA|CONTROL)_MESSAGE"', s) is not None
        and has_key(s, "logEvents")
    )


# --- subscription payloads -------------------------------------------------------------------

# The payload's context, under the names FilterLogEvents gives the same facts (logGroupName,
# logStreamName), so every generic event reads alike and the Logs Insights fields @log and
# @logStream find them. The event's own keys (id, timestamp, message) are kept as sent.
_CONTEXT_KEYS = {
    "owner": "owner",
    "logGroup": "logGroupName",
    "logStream": "logStreamName",
    "subscriptionFilters": "subscriptionFilters",
}


def _data_events(doc: Any) -> list:
    if not isinstance(doc, dict):
        raise ValueError("not a subscription payload (a JSON object with logEvents)")
    if doc.get("messageType") == "CONTROL_MESSAGE":
        raise ValueError("CONTROL_MESSAGE: CloudWatch Logs checking the destination, not a log event")
    events = doc.get("logEvents")
    if not isinstance(events, list):
        raise ValueError("subscription payload without a logEvents array")
    return events


def _events_with_context(doc: Any) -> Iterator[Any]:
    """Each log event with the payload's owner, group and stream, so it can be read alone."""
    events = _data_events(doc)
    context = {name: doc[key] for key, name in _CONTEXT_KEYS.items() if key in doc}
    for event in events:
        yield {**context, **event} if isinstance(event, dict) else event


# --- the specs -------------------------------------------------------------------------------

_FILTER_HOW = (
    "aws logs filter-log-events --log-group-name GROUP --start-time MS --end-time MS > events.json "
    "(the CLI follows nextToken and merges the pages)."
)
_SUBSCRIPTION_HOW = (
    "A subscription filter to Firehose → S3 (or Kinesis/Lambda), the payloads decoded "
    "(base64 -d | gunzip), one payload per file or per line."
)


def _specs(
    stem: str, kind: str, label: str, source_type: str, mapping: Mapping, how_detail: str
) -> tuple[FormatSpec, FormatSpec]:
    specific = kind != "generic"
    suffix = "" if not specific else f" carrying {label}"

    def sniff_filter(head: Head) -> bool:
        return _is_filter_output(head) and _message_kind(head) == kind

    def sniff_subscription(head: Head) -> bool:
        return _is_subscription_payload(head) and _message_kind(head) == kind

    raw = "the event" if not specific else f"the {label} record in each message"
    filter_spec = FormatSpec(
        name=f"{stem}_filter",
        title=f"CloudWatch Logs filter-log-events output{suffix}",
        source_type=source_type,
        provider="aws",
        priority=74,
        sniff=sniff_filter,
        reader=Reader(
            ReaderKind.DOCUMENT, records_path="$.events", embedded_json_key="message" if specific else None
        ),
        mapping=mapping,
        description=f'{{"events":[...]}} from FilterLogEvents / GetLogEvents; raw record: {raw}.',
        how_to_obtain=_FILTER_HOW + how_detail,
    )
    subscription_spec = FormatSpec(
        name=f"{stem}_subscription",
        title=f"CloudWatch Logs subscription payloads{suffix}",
        source_type=source_type,
        provider="aws",
        priority=74,
        sniff=sniff_subscription,
        reader=Reader(
            ReaderKind.EXPLODE,
            explode=_data_events if specific else _events_with_context,
            embedded_json_key="message" if specific else None,
        ),
        mapping=mapping,
        description=(
            "Decoded subscription-filter payloads (DATA_MESSAGE with logEvents), one per file or per "
            f"line; raw record: {raw}. CONTROL_MESSAGE payloads are counted and reported, not imported."
        ),
        how_to_obtain=_SUBSCRIPTION_HOW + how_detail,
    )
    return filter_spec, subscription_spec


GENERIC_FILTER, GENERIC_SUBSCRIPTION = _specs("aws_cloudwatch_logs", "generic", "", "cwl", CWL_MAPPING, "")
CLOUDTRAIL_FILTER, CLOUDTRAIL_SUBSCRIPTION = _specs(
    "aws_cloudtrail_cwl",
    "cloudtrail",
    "CloudTrail",
    "cloudtrail",
    CLOUDTRAIL_MAPPING,
    " A trail sends to the group named in its CloudWatch Logs settings, streams <account>_CloudTrail_<region>.",
)
EKS_FILTER, EKS_SUBSCRIPTION = _specs(
    "aws_eks_audit_cwl",
    "k8s_audit",
    "EKS audit",
    "k8s_audit",
    K8S_AUDIT_MAPPING,
    " EKS control-plane audit logging writes /aws/eks/<cluster>/cluster, streams kube-apiserver-audit-*"
    " (--log-stream-name-prefix kube-apiserver-audit).",
)
RESOLVER_FILTER, RESOLVER_SUBSCRIPTION = _specs(
    "aws_route53_resolver_cwl",
    "r53_resolver",
    "Route 53 Resolver query log",
    "r53_resolver",
    RESOLVER_MAPPING,
    " Resolver query logging with a CloudWatch Logs destination writes one stream per VPC and ENI.",
)

# --- export task files ------------------------------------------------------------------------
# CreateExportTask writes <prefix>/<task id>/<stream>/000000.gz: one event per line, its time in
# ISO-8601 UTC with milliseconds, a space, then the message. The raw record keeps the whole line;
# the group and stream are only in the object's path, which the evidence ledger keeps.
_EXPORT_TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z"

EXPORT_MAPPING = Mapping(
    paths={"line": "$.line", "timestamp": "$.fields.timestamp"},
    columns={"ts": "TRY_CAST({timestamp} AS TIMESTAMPTZ)", "outcome": "'unknown'"},
    ts_missing_reason="line does not start with an ISO-8601 time",
)


def _sniff_export(head: Head) -> bool:
    return re.match(_EXPORT_TIME + " ", head.first_line) is not None


EXPORT = FormatSpec(
    name="aws_cloudwatch_logs_export",
    title="CloudWatch Logs export to S3 (CreateExportTask)",
    source_type="cwl",
    provider="aws",
    priority=45,
    sniff=_sniff_export,
    reader=Reader(
        ReaderKind.TEXT,
        text=TextSyntax(
            layouts=(TextLayout("export line", "timestamp", first_token=_EXPORT_TIME),),
            allow_extra_fields=True,  # the message: the rest of the line, kept in the raw line
        ),
    ),
    mapping=EXPORT_MAPPING,
    description=(
        "Lines '<ISO time> <message>' as an export task writes them (no event id, no ingestion "
        "time; messages of any source are kept as text, CloudTrail included)."
    ),
    how_to_obtain=(
        "aws logs create-export-task --log-group-name GROUP --from MS --to MS --destination BUCKET "
        "--destination-prefix exportedlogs; then aws s3 sync s3://BUCKET/exportedlogs/ ./evidence."
    ),
)

SPECS = (
    EXPORT,
    GENERIC_FILTER,
    GENERIC_SUBSCRIPTION,
    CLOUDTRAIL_FILTER,
    CLOUDTRAIL_SUBSCRIPTION,
    EKS_FILTER,
    EKS_SUBSCRIPTION,
    RESOLVER_FILTER,
    RESOLVER_SUBSCRIPTION,
)
