"""Amazon S3 server access logs (formats.md 1.10).

One request per line, space-separated, '-' for an empty value; the time is bracketed
(`[06/Feb/2019:00:00:38 +0000]`) and the Request-URI, Referer and User-Agent are quoted. S3
appends fields over the years (host id, signature version, cipher suite, authentication type,
host header, TLS version, access point ARN, aclRequired): a line may stop after the User-Agent,
and fields newer than these are kept in the raw line.

Log objects are small plain-text files (often thousands per hour), which the importer batches
many to a statement.
"""

from __future__ import annotations

import re

from viewer.formats.base import FormatSpec, Head, Mapping, Reader, ReaderKind, TextLayout, TextSyntax

FIELDS = (
    'bucket_owner bucket [time] remote_ip requester request_id operation key "request_uri" '
    'http_status error_code bytes_sent object_size total_time turn_around_time "referer" "user_agent" '
    "version_id host_id signature_version cipher_suite authentication_type host_header tls_version "
    "access_point_arn acl_required"
)
# The fields every S3 access log has carried: through User-Agent.
MIN_FIELDS = 17

_NAMES = [n.strip('"[]') for n in FIELDS.split()]


def _v(name: str) -> str:
    return f"nullif({{{name}}}, '-')"


MAPPING = Mapping(
    paths={"line": "$.line", **{n: f"$.fields.{n}" for n in _NAMES}},
    columns={
        # Request ID: a copy logs two records and a multi-object delete one per key under one
        # request, so those share it (and are flagged as sharing it).
        "event_uid": _v("request_id"),
        "ts": "try_strptime({time}, '%d/%b/%Y:%H:%M:%S %z')::TIMESTAMPTZ",
        "event_class": "'s3_request'",
        "service": "'s3.amazonaws.com'",
        "action": _v("operation"),
        "outcome": (
            "CASE WHEN TRY_CAST({http_status} AS INTEGER) < 400 THEN 'success' "
            "WHEN TRY_CAST({http_status} AS INTEGER) >= 400 THEN 'failure' ELSE 'unknown' END"
        ),
        "error_code": _v("error_code"),
        "read_only": (
            "CASE WHEN split_part({operation}, '.', 2) IN ('GET', 'HEAD', 'OPTIONS') THEN true "
            "WHEN split_part({operation}, '.', 2) IN ('PUT', 'POST', 'DELETE', 'COPY') THEN false END"
        ),
        "principal_id": _v("requester"),
        "principal_type": (
            "CASE WHEN {requester} = '-' THEN 'Anonymous' WHEN {requester} LIKE 'arn:%' THEN "
            "split_part(split_part({requester}, ':', 6), '/', 1) ELSE 'CanonicalUser' END"
        ),
        "src_ip": _v("remote_ip"),
        "user_agent": _v("user_agent"),
        "target_type": f"CASE WHEN {_v('key')} IS NOT NULL THEN 'AWS::S3::Object' ELSE 'AWS::S3::Bucket' END",
        "target_id": ("'arn:aws:s3:::' || {bucket} || CASE WHEN {key} <> '-' THEN '/' || {key} ELSE '' END"),
        "target_name": _v("key"),
        "region": (
            "nullif(regexp_extract({host_header}, "
            "'\\.s3[.-](?:dualstack\\.)?([a-z][a-z](?:-gov)?-[a-z]+-[0-9])\\.amazonaws\\.com', 1), '')"
        ),
        "correlation_id": _v("request_id"),
        "bytes": f"TRY_CAST({_v('bytes_sent')} AS BIGINT)",
    },
    ts_missing_reason="no parseable [time]",
)

_LINE = re.compile(
    r"([0-9a-f]{64}|-) \S+ \[\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\] \S+ \S+ \S+ [A-Z0-9_.]+ "
)


def _sniff(head: Head) -> bool:
    return _LINE.match(head.first_line) is not None


ACCESS_LOG = FormatSpec(
    name="aws_s3_access",
    title="S3 server access logs",
    source_type="s3_access",
    provider="aws",
    priority=50,
    sniff=_sniff,
    reader=Reader(
        ReaderKind.TEXT,
        text=TextSyntax(
            layouts=(TextLayout("server access log", FIELDS, min_fields=MIN_FIELDS),),
            allow_extra_fields=True,
        ),
    ),
    mapping=MAPPING,
    description="S3 server access log records: one request to a bucket per line.",
    how_to_obtain=(
        "The bucket's server access logging target: aws s3 sync s3://<log-bucket>/<prefix> ./s3-logs "
        "(simple keys <prefix>YYYY-mm-DD-HH-MM-SS-<id>, or partitioned <prefix><account>/<region>/<bucket>/YYYY/MM/DD/)."
    ),
)

SPECS = (ACCESS_LOG,)
