"""Amazon GuardDuty findings in the shapes users export them (formats.md 1.8).

* `aws guardduty get-findings` output `{"Findings":[...]}`: the CLI and boto3 print the API's
  member names, PascalCase (`AccountId`, `Resource.AccessKeyDetails.AccessKeyId`);
* the wire shape, camelCase: findings exported to S3 (one per line, `.jsonl.gz`) and the
  console's finding JSON;
* the EventBridge event (`"detail-type": "GuardDuty Finding"`, the finding in `detail`), one per
  file or one per line as rules and Firehose deliver them.
The raw record is always what the file holds (the envelope included): evidence is never rewritten.
So the two key spellings get two mappings generated from one path table.

Choices (formats.md 2.3):
* `ts` is `service.eventFirstSeen`, when the activity began, so a finding sits beside the API
  calls and flows that caused it; `ts_end` is `service.eventLastSeen` and `ingest_ts` is
  `updatedAt`, when GuardDuty last reported it. A finding without a service block falls back to
  `createdAt`, which is required.
* `event_uid` is the finding `id`. GuardDuty updates a finding in place (same id, growing `count`
  and `eventLastSeen`), so each exported version is a different record sharing the id: all are
  kept and flagged `uid_conflict` ("another version exists"), while identical copies (the same
  export imported twice) are dropped as duplicates. Fusing id and `updatedAt` into the uid would
  make it a string the record does not contain, and hide the versions from each other.
* Network direction decides which side is the source: for an OUTBOUND connection the instance
  (local) is `src_ip` and the remote host `dst_ip`; otherwise the remote host is the source, as in
  VPC flow records, so both join on the same columns.
* `severity` keeps GuardDuty's number; `severity_id` buckets it with GuardDuty's documented
  levels (Low 1.0-3.9, Medium 4.0-6.9, High 7.0-8.9, Critical 9.0-10.0) onto OCSF 2/3/4/5.
"""

from __future__ import annotations

import re

from viewer.formats.base import FormatSpec, Head, Mapping, Reader, ReaderKind, has_key

_ACT = "service.action"
_NC = f"{_ACT}.networkConnectionAction"
_PP = f"{_ACT}.portProbeAction.portProbeDetails[0]"
_AK = "resource.accessKeyDetails"

# Paths relative to the finding, in the API's wire spelling (camelCase).
FINDING_PATHS = {
    "id": "id",
    "type": "type",
    "createdAt": "createdAt",
    "updatedAt": "updatedAt",
    "severity": "severity",
    "accountId": "accountId",
    "region": "region",
    "attackSequence": "associatedAttackSequenceArn",
    "resourceType": "resource.resourceType",
    "akId": f"{_AK}.accessKeyId",
    "akPrincipalId": f"{_AK}.principalId",
    "akUserName": f"{_AK}.userName",
    "akUserType": f"{_AK}.userType",
    "instanceId": "resource.instanceDetails.instanceId",
    "eniPrivateIp": "resource.instanceDetails.networkInterfaces[0].privateIpAddress",
    "bucketName": "resource.s3BucketDetails[0].name",
    "eksName": "resource.eksClusterDetails.name",
    "ecsName": "resource.ecsClusterDetails.name",
    "rdsId": "resource.rdsDbInstanceDetails.dbInstanceIdentifier",
    "lambdaArn": "resource.lambdaDetails.functionArn",
    "serviceName": "service.serviceName",
    "firstSeen": "service.eventFirstSeen",
    "lastSeen": "service.eventLastSeen",
    "actionType": f"{_ACT}.actionType",
    "apiIp4": f"{_ACT}.awsApiCallAction.remoteIpDetails.ipAddressV4",
    "apiIp6": f"{_ACT}.awsApiCallAction.remoteIpDetails.ipAddressV6",
    "apiUserAgent": f"{_ACT}.awsApiCallAction.userAgent",
    "ncDirection": f"{_NC}.connectionDirection",
    "ncProtocol": f"{_NC}.protocol",
    "ncRemote4": f"{_NC}.remoteIpDetails.ipAddressV4",
    "ncRemote6": f"{_NC}.remoteIpDetails.ipAddressV6",
    "ncLocal4": f"{_NC}.localIpDetails.ipAddressV4",
    "ncLocal6": f"{_NC}.localIpDetails.ipAddressV6",
    "ncRemotePort": f"{_NC}.remotePortDetails.port",
    "ncLocalPort": f"{_NC}.localPortDetails.port",
    "ppRemote4": f"{_PP}.remoteIpDetails.ipAddressV4",
    "ppRemote6": f"{_PP}.remoteIpDetails.ipAddressV6",
    "ppLocal4": f"{_PP}.localIpDetails.ipAddressV4",
    "ppLocalPort": f"{_PP}.localPortDetails.port",
    "k8sIp4": f"{_ACT}.kubernetesApiCallAction.remoteIpDetails.ipAddressV4",
    "k8sUserAgent": f"{_ACT}.kubernetesApiCallAction.userAgent",
    "rdsIp4": f"{_ACT}.rdsLoginAttemptAction.remoteIpDetails.ipAddressV4",
    "dnsProtocol": f"{_ACT}.dnsRequestAction.protocol",
}

