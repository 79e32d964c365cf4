"""AWS CloudTrail in every shape it is found (formats.md 1.1-1.3).

* S3 delivery files `{"Records":[...]}` (also what the console's JSON export writes);
* a bare JSON array of records, a single pretty-printed record, one record per line;
* `aws cloudtrail lookup-events` output (`{"Events":[{..., "CloudTrailEvent": "<json>"}]}`), its
  JSONL form and a bare array of such events: the full record is the embedded string.
All share one mapping: the raw record is always the CloudTrail record itself.
"""

from __future__ import annotations

from viewer.formats.base import FormatSpec, Head, Mapping, Reader, ReaderKind, has_key

_UI = "$.userIdentity"

#: The resource a call acts on when the record lists no `resources` (most management events do
#: not: security groups, IAM users and roles, Lambda functions...): (path name, JSON path, the
#: CloudFormation type it names), first found wins. Order matters where a call names two: an
#: AttachRolePolicy or AttachUserPolicy changes the role or user, not the policy.
_REQUEST_TARGETS: tuple[tuple[str, str, str], ...] = (
    ("roleArn", "$.requestParameters.roleArn", "AWS::IAM::Role"),
    ("bucketName", "$.requestParameters.bucketName", "AWS::S3::Bucket"),
    ("instanceId", "$.requestParameters.instancesSet.items[0].instanceId", "AWS::EC2::Instance"),
    ("launchedId", "$.responseElements.instancesSet.items[0].instanceId", "AWS::EC2::Instance"),
    ("groupId", "$.requestParameters.groupId", "AWS::EC2::SecurityGroup"),
    ("ruleGroupId", "$.requestParameters.ModifySecurityGroupRulesRequest.GroupId", "AWS::EC2::SecurityGroup"),
    ("createdGroupId", "$.responseElements.groupId", "AWS::EC2::SecurityGroup"),
    ("functionName", "$.requestParameters.functionName", "AWS::Lambda::Function"),
    ("secretId", "$.requestParameters.secretId", "AWS::SecretsManager::Secret"),
    ("roleName", "$.requestParameters.roleName", "AWS::IAM::Role"),
    ("reqUserName", "$.requestParameters.userName", "AWS::IAM::User"),
    ("policyArn", "$.requestParameters.policyArn", "AWS::IAM::ManagedPolicy"),
    ("keyId", "$.requestParameters.keyId", "AWS::KMS::Key"),
    ("logGroupName", "$.requestParameters.logGroupName", "AWS::Logs::LogGroup"),
    ("dbInstance", "$.requestParameters.dBInstanceIdentifier", "AWS::RDS::DBInstance"),
)
#: `requestParameters.name` names a trail to CloudTrail and a parameter to SSM (and other things
#: to other services): its type follows the event source.
_NAME_TYPES = {
    "cloudtrail.amazonaws.com": "AWS::CloudTrail::Trail",
    "ssm.amazonaws.com": "AWS::SSM::Parameter",
}
_TARGET_ID_SQL = (
    "coalesce({res0Arn}, " + ", ".join(f"{{{n}}}" for n, _, _ in _REQUEST_TARGETS) + ", {reqName})"
)
_TARGET_TYPE_SQL = (
    "CASE WHEN {res0Arn} IS NOT NULL THEN {res0Type} "
    + " ".join(f"WHEN {{{n}}} IS NOT NULL THEN '{t}'" for n, _, t in _REQUEST_TARGETS)
    + " WHEN {reqName} IS NOT NULL THEN CASE {eventSource} "
    + " ".join(f"WHEN '{src}' THEN '{t}'" for src, t in _NAME_TYPES.items())
    + " END ELSE {res0Type} END"
)

