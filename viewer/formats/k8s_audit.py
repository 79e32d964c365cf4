"""Kubernetes API server audit events, `audit.k8s.io/v1` (formats.md 1.19, correlation 3.6).

Shapes:
* the apiserver's log backend file: one Event per line (`--audit-log-path`);
* an `EventList` document (`{"kind":"EventList","items":[...]}`, the webhook backend's batch);
* AKS diagnostic logs (`{"records":[{"category":"kube-audit","properties":{"log":"<event JSON>"}}]}`,
  or one such record per line in storage-account blobs): the event is a JSON *string*.
GKE's audit entries are Cloud Logging AuditLog entries and belong to gcp_audit; EKS's arrive
through CloudWatch Logs, whose module reuses `K8S_AUDIT_MAPPING` / `k8s_audit_mapping`.

Every stage of a request is its own record (RequestReceived, ResponseStarted, ResponseComplete,
Panic). They share `auditID`, so `correlation_id` is the auditID and `event_uid` adds the stage:
with the bare auditID the stages would all claim one identity and be flagged as uid conflicts.
`ts` is when the apiserver received the request (all stages of a request sort together, like a
CloudTrail eventTime); `ts_end` is the stage's own time.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import orjson

from viewer.formats.base import FormatSpec, Head, Mapping, Reader, ReaderKind, has_key
from viewer.formats.gcp_audit import first_line_exceeds_head

_EVENT_PATHS = {
    "auditID": "auditID",
    "stage": "stage",
    "level": "level",
    "verb": "verb",
    "requestURI": "requestURI",
    "username": "user.username",
    "impersonated": "impersonatedUser.username",
    "lastSourceIp": "sourceIPs[#-1]",
    "userAgent": "userAgent",
    "resource": "objectRef.resource",
    "subresource": "objectRef.subresource",
    "namespace": "objectRef.namespace",
    "name": "objectRef.name",
    "apiGroup": "objectRef.apiGroup",
    "code": "responseStatus.code",
    "reason": "responseStatus.reason",
    "message": "responseStatus.message",
    "received": "requestReceivedTimestamp",
    "stageTime": "stageTimestamp",
}
_CODE = "TRY_CAST({code} AS INTEGER)"
_EVENT_COLUMNS = {
    "event_uid": "CASE WHEN {auditID} IS NOT NULL THEN concat_ws('/', {auditID}, {stage}) END",
    "ts": "coalesce(TRY_CAST({received} AS TIMESTAMPTZ), TRY_CAST({stageTime} AS TIMESTAMPTZ))",
    "ts_end": "TRY_CAST({stageTime} AS TIMESTAMPTZ)",
    "event_class": "{stage}",
    "service": "CASE WHEN {resource} IS NOT NULL THEN coalesce(nullif({apiGroup}, ''), 'core') END",
    # Non-resource requests (/healthz, /version) have no objectRef: the path stands in.
    "action": (
        "coalesce({verb} || ' ' || {resource} || coalesce('/' || {subresource}, ''), "
        "{verb} || ' ' || split_part({requestURI}, '?', 1), {verb})"
    ),
    "outcome": (
        f"CASE WHEN {_CODE} IS NULL THEN 'unknown' WHEN {_CODE} < 400 THEN 'success' ELSE 'failure' END"
    ),
    "error_code": f"CASE WHEN {_CODE} >= 400 THEN coalesce(nullif({{reason}}, ''), {{code}}) END",
    "error_message": f"CASE WHEN {_CODE} >= 400 THEN nullif({{message}}, '') END",
    "read_only": (
        "CASE WHEN {verb} IN ('get', 'list', 'watch') THEN true "
        "WHEN {verb} IN ('create', 'update', 'patch', 'delete', 'deletecollection') THEN false END"
    ),
    "principal_type": (
        "CASE WHEN {username} LIKE 'system:serviceaccount:%' THEN 'serviceaccount' "
        "WHEN {username} LIKE 'system:node:%' THEN 'node' "
        "WHEN {username} = 'system:anonymous' THEN 'anonymous' "
        "WHEN {username} IS NOT NULL THEN 'user' END"
    ),
    "principal_id": "{username}",
    "principal_name": (
        "CASE WHEN {username} LIKE 'system:serviceaccount:%' OR {username} LIKE 'system:node:%' "
        "THEN regexp_extract({username}, '[^:]+$') ELSE {username} END"
    ),
    # Impersonation is a delegation hop: the authenticated user acts as impersonatedUser.
    "session_issuer": "{impersonated}",
    # sourceIPs lists X-Forwarded-For, then X-Real-Ip, then the connection's address; the docs
    # warn that all but the last can be set by the client, so only the last one is trusted.
    "src_ip": "{lastSourceIp}",
    "user_agent": "{userAgent}",
    "target_type": "{resource}",
    "target_id": "coalesce({namespace} || '/' || {name}, {name}, {namespace})",
    "target_name": "{name}",
    "correlation_id": "{auditID}",
}


def k8s_audit_mapping(
    prefix: str = "$",
    extra_paths: dict[str, str] | None = None,
    extra_columns: dict[str, str] | None = None,
) -> Mapping:
    """The audit Event mapping with the event at `prefix` inside the raw record.

    Wrappers (AKS diagnostic records, CloudWatch Logs events) keep their own fields in the raw
    record and add columns from them through `extra_paths` / `extra_columns`.
    """
    paths = {k: f"{prefix}.{p}" for k, p in _EVENT_PATHS.items()}
    return Mapping(
        paths={**paths, **(extra_paths or {})},
        columns={**_EVENT_COLUMNS, **(extra_columns or {})},
        ts_missing_reason="audit event has no valid requestReceivedTimestamp or stageTimestamp",
    )


K8S_AUDIT_MAPPING = k8s_audit_mapping()

AKS_MAPPING = k8s_audit_mapping(
    "$.properties.log",
    {"category": "$.category", "resourceId": "$.resourceId"},
    {
        "log_name": "{category}",
        # The subscription, as for every Azure resource log; the cluster is the resourceId's end.
        "cloud_account": "nullif(lower(regexp_extract({resourceId}, '(?i)^/subscriptions/([^/]+)', 1)), '')",
    },
)


def _looks_like_event(obj: object) -> bool:
    return (
        isinstance(obj, dict)
        and obj.get("kind") == "Event"
        and str(obj.get("apiVersion", "")).startswith("audit.k8s.io/")
    )


def _sniff_lines(head: Head) -> bool:
    if first_line_exceeds_head(head):  # a RequestResponse-level event can outgrow the head
        start = head.text[:4096]
        return (
            re.search(r'"kind"\s*:\s*"Event"', start) is not None
            and '"audit.k8s.io/' in start
            and '"EventList"' not in start
        )
    return _looks_like_event(head.first_line_object)


def _sniff_event_list(head: Head) -> bool:
    start = head.text[:2048]
    return head.first_char == "{" and '"EventList"' in start and "audit.k8s.io/" in start


def _sniff_aks(head: Head) -> bool:
    text = head.text
    return (
        head.first_char == "{"
        and '"kube-audit' in text  # one scan rules most files out before the two exact ones
        and ('"kube-audit"' in text or '"kube-audit-admin"' in text)
        and has_key(text, "properties")
        and has_key(text, "log")
        and "auditID" in text
    )


def explode_aks(doc: Any) -> Iterator[Any]:
    """Each diagnostic record, its `properties.log` string decoded into the event object.

    The wrapper stays (category, resourceId, pod, time): only the string is replaced by the
    object it encodes. A record whose log is not a JSON object is kept as it came; having no
    event time, it is then rejected with a warning and its position.
    """
    records = doc.get("records") if isinstance(doc, dict) and "records" in doc else [doc]
    if not isinstance(records, list):
        raise ValueError("records is not a list")
    for rec in records:
        props = rec.get("properties") if isinstance(rec, dict) else None
        if isinstance(props, dict) and isinstance(props.get("log"), str):
            try:
                event = orjson.loads(props["log"])
            except orjson.JSONDecodeError:
                event = None
            if isinstance(event, dict):
                rec = {**rec, "properties": {**props, "log": event}}
        yield rec


def _spec(name: str, title: str, priority: int, sniff, reader: Reader, how: str, desc: str) -> FormatSpec:  # type: ignore[no-untyped-def]
    return FormatSpec(
        name=name,
        title=title,
        source_type="k8s_audit",
        provider="k8s",
        priority=priority,
        sniff=sniff,
        reader=reader,
        mapping=AKS_MAPPING if reader.kind is ReaderKind.EXPLODE else K8S_AUDIT_MAPPING,
        description=desc,
        how_to_obtain=how,
    )


EVENT_LINES = _spec(
    "k8s_audit",
    "Kubernetes audit log (audit.k8s.io/v1 Event per line)",
    70,
    _sniff_lines,
    Reader(ReaderKind.LINES),
    "Copy the apiserver's --audit-log-path file (e.g. /var/log/kubernetes/audit/audit.log and its "
    "rotations) from each control-plane node.",
    "Audit events of the Kubernetes API server, one per line, one record per stage of a request.",
)
EVENT_LIST = _spec(
    "k8s_audit_list",
    "Kubernetes audit EventList document",
    75,
    _sniff_event_list,
    Reader(ReaderKind.DOCUMENT, records_path="$.items"),
    "Batches saved from an audit webhook backend receiver (each POST body is an EventList).",
    "An audit.k8s.io EventList: the audit events of a webhook batch in its items array.",
)
AKS_DIAGNOSTIC = _spec(
    "k8s_audit_aks",
    "AKS kube-audit diagnostic logs (Azure resource logs)",
    85,
    _sniff_aks,
    Reader(ReaderKind.EXPLODE, explode=explode_aks),
    "Diagnostic setting on the AKS cluster with category kube-audit or kube-audit-admin to a storage "
    "account (insights-logs-kube-audit/.../PT1H.json) or an Event Hub; download the blobs.",
    "Azure resource-log records whose properties.log holds one Kubernetes audit event as a JSON string; "
    "the event is decoded in place and the Azure wrapper is kept.",
)

SPECS = (EVENT_LINES, EVENT_LIST, AKS_DIAGNOSTIC)