_REMOTE = (
    "coalesce({ncRemote4}, {ncRemote6}, {apiIp4}, {apiIp6}, {ppRemote4}, {ppRemote6}, {k8sIp4}, {rdsIp4})"
)
_LOCAL = "coalesce({ncLocal4}, {ncLocal6}, {ppLocal4}, {eniPrivateIp})"
# The instance is the source when it connected out or asked the resolver.
_LOCAL_IS_SOURCE = "({ncDirection} = 'OUTBOUND' OR {actionType} = 'DNS_REQUEST')"
_SEVERITY = "TRY_CAST({severity} AS DOUBLE)"

FINDING_COLUMNS = {
    "event_uid": "{id}",
    "ts": "coalesce(TRY_CAST({firstSeen} AS TIMESTAMPTZ), TRY_CAST({createdAt} AS TIMESTAMPTZ))",
    "ts_end": "TRY_CAST({lastSeen} AS TIMESTAMPTZ)",
    "ingest_ts": "TRY_CAST({updatedAt} AS TIMESTAMPTZ)",
    "log_name": "{actionType}",
    "event_class": "'finding'",
    "service": "coalesce({serviceName}, 'guardduty')",
    "action": "{type}",
    "outcome": "'unknown'",  # a finding reports activity; whether it succeeded is not said
    "principal_type": "{akUserType}",
    "principal_id": "{akPrincipalId}",
    "principal_name": "{akUserName}",
    "credential_id": "{akId}",
    "src_ip": f"CASE WHEN {_LOCAL_IS_SOURCE} THEN {_LOCAL} ELSE {_REMOTE} END",
    "src_port": (
        "TRY_CAST(CASE WHEN {ncDirection} = 'OUTBOUND' THEN {ncLocalPort} ELSE {ncRemotePort} END AS INTEGER)"
    ),
    "dst_ip": (
        "CASE WHEN {ncDirection} = 'OUTBOUND' THEN coalesce({ncRemote4}, {ncRemote6}) "
        f"WHEN {{actionType}} IN ('NETWORK_CONNECTION', 'PORT_PROBE') THEN {_LOCAL} END"
    ),
    "dst_port": (
        "TRY_CAST(CASE WHEN {ncDirection} = 'OUTBOUND' THEN {ncRemotePort} "
        "ELSE coalesce({ncLocalPort}, {ppLocalPort}) END AS INTEGER)"
    ),
    "protocol": "lower(coalesce({ncProtocol}, {dnsProtocol}))",
    "user_agent": "coalesce({apiUserAgent}, {k8sUserAgent})",
    "target_type": "{resourceType}",
    "target_id": "coalesce({instanceId}, {bucketName}, {eksName}, {ecsName}, {rdsId}, {lambdaArn}, {akId})",
    "cloud_account": "{accountId}",
    "region": "{region}",
    "correlation_id": "{attackSequence}",  # findings of one attack sequence share it
    "severity": "{severity}",
    "severity_id": (
        f"CASE WHEN {_SEVERITY} IS NULL THEN 0 WHEN {_SEVERITY} < 4 THEN 2 WHEN {_SEVERITY} < 7 THEN 3 "
        f"WHEN {_SEVERITY} < 9 THEN 4 ELSE 5 END"
    ),
}