CLOUDTRAIL_MAPPING = Mapping(
    paths={
        "eventID": "$.eventID",
        "eventTime": "$.eventTime",
        "eventSource": "$.eventSource",
        "eventName": "$.eventName",
        "eventType": "$.eventType",
        "eventCategory": "$.eventCategory",
        "errorCode": "$.errorCode",
        "errorMessage": "$.errorMessage",
        "readOnly": "$.readOnly",
        "consoleLogin": "$.responseElements.ConsoleLogin",
        "uiType": f"{_UI}.type",
        "uiArn": f"{_UI}.arn",
        "uiPrincipalId": f"{_UI}.principalId",
        "uiUserName": f"{_UI}.userName",
        "uiAccountId": f"{_UI}.accountId",
        "uiInvokedBy": f"{_UI}.invokedBy",
        "accessKeyId": f"{_UI}.accessKeyId",
        "issuerArn": f"{_UI}.sessionContext.sessionIssuer.arn",
        "creationDate": f"{_UI}.sessionContext.attributes.creationDate",
        "sessionSourceIdentity": f"{_UI}.sessionContext.sourceIdentity",
        "requestSourceIdentity": "$.requestParameters.sourceIdentity",
        "sourceIPAddress": "$.sourceIPAddress",
        "userAgent": "$.userAgent",
        "res0Type": "$.resources[0].type",
        "res0Arn": "$.resources[0].ARN",
        **{name: path for name, path, _ in _REQUEST_TARGETS},
        "reqName": "$.requestParameters.name",
        "recipientAccountId": "$.recipientAccountId",
        "awsRegion": "$.awsRegion",
        "requestID": "$.requestID",
        "sharedEventID": "$.sharedEventID",
    },
    columns={
        "event_uid": "{eventID}",
        # eventTime is ISO-8601 UTC ("...Z"); TRY_CAST keeps a malformed one from failing the batch.
        "ts": "TRY_CAST({eventTime} AS TIMESTAMPTZ)",
        "log_name": "{eventCategory}",
        "event_class": "{eventType}",
        "service": "{eventSource}",
        "action": "{eventName}",
        # ConsoleLogin reports a failed sign-in in responseElements, without an errorCode.
        "outcome": (
            "CASE WHEN {errorCode} IS NOT NULL OR {consoleLogin} = 'Failure' THEN 'failure' "
            "WHEN {eventName} IS NULL THEN 'unknown' ELSE 'success' END"
        ),
        "error_code": "{errorCode}",
        "error_message": "{errorMessage}",
        "read_only": "TRY_CAST({readOnly} AS BOOLEAN)",
        "principal_type": "{uiType}",
        "principal_id": (
            "coalesce({uiArn}, CASE WHEN {uiType} = 'AWSService' THEN {uiInvokedBy} END, "
            "nullif(concat_ws(':', {uiAccountId}, {uiPrincipalId}), ''), {uiInvokedBy})"
        ),
        # The friendly name: an IAM user's name, else an assumed role's session name.
        "principal_name": (
            "coalesce({uiUserName}, CASE WHEN {uiType} = 'AssumedRole' "
            "THEN nullif(regexp_extract({uiArn}, '[^/]+$'), '') END, "
            "CASE WHEN {uiType} = 'Root' THEN 'root' END, {uiInvokedBy})"
        ),
        "principal_account": "{uiAccountId}",
        "session_issuer": "{issuerArn}",
        "credential_id": "{accessKeyId}",
        "session_id": "CASE WHEN {creationDate} IS NOT NULL THEN concat({uiPrincipalId}, '@', {creationDate}) END",
        "source_identity": "coalesce({sessionSourceIdentity}, {requestSourceIdentity})",
        "src_ip": "{sourceIPAddress}",
        "user_agent": "{userAgent}",
        "target_type": _TARGET_TYPE_SQL,
        "target_id": _TARGET_ID_SQL,
        "cloud_account": "coalesce({recipientAccountId}, {uiAccountId})",
        "region": "{awsRegion}",
        "correlation_id": "coalesce({requestID}, {sharedEventID})",
    },
    ts_missing_reason="record has no valid eventTime",
)

_RECORD_KEYS = ("eventTime", "eventName")


def _looks_like_record(text: str) -> bool:
    return all(has_key(text, k) for k in _RECORD_KEYS) and (
        has_key(text, "eventSource") or has_key(text, "eventVersion")
    )


def _sniff_records_document(head: Head) -> bool:
    # `Records` is the first key CloudTrail writes; allow an empty file `{"Records":[]}`.
    s = head.stripped
    return (
        s.startswith("{")
        and has_key(s[:400], "Records")
        and (_looks_like_record(s) or '"Records":[]' in s.replace(" ", ""))
        and '"AwsCloudTrailInsight"' not in s  # Insights events have their own format
    )