_MISSING = "finding has no valid service.eventFirstSeen or createdAt"


def _pascal(path: str) -> str:
    """The boto3/CLI member name of a wire path: each key with its first letter upper-cased."""
    return ".".join(seg[:1].upper() + seg[1:] for seg in path.split("."))


def finding_mapping(prefix: str = "$.", pascal: bool = False) -> Mapping:
    """The finding mapping with its paths under `prefix` (e.g. '$.detail.' for EventBridge)."""
    paths = {k: prefix + (_pascal(p) if pascal else p) for k, p in FINDING_PATHS.items()}
    return Mapping(paths=paths, columns=FINDING_COLUMNS, ts_missing_reason=_MISSING)


CAMEL_MAPPING = finding_mapping()
PASCAL_MAPPING = finding_mapping(pascal=True)
EVENTBRIDGE_MAPPING = finding_mapping("$.detail.")

_GUARDDUTY_MARK = re.compile(r'"arn:aws[\w-]*:guardduty:|"[Dd]etectorId"\s*:')
_EVENTBRIDGE_TYPE = re.compile(r'"detail-type"\s*:\s*"GuardDuty Finding"')
_EVENTBRIDGE_SOURCE = re.compile(r'"source"\s*:\s*"aws\.guardduty"')


def _is_camel_finding(obj: dict) -> bool:
    return {"schemaVersion", "id", "type", "accountId"} <= obj.keys() and (
        "service" in obj or "resource" in obj
    )


def _sniff_get_findings(head: Head) -> bool:
    # Security Hub's get-findings also answers {"Findings":[...]} with SchemaVersion, but its
    # account key is AwsAccountId and it has no GuardDuty detector.
    s = head.stripped
    if not s.startswith("{") or not has_key(s[:200], "Findings"):
        return False
    if re.match(r'\{\s*"Findings"\s*:\s*\[\s*\]\s*\}', s):
        return True
    return has_key(s, "SchemaVersion") and has_key(s, "AccountId") and _GUARDDUTY_MARK.search(s) is not None


def _sniff_finding_lines(head: Head) -> bool:
    obj = head.first_line_object
    return obj is not None and _is_camel_finding(obj)


def _sniff_single_finding(head: Head) -> bool:
    # Pretty-printed, so the first line is not a whole object.
    s = head.stripped
    return (
        s.startswith("{")
        and head.first_line_object is None
        and all(has_key(s, k) for k in ("schemaVersion", "accountId", "type"))
        and (has_key(s, "service") or has_key(s, "resource"))
        and _GUARDDUTY_MARK.search(s) is not None
        and not has_key(s, "detail-type")
        and not has_key(s[:200], "Findings")
    )


def _sniff_eventbridge_lines(head: Head) -> bool:
    obj = head.first_line_object
    return (
        obj is not None
        and obj.get("detail-type") == "GuardDuty Finding"
        and obj.get("source") == "aws.guardduty"
    )


def _sniff_eventbridge_single(head: Head) -> bool:
    s = head.stripped
    return (
        s.startswith("{")
        and head.first_line_object is None
        and "GuardDuty Finding" in s  # a plain scan rules most files out before the expressions
        and _EVENTBRIDGE_TYPE.search(s) is not None
        and _EVENTBRIDGE_SOURCE.search(s) is not None
    )