def _sniff_record_array(head: Head) -> bool:
    return (
        head.first_char == "[" and _looks_like_record(head.text) and not has_key(head.text, "CloudTrailEvent")
    )


def _sniff_record_lines(head: Head) -> bool:
    obj = head.first_line_object
    return obj is not None and "eventTime" in obj and "eventName" in obj and "Records" not in obj


def _sniff_single_record(head: Head) -> bool:
    # A pretty-printed single record: one document, not one object per line.
    return (
        head.first_char == "{"
        and head.first_line_object is None
        and not has_key(head.text[:400], "Records")
        and has_key(head.text, "eventVersion")
        and _looks_like_record(head.text)
    )


def _sniff_lookup_document(head: Head) -> bool:
    s = head.stripped
    return s.startswith("{") and has_key(s, "Events") and has_key(s, "CloudTrailEvent")


def _sniff_lookup_array(head: Head) -> bool:
    return head.first_char == "[" and has_key(head.text, "CloudTrailEvent")


def _sniff_lookup_lines(head: Head) -> bool:
    obj = head.first_line_object
    return obj is not None and "CloudTrailEvent" in obj


def _spec(name: str, title: str, priority: int, sniff, reader: Reader, how: str) -> FormatSpec:
    return FormatSpec(
        name=name,
        title=title,
        source_type="cloudtrail",
        provider="aws",
        priority=priority,
        sniff=sniff,
        reader=reader,
        mapping=CLOUDTRAIL_MAPPING,
        how_to_obtain=how,
    )


S3_DELIVERY = _spec(
    "aws_cloudtrail",
    "AWS CloudTrail log file (S3 delivery / console JSON export)",
    90,
    _sniff_records_document,
    Reader(ReaderKind.DOCUMENT, records_path="$.Records"),
    "Sync the trail bucket (aws s3 sync s3://BUCKET/AWSLogs/ ./evidence), or Event history → Download → JSON.",
)
RECORD_ARRAY = _spec(
    "aws_cloudtrail_array",
    "AWS CloudTrail records as a bare JSON array",
    80,
    _sniff_record_array,
    Reader(ReaderKind.DOCUMENT, records_path="$"),
    "Tools that save the Records array alone, e.g. jq '.Records' file.json.",
)
RECORD_LINES = _spec(
    "aws_cloudtrail_jsonl",
    "AWS CloudTrail records, one per line (JSONL)",
    70,
    _sniff_record_lines,
    Reader(ReaderKind.LINES),
    "jq -c '.Records[]', Athena/CloudTrail Lake exports, SIEM forwarders.",
)
SINGLE_RECORD = _spec(
    "aws_cloudtrail_record",
    "A single AWS CloudTrail record",
    60,
    _sniff_single_record,
    Reader(ReaderKind.DOCUMENT, records_path=None),
    "Copied from the console's event view or a ticket.",
)
LOOKUP_DOCUMENT = _spec(
    "aws_cloudtrail_lookup",
    "aws cloudtrail lookup-events output",
    85,
    _sniff_lookup_document,
    Reader(ReaderKind.DOCUMENT, records_path="$.Events", embedded_json_key="CloudTrailEvent"),
    "aws cloudtrail lookup-events --start-time ... --end-time ... > events.json",
)
LOOKUP_ARRAY = _spec(
    "aws_cloudtrail_lookup_array",
    "LookupEvents events as a bare JSON array",
    84,
    _sniff_lookup_array,
    Reader(ReaderKind.DOCUMENT, records_path="$", embedded_json_key="CloudTrailEvent"),
    "aws cloudtrail lookup-events --query 'Events' > events.json",
)
LOOKUP_LINES = _spec(
    "aws_cloudtrail_lookup_jsonl",
    "LookupEvents events, one per line",
    75,
    _sniff_lookup_lines,
    Reader(ReaderKind.LINES, embedded_json_key="CloudTrailEvent"),
    "aws cloudtrail lookup-events ... | jq -c '.Events[]'",
)

SPECS = (S3_DELIVERY, RECORD_ARRAY, RECORD_LINES, SINGLE_RECORD, LOOKUP_DOCUMENT, LOOKUP_ARRAY, LOOKUP_LINES)