def _spec(
    name: str, title: str, priority: int, sniff, reader: Reader, mapping: Mapping, desc: str, how: str
) -> FormatSpec:
    return FormatSpec(
        name=name,
        title=title,
        source_type="guardduty",
        provider="aws",
        priority=priority,
        sniff=sniff,
        reader=reader,
        mapping=mapping,
        description=desc,
        how_to_obtain=how,
    )


GET_FINDINGS = _spec(
    "aws_guardduty_get_findings",
    "GuardDuty findings: aws guardduty get-findings output (PascalCase)",
    88,
    _sniff_get_findings,
    Reader(ReaderKind.DOCUMENT, records_path="$.Findings"),
    PASCAL_MAPPING,
    'The CLI/boto3 answer {"Findings":[...]}, keys spelled as the SDK\'s member names (AccountId, '
    "Service.EventFirstSeen). One event per finding; the raw record is the finding as printed.",
    "aws guardduty list-findings --detector-id D --query FindingIds --output text, then "
    "aws guardduty get-findings --detector-id D --finding-ids ID... > findings.json (50 ids per call).",
)
FINDING_LINES = _spec(
    "aws_guardduty_jsonl",
    "GuardDuty findings, one per line (S3 export)",
    76,
    _sniff_finding_lines,
    Reader(ReaderKind.LINES),
    CAMEL_MAPPING,
    "Findings in the API's camelCase JSON, one per line: GuardDuty's export to S3 writes "
    "AWSLogs/<account>/GuardDuty/<region>/YYYY/MM/DD/<uuid>.jsonl.gz (SSE-KMS: needs kms:Decrypt).",
    "GuardDuty console → Settings → Findings export options → S3 bucket; then "
    "aws s3 sync s3://BUCKET/AWSLogs/ACCOUNT/GuardDuty/ ./evidence (new findings in ~5 min, updates "
    "every 15 min / 1 h / 6 h; archived findings are not exported).",
)
SINGLE_FINDING = _spec(
    "aws_guardduty_finding",
    "A single GuardDuty finding (console finding JSON)",
    62,
    _sniff_single_finding,
    Reader(ReaderKind.DOCUMENT, records_path=None),
    CAMEL_MAPPING,
    "One finding in camelCase JSON, pretty-printed, as the console shows it.",
    "GuardDuty console → Findings → select a finding → Finding ID link → copy the JSON into a file.",
)
EVENTBRIDGE_LINES = _spec(
    "aws_guardduty_eventbridge_jsonl",
    "GuardDuty findings as EventBridge events, one per line",
    77,
    _sniff_eventbridge_lines,
    Reader(ReaderKind.LINES),
    EVENTBRIDGE_MAPPING,
    'EventBridge events {"detail-type":"GuardDuty Finding","source":"aws.guardduty","detail":'
    "{finding}}, one per line. The whole event is the raw record (its id and time stay with it).",
    "An EventBridge rule on source aws.guardduty to Firehose (newline delimiter on) → S3, or to "
    "CloudWatch Logs; aws s3 sync the delivery prefix.",
)
EVENTBRIDGE_SINGLE = _spec(
    "aws_guardduty_eventbridge",
    "A GuardDuty finding as one EventBridge event",
    63,
    _sniff_eventbridge_single,
    Reader(ReaderKind.DOCUMENT, records_path=None),
    EVENTBRIDGE_MAPPING,
    "One pretty-printed EventBridge event carrying a GuardDuty finding in detail.",
    "Copied from an EventBridge archive replay, a Lambda/SNS notification or a ticket.",
)

SPECS = (GET_FINDINGS, FINDING_LINES, SINGLE_FINDING, EVENTBRIDGE_LINES, EVENTBRIDGE_SINGLE)
